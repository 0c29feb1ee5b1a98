// SPDX-License-Identifier: GPL-2.0-only
/*
 * The HTML report: one self-contained page (inline CSS and SVG, no scripts,
 * no fonts, no external references), readable offline and in a mail.
 * Every string from report.json is escaped; every chart whose data is absent
 * is replaced by a note that says so.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report-int.h"
#include "svg.h"
#include "util.h"

#define MAX_CDF_POINTS 2000
#define MAX_BOXES      48

static const char css[] =
	"body{font-family:sans-serif;margin:1.5em auto;max-width:1180px;padding:0 1em;color:#222}"
	"h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}"
	"h3{font-size:1.05em}"
	"table{border-collapse:collapse;margin:.5em 0;font-size:.85em}"
	"th,td{border:1px solid #ccc;padding:2px 6px;white-space:nowrap}th{background:#f0f0f0}"
	".wide{overflow-x:auto}"
	"td.n{text-align:right;font-variant-numeric:tabular-nums}"
	"tr.over td{background:#fbf0f0}"
	".note{color:#666;font-style:italic}.warn{color:#a00;font-weight:bold}"
	"svg.chart{max-width:100%;height:auto;border:1px solid #ddd;margin:.4em 0}"
	".read{font-size:.9em;max-width:60em}.ci{color:#666;white-space:nowrap}";

static void esc(FILE *f, const char *s)
{
	svg_escape(f, s ? s : "?", 4096);
}

static void td_num(FILE *f, double v, enum svg_unit u)
{
	char buf[48];

	svg_fmt(buf, sizeof(buf), v, u);
	fputs("<td class=\"n\">", f);
	esc(f, buf);
	fputs("</td>", f);
}

/* A p50 and, below it, its 95 % interval ("-" when the report has no samples for it). */
static void td_p50(FILE *f, double v, const double *ci, enum svg_unit u)
{
	char buf[64];

	svg_fmt(buf, sizeof(buf), v, u);
	fputs("<td class=\"n\">", f);
	esc(f, buf);
	hvp_rep_fmt_ci(buf, sizeof(buf), ci, u);
	fputs("<br><small class=\"ci\">", f);
	esc(f, buf);
	fputs("</small></td>", f);
}

static void td_str(FILE *f, const char *s)
{
	fputs("<td>", f);
	esc(f, s);
	fputs("</td>", f);
}

static void note(FILE *f, const char *fmt, const char *arg)
{
	fputs("<p class=\"note\">", f);
	while (*fmt) {
		if (fmt[0] == '%' && fmt[1] == 's') {
			esc(f, arg);
			fmt += 2;
		} else {
			fputc(*fmt++, f);
		}
	}
	fputs("</p>\n", f);
}

static bool same(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

static unsigned count_group(const struct rep *r, const char *g)
{
	unsigned i, n = 0;

	for (i = 0; i < r->n; i++)
		n += hvp_rep_in_group(&r->c[i], g);
	return n;
}

static void emit_li(void *ctx, enum hvp_rep_kind kind, const char *l)
{
	FILE *f = ctx;

	fputs(kind == HVP_REP_WARN ? "<li class=\"warn\">" : "<li>", f);
	esc(f, l);
	fputs("</li>\n", f);
}

/* ---- latency CDF per method, one chart per sync kind ---- */

struct sample {
	double v;
	bool ok;
};

static int cmp_sample(const void *a, const void *b)
{
	double x = ((const struct sample *)a)->v, y = ((const struct sample *)b)->v;

	return x < y ? -1 : x > y;
}

static void add_cdf(struct svg_chart *ch, const struct rcell *c, int dash)
{
	size_t n = json_object_array_length(c->raw_lat), i, k = 0, ok_n;
	struct svg_series *s;
	struct sample *v;
	char name[64], vc[32];
	unsigned take;

	v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		return;
	ok_n = c->raw_ok ? json_object_array_length(c->raw_ok) : 0;
	for (i = 0; i < n; i++) {
		json_object *ok = i < ok_n ? json_object_array_get_idx(c->raw_ok, i) : NULL;
		double x = hvp_rep_elem(c->raw_lat, i);

		if (!isfinite(x))
			continue;
		v[k].v = x;
		v[k].ok = !ok || !json_object_is_type(ok, json_type_boolean) ||
			  json_object_get_boolean(ok);
		k++;
	}
	if (!k) {
		free(v);
		return;
	}
	qsort(v, k, sizeof(*v), cmp_sample);
	take = k > MAX_CDF_POINTS ? MAX_CDF_POINTS : (unsigned)k;
	svg_fmt(vc, sizeof(vc), c->vcpus, SVG_U_NONE);
	snprintf(name, sizeof(name), "%s v%s", c->method ? c->method : "?", vc);
	s = svg_chart_add(ch, name, hvp_rep_color(c->method), take);
	if (s) {
		s->step = true;
		s->dash = dash;
		for (i = 0; i < take; i++) {
			size_t j = take == k ? i : (size_t)((double)i * (k - 1) / (take - 1));

			svg_series_push(s, v[j].v, (double)(j + 1) / k, !v[j].ok);
		}
	}
	free(v);
}

static void chart_cdf(FILE *f, const struct rep *r)
{
	const char *syncs[4];
	double vcpus[8];
	unsigned ns = 0, nv = 0, i, j, s;
	char title[96];

	fputs("<h2>Latency, per method</h2>\n<p class=\"read\">The cumulative distribution of "
	      "every patch's latency in the <code>latency</code> group (tight loops): a curve "
	      "further left is faster, a flatter top is a longer tail. Solid lines are 1 vCPU, "
	      "dashed 2, dotted more; an open marker is an attempt that did not complete.</p>\n",
	      f);
	for (i = 0; i < r->n; i++) {
		const struct rcell *c = &r->c[i];

		if (!hvp_rep_in_group(c, "latency"))
			continue;
		for (j = 0; j < ns && !same(syncs[j], c->sync); j++)
			;
		if (j == ns && ns < HVP_ARRAY_SIZE(syncs) && c->sync)
			syncs[ns++] = c->sync;
		for (j = 0; j < nv && vcpus[j] != c->vcpus; j++)
			;
		if (j == nv && nv < HVP_ARRAY_SIZE(vcpus) && isfinite(c->vcpus))
			vcpus[nv++] = c->vcpus;
	}
	if (!ns) {
		note(f, "No cells in the latency group: no latency chart.", NULL);
		return;
	}
	for (s = 0; s < ns; s++) {
		struct svg_chart ch;

		snprintf(title, sizeof(title), "Latency CDF, %s sync, tight loops", syncs[s]);
		svg_chart_init(&ch, title);
		ch.x = (struct svg_axis){ .kind = SVG_LOG,
					  .unit = SVG_U_NS,
					  .label = "patch latency (log scale)" };
		ch.y = (struct svg_axis){ .kind = SVG_LIN,
					  .unit = SVG_U_RATIO,
					  .fixed = true,
					  .min = 0,
					  .max = 1,
					  .label = "fraction of patches" };
		ch.hollow_label = "did not complete";
		for (i = 0; i < r->n; i++) {
			const struct rcell *c = &r->c[i];
			unsigned rank = 0;

			if (!hvp_rep_in_group(c, "latency") || !same(c->sync, syncs[s]) ||
			    !c->raw_lat)
				continue;
			for (j = 0; j < nv; j++)
				rank += vcpus[j] < c->vcpus;
			add_cdf(&ch, c, rank > 2 ? 2 : (int)rank);
		}
		if (!svg_chart_draw(f, &ch))
			note(f, "No raw latency samples for %s sync: no CDF.", syncs[s]);
		svg_chart_free(&ch);
	}
}

/* ---- max stall per cell ---- */

static void chart_stall(FILE *f, const struct rep *r)
{
	struct svg_boxes b = {
		.title = "Max stall per patch (longest workload loop gap of any vCPU)",
		.y = { .kind = SVG_LOG,
		       .unit = SVG_U_NS,
		       .zero_band = true,
		       .label = "max stall (log; 0 at the bottom)" },
	};
	struct svg_box boxes[MAX_BOXES];
	unsigned i;

	fputs("<h2>Disruption: max stall per method</h2>\n<p class=\"read\">For each cell of the "
	      "<code>latency</code> group, the distribution over its patches of the longest gap "
	      "any vCPU's workload loop saw while the patch ran: the box spans p50 to p90 (black "
	      "bar: p50), the short coloured bar is p99, the whisker min to max. An open box "
	      "marks an overcommitted cell.</p>\n",
	      f);
	for (i = 0; i < r->n && b.n < MAX_BOXES; i++) {
		const struct rcell *c = &r->c[i];
		struct svg_box *x = &boxes[b.n];
		char vc[32];

		if (!hvp_rep_in_group(c, "latency"))
			continue;
		svg_fmt(vc, sizeof(vc), c->vcpus, SVG_U_NONE);
		snprintf(x->label, sizeof(x->label), "%s %s v%s", c->method ? c->method : "?",
			 c->sync ? c->sync : "?", vc);
		x->color = hvp_rep_color(c->method);
		x->hollow = c->overcommitted == 1;
		x->min = c->st[ST_STALL][F_MIN];
		x->p50 = c->st[ST_STALL][F_P50];
		x->p90 = c->st[ST_STALL][F_P90];
		x->p99 = c->st[ST_STALL][F_P99];
		x->max = c->st[ST_STALL][F_MAX];
		b.n++;
	}
	b.b = boxes;
	b.hollow_label = "overcommitted";
	if (!svg_boxes_draw(f, &b))
		note(f, "No max-stall statistics in the latency group: no chart.", NULL);
}

/* ---- series per method against a parameter ---- */

typedef double (*cell_val)(const struct rcell *c);

static double v_rate(const struct rcell *c)
{
	return c->rate;
}
static double v_nmi(const struct rcell *c)
{
	return c->nmi_rate;
}
static double v_sites(const struct rcell *c)
{
	return c->sites;
}
static double v_vcpus(const struct rcell *c)
{
	return c->vcpus;
}
static double v_completion(const struct rcell *c)
{
	return c->completion_rate;
}
static double v_rollbacks(const struct rcell *c)
{
	return c->st[ST_ROLLBACKS][F_MEAN];
}
static double v_lat50(const struct rcell *c)
{
	return c->st[ST_LAT][F_P50];
}
static double v_rounds50(const struct rcell *c)
{
	return c->st[ST_ROUNDS][F_P50];
}
static double v_stall99(const struct rcell *c)
{
	return c->st[ST_STALL][F_P99];
}
static double v_hvp_exits(const struct rcell *c)
{
	return c->wit[WI_HVP_EXITS];
}
static double v_kvm_exits(const struct rcell *c)
{
	return c->wit[WI_KVM_EXITS];
}

struct by_method {
	const char *group, *sync; /* sync NULL: any */
	cell_val x, y;
	bool zero_last; /* the x order: 0 after the rest */
	bool lines;
};

static int cmp_x(double a, double b, bool zero_last)
{
	if (zero_last && a == 0 && b != 0)
		return 1;
	if (zero_last && b == 0 && a != 0)
		return -1;
	return a < b ? -1 : a > b;
}

static bool chart_by_method(FILE *f, const struct rep *r, struct svg_chart *ch,
			    const struct by_method *bm)
{
	unsigned m, i, j, n;
	bool drawn;

	for (m = 0; m < r->nr_methods; m++) {
		struct svg_series *s;
		unsigned *idx;

		n = 0;
		for (i = 0; i < r->n; i++)
			n += hvp_rep_in_group(&r->c[i], bm->group) &&
			     same(r->c[i].method, r->methods[m]) &&
			     (!bm->sync || same(r->c[i].sync, bm->sync));
		if (!n)
			continue;
		idx = calloc(n, sizeof(*idx));
		if (!idx)
			break;
		n = 0;
		for (i = 0; i < r->n; i++)
			if (hvp_rep_in_group(&r->c[i], bm->group) &&
			    same(r->c[i].method, r->methods[m]) &&
			    (!bm->sync || same(r->c[i].sync, bm->sync)))
				idx[n++] = i;
		/* in x order, so that the line runs left to right */
		for (i = 1; i < n; i++)
			for (j = i; j > 0 && cmp_x(bm->x(&r->c[idx[j - 1]]), bm->x(&r->c[idx[j]]),
						   bm->zero_last) > 0;
			     j--) {
				unsigned t = idx[j];

				idx[j] = idx[j - 1];
				idx[j - 1] = t;
			}
		s = svg_chart_add(ch, r->methods[m], hvp_rep_color(r->methods[m]), n);
		if (s) {
			s->lines = bm->lines;
			for (i = 0; i < n; i++) {
				const struct rcell *c = &r->c[idx[i]];

				svg_series_push(s, bm->x(c), bm->y(c), c->overcommitted == 1);
			}
		}
		free(idx);
	}
	if (!ch->hollow_label)
		ch->hollow_label = "overcommitted";
	drawn = svg_chart_draw(f, ch);
	svg_chart_free(ch);
	return drawn;
}

static void sweep(FILE *f, const struct rep *r, const char *group, bool nmi)
{
	static const struct {
		const char *title;
		cell_val y;
		struct svg_axis ax;
	} ys[] = {
		{ "Completion rate",
		  v_completion,
		  { .kind = SVG_LIN,
		    .unit = SVG_U_RATIO,
		    .fixed = true,
		    .min = 0,
		    .max = 1.05,
		    .label = "patches completed" } },
		{ "Rollbacks per patch (mean)",
		  v_rollbacks,
		  { .kind = SVG_LOG,
		    .unit = SVG_U_NONE,
		    .zero_band = true,
		    .label = "rollbacks (log; 0 at the bottom)" } },
		{ "Time to complete (p50)",
		  v_lat50,
		  { .kind = SVG_LOG, .unit = SVG_U_NS, .label = "latency p50 (log)" } },
	};
	struct svg_axis xa = {
		.kind = SVG_ORD,
		.unit = SVG_U_RATE,
		.zero_last = !nmi,
		.zero_label = nmi ? "none" : "tight",
		.label = nmi ? "NMIs per second per vCPU (evenly spaced)" :
			       "calls per second per vCPU (evenly spaced; tight = no pause)",
	};
	unsigned k;
	char title[128];

	if (!count_group(r, group)) {
		note(f, "No cells in the %s group: no chart.", group);
		return;
	}
	for (k = 0; k < HVP_ARRAY_SIZE(ys); k++) {
		struct svg_chart ch;
		struct by_method bm = { .group = group,
					.x = nmi ? v_nmi : v_rate,
					.y = ys[k].y,
					.zero_last = !nmi,
					.lines = true };

		snprintf(title, sizeof(title), "%s against the %s", ys[k].title,
			 nmi ? "NMI rate" : "hit rate");
		svg_chart_init(&ch, title);
		ch.x = xa;
		ch.y = ys[k].ax;
		ch.dodge = k == 0; /* completion rates often coincide at 100% */
		if (!chart_by_method(f, r, &ch, &bm))
			note(f, "No data for this chart in the %s group.", group);
	}
}

static void chart_batch(FILE *f, const struct rep *r)
{
	struct svg_chart ch;
	struct by_method bm = { .group = "batch", .x = v_sites, .lines = true };

	fputs("<h2>Batch scaling</h2>\n<p class=\"read\">Keys of 1 to 1024 call sites, both axes "
	      "log scales. A flat line is a method whose cost does not grow with the key; "
	      "<code>bp-cancel</code> patches one site at a time by design, so its sync rounds "
	      "grow with the key.</p>\n",
	      f);
	if (!count_group(r, "batch")) {
		note(f, "No cells in the batch group: no chart.", NULL);
		return;
	}
	svg_chart_init(&ch, "Sync rounds (p50) against the key's sites");
	ch.x = (struct svg_axis){ .kind = SVG_LOG,
				  .unit = SVG_U_NONE,
				  .label = "sites in the key (log)" };
	ch.y = (struct svg_axis){
		.kind = SVG_LOG, .unit = SVG_U_NONE, .zero_band = true, .label = "sync rounds (log)"
	};
	bm.y = v_rounds50;
	if (!chart_by_method(f, r, &ch, &bm))
		note(f, "No sync-round data in the batch group.", NULL);
	svg_chart_init(&ch, "Latency (p50) against the key's sites");
	ch.x = (struct svg_axis){ .kind = SVG_LOG,
				  .unit = SVG_U_NONE,
				  .label = "sites in the key (log)" };
	ch.y = (struct svg_axis){ .kind = SVG_LOG, .unit = SVG_U_NS, .label = "latency p50 (log)" };
	bm.y = v_lat50;
	if (!chart_by_method(f, r, &ch, &bm))
		note(f, "No latency data in the batch group.", NULL);
}

static void chart_vcpus(FILE *f, const struct rep *r)
{
	struct by_method bm = { .group = "vcpus", .x = v_vcpus, .lines = true };
	double first_over = INFINITY, last_ok = -INFINITY;
	struct svg_chart ch;
	unsigned i;

	fputs("<h2>vCPU scaling</h2>\n<p class=\"read\">Latency and the worst stall against the "
	      "number of vCPUs. The shaded part and the open markers are overcommitted cells: "
	      "more vCPUs plus the service thread than host cores, where host scheduling adds "
	      "to every figure.</p>\n",
	      f);
	if (!count_group(r, "vcpus")) {
		if (!count_group(r, "latency")) {
			note(f, "No cells in the vcpus or latency groups: no chart.", NULL);
			return;
		}
		note(f,
		     "No cells in the vcpus group (%s); these charts use the latency group's "
		     "kick-sync cells instead.",
		     r->quick == 1 ? "a --quick run skips it" : "the run did not include it");
		bm.group = "latency";
		bm.sync = "kick";
	}
	for (i = 0; i < r->n; i++) {
		const struct rcell *c = &r->c[i];

		if (!hvp_rep_in_group(c, bm.group) || !isfinite(c->vcpus))
			continue;
		if (c->overcommitted == 1)
			first_over = fmin(first_over, c->vcpus);
		else if (c->overcommitted == 0)
			last_ok = fmax(last_ok, c->vcpus);
	}
	svg_chart_init(&ch, "Latency (p50) against vCPUs");
	ch.x = (struct svg_axis){
		.kind = SVG_LIN, .unit = SVG_U_NONE, .integer = true, .label = "vCPUs"
	};
	ch.y = (struct svg_axis){ .kind = SVG_LOG, .unit = SVG_U_NS, .label = "latency p50 (log)" };
	if (isfinite(first_over)) {
		ch.shade_from = last_ok < first_over && isfinite(last_ok) ?
					(first_over + last_ok) / 2 :
					first_over - 0.25;
		ch.shade_label = "overcommitted";
	}
	bm.y = v_lat50;
	if (!chart_by_method(f, r, &ch, &bm))
		note(f, "No latency data for vCPU scaling.", NULL);
	svg_chart_init(&ch, "Max stall (p99) against vCPUs");
	ch.x = (struct svg_axis){
		.kind = SVG_LIN, .unit = SVG_U_NONE, .integer = true, .label = "vCPUs"
	};
	ch.y = (struct svg_axis){ .kind = SVG_LOG,
				  .unit = SVG_U_NS,
				  .zero_band = true,
				  .label = "max stall p99 (log; 0 at the bottom)" };
	if (isfinite(first_over)) {
		ch.shade_from = last_ok < first_over && isfinite(last_ok) ?
					(first_over + last_ok) / 2 :
					first_over - 0.25;
		ch.shade_label = "overcommitted";
	}
	bm.y = v_stall99;
	if (!chart_by_method(f, r, &ch, &bm))
		note(f, "No stall data for vCPU scaling.", NULL);
}

/* ---- tables ---- */

static void group_table(FILE *f, const struct rep *r, const char *g)
{
	static const char *const head[] = {
		"method",
		"sync",
		"vCPUs",
		"rate /s",
		"NMI /s",
		"key",
		"sites",
		"done",
		"latency p50 (95% CI)",
		"p90",
		"p99",
		"max",
		"mean ± sd",
		"in rounds p50 (95% CI)",
		"sync rounds p50 (95% CI)",
		"retries mean",
		"rollbacks mean",
		"#BP traps mean",
		"stall p50 (95% CI)",
		"stall p99",
		"faults",
	};
	unsigned i, k, n = count_group(r, g);
	char buf[64], sd[32];
	/* the backend group's rows differ only in their backend: name it in each */
	bool be = !strcmp(g, "backend");

	if (!n && be)
		return;
	fputs("<h3>", f);
	esc(f, g);
	fputs(": ", f);
	esc(f, hvp_rep_group_desc(g));
	fputs("</h3>\n", f);
	if (!n) {
		note(f, "No cells in the %s group.", g);
		return;
	}
	fputs("<div class=\"wide\"><table>\n<tr>", f);
	for (k = 0; k < HVP_ARRAY_SIZE(head); k++)
		fprintf(f, "<th>%s</th>%s", head[k], be && k == 1 ? "<th>backend</th>" : "");
	fputs("</tr>\n", f);
	for (i = 0; i < r->n; i++) {
		const struct rcell *c = &r->c[i];

		if (!hvp_rep_in_group(c, g))
			continue;
		fprintf(f, "<tr%s title=\"", c->overcommitted == 1 ? " class=\"over\"" : "");
		esc(f, c->id);
		fputs("\">", f);
		td_str(f, c->method);
		td_str(f, c->sync);
		if (be)
			td_str(f, c->backend);
		fputs("<td class=\"n\">", f);
		svg_fmt(buf, sizeof(buf), c->vcpus, SVG_U_NONE);
		esc(f, buf);
		fputs(c->overcommitted == 1 ? " (over)" : "", f);
		fputs("</td>", f);
		if (c->rate == 0) {
			td_str(f, "tight");
		} else {
			td_num(f, c->rate, SVG_U_NONE);
		}
		td_num(f, c->nmi_rate, SVG_U_NONE);
		td_str(f, c->key);
		td_num(f, c->sites, SVG_U_NONE);
		svg_fmt(buf, sizeof(buf), c->completed, SVG_U_NONE);
		svg_fmt(sd, sizeof(sd), c->attempts, SVG_U_NONE);
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "/%s", sd);
		td_str(f, buf);
		td_p50(f, c->st[ST_LAT][F_P50], c->ci[ST_LAT], SVG_U_NS);
		td_num(f, c->st[ST_LAT][F_P90], SVG_U_NS);
		td_num(f, c->st[ST_LAT][F_P99], SVG_U_NS);
		td_num(f, c->st[ST_LAT][F_MAX], SVG_U_NS);
		svg_fmt(buf, sizeof(buf), c->st[ST_LAT][F_MEAN], SVG_U_NS);
		svg_fmt(sd, sizeof(sd), c->st[ST_LAT][F_SD], SVG_U_NS);
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), " ± %s", sd);
		td_str(f, buf);
		td_p50(f, c->st[ST_LATR][F_P50], c->ci[ST_LATR], SVG_U_NONE);
		td_p50(f, c->st[ST_ROUNDS][F_P50], c->ci[ST_ROUNDS], SVG_U_NONE);
		td_num(f, c->st[ST_RETRIES][F_MEAN], SVG_U_NONE);
		td_num(f, c->st[ST_ROLLBACKS][F_MEAN], SVG_U_NONE);
		td_num(f, c->st[ST_TRAPS][F_MEAN], SVG_U_NONE);
		td_p50(f, c->st[ST_STALL][F_P50], c->ci[ST_STALL], SVG_U_NS);
		td_num(f, c->st[ST_STALL][F_P99], SVG_U_NS);
		fprintf(f, "<td class=\"n%s\">",
			isfinite(c->faults) && c->faults > 0 ? " warn" : "");
		svg_fmt(buf, sizeof(buf), c->faults, SVG_U_NONE);
		esc(f, buf);
		fputs("</td></tr>\n", f);
	}
	fputs("</table></div>\n", f);
}

/* Each vCPU's own max stall, where the worst vCPU's alone would hide who stalled. */
static void vstall_table(FILE *f, const struct rep *r)
{
	char buf[2048];
	unsigned i, shown = 0;

	fputs("<h3>Stall by vCPU</h3>\n<p class=\"read\">Each vCPU's longest loop gap per patch, "
	      "p50 / max over the cell's patches: which vCPUs a method stalls, not only how long "
	      "the worst one waited.</p>\n",
	      f);
	for (i = 0; i < r->n; i++) {
		if (!hvp_rep_vstall(&r->c[i], buf, sizeof(buf)))
			continue;
		if (!shown++)
			fputs("<div class=\"wide\"><table>\n<tr><th>cell</th><th>vCPU: p50 / max</th></tr>\n",
			      f);
		fputs("<tr>", f);
		td_str(f, r->c[i].id);
		td_str(f, buf);
		fputs("</tr>\n", f);
	}
	if (shown)
		fputs("</table></div>\n", f);
	else
		note(f,
		     "This report holds no per-vCPU stall: one written before the bench stored it.",
		     NULL);
}

/* Who held the slowest sync rounds (own VMM). */
static void slow_rounds_table(FILE *f, const struct rep *r)
{
	unsigned idx[8], i, n = hvp_rep_slow_rounds(r, idx, 8);
	char buf[2048];

	fputs("<h3>Slowest sync rounds: who held them</h3>\n<p class=\"read\">Each cell's slowest "
	      "sync round or pause on the own VMM, and the vCPUs that acknowledged last: where "
	      "the VMM saw each stopped while it held the round (CPL 0 is a guest handler), the "
	      "kicks it refused, and its host thread's state (R running or runnable, S "
	      "sleeping). A late service (the last ack noticed long after it came) is the host "
	      "scheduler, not the guest.</p>\n",
	      f);
	for (i = 0; i < n; i++) {
		if (!i)
			fputs("<div class=\"wide\"><table>\n<tr><th>cell</th><th>round and holders</th></tr>\n",
			      f);
		hvp_rep_round_desc(&r->c[idx[i]], buf, sizeof(buf));
		fputs("<tr>", f);
		td_str(f, r->c[idx[i]].id);
		td_str(f, buf);
		fputs("</tr>\n", f);
	}
	if (n)
		fputs("</table></div>\n", f);
	else
		note(f,
		     "This report names no round holders: written before the bench kept them, or no "
		     "cell ran on the own VMM.",
		     NULL);
}

/* The auto column against the best method, per point. */
static void auto_table(FILE *f, const struct rep *r)
{
	unsigned i, n = 0, met = 0, flagged = 0;
	bool target, flag;
	char buf[512];

	for (i = 0; i < r->n; i++) {
		if (!hvp_rep_auto_desc(&r->c[i], buf, sizeof(buf), &target, &flag))
			continue;
		if (!n++)
			fputs("<h3>Auto against the best method</h3>\n<p class=\"read\">Per point, "
			      "the method <code>--method auto --prefer latency</code> chose from the "
			      "cost model, its latency p50 against the least p50 of the methods "
			      "(those that completed every attempt). Target: within 10 % or one "
			      "sync round; a choice that did not complete every attempt is "
			      "flagged.</p>\n<div class=\"wide\"><table>\n<tr><th>cell</th>"
			      "<th>auto</th><th>target</th></tr>\n",
			      f);
		met += target;
		flagged += flag;
		fprintf(f, "<tr%s>", flag || !target ? " class=\"warn\"" : "");
		td_str(f, r->c[i].id);
		td_str(f, buf);
		td_str(f, flag ? "flagged" : target ? "met" : "missed");
		fputs("</tr>\n", f);
	}
	if (n)
		fprintf(f,
			"</table></div>\n<p>Within the target in %u of %u points; %u flagged.</p>\n",
			met, n, flagged);
}

static void witnesses(FILE *f, const struct rep *r)
{
	struct svg_chart ch;
	struct by_method bm = { .x = v_hvp_exits, .y = v_kvm_exits };
	unsigned i, k, g;
	bool any = false, any_bpf = false;

	fputs("<h2>Witnesses</h2>\n<p class=\"read\">Counters kept by someone other than hvpatch, "
	      "set beside hvpatch's own count of exits during each cell's patches. KVM's binary "
	      "statistics (<code>KVM_GET_STATS_FD</code>, per vCPU, summed) count every exit, "
	      "including the ones hvpatch's loop never sees (signal exits of a kick, NMI "
	      "injections); the bpf witness counts <code>kvm:kvm_userspace_exit</code> and "
	      "<code>kvm:kvm_pio</code> per vCPU thread. In the chart the dashed line is "
	      "equal counts: a point above it is a cell where the witness saw more exits than hvpatch; "
	      "the bpf count of exits to user space should sit on it. "
	      "A dash in the table was not measured.</p>\n"
	      "<table><tr><th>witness</th><th>status</th></tr>\n<tr><td>KVM statistics</td>",
	      f);
	td_str(f, r->wit_kvm ? r->wit_kvm : "not said in the report");
	fputs("</tr>\n<tr><td>bpf (libbpf)</td>", f);
	td_str(f, r->wit_bpf ? r->wit_bpf : "not said in the report");
	fputs("</tr></table>\n", f);
	for (i = 0; i < r->n; i++) {
		any |= isfinite(r->c[i].wit[WI_KVM_EXITS]) || isfinite(r->c[i].wit[WI_BPF_UEXIT]);
		any_bpf |= isfinite(r->c[i].wit[WI_BPF_UEXIT]);
	}
	if (any) {
		for (g = 0; g < r->nr_groups && !count_group(r, r->groups[g]); g++)
			;
		svg_chart_init(&ch, "Witnesses' exit counts against hvpatch's, per cell");
		ch.x = (struct svg_axis){ .kind = SVG_LOG,
					  .unit = SVG_U_NONE,
					  .zero_band = true,
					  .label = "exits hvpatch counted (log)" };
		ch.y = (struct svg_axis){ .kind = SVG_LOG,
					  .unit = SVG_U_NONE,
					  .zero_band = true,
					  .label = "exits the witness counted (log)" };
		ch.diagonal = true;
		/* every group: a by_method pass per group would split the legend */
		for (k = 0; k < r->nr_methods; k++) {
			struct svg_series *s;
			char name[64];
			unsigned n = 0;

			for (i = 0; i < r->n; i++)
				n += same(r->c[i].method, r->methods[k]);
			snprintf(name, sizeof(name), "KVM, %s", r->methods[k]);
			s = n ? svg_chart_add(&ch, name, hvp_rep_color(r->methods[k]), n) : NULL;
			if (!s)
				continue;
			s->lines = false;
			for (i = 0; i < r->n; i++)
				if (same(r->c[i].method, r->methods[k]))
					svg_series_push(s, bm.x(&r->c[i]), bm.y(&r->c[i]),
							r->c[i].overcommitted == 1);
		}
		if (any_bpf) {
			struct svg_series *s = svg_chart_add(&ch, "bpf, any method", "#222", r->n);

			for (i = 0; s && i < r->n; i++) {
				s->lines = false;
				svg_series_push(s, r->c[i].wit[WI_HVP_EXITS],
						r->c[i].wit[WI_BPF_UEXIT], false);
			}
		}
		if (!svg_chart_draw(f, &ch))
			note(f, "No exit counts to compare.", NULL);
		svg_chart_free(&ch);
	} else {
		note(f, "No KVM statistics in this report: no comparison chart.", NULL);
	}
	fputs("<table>\n<tr><th>cell</th><th>hvpatch exits</th><th>KVM exits</th>"
	      "<th>KVM signal exits</th><th>KVM NMI injections</th><th>bpf userspace exits</th>"
	      "<th>bpf pio</th></tr>\n",
	      f);
	for (i = 0; i < r->n; i++) {
		const struct rcell *c = &r->c[i];

		fputs("<tr>", f);
		td_str(f, c->id);
		td_num(f, c->wit[WI_HVP_EXITS], SVG_U_NONE);
		td_num(f, c->wit[WI_KVM_EXITS], SVG_U_NONE);
		td_num(f, c->wit[WI_KVM_SIGNAL], SVG_U_NONE);
		td_num(f, c->wit[WI_KVM_NMI], SVG_U_NONE);
		td_num(f, c->wit[WI_BPF_UEXIT], SVG_U_NONE);
		td_num(f, c->wit[WI_BPF_PIO], SVG_U_NONE);
		fputs("</tr>\n", f);
	}
	fputs("</table>\n", f);
}

static void header(FILE *f, const struct rep *r)
{
	char buf[64];
	unsigned k;

	fprintf(f,
		"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
		"<meta name=\"viewport\" content=\"width=device-width\">\n"
		"<title>hvpatch bench report</title>\n<style>%s</style>\n</head>\n<body>\n",
		css);
	fputs("<h1>hvpatch bench report</h1>\n<table>\n<tr><th>tool</th>", f);
	td_str(f, r->tool);
	fputs("</tr>\n<tr><th>started</th>", f);
	td_str(f, r->started);
	fputs("</tr>\n<tr><th>duration</th>", f);
	svg_fmt(buf, sizeof(buf), r->duration_s * 1e9, SVG_U_NS);
	if (r->quick == 1)
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), " (--quick)");
	td_str(f, buf);
	fputs("</tr>\n<tr><th>host CPU</th>", f);
	td_str(f, r->cpu);
	fputs("</tr>\n<tr><th>host cores</th>", f);
	td_num(f, r->cores, SVG_U_NONE);
	fputs("</tr>\n<tr><th>kernel</th>", f);
	td_str(f, r->kernel);
	fputs("</tr>\n<tr><th>KVM module</th>", f);
	td_str(f, r->kvm_module);
	fputs("</tr>\n<tr><th>cells</th>", f);
	td_num(f, r->n, SVG_U_NONE);
	fputs("</tr>\n</table>\n", f);

	fputs("<h2>Which scheme when</h2>\n<p class=\"read\">Drawn from this run's figures "
	      "(below), not from the methods' descriptions; a ranking names the runner-up and a "
	      "permutation test's p-value, \"not significant\" at p &ge; 0.01.</p>\n<ul>\n",
	      f);
	hvp_rep_conclusions(r, HVP_REP_REC, emit_li, f);
	fputs("</ul>\n<h3>Observations</h3>\n<ul>\n", f);
	hvp_rep_conclusions(r, HVP_REP_OBS, emit_li, f);
	fputs("</ul>\n", f);

	fputs("<h2>Host unit costs</h2>\n<p class=\"read\">Measured before any cell, on a 1-vCPU "
	      "VM. The report also gives every latency in sync rounds of its kind "
	      "(<em>in rounds</em> = latency / p50 of one kick or NMI round), so that runs on "
	      "different hosts compare.</p>\n<table>\n<tr><th>unit cost</th><th>n</th><th>min</th>"
	      "<th>p50 (95% CI)</th><th>p90</th><th>p99</th><th>max</th></tr>\n",
	      f);
	for (k = 0; k < UC__COUNT; k++) {
		fputs("<tr>", f);
		td_str(f, hvp_rep_unit_desc[k]);
		td_num(f, r->unit[k][F_N], SVG_U_NONE);
		td_num(f, r->unit[k][F_MIN], SVG_U_NS);
		td_p50(f, r->unit[k][F_P50], r->unit_ci[k], SVG_U_NS);
		td_num(f, r->unit[k][F_P90], SVG_U_NS);
		td_num(f, r->unit[k][F_P99], SVG_U_NS);
		td_num(f, r->unit[k][F_MAX], SVG_U_NS);
		fputs("</tr>\n", f);
	}
	fputs("</table>\n", f);
	if (r->no_ci) {
		snprintf(buf, sizeof(buf), "%u", r->no_ci);
		note(f,
		     "%s p50s have no interval (-): the report holds no usable raw samples for "
		     "them, as one written before the bench stored them.",
		     buf);
	}
}

/* The performance targets as ratios of this run's figures (report-targets.c). */
static void targets_table(FILE *f, const struct rep *r)
{
	struct hvp_rep_target t[16];
	unsigned i, n = hvp_rep_targets(r, t, 16);
	char v[96], b[32];

	fputs("<h2>Performance targets</h2>\n<p class=\"read\">Each target is a ratio of two "
	      "figures of this run (a sync round against the exit round trip, a stop against a "
	      "sync round, one backend against another), so that it means the same on any host. "
	      "The interval is the ratio of the two p50s' 95% intervals; a target is met or "
	      "missed only when the whole interval is.</p>\n<table>\n<tr><th>target</th>"
	      "<th>ratio (95% interval)</th><th>bound</th><th>verdict</th></tr>\n",
	      f);
	for (i = 0; i < n; i++) {
		hvp_rep_target_fmt(&t[i], v, sizeof(v), b, sizeof(b));
		fputs("<tr>", f);
		td_str(f, t[i].what);
		td_str(f, v);
		td_str(f, b);
		td_str(f, t[i].verdict);
		fputs("</tr>\n", f);
	}
	fputs("</table>\n", f);
}

int hvp_rep_html(const struct rep *r, FILE *f)
{
	unsigned g;

	header(f, r);
	targets_table(f, r);
	chart_cdf(f, r);
	chart_stall(f, r);
	fputs("<h2>Forward progress against the hit rate</h2>\n<p class=\"read\">Andy "
	      "Lutomirski's livelock question as a curve: each vCPU calls the patched key at the "
	      "rate on the x axis. A method that livelocks under hot callers shows its completion "
	      "rate falling and its rollbacks and time to complete rising to the right.</p>\n",
	      f);
	sweep(f, r, "hitrate", false);
	fputs("<h2>Forward progress against the NMI rate</h2>\n<p class=\"read\">The same with "
	      "NMIs injected at the rate on the x axis, the NMI handler calling the patched key "
	      "(the workload calls it at 1000/s).</p>\n",
	      f);
	sweep(f, r, "nmi", true);
	chart_batch(f, r);
	chart_vcpus(f, r);
	fputs("<h2>Cells</h2>\n<p class=\"read\">Every cell by group. Times are per patch; "
	      "<em>done</em> is completed/attempts; rows shaded are overcommitted. The raw "
	      "samples are in report.json, a row per cell in report.csv. Under each p50, its 95% "
	      "bootstrap confidence interval from those samples.</p>\n",
	      f);
	for (g = 0; g < r->nr_groups; g++)
		group_table(f, r, r->groups[g]);
	auto_table(f, r);
	vstall_table(f, r);
	slow_rounds_table(f, r);
	witnesses(f, r);
	fputs("<p class=\"note\">Written by hvpatch from report.json (schema: "
	      "bench/REPORT_SCHEMA.md).</p>\n</body>\n</html>\n",
	      f);
	return ferror(f) ? -EIO : 0;
}
