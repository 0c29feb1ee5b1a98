// SPDX-License-Identifier: GPL-2.0-only
/*
 * The performance targets, measured in this run's own units.
 *
 * A time in microseconds says little across hosts: this one is a nested
 * kvm_pvm guest whose exit costs ten times bare metal's.  So each target is
 * a ratio of two figures of the same run — a sync round against the exit
 * round trip, a stop against a sync round, one backend against another —
 * and is judged on the ratio's interval, not on its point: "met" when the
 * whole 95 % interval is on the right side of the bound, "missed" when the
 * whole of it is on the wrong side, "unclear" when it straddles (the run
 * cannot tell; a longer run may).
 *
 * The interval of a ratio a/b is taken as [lo_a/hi_b, hi_a/lo_b] from the
 * two p50s' bootstrap intervals: conservative (wider than a joint bootstrap
 * would give), and needs nothing the report does not already hold.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "report-int.h"

/* The cell of group g, method m, sync s with the given shape; NULL if none. */
static const struct rcell *find_cell(const struct rep *r, const char *g, const char *m,
				     const char *s, double vcpus, double sites, const char *backend)
{
	unsigned i;

	for (i = 0; i < r->n; i++) {
		const struct rcell *c = &r->c[i];

		if (!hvp_rep_in_group(c, g) || !c->method || strcmp(c->method, m) || !c->sync ||
		    strcmp(c->sync, s))
			continue;
		if (vcpus > 0 && c->vcpus != vcpus)
			continue;
		if (sites > 0 && c->sites != sites)
			continue;
		if (backend && (!c->backend || strcmp(c->backend, backend)))
			continue;
		if (c->rate != 0 || (isfinite(c->nmi_rate) && c->nmi_rate != 0))
			continue; /* the targets are about tight loops, no NMI storm */
		return c;
	}
	return NULL;
}

/* The largest number of sites in group g's cells of method m, -1 if none. */
static double max_sites(const struct rep *r, const char *g, const char *m)
{
	double s = -1;
	unsigned i;

	for (i = 0; i < r->n; i++)
		if (hvp_rep_in_group(&r->c[i], g) && r->c[i].method && !strcmp(r->c[i].method, m) &&
		    isfinite(r->c[i].sites))
			s = fmax(s, r->c[i].sites);
	return s;
}

/* t->v and its interval from a/b, each a p50 with its interval. */
static void ratio(struct hvp_rep_target *t, double a, const double *a_ci, double b,
		  const double *b_ci)
{
	/* a time of 0 or less is no measurement: its ratio would meet any "at most" */
	t->v = a > 0 && b > 0 ? a / b : NAN;
	t->lo = t->hi = NAN;
	if (a_ci && b_ci && isfinite(a_ci[0]) && isfinite(b_ci[1]) && b_ci[0] > 0) {
		t->lo = a_ci[0] / b_ci[1];
		t->hi = a_ci[1] / b_ci[0];
	}
}

static void judge(struct hvp_rep_target *t)
{
	bool le = t->le;
	double lo = t->lo, hi = t->hi;

	if (!isfinite(t->v))
		t->verdict = "not measured";
	else if (!isfinite(lo) || !isfinite(hi)) /* a point alone settles nothing */
		t->verdict = "unclear";
	else if (le ? hi <= t->bound : lo >= t->bound)
		t->verdict = "met";
	else if (le ? lo > t->bound : hi < t->bound)
		t->verdict = "missed";
	else
		t->verdict = "unclear";
}

static struct hvp_rep_target *next(struct hvp_rep_target *t, unsigned *n, unsigned max,
				   const char *what, bool le, double bound)
{
	struct hvp_rep_target *x;

	if (*n >= max)
		return NULL;
	x = &t[(*n)++];
	memset(x, 0, sizeof(*x));
	x->what = what;
	x->le = le;
	x->bound = bound;
	x->v = x->lo = x->hi = NAN;
	return x;
}

unsigned hvp_rep_targets(const struct rep *r, struct hvp_rep_target *t, unsigned max)
{
	static const char *const be[] = { "qemu", "libvirt" };
	static const double be_bound[] = { 10, 200 };
	static const char *const be_what[] = {
		"QEMU's stop+cont over the own VMM's stop, 2 vCPUs",
		"libvirt's suspend+resume over the own VMM's stop, 2 vCPUs",
	};
	const struct rcell *c, *d;
	struct hvp_rep_target *x;
	unsigned n = 0, i;
	double s;

	if ((x = next(t, &n, max, "one kick sync round, in exit round trips", true, 3)))
		ratio(x, r->unit[UC_KICK][F_P50], r->unit_ci[UC_KICK], r->unit[UC_EXIT][F_P50],
		      r->unit_ci[UC_EXIT]);
	if ((x = next(t, &n, max, "one NMI sync round, in exit round trips", true, 5)))
		ratio(x, r->unit[UC_NMI][F_P50], r->unit_ci[UC_NMI], r->unit[UC_EXIT][F_P50],
		      r->unit_ci[UC_EXIT]);
	for (i = 1; i <= 2; i++) {
		x = next(t, &n, max,
			 i == 1 ? "stop --sync kick, 1 vCPU, in kick rounds" :
				  "stop --sync kick, 2 vCPUs in tight loops, in 1-vCPU kick rounds",
			 true, i == 1 ? 1.5 : 2);
		c = find_cell(r, "latency", "stop", "kick", i, -1, NULL);
		if (x && c)
			ratio(x, c->st[ST_LAT][F_P50], c->ci[ST_LAT], r->unit[UC_KICK][F_P50],
			      r->unit_ci[UC_KICK]);
	}
	x = next(t, &n, max, "bp-emulate --sync kick, 1 vCPU tight loop, in kick rounds", true, 5);
	c = find_cell(r, "latency", "bp-emulate", "kick", 1, -1, NULL);
	if (x && c)
		ratio(x, c->st[ST_LAT][F_P50], c->ci[ST_LAT], r->unit[UC_KICK][F_P50],
		      r->unit_ci[UC_KICK]);
	x = next(t, &n, max, "bp-emulate --sync kick, largest key over 1 site, 2 vCPUs", true, 2);
	s = max_sites(r, "batch", "bp-emulate");
	c = find_cell(r, "batch", "bp-emulate", "kick", 2, s, NULL);
	d = find_cell(r, "batch", "bp-emulate", "kick", 2, 1, NULL);
	if (x && c && d && s > 1)
		ratio(x, c->st[ST_LAT][F_P50], c->ci[ST_LAT], d->st[ST_LAT][F_P50], d->ci[ST_LAT]);
	c = find_cell(r, "backend", "stop", "kick", 2, -1, "kvm");
	for (i = 0; i < 2; i++) {
		x = next(t, &n, max, be_what[i], false, be_bound[i]);
		d = find_cell(r, "backend", "stop", "kick", 2, -1, be[i]);
		if (x && c && d)
			ratio(x, d->st[ST_LAT][F_P50], d->ci[ST_LAT], c->st[ST_LAT][F_P50],
			      c->ci[ST_LAT]);
	}
	for (i = 0; i < n; i++)
		judge(&t[i]);
	return n;
}

void hvp_rep_target_fmt(const struct hvp_rep_target *t, char *val, size_t vlen, char *bound,
			size_t blen)
{
	if (!isfinite(t->v))
		snprintf(val, vlen, "-");
	else if (isfinite(t->lo))
		snprintf(val, vlen, "%.3g (%.3g-%.3g)", t->v, t->lo, t->hi);
	else
		snprintf(val, vlen, "%.3g", t->v);
	snprintf(bound, blen, "%s %g", t->le ? "<=" : ">=", t->bound);
}
