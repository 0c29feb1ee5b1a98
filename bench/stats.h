/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The report's statistics on raw samples: the p50 as the bench computes it,
 * a percentile-bootstrap confidence interval for it, and a two-sided
 * permutation test on the difference of two samples' p50s.
 *
 * Every random draw comes from a small PRNG seeded with a constant, so that
 * rendering the same report.json twice gives the same intervals and
 * p-values, byte for byte.
 */
#ifndef HVP_STATS_H
#define HVP_STATS_H

#include <stddef.h>

#define HVP_STATS_RESAMPLES 2000 /* bootstrap resamples and permutations */
#define HVP_STATS_ALPHA	    0.01 /* p at or above it: "not significant" */

/*
 * The p50 of n samples: the sorted sample at index round(0.5 (n - 1)), as
 * bench.c's stats_json() picks it (the upper median when n is even).
 * Reorders v; NAN when n is 0.
 */
double hvp_stats_p50(double *v, size_t n);

/*
 * The 95 % percentile-bootstrap interval of the p50 of v[0..n): the 2.5th
 * and 97.5th percentiles of the p50s of `resamples` resamples drawn with
 * replacement.  0, or -EINVAL (no samples, or one not finite), -ENOMEM.
 */
int hvp_stats_p50_ci(const double *v, size_t n, unsigned resamples, double *lo, double *hi);

/* What a permutation test compares between the two samples. */
enum hvp_stats_test {
	HVP_STATS_P50, /* |p50(x) - p50(y)| */
	/*
	 * |mean rank of x - mean rank of y| over the pooled samples, ties
	 * given their mean rank (the Wilcoxon-Mann-Whitney statistic): for
	 * counts such as sync rounds, where each side is often one value
	 * repeated, and a p50 difference cannot tell all 1s from all 3s (a
	 * random split of 10 of each has p50s apart two times in three).
	 */
	HVP_STATS_RANKS,
};

/*
 * The two-sided permutation p-value of the test's statistic: the share of
 * `perms` random relabellings of the pooled samples whose statistic is at
 * least the observed one, counting the observed labelling itself, so never
 * below 1 / (perms + 1).  NAN when either side is empty or out of memory.
 */
double hvp_stats_perm_p(enum hvp_stats_test test, const double *x, size_t nx, const double *y,
			size_t ny, unsigned perms);

#endif /* HVP_STATS_H */
