// SPDX-License-Identifier: GPL-2.0-only
/*
 * The report's statistics (bench/stats.c) on samples whose answer is known:
 * the p50 picks the index the bench picks, an interval contains its p50 and
 * collapses on constant samples, clearly different samples are significant,
 * identical ones are not, and the same input gives the same answer twice;
 * and ranks tell apart the constant counts a p50 difference cannot.  And
 * the report's numbers in their units (bench/svg.c), at the units' edges.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include "stats.h"
#include "svg.h"
#include "tap.h"

/* n samples around base, spread by +-spread, in a scrambled order. */
static void fill(double *v, size_t n, double base, double spread)
{
	size_t i;

	for (i = 0; i < n; i++)
		v[i] = base + spread * (double)((i * 7919) % n) / (double)n;
}

static const struct {
	double v;
	enum svg_unit u;
	const char *want;
} fmts[] = {
	{ 999.4, SVG_U_NS, "999 ns" },	  { 999.7, SVG_U_NS, "1 \xc2\xb5s" },
	{ 999700, SVG_U_NS, "1 ms" },	  { 999999999, SVG_U_NS, "1 s" },
	{ 1234567, SVG_U_NS, "1.23 ms" }, { 9999.7, SVG_U_NONE, "10k" },
	{ 999600, SVG_U_NONE, "1M" },	  { 999600, SVG_U_RATE, "1M/s" },
	{ NAN, SVG_U_NS, "-" },
};

int main(void)
{
	double a[40], b[40], c[40], t[40], lo, hi, lo2, hi2, p, p2;
	double four[] = { 40, 10, 30, 20 };
	double one = 5;
	size_t i;

	tap_ok(hvp_stats_p50(four, 4) == 30,
	       "p50 of 4 samples is the upper median, as the bench's");
	tap_ok(isnan(hvp_stats_p50(four, 0)), "p50 of no samples is NAN");

	fill(a, 40, 1000, 400);
	memcpy(t, a, sizeof(a));
	tap_ok(hvp_stats_p50_ci(a, 40, 2000, &lo, &hi) == 0, "an interval of 40 samples");
	p = hvp_stats_p50(t, 40);
	tap_ok(lo <= p && p <= hi && lo < hi, "  contains its p50: %g <= %g <= %g", lo, p, hi);
	tap_ok(lo >= 1000 && hi <= 1400, "  within the samples' range");
	tap_ok(hvp_stats_p50_ci(a, 40, 2000, &lo2, &hi2) == 0 && lo2 == lo && hi2 == hi,
	       "  and the same when computed again");

	tap_ok(hvp_stats_p50_ci(&one, 1, 2000, &lo, &hi) == 0 && lo == 5 && hi == 5,
	       "one sample: the interval is that sample");
	fill(c, 40, 7, 0);
	tap_ok(hvp_stats_p50_ci(c, 40, 2000, &lo, &hi) == 0 && lo == 7 && hi == 7,
	       "constant samples: the interval is that constant");
	tap_ok(hvp_stats_p50_ci(a, 0, 2000, &lo, &hi) == -EINVAL, "no samples: -EINVAL");
	c[3] = NAN;
	tap_ok(hvp_stats_p50_ci(c, 40, 2000, &lo, &hi) == -EINVAL, "a NAN sample: -EINVAL");

	fill(b, 40, 2000, 400);
	p = hvp_stats_perm_p(HVP_STATS_P50, a, 40, b, 40, 2000);
	tap_ok(p < HVP_STATS_ALPHA, "clearly different samples: p = %g < 0.01", p);
	tap_ok(p == 1.0 / 2001, "  as small as 2000 permutations can say: %g", p);
	p2 = hvp_stats_perm_p(HVP_STATS_P50, a, 40, b, 40, 2000);
	tap_ok(p2 == p, "  and the same when computed again");
	p = hvp_stats_perm_p(HVP_STATS_P50, a, 40, a, 40, 2000);
	tap_ok(p == 1, "identical samples: p = %g, not significant", p);
	for (i = 0; i < 40; i++) /* the same range as a's, other values */
		b[i] = 1000 + 400 * fmod(i * 0.6180339887, 1.0);
	p = hvp_stats_perm_p(HVP_STATS_P50, a, 40, b, 40, 2000);
	tap_ok(p >= 0.2, "samples from one distribution: p = %g, not significant", p);
	tap_ok(isnan(hvp_stats_perm_p(HVP_STATS_P50, a, 40, b, 0, 2000)), "an empty side: NAN");

	/* counts: ten 1s against ten 3s, the p50 test's blind spot */
	for (i = 0; i < 10; i++) {
		c[i] = 1;
		t[i] = 3;
	}
	p = hvp_stats_perm_p(HVP_STATS_P50, c, 10, t, 10, 2000);
	tap_ok(p > 0.5, "ten 1s against ten 3s by p50: p = %g, blind to it", p);
	p = hvp_stats_perm_p(HVP_STATS_RANKS, c, 10, t, 10, 2000);
	tap_ok(p == 1.0 / 2001, "  by ranks: p = %g, significant", p);
	p = hvp_stats_perm_p(HVP_STATS_RANKS, c, 10, c, 10, 2000);
	tap_ok(p == 1, "  ranks of identical samples: p = %g, not significant", p);
	p = hvp_stats_perm_p(HVP_STATS_RANKS, a, 40, b, 40, 2000);
	tap_ok(p >= 0.2, "  ranks of samples from one distribution: p = %g, not significant", p);

	/* a value that rounds up to the next unit is said in it */
	for (i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
		char buf[32];

		svg_fmt(buf, sizeof(buf), fmts[i].v, fmts[i].u);
		tap_ok(!strcmp(buf, fmts[i].want), "svg_fmt(%.10g): '%s', wanted '%s'", fmts[i].v,
		       buf, fmts[i].want);
	}
	return tap_done();
}
