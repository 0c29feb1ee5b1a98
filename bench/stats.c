// SPDX-License-Identifier: GPL-2.0-only
/*
 * Bootstrap intervals and permutation tests for the bench report
 * (bench/stats.h).  Both work on the p50 because the report's tables and
 * claims do: a sync round's latency on a loaded host has a long right tail,
 * and a mean would follow the tail rather than the typical patch.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"

/* Any constant will do; a fixed one makes every render reproducible. */
#define SEED 0x68767061746368ull

/* splitmix64 (Steele, Lea, Flood 2014): small, fast, and good enough here. */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [0, n): the high half of a 64x64 product (Lemire), bias < n / 2^64. */
static size_t rng_below(uint64_t *s, size_t n)
{
	return (size_t)(((unsigned __int128)rng_next(s) * n) >> 64);
}

/* The index the bench's stats_json() rounds a percentile to. */
static size_t pct_index(double p, size_t n)
{
	return (size_t)(p * (double)(n - 1) + 0.5);
}

/* The k-th smallest of v[0..n) (Hoare's selection), v partly reordered. */
static double select_k(double *v, size_t n, size_t k)
{
	long lo = 0, hi = (long)n - 1;

	while (lo < hi) {
		double pivot = v[lo + (hi - lo) / 2];
		long i = lo, j = hi;

		while (i <= j) {
			while (v[i] < pivot)
				i++;
			while (v[j] > pivot)
				j--;
			if (i <= j) {
				double t = v[i];

				v[i++] = v[j];
				v[j--] = t;
			}
		}
		/* now v[lo..j] <= pivot <= v[i..hi], and anything between equals it */
		if ((long)k <= j)
			hi = j;
		else if ((long)k >= i)
			lo = i;
		else
			break;
	}
	return v[k];
}

double hvp_stats_p50(double *v, size_t n)
{
	return n ? select_k(v, n, pct_index(0.5, n)) : NAN;
}

static bool all_finite(const double *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!isfinite(v[i]))
			return false;
	return true;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The bin where the running sum of counts[] first exceeds rank. */
static size_t bin_of_rank(const unsigned *counts, size_t n, size_t rank)
{
	size_t m, acc = 0;

	for (m = 0; m < n - 1; m++) {
		acc += counts[m];
		if (acc > rank)
			break;
	}
	return m;
}

/*
 * A resample's p50 is one of the sorted samples, so a resample need only
 * count how often it drew each index: its p50 is the sorted sample where
 * those counts pass the p50's rank.  The p50s are tallied the same way, and
 * the interval read off the tally: no sort per resample.
 */
int hvp_stats_p50_ci(const double *v, size_t n, unsigned resamples, double *lo, double *hi)
{
	unsigned *drawn, *p50s;
	uint64_t rng = SEED;
	size_t i, k;
	unsigned b;
	double *s;

	if (!n || !resamples || !all_finite(v, n))
		return -EINVAL;
	s = malloc(n * sizeof(*s));
	drawn = calloc(n, sizeof(*drawn));
	p50s = calloc(n, sizeof(*p50s));
	if (!s || !drawn || !p50s) {
		free(s);
		free(drawn);
		free(p50s);
		return -ENOMEM;
	}
	memcpy(s, v, n * sizeof(*s));
	qsort(s, n, sizeof(*s), cmp_double);
	k = pct_index(0.5, n);
	for (b = 0; b < resamples; b++) {
		memset(drawn, 0, n * sizeof(*drawn));
		for (i = 0; i < n; i++)
			drawn[rng_below(&rng, n)]++;
		p50s[bin_of_rank(drawn, n, k)]++;
	}
	*lo = s[bin_of_rank(p50s, n, pct_index(0.025, resamples))];
	*hi = s[bin_of_rank(p50s, n, pct_index(0.975, resamples))];
	free(s);
	free(drawn);
	free(p50s);
	return 0;
}

struct ranked {
	double v;
	size_t at;
};

static int cmp_ranked(const void *a, const void *b)
{
	return cmp_double(&((const struct ranked *)a)->v, &((const struct ranked *)b)->v);
}

/* Replace each of v[0..n) by its rank in them (1..n), ties by their mean rank. */
static int to_ranks(double *v, size_t n)
{
	struct ranked *r = malloc(n * sizeof(*r));
	size_t i, j, k;

	if (!r)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		r[i] = (struct ranked){ .v = v[i], .at = i };
	qsort(r, n, sizeof(*r), cmp_ranked);
	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && r[j].v == r[i].v; j++)
			;
		for (k = i; k < j; k++) /* ranks i+1..j, their mean */
			v[r[k].at] = (double)(i + 1 + j) / 2;
	}
	free(r);
	return 0;
}

static double mean(const double *v, size_t n)
{
	double sum = 0;
	size_t i;

	for (i = 0; i < n; i++)
		sum += v[i];
	return sum / (double)n;
}

/* The test's statistic with the first nx of pool as x, the rest as y (reorders each side). */
static double statistic(enum hvp_stats_test test, double *pool, size_t nx, size_t ny)
{
	if (test == HVP_STATS_RANKS)
		return fabs(mean(pool, nx) - mean(pool + nx, ny));
	return fabs(hvp_stats_p50(pool, nx) - hvp_stats_p50(pool + nx, ny));
}

double hvp_stats_perm_p(enum hvp_stats_test test, const double *x, size_t nx, const double *y,
			size_t ny, unsigned perms)
{
	size_t n = nx + ny, i;
	unsigned b, as_far = 0;
	uint64_t rng = SEED;
	double *pool, obs;

	if (!nx || !ny || !all_finite(x, nx) || !all_finite(y, ny))
		return NAN;
	pool = malloc(n * sizeof(*pool));
	if (!pool)
		return NAN;
	memcpy(pool, x, nx * sizeof(*pool));
	memcpy(pool + nx, y, ny * sizeof(*pool));
	/* ranks do not change with the labels: rank once, then permute them */
	if (test == HVP_STATS_RANKS && to_ranks(pool, n) < 0) {
		free(pool);
		return NAN;
	}
	obs = statistic(test, pool, nx, ny);
	for (b = 0; b < perms; b++) {
		/*
		 * A partial Fisher-Yates shuffle puts a uniformly random nx of
		 * the pool first, whatever order select_k() left it in.
		 */
		for (i = 0; i < nx; i++) {
			size_t j = i + rng_below(&rng, n - i);
			double t = pool[i];

			pool[i] = pool[j];
			pool[j] = t;
		}
		/* with a tolerance, so that equal statistics computed apart still tie */
		if (statistic(test, pool, nx, ny) >= obs * (1 - 1e-12))
			as_far++;
	}
	free(pool);
	return (as_far + 1.0) / (perms + 1.0);
}
