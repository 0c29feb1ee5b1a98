// SPDX-License-Identifier: GPL-2.0-only
/*
 * The report renderer: report.json (bench/REPORT_SCHEMA.md) to CSV, text and
 * HTML (report-html.c).  The file is input like any other: every field is
 * type-checked where it is read, and a report with groups or fields missing
 * renders what it has and says what it lacks.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "report.h"
#include "report-int.h"
#include "stats.h"
#include "svg.h"
#include "util.h"

#define MAX_FILE (512u << 20)

const char *const hvp_rep_stat_names[ST__COUNT] = {
	"latency_ns", "latency_rounds", "sync_rounds",	"retries",
	"rollbacks",  "bp_traps",	"max_stall_ns",
};
const char *const hvp_rep_field_names[F__COUNT] = {
	"n", "min", "p50", "p90", "p99", "max", "mean", "sd",
};
const char *const hvp_rep_witness_names[WI__COUNT] = {
	"kvm_exits",	 "kvm_signal_exits",	"kvm_nmi_injections",
	"hvpatch_exits", "bpf_userspace_exits", "bpf_pio",
};
const char *const hvp_rep_unit_names[UC__COUNT] = {
	"exit_round_trip_ns", "kick_round_ns", "nmi_round_ns", "bp_trap_ns", "loop_baseline_ns",
};
const char *const hvp_rep_unit_desc[UC__COUNT] = {
	"exit round trip (guest out to the VMM and back)",
	"one kick sync round",
	"one NMI sync round",
	"#BP trap round trip, handled in the guest",
	"workload loop's own gap, nothing happening",
};

static const char *const known_groups[] = {
	"latency", "hitrate", "nmi", "batch", "vcpus", "backend"
};

/* ---- typed access ---- */

json_object *hvp_rep_get(json_object *o, const char *key)
{
	json_object *v;

	if (!o || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

static double as_num(json_object *v)
{
	double d;

	if (!v ||
	    !(json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)))
		return NAN;
	d = json_object_get_double(v);
	return isfinite(d) ? d : NAN;
}

double hvp_rep_num(json_object *o, const char *key)
{
	return as_num(hvp_rep_get(o, key));
}

const char *hvp_rep_str(json_object *o, const char *key)
{
	json_object *v = hvp_rep_get(o, key);

	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static const char *nz(const char *s)
{
	return s ? s : "?";
}

/* A whole number as "%.0f", or "-" when the report does not give it (never "nan"). */
static const char *num0(char *buf, size_t len, double v)
{
	snprintf(buf, len, isfinite(v) ? "%.0f" : "-", v);
	return buf;
}

static int get_bool(json_object *o, const char *key)
{
	json_object *v = hvp_rep_get(o, key);

	return v && json_object_is_type(v, json_type_boolean) ? json_object_get_boolean(v) : -1;
}

static json_object *get_array(json_object *o, const char *key)
{
	json_object *v = hvp_rep_get(o, key);

	return v && json_object_is_type(v, json_type_array) ? v : NULL;
}

double hvp_rep_elem(json_object *arr, size_t i)
{
	return as_num(json_object_array_get_idx(arr, i));
}

/*
 * A summary of no samples is no figure: the bench writes its min, p50 ...
 * as 0 (stats_json()), which would read as a 0 ns latency and meet any
 * "at most" target.
 */
static void stats_read(json_object *st, double *v)
{
	unsigned i;

	for (i = 0; i < F__COUNT; i++)
		v[i] = hvp_rep_num(st, hvp_rep_field_names[i]);
	if (v[F_N] == 0)
		for (i = F_N + 1; i < F__COUNT; i++)
			v[i] = NAN;
}

/* ---- intervals ---- */

/*
 * The samples in arr as numbers, or NULL: none, one not a finite number,
 * more than REP_MAX_SAMPLES, or not as many as the summary counts (when it
 * says), for then they are not the samples the p50 came from.
 */
static double *samples_of(json_object *arr, double want, size_t *n)
{
	size_t i, len = arr && json_object_is_type(arr, json_type_array) ?
				json_object_array_length(arr) :
				0;
	double *v;

	if (!len || len > REP_MAX_SAMPLES || (isfinite(want) && want != (double)len))
		return NULL;
	v = malloc(len * sizeof(*v));
	if (!v)
		return NULL;
	for (i = 0; i < len; i++) {
		v[i] = hvp_rep_elem(arr, i);
		if (!isfinite(v[i])) {
			free(v);
			return NULL;
		}
	}
	*n = len;
	return v;
}

/* ci: the interval of st's p50 from the samples in arr, times scale; NAN: none. */
static void ci_read(json_object *arr, const double *st, double scale, double *ci, unsigned *no_ci)
{
	size_t n = 0;
	double *v = isfinite(scale) ? samples_of(arr, st[F_N], &n) : NULL;

	ci[0] = ci[1] = NAN;
	if (v && hvp_stats_p50_ci(v, n, HVP_STATS_RESAMPLES, &ci[0], &ci[1]) == 0) {
		ci[0] *= scale;
		ci[1] *= scale;
	} else if (isfinite(st[F_P50]) && st[F_N] != 0) {
		(*no_ci)++;
	}
	free(v);
}

void hvp_rep_fmt_ci(char *buf, size_t len, const double *ci, enum svg_unit u)
{
	char lo[32], hi[32], *ls, *hs;

	if (!isfinite(ci[0]) || !isfinite(ci[1])) {
		snprintf(buf, len, "-");
		return;
	}
	svg_fmt(lo, sizeof(lo), ci[0], u);
	svg_fmt(hi, sizeof(hi), ci[1], u);
	ls = strchr(lo, ' ');
	hs = strchr(hi, ' ');
	if (ls && hs && !strcmp(ls, hs))
		*ls = 0;
	snprintf(buf, len, "%s\xe2\x80\x93%s", lo, hi); /* an en dash */
}

unsigned hvp_rep_vstall(const struct rcell *c, char *buf, size_t len)
{
	size_t i, n = c->stall_by_vcpu ? json_object_array_length(c->stall_by_vcpu) : 0;
	size_t off = 0;
	char p50[32], max[32];

	buf[0] = 0;
	for (i = 0; i < n && i < 4096 && off < len; i++) {
		json_object *st = json_object_array_get_idx(c->stall_by_vcpu, i);

		svg_fmt(p50, sizeof(p50), hvp_rep_num(st, "p50"), SVG_U_NS);
		svg_fmt(max, sizeof(max), hvp_rep_num(st, "max"), SVG_U_NS);
		off += (size_t)snprintf(buf + off, len - off, "%s%zu: %s / %s", i ? ", " : "", i,
					p50, max);
	}
	return (unsigned)i;
}

unsigned hvp_rep_slow_rounds(const struct rep *r, unsigned *idx, unsigned max)
{
	unsigned i, j, n = 0;

	for (i = 0; i < r->n; i++) {
		double ns = hvp_rep_num(r->c[i].slowest_round, "ns");

		if (!isfinite(ns))
			continue;
		/* insertion into the slowest `max`, slowest first */
		for (j = n; j > 0 && hvp_rep_num(r->c[idx[j - 1]].slowest_round, "ns") < ns; j--)
			if (j < max)
				idx[j] = idx[j - 1];
		if (j < max) {
			idx[j] = i;
			if (n < max)
				n++;
		}
	}
	return n;
}

void hvp_rep_round_desc(const struct rcell *c, char *buf, size_t len)
{
	json_object *held = hvp_rep_get(c->slowest_round, "held_by");
	size_t i,
		n = json_object_is_type(held, json_type_array) ? json_object_array_length(held) : 0;
	double late = hvp_rep_num(c->slowest_round, "waiter_late_ns");
	const char *kind = hvp_rep_str(c->slowest_round, "kind");
	size_t off;
	char t[32];

	svg_fmt(t, sizeof(t), hvp_rep_num(c->slowest_round, "ns"), SVG_U_NS);
	off = (size_t)snprintf(buf, len, "%s %s", kind ? kind : "round", t);
	for (i = 0; i < n && i < 8 && off < len; i++) {
		json_object *h = json_object_array_get_idx(held, i);
		const char *rip = hvp_rep_str(h, "rip"), *th = hvp_rep_str(h, "host_thread");
		double cpl = hvp_rep_num(h, "cpl");
		char w[32], x[32];

		svg_fmt(w, sizeof(w), hvp_rep_num(h, "wait_ns"), SVG_U_NS);
		off += (size_t)snprintf(buf + off, len - off, "%s vCPU %s %s %s (", i ? ";" : ":",
					num0(x, sizeof(x), hvp_rep_num(h, "vcpu")),
					json_object_get_boolean(hvp_rep_get(h, "acked")) ?
						"acked after" :
						"still held it after",
					w);
		if (off < len && isfinite(cpl) && cpl >= 0)
			off += (size_t)snprintf(buf + off, len - off, "CPL %.0f at %s%s, ", cpl,
						rip ? rip : "?",
						cpl != 0 ? "" :
						json_object_get_boolean(
							hvp_rep_get(h, "acked_by_handler")) ?
							   ", its #BP handler acked leaving" :
							   ", in a guest handler");
		if (off < len)
			off += (size_t)snprintf(buf + off, len - off,
						"%s kicks refused, host thread %s)",
						num0(x, sizeof(x), hvp_rep_num(h, "kicks_refused")),
						th ? th : "?");
	}
	if (off < len && isfinite(late)) {
		svg_fmt(t, sizeof(t), late, SVG_U_NS);
		snprintf(buf + off, len - off, "; the service noticed the last ack %s later", t);
	}
}

/* ---- loading ---- */

static int read_all(const char *path, char **buf, size_t *len, char *err, size_t errlen)
{
	struct stat st;
	size_t got = 0;
	char *b;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;

		if (e == ENOENT)
			snprintf(err, errlen,
				 "%s: not found (write one with 'hvpatch bench run --out DIR')",
				 path);
		else
			snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		close(fd);
		return -EINVAL;
	}
	if ((uint64_t)st.st_size > MAX_FILE) {
		snprintf(err, errlen, "%s: too large (%lld bytes, at most %u)", path,
			 (long long)st.st_size, MAX_FILE);
		close(fd);
		return -EFBIG;
	}
	b = malloc((size_t)st.st_size + 1);
	if (!b) {
		close(fd);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, b + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			snprintf(err, errlen, "%s: read: %s", path, r ? strerror(errno) : "short");
			free(b);
			close(fd);
			return -EIO;
		}
		got += (size_t)r;
	}
	close(fd);
	b[got] = 0;
	*buf = b;
	*len = got;
	return 0;
}

int hvp_report_load(const char *dir, json_object **out, char *err, size_t errlen)
{
	char path[4096];
	struct json_tokener *tok;
	enum json_tokener_error jerr;
	json_object *root, *v;
	struct stat st;
	size_t len = 0, i;
	char *buf = NULL;
	int r;

	*out = NULL;
	if (stat(dir, &st) < 0) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -ENOENT;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: not a directory (give the directory of a bench run)",
			 dir);
		return -ENOTDIR;
	}
	if (snprintf(path, sizeof(path), "%s/report.json", dir) >= (int)sizeof(path)) {
		snprintf(err, errlen, "report directory path too long");
		return -ENAMETOOLONG;
	}
	r = read_all(path, &buf, &len, err, errlen);
	if (r < 0)
		return r;
	tok = json_tokener_new();
	if (!tok) {
		free(buf);
		return -ENOMEM;
	}
	root = json_tokener_parse_ex(tok, buf, (int)(len > INT32_MAX ? INT32_MAX : len));
	jerr = json_tokener_get_error(tok);
	if (!root || jerr != json_tokener_success) {
		snprintf(err, errlen, "%s: not valid JSON: %s at byte %zu", path,
			 jerr == json_tokener_continue ? "unexpected end of file" :
							 json_tokener_error_desc(jerr),
			 json_tokener_get_parse_end(tok));
		json_object_put(root);
		json_tokener_free(tok);
		free(buf);
		return -EINVAL;
	}
	for (i = json_tokener_get_parse_end(tok); i < len; i++) {
		if (buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\r' && buf[i] != '\n') {
			snprintf(err, errlen, "%s: not valid JSON: trailing data at byte %zu", path,
				 i);
			json_object_put(root);
			json_tokener_free(tok);
			free(buf);
			return -EINVAL;
		}
	}
	json_tokener_free(tok);
	free(buf);
	if (!json_object_is_type(root, json_type_object)) {
		snprintf(err, errlen, "%s: not a report: the top level is not an object", path);
		goto bad;
	}
	v = hvp_rep_get(root, "schema_version");
	if (!v || !json_object_is_type(v, json_type_int)) {
		snprintf(err, errlen, "%s: not a report: no integer schema_version", path);
		goto bad;
	}
	if (json_object_get_int64(v) != 1) {
		snprintf(err, errlen,
			 "%s: schema_version %lld is not supported (this hvpatch reads 1)", path,
			 (long long)json_object_get_int64(v));
		goto bad;
	}
	if (!get_array(root, "cells")) {
		snprintf(err, errlen, "%s: not a report: no cells array", path);
		goto bad;
	}
	*out = root;
	return 0;
bad:
	json_object_put(root);
	return -EINVAL;
}

/* ---- the model ---- */

static void add_unique(const char **list, unsigned *n, unsigned max, const char *s)
{
	unsigned i;

	if (!s)
		return;
	for (i = 0; i < *n; i++)
		if (!strcmp(list[i], s))
			return;
	if (*n < max)
		list[(*n)++] = s;
}

static json_object *raw_of(const struct rcell *c, int st)
{
	return st == ST_LAT || st == ST_LATR ? c->raw_lat :
	       st == ST_ROUNDS		     ? c->raw_rounds :
	       st == ST_STALL		     ? c->raw_stall :
					       NULL;
}

static void cell_cis(struct rep *r, struct rcell *c)
{
	/* latency_rounds is latency_ns over one constant: the same samples, scaled */
	double to_rounds =
		c->st[ST_LAT][F_P50] > 0 ? c->st[ST_LATR][F_P50] / c->st[ST_LAT][F_P50] : NAN;
	int k;

	for (k = 0; k < ST__COUNT; k++) {
		c->ci[k][0] = c->ci[k][1] = NAN;
		if (REP_HAS_CI(k))
			ci_read(raw_of(c, k), c->st[k], k == ST_LATR ? to_rounds : 1, c->ci[k],
				&r->no_ci);
	}
}

int hvp_rep_parse(json_object *root, struct rep *r)
{
	json_object *cells = get_array(root, "cells"), *host, *u, *w;
	size_t i, n = cells ? json_object_array_length(cells) : 0;
	unsigned k;

	memset(r, 0, sizeof(*r));
	r->root = root;
	r->tool = hvp_rep_str(root, "tool");
	r->started = hvp_rep_str(root, "started");
	r->duration_s = hvp_rep_num(root, "duration_s");
	r->quick = get_bool(root, "quick");
	host = hvp_rep_get(root, "host");
	r->cpu = hvp_rep_str(host, "cpu");
	r->kernel = hvp_rep_str(host, "kernel");
	r->kvm_module = hvp_rep_str(host, "kvm_module");
	r->cores = hvp_rep_num(host, "cores");
	r->tsc_khz = hvp_rep_num(host, "tsc_khz");
	u = hvp_rep_get(root, "unit_costs");
	for (k = 0; k < UC__COUNT; k++) {
		json_object *st = hvp_rep_get(u, hvp_rep_unit_names[k]);

		stats_read(st, r->unit[k]);
		ci_read(get_array(st, "samples"), r->unit[k], 1, r->unit_ci[k], &r->no_ci);
	}
	w = hvp_rep_get(root, "witnesses");
	r->wit_kvm = hvp_rep_str(w, "kvm_stats");
	r->wit_bpf = hvp_rep_str(w, "bpf");

	if (n > REP_MAX_CELLS)
		n = REP_MAX_CELLS;
	r->c = calloc(n ? n : 1, sizeof(*r->c));
	if (!r->c)
		return -ENOMEM;
	for (k = 0; k < HVP_ARRAY_SIZE(known_groups); k++)
		r->groups[r->nr_groups++] = known_groups[k];
	for (i = 0; i < n; i++) {
		json_object *o = json_object_array_get_idx(cells, i), *p, *raw;
		struct rcell *c = &r->c[r->n];

		if (!o || !json_object_is_type(o, json_type_object))
			continue;
		r->n++;
		c->o = o;
		c->id = hvp_rep_str(o, "id");
		c->group = hvp_rep_str(o, "group");
		p = hvp_rep_get(o, "params");
		c->method = hvp_rep_str(p, "method");
		c->sync = hvp_rep_str(p, "sync");
		c->key = hvp_rep_str(p, "key");
		c->backend = hvp_rep_str(p, "backend");
		c->vcpus = hvp_rep_num(p, "vcpus");
		c->rate = hvp_rep_num(p, "rate");
		c->nmi_rate = hvp_rep_num(p, "nmi_rate");
		c->sites = hvp_rep_num(p, "sites");
		c->overcommitted = get_bool(o, "overcommitted");
		c->unsafe = get_bool(p, "unsafe");
		c->attempts = hvp_rep_num(o, "attempts");
		c->completed = hvp_rep_num(o, "completed");
		c->completion_rate = hvp_rep_num(o, "completion_rate");
		c->faults = hvp_rep_num(o, "faults");
		for (k = 0; k < ST__COUNT; k++)
			stats_read(hvp_rep_get(o, hvp_rep_stat_names[k]), c->st[k]);
		/*
		 * latency / one round can be 0 only when the bench had no round
		 * to divide by (it writes 0 then): not a latency of no rounds
		 */
		if (c->st[ST_LATR][F_P50] == 0 && c->st[ST_LAT][F_P50] > 0)
			for (k = F_N + 1; k < F__COUNT; k++)
				c->st[ST_LATR][k] = NAN;
		w = hvp_rep_get(o, "witness");
		for (k = 0; k < WI__COUNT; k++)
			c->wit[k] = hvp_rep_num(w, hvp_rep_witness_names[k]);
		raw = hvp_rep_get(o, "raw");
		c->raw_lat = get_array(raw, "latency_ns");
		c->raw_stall = get_array(raw, "max_stall_ns");
		c->raw_rounds = get_array(raw, "sync_rounds");
		c->stall_by_vcpu = get_array(o, "max_stall_ns_by_vcpu");
		c->slowest_round = hvp_rep_get(o, "slowest_round");
		if (!json_object_is_type(c->slowest_round, json_type_object))
			c->slowest_round = NULL;
		c->raw_ok = get_array(raw, "completed");
		c->auto_o = hvp_rep_get(o, "auto");
		if (!json_object_is_type(c->auto_o, json_type_object))
			c->auto_o = NULL;
		cell_cis(r, c);
		add_unique(r->groups, &r->nr_groups, HVP_ARRAY_SIZE(r->groups), c->group);
		/* auto is no method of its own: it has its own section, not the
		 * methods' charts and rankings */
		if (!c->method || strcmp(c->method, "auto"))
			add_unique(r->methods, &r->nr_methods, HVP_ARRAY_SIZE(r->methods),
				   c->method);
	}
	return 0;
}

void hvp_rep_free(struct rep *r)
{
	free(r->c);
	r->c = NULL;
}

bool hvp_rep_auto_desc(const struct rcell *c, char *buf, size_t len, bool *target, bool *flag)
{
	json_object *a = c->auto_o;
	const char *choice = hvp_rep_str(a, "choice"), *best = hvp_rep_str(a, "best_method");
	double p50 = hvp_rep_num(a, "p50_ns"), bp50 = hvp_rep_num(a, "best_p50_ns");
	char x[32], y[32];

	*target = *flag = false;
	if (!c->method || strcmp(c->method, "auto"))
		return false;
	*target = get_bool(a, "within_target") == 1;
	*flag = !choice || get_bool(a, "completed_all") != 1;
	if (!choice) {
		snprintf(buf, len, "no choice, nothing patched: %s", nz(hvp_rep_str(a, "why")));
		return true;
	}
	svg_fmt(x, sizeof(x), p50, SVG_U_NS);
	svg_fmt(y, sizeof(y), bp50, SVG_U_NS);
	snprintf(buf, len, "chose %s/%s, p50 %s; best %s %s: %s%s%s", choice,
		 nz(hvp_rep_str(a, "choice_sync")), x, nz(best), y,
		 *target ? "within 10 % or one round" : "NOT within 10 % or one round",
		 !*target && best && !strcmp(choice, best) ?
			 " (the same method: the gap is run-to-run noise)" :
			 "",
		 *flag ? "; FLAGGED: the choice did not complete every attempt" : "");
	return true;
}

const char *hvp_rep_color(const char *m)
{
	static const char *const other[] = { "#9467bd", "#ff7f0e", "#8c564b",
					     "#e377c2", "#17becf", "#bcbd22" };
	unsigned h = 0;

	if (!m)
		return "#555";
	if (!strcmp(m, "stop"))
		return "#1f77b4";
	if (!strcmp(m, "bp-cancel"))
		return "#d62728";
	if (!strcmp(m, "bp-emulate"))
		return "#2ca02c";
	if (!strcmp(m, "naive"))
		return "#7f7f7f";
	while (*m)
		h = h * 31 + (unsigned char)*m++;
	return other[h % HVP_ARRAY_SIZE(other)];
}

const char *hvp_rep_group_desc(const char *g)
{
	if (!g)
		return "";
	if (!strcmp(g, "latency"))
		return "every method and sync kind at each vCPU count, tight loops";
	if (!strcmp(g, "hitrate"))
		return "forward progress against the hit rate (calls/s per vCPU; 0 = tight loop)";
	if (!strcmp(g, "nmi"))
		return "forward progress against the NMI rate, the NMI handler calling the key";
	if (!strcmp(g, "batch"))
		return "batch scaling: keys of 1 to 1024 sites";
	if (!strcmp(g, "vcpus"))
		return "vCPU scaling";
	if (!strcmp(g, "backend"))
		return "backends side by side";
	return "a group this renderer does not know";
}

/* ---- conclusions ---- */

bool hvp_rep_in_group(const struct rcell *c, const char *g)
{
	return c->group && !strcmp(c->group, g);
}

static bool is_method(const struct rcell *c, const char *m)
{
	return c->method && !strcmp(c->method, m);
}

static void line(hvp_rep_emit emit, void *ctx, enum hvp_rep_kind kind, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static enum hvp_rep_kind line_only;

/* Did method m run as a test-only method?  Then it is shown, never recommended. */
static bool test_only(const struct rep *r, const char *m)
{
	unsigned i;

	for (i = 0; i < r->n; i++)
		if (is_method(&r->c[i], m) && r->c[i].unsafe == 1)
			return true;
	return false;
}

static void line(hvp_rep_emit emit, void *ctx, enum hvp_rep_kind kind, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	if ((kind == HVP_REP_REC) != (line_only == HVP_REP_REC))
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	emit(ctx, kind, buf);
}

static int cmp_plain(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int cmp_rate(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	/* 0 is a tight loop: the hottest, so last */
	if (x == 0 && y != 0)
		return 1;
	if (y == 0 && x != 0)
		return -1;
	return x < y ? -1 : x > y;
}

/* "100% @100/s, 80% @10k/s ..." for one method in a sweep group. */
static void sweep_line(const struct rep *r, const char *g, const char *m, bool nmi, char *buf,
		       size_t len, double *worst, double *worst_at)
{
	double xs[64], x;
	unsigned nx = 0, i, j;
	size_t off = 0;

	*worst = NAN;
	*worst_at = NAN;
	for (i = 0; i < r->n; i++) {
		const struct rcell *c = &r->c[i];

		x = nmi ? c->nmi_rate : c->rate;
		if (!hvp_rep_in_group(c, g) || !is_method(c, m) || !isfinite(x))
			continue;
		for (j = 0; j < nx && xs[j] != x; j++)
			;
		if (j == nx && nx < HVP_ARRAY_SIZE(xs))
			xs[nx++] = x;
	}
	/* an NMI rate of 0 is none, so first; a hit rate of 0 is a tight loop, so last */
	qsort(xs, nx, sizeof(double), nmi ? cmp_plain : cmp_rate);
	buf[0] = 0;
	for (j = 0; j < nx; j++) {
		double done = 0, att = 0, rb = 0, nrb = 0;
		char xl[32], rl[32];

		for (i = 0; i < r->n; i++) {
			const struct rcell *c = &r->c[i];

			if (!hvp_rep_in_group(c, g) || !is_method(c, m) ||
			    (nmi ? c->nmi_rate : c->rate) != xs[j])
				continue;
			if (isfinite(c->completed) && isfinite(c->attempts)) {
				done += c->completed;
				att += c->attempts;
			}
			if (isfinite(c->st[ST_ROLLBACKS][F_MEAN])) {
				rb += c->st[ST_ROLLBACKS][F_MEAN];
				nrb++;
			}
		}
		if (xs[j] == 0)
			snprintf(xl, sizeof(xl), nmi ? "with no NMIs" : "in a tight loop");
		else {
			snprintf(xl, sizeof(xl), "at ");
			svg_fmt(xl + 3, sizeof(xl) - 3, xs[j], SVG_U_RATE);
		}
		if (nrb)
			snprintf(rl, sizeof(rl), ", %.3g rollbacks", rb / nrb);
		else
			rl[0] = 0;
		if (att > 0) {
			if (!isfinite(*worst) || done / att < *worst) {
				*worst = done / att;
				*worst_at = xs[j];
			}
			off += (size_t)snprintf(buf + off, off < len ? len - off : 0,
						"%s%.0f%% %s%s", j ? "; " : "", 100 * done / att,
						xl, rl);
		}
		if (off >= len)
			break;
	}
}

static double median(double *v, unsigned n)
{
	unsigned i, j;

	if (!n)
		return NAN;
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && v[j - 1] > v[j]; j--) {
			double t = v[j];

			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The median over a group's cells of one method of a statistic (NAN: none). */
static double group_median(const struct rep *r, const char *g, const char *m, int st, int fld)
{
	double v[256];
	unsigned i, n = 0;

	for (i = 0; i < r->n && n < HVP_ARRAY_SIZE(v); i++)
		if (hvp_rep_in_group(&r->c[i], g) && is_method(&r->c[i], m) &&
		    isfinite(r->c[i].st[st][fld]))
			v[n++] = r->c[i].st[st][fld];
	return median(v, n);
}

/*
 * The raw samples of stat st of the cells of group g and method m (only
 * those with `sites` sites when that is finite), pooled; NULL when some such
 * cell has none to give, for then the pool is not the method's.
 */
static double *pooled(const struct rep *r, const char *g, const char *m, double sites, int st,
		      size_t *n)
{
	double *v = NULL, *s, *nv;
	size_t i, k, len;

	*n = 0;
	for (i = 0; i < r->n; i++) {
		const struct rcell *c = &r->c[i];

		if (!hvp_rep_in_group(c, g) || !is_method(c, m) ||
		    (isfinite(sites) && c->sites != sites))
			continue;
		s = samples_of(raw_of(c, st), c->st[st][F_N], &len);
		nv = s ? realloc(v, (*n + len) * sizeof(*v)) : NULL;
		if (!nv) {
			free(s);
			free(v);
			*n = 0;
			return NULL;
		}
		v = nv;
		for (k = 0; k < len; k++)
			v[(*n)++] = s[k];
		free(s);
	}
	return v;
}

/* The index of the smallest of v[0..n) but best, or -1. */
static int runner_up(const double *v, unsigned n, const char *const *names, const char *best)
{
	unsigned i;
	int k = -1;

	for (i = 0; i < n; i++)
		if (isfinite(v[i]) && names[i] != best && (k < 0 || v[i] < v[k]))
			k = (int)i;
	return k;
}

/*
 * "; next bp-emulate at 80 µs, p = 0.0005": how far the claim that best
 * beats the runner-up by the per-method figures of[] is borne out, by a
 * permutation test on the p50 of their pooled samples (on their ranks for
 * sync rounds, whole numbers where a p50 test is blind: bench/stats.h).
 * Only for the "which scheme when" lines: the tests are the costly part of
 * a render.
 */
static void versus(const struct rep *r, char *buf, size_t len, const char *g, double sites, int st,
		   const char *best, const double *of, enum svg_unit u)
{
	int k = runner_up(of, r->nr_methods, r->methods, best);
	const char *next = k < 0 ? NULL : r->methods[k];
	double *x, *y, p = NAN;
	size_t nx, ny;
	char v[32];

	buf[0] = 0;
	if (!best || !next || line_only != HVP_REP_REC)
		return;
	x = pooled(r, g, best, sites, st, &nx);
	y = pooled(r, g, next, sites, st, &ny);
	if (x && y)
		p = hvp_stats_perm_p(st == ST_ROUNDS ? HVP_STATS_RANKS : HVP_STATS_P50, x, nx, y,
				     ny, HVP_STATS_RESAMPLES);
	free(x);
	free(y);
	svg_fmt(v, sizeof(v), of[k], u);
	if (!isfinite(p))
		snprintf(buf, len,
			 "; next %s at %s, no p-value: the report holds no raw samples "
			 "to test on",
			 next, v);
	else
		snprintf(buf, len, "; next %s at %s%s, p = %.2g", next, v,
			 p >= HVP_STATS_ALPHA ? ": not significant" : "", p);
}

void hvp_rep_conclusions(const struct rep *r, enum hvp_rep_kind only, hvp_rep_emit emit, void *ctx)
{
	char a[64], b[64], lr[32], buf[768];
	double faults = 0, kvm = 0, hvp = 0, bpf = 0, bpf_pio = 0, hvp_b = 0, worst, worst_at;
	unsigned i, m, over = 0, nkvm = 0, nbpf = 0;
	const char *best_lat = NULL, *best_stall = NULL, *best_rounds = NULL;
	double best_lat_v = INFINITY, best_stall_v = INFINITY, best_rounds_v = INFINITY;
	double max_sites = -1;
	char always[256] = "", never[512] = "", hot[512] = "", vs[256] = "";
	double lat_of[16], stall_of[16], rounds_of[16]; /* per method, NAN: none */

	line_only = only;
	if (!r->n) {
		line(emit, ctx, HVP_REP_OBS, "The report has no cells: nothing to conclude.");
		return;
	}
	for (i = 0; i < r->n; i++) {
		const struct rcell *c = &r->c[i];

		if (isfinite(c->faults))
			faults += c->faults;
		over += c->overcommitted == 1;
		if (hvp_rep_in_group(c, "batch") && isfinite(c->sites))
			max_sites = fmax(max_sites, c->sites);
		if (isfinite(c->wit[WI_BPF_UEXIT]) && isfinite(c->wit[WI_HVP_EXITS])) {
			bpf += c->wit[WI_BPF_UEXIT];
			bpf_pio += isfinite(c->wit[WI_BPF_PIO]) ? c->wit[WI_BPF_PIO] : 0;
			hvp_b += c->wit[WI_HVP_EXITS];
			nbpf++;
		}
		if (isfinite(c->wit[WI_KVM_EXITS]) && isfinite(c->wit[WI_HVP_EXITS])) {
			kvm += c->wit[WI_KVM_EXITS];
			hvp += c->wit[WI_HVP_EXITS];
			nkvm++;
		}
	}
	if (faults > 0)
		line(emit, ctx, HVP_REP_WARN,
		     "the guest counted %.0f faults across the cells: a method broke "
		     "an instruction some vCPU was executing (see the faults column).",
		     faults);
	else
		line(emit, ctx, HVP_REP_OBS,
		     "No guest faults in any cell: every method kept every vCPU's "
		     "instruction stream intact.");

	for (m = 0; m < r->nr_methods; m++) {
		const char *me = r->methods[m];
		double lat = group_median(r, "latency", me, ST_LAT, F_P50);
		double rounds = group_median(r, "latency", me, ST_LATR, F_P50);
		double stall = group_median(r, "latency", me, ST_STALL, F_P99);
		double minc = INFINITY;
		/* a test-only method is observed, never a candidate below */
		bool t = test_only(r, me);

		lat_of[m] = t ? NAN : lat;
		stall_of[m] = t ? NAN : stall;
		rounds_of[m] = NAN;
		for (i = 0; i < r->n; i++)
			if (is_method(&r->c[i], me) && isfinite(r->c[i].completion_rate))
				minc = fmin(minc, r->c[i].completion_rate);
		if (isfinite(lat)) {
			char rl[32];

			svg_fmt(a, sizeof(a), lat, SVG_U_NS);
			svg_fmt(b, sizeof(b), stall, SVG_U_NS);
			svg_fmt(rl, sizeof(rl), rounds, SVG_U_NONE);
			line(emit, ctx, HVP_REP_OBS,
			     "%s: median p50 latency %s (%s times one sync round), "
			     "median p99 of the max stall %s in the latency group%s.",
			     me, a, rl, b, t ? " (test only: --unsafe)" : "");
			if (!t && lat < best_lat_v) {
				best_lat_v = lat;
				best_lat = me;
			}
			if (!t && isfinite(stall) && stall < best_stall_v) {
				best_stall_v = stall;
				best_stall = me;
			}
		}
		if (minc < 1 && strlen(never) + strlen(me) + 96 < sizeof(never)) {
			const char *at = NULL;

			for (i = 0; i < r->n; i++)
				if (is_method(&r->c[i], me) && r->c[i].completion_rate == minc) {
					at = r->c[i].id;
					break;
				}
			snprintf(never + strlen(never), sizeof(never) - strlen(never),
				 "%s%s (worst %.0f%% in %.60s)", never[0] ? "; " : "", me,
				 100 * minc, at ? at : "?");
		}
		if (!t && minc == 1 && strlen(always) + strlen(me) + 3 < sizeof(always))
			snprintf(always + strlen(always), sizeof(always) - strlen(always), "%s%s",
				 always[0] ? ", " : "", me);
		if (max_sites > 0) {
			double rs = NAN;

			for (i = 0; i < r->n; i++)
				if (hvp_rep_in_group(&r->c[i], "batch") &&
				    is_method(&r->c[i], me) && r->c[i].sites == max_sites)
					rs = r->c[i].st[ST_ROUNDS][F_P50];
			rounds_of[m] = t ? NAN : rs;
			if (!t && isfinite(rs) && rs < best_rounds_v) {
				best_rounds_v = rs;
				best_rounds = me;
			}
		}
	}

	for (i = 0; i < 2; i++) {
		const char *g = i ? "nmi" : "hitrate";

		for (m = 0; m < r->nr_methods; m++) {
			sweep_line(r, g, r->methods[m], i == 1, buf, sizeof(buf), &worst,
				   &worst_at);
			if (!buf[0])
				continue;
			line(emit, ctx, HVP_REP_OBS, "%s against the %s: %s.", r->methods[m],
			     i ? "NMI rate" : "hit rate", buf);
			if (isfinite(worst) && worst < 1 && strlen(hot) < sizeof(hot) - 100) {
				if (worst_at == 0)
					snprintf(a, sizeof(a),
						 i ? "with no NMIs" : "in a tight loop");
				else {
					snprintf(a, sizeof(a), "at ");
					svg_fmt(a + 3, sizeof(a) - 3, worst_at, SVG_U_RATE);
					strncat(a, i ? " NMIs" : " calls",
						sizeof(a) - strlen(a) - 1);
				}
				snprintf(hot + strlen(hot), sizeof(hot) - strlen(hot),
					 "%s%s completed only %.0f%% %s", hot[0] ? "; " : "",
					 r->methods[m], 100 * worst, a);
			}
		}
	}

	if (max_sites > 0) {
		for (m = 0; m < r->nr_methods; m++) {
			double lo_s = INFINITY, lo_r = NAN, hi_r = NAN, lo_l = NAN, hi_l = NAN;

			for (i = 0; i < r->n; i++) {
				const struct rcell *c = &r->c[i];

				if (!hvp_rep_in_group(c, "batch") || !is_method(c, r->methods[m]) ||
				    !isfinite(c->sites))
					continue;
				if (c->sites < lo_s) {
					lo_s = c->sites;
					lo_r = c->st[ST_ROUNDS][F_P50];
					lo_l = c->st[ST_LAT][F_P50];
				}
				if (c->sites == max_sites) {
					hi_r = c->st[ST_ROUNDS][F_P50];
					hi_l = c->st[ST_LAT][F_P50];
				}
			}
			if (!isfinite(lo_s) || !isfinite(hi_r))
				continue;
			svg_fmt(a, sizeof(a), lo_l, SVG_U_NS);
			svg_fmt(b, sizeof(b), hi_l, SVG_U_NS);
			svg_fmt(lr, sizeof(lr), lo_r, SVG_U_NONE);
			line(emit, ctx, HVP_REP_OBS,
			     "%s batch scaling: %s -> %.4g sync rounds and %s -> %s (p50) "
			     "from %.0f to %.0f sites.",
			     r->methods[m], lr, hi_r, a, b, lo_s, max_sites);
		}
	}
	if (over)
		line(emit, ctx, HVP_REP_OBS,
		     "%u cells ran overcommitted (vCPUs + the service thread > %s host "
		     "cores): their times include host scheduling, not only the method.",
		     over, num0(a, sizeof(a), r->cores));
	if (hvp > 0)
		snprintf(a, sizeof(a), "%.2f", kvm / hvp);
	else
		snprintf(a, sizeof(a), "n/a");
	if (nkvm)
		line(emit, ctx, HVP_REP_OBS,
		     "Witness: KVM's own statistics counted %.0f exits where "
		     "hvpatch counted %.0f (ratio %s) over %u cells; KVM's count includes the exits "
		     "handled in the kernel.",
		     kvm, hvp, a, nkvm);
	if (nbpf)
		line(emit, ctx, HVP_REP_OBS,
		     "Witness: the bpf program counted %.0f exits to user space "
		     "(and %.0f port I/O exits) where hvpatch counted %.0f over %u cells%s.",
		     bpf, bpf_pio, hvp_b, nbpf, bpf == hvp_b ? ": the same" : "");

	if (best_lat) {
		svg_fmt(a, sizeof(a), best_lat_v, SVG_U_NS);
		versus(r, vs, sizeof(vs), "latency", NAN, ST_LAT, best_lat, lat_of, SVG_U_NS);
		line(emit, ctx, HVP_REP_REC, "lowest latency: %s (median p50 %s%s);", best_lat, a,
		     vs);
	}
	if (best_stall) {
		svg_fmt(a, sizeof(a), best_stall_v, SVG_U_NS);
		versus(r, vs, sizeof(vs), "latency", NAN, ST_STALL, best_stall, stall_of, SVG_U_NS);
		line(emit, ctx, HVP_REP_REC,
		     "least disruption to the running vCPUs: %s (median p99 max stall "
		     "%s%s);",
		     best_stall, a, vs);
	}
	if (best_rounds) {
		versus(r, vs, sizeof(vs), "batch", max_sites, ST_ROUNDS, best_rounds, rounds_of,
		       SVG_U_NONE);
		line(emit, ctx, HVP_REP_REC,
		     "large keys: %s needs the fewest sync rounds at %.0f sites "
		     "(%.4g%s);",
		     best_rounds, max_sites, best_rounds_v, vs);
	}
	line(emit, ctx, HVP_REP_REC, "always completed, in every cell: %s;",
	     always[0] ? always : "no method");
	if (never[0])
		line(emit, ctx, HVP_REP_REC, "did not always complete: %s;", never);
	if (hot[0])
		line(emit, ctx, HVP_REP_REC,
		     "hot call sites: %s; patch hot sites with a method that always "
		     "completed.",
		     hot);
	else
		line(emit, ctx, HVP_REP_REC,
		     "hot call sites: every method completed at every hit and NMI rate "
		     "measured.");
}

/* ---- CSV (RFC 4180: CRLF, fields with , \" CR LF quoted, quotes doubled) ---- */

static void csv_str(FILE *f, const char *s)
{
	if (!s)
		return;
	if (!strpbrk(s, ",\"\r\n")) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void csv_num(FILE *f, double v)
{
	if (!isfinite(v))
		return;
	if (v == floor(v) && fabs(v) < 1e15)
		fprintf(f, "%.0f", v);
	else
		fprintf(f, "%.10g", v);
}

static void render_csv(const struct rep *r, FILE *f)
{
	unsigned i, k, j;
	bool target, flag;
	char buf[512];

	fputs("id,group,method,sync,vcpus,rate,nmi_rate,key,sites,backend,overcommitted,"
	      "attempts,completed,completion_rate",
	      f);
	for (k = 0; k < ST__COUNT; k++)
		for (j = 0; j < F__COUNT; j++)
			fprintf(f, ",%s_%s", hvp_rep_stat_names[k], hvp_rep_field_names[j]);
	fputs(",faults", f);
	for (k = 0; k < WI__COUNT; k++)
		fprintf(f, ",%s", hvp_rep_witness_names[k]);
	/* last, so that the columns before keep their places */
	for (k = 0; k < ST__COUNT; k++)
		if (REP_HAS_CI(k))
			fprintf(f, ",%s_p50_ci_lo,%s_p50_ci_hi", hvp_rep_stat_names[k],
				hvp_rep_stat_names[k]);
	fputs(",auto_choice,auto_best_method,auto_best_p50_ns,auto_within_target,auto_flagged", f);
	fputs("\r\n", f);
	for (i = 0; i < r->n; i++) {
		const struct rcell *c = &r->c[i];

		csv_str(f, c->id);
		fputc(',', f);
		csv_str(f, c->group);
		fputc(',', f);
		csv_str(f, c->method);
		fputc(',', f);
		csv_str(f, c->sync);
		fputc(',', f);
		csv_num(f, c->vcpus);
		fputc(',', f);
		csv_num(f, c->rate);
		fputc(',', f);
		csv_num(f, c->nmi_rate);
		fputc(',', f);
		csv_str(f, c->key);
		fputc(',', f);
		csv_num(f, c->sites);
		fputc(',', f);
		csv_str(f, c->backend);
		fputc(',', f);
		if (c->overcommitted >= 0)
			fputs(c->overcommitted ? "true" : "false", f);
		fputc(',', f);
		csv_num(f, c->attempts);
		fputc(',', f);
		csv_num(f, c->completed);
		fputc(',', f);
		csv_num(f, c->completion_rate);
		for (k = 0; k < ST__COUNT; k++)
			for (j = 0; j < F__COUNT; j++) {
				fputc(',', f);
				csv_num(f, c->st[k][j]);
			}
		fputc(',', f);
		csv_num(f, c->faults);
		for (k = 0; k < WI__COUNT; k++) {
			fputc(',', f);
			csv_num(f, c->wit[k]);
		}
		for (k = 0; k < ST__COUNT; k++)
			for (j = 0; REP_HAS_CI(k) && j < 2; j++) {
				fputc(',', f);
				csv_num(f, c->ci[k][j]);
			}
		/* empty for a method's cell */
		fputc(',', f);
		csv_str(f, hvp_rep_str(c->auto_o, "choice"));
		fputc(',', f);
		csv_str(f, hvp_rep_str(c->auto_o, "best_method"));
		fputc(',', f);
		csv_num(f, hvp_rep_num(c->auto_o, "best_p50_ns"));
		if (hvp_rep_auto_desc(c, buf, sizeof(buf), &target, &flag))
			fprintf(f, ",%s,%s", target ? "true" : "false", flag ? "true" : "false");
		else
			fputs(",,", f);
		fputs("\r\n", f);
	}
}

/* ---- text ---- */

/*
 * Printable: control characters from the file never reach a terminal, C1's
 * (U+0080-U+009F, CSI among them) no more than C0's, nor a malformed byte
 * (a lone 0x9b is CSI to a terminal not in UTF-8).
 */
static void text_str(FILE *f, const char *s, int width)
{
	int n = 0;

	for (; s && *s && (width <= 0 || n < width); n++) {
		unsigned cp;
		size_t len = svg_utf8_char(s, &cp);

		if (!len || svg_is_control(cp))
			fputc('?', f);
		else
			fwrite(s, 1, len, f);
		s += len ? len : 1;
	}
	for (; n < width; n++)
		fputc(' ', f);
}

/* Right-justified in width columns, counting UTF-8 characters, not bytes. */
static void rj(FILE *f, const char *s, int width)
{
	int n = 0;
	const char *p;

	for (p = s; *p; p++)
		n += ((unsigned char)*p & 0xc0) != 0x80;
	for (; n < width; n++)
		fputc(' ', f);
	fputc(' ', f);
	text_str(f, s, 0);
}

static void rj_ns(FILE *f, double v, int width)
{
	char buf[32];

	svg_fmt(buf, sizeof(buf), v, SVG_U_NS);
	rj(f, buf, width);
}

static void emit_text(void *ctx, enum hvp_rep_kind kind, const char *l)
{
	FILE *f = ctx;

	fputs(kind == HVP_REP_REC ? "  - " : "  ", f);
	text_str(f, l, 0);
	fputc('\n', f);
}

/* The p50's interval in its own column, "-" when there is none. */
static void rj_ci(FILE *f, const double *ci, enum svg_unit u, int width)
{
	char buf[64];

	hvp_rep_fmt_ci(buf, sizeof(buf), ci, u);
	rj(f, buf, width);
}

static void text_table(const struct rep *r, const char *g, FILE *f)
{
	unsigned i, shown = 0;
	char a[32], b[48], v[24], x[24], y[24];
	/* the backend group's rows differ only in their backend: name it in each */
	bool be = !strcmp(g, "backend");
	/* wide enough for every method's name (bp-cancel-hpa), up to a bound */
	int mw = 11;

	for (i = 0; i < r->nr_methods; i++)
		if (r->methods[i] && (int)strlen(r->methods[i]) > mw)
			mw = strlen(r->methods[i]) < 24 ? (int)strlen(r->methods[i]) : 24;
	for (i = 0; i < r->n; i++)
		shown += hvp_rep_in_group(&r->c[i], g);
	if (!shown && be) /* only a run with --backends writes it */
		return;
	fprintf(f, "\n== ");
	text_str(f, g, 0);
	fputs(": ", f);
	text_str(f, hvp_rep_group_desc(g), 0);
	fputc('\n', f);
	if (!shown) {
		fprintf(f, "  (no cells in this group%s)\n",
			r->quick == 1 && !strcmp(g, "vcpus") ? ": a --quick run skips it" : "");
		return;
	}
	fprintf(f,
		"  %-*s %-4s%s %5s %9s %7s %5s %7s %9s %15s %9s %9s %8s %13s %6s %9s %8s %7s "
		"%9s %15s %9s %6s\n",
		mw, "method", "sync", be ? " backend" : "", "vCPUs", "rate", "NMI/s", "sites",
		"done", "lat p50", "95% CI", "lat p99", "lat max", "in rnds", "95% CI", "rounds",
		"95% CI", "rollbks", "traps", "stall p50", "95% CI", "stall p99", "faults");
	for (i = 0; i < r->n; i++) {
		const struct rcell *c = &r->c[i];

		if (!hvp_rep_in_group(c, g))
			continue;
		fputs("  ", f);
		text_str(f, nz(c->method), mw);
		fputc(' ', f);
		text_str(f, nz(c->sync), 4);
		if (be) {
			fputc(' ', f);
			text_str(f, nz(c->backend), 7);
		}
		svg_fmt(a, sizeof(a), c->rate, SVG_U_NONE);
		if (c->rate == 0)
			snprintf(a, sizeof(a), "tight");
		snprintf(b, sizeof(b), "%s/%s", num0(x, sizeof(x), c->completed),
			 num0(y, sizeof(y), c->attempts));
		fprintf(f, " %4s%s %9s %7s %5s %7s", num0(v, sizeof(v), c->vcpus),
			c->overcommitted == 1 ? "*" : " ", a, num0(x, sizeof(x), c->nmi_rate),
			num0(y, sizeof(y), c->sites), b);
		rj_ns(f, c->st[ST_LAT][F_P50], 9);
		rj_ci(f, c->ci[ST_LAT], SVG_U_NS, 15);
		rj_ns(f, c->st[ST_LAT][F_P99], 9);
		rj_ns(f, c->st[ST_LAT][F_MAX], 9);
		svg_fmt(a, sizeof(a), c->st[ST_LATR][F_P50], SVG_U_NONE);
		rj(f, a, 8);
		rj_ci(f, c->ci[ST_LATR], SVG_U_NONE, 13);
		svg_fmt(a, sizeof(a), c->st[ST_ROUNDS][F_P50], SVG_U_NONE);
		rj(f, a, 6);
		rj_ci(f, c->ci[ST_ROUNDS], SVG_U_NONE, 9);
		svg_fmt(a, sizeof(a), c->st[ST_ROLLBACKS][F_MEAN], SVG_U_NONE);
		rj(f, a, 8);
		svg_fmt(a, sizeof(a), c->st[ST_TRAPS][F_MEAN], SVG_U_NONE);
		rj(f, a, 7);
		rj_ns(f, c->st[ST_STALL][F_P50], 9);
		rj_ci(f, c->ci[ST_STALL], SVG_U_NS, 15);
		rj_ns(f, c->st[ST_STALL][F_P99], 9);
		fprintf(f, " %6s\n", num0(a, sizeof(a), c->faults));
	}
}

/* Each vCPU's own max stall, where the worst vCPU's alone would hide who stalled. */
static void text_vstall(const struct rep *r, FILE *f)
{
	char buf[2048];
	unsigned i, shown = 0;

	fputs("\n== stall by vCPU: each vCPU's longest loop gap per patch, p50 / max over the "
	      "cell's patches\n",
	      f);
	for (i = 0; i < r->n; i++) {
		if (!hvp_rep_vstall(&r->c[i], buf, sizeof(buf)))
			continue;
		fputs("  ", f);
		text_str(f, nz(r->c[i].id), 0);
		fputs("\n    vCPU ", f);
		text_str(f, buf, 0);
		fputc('\n', f);
		shown++;
	}
	if (!shown)
		fputs("  (this report holds no per-vCPU stall: one written before the bench stored it)\n",
		      f);
}

/* Who held the slowest sync rounds (own VMM): a slow round names its vCPUs. */
static void text_slow_rounds(const struct rep *r, FILE *f)
{
	unsigned idx[8], i, n = hvp_rep_slow_rounds(r, idx, 8);
	char buf[2048];

	fputs("\n== slowest sync rounds and who held them (the cell's slowest round; RIP, CPL and "
	      "the host thread's state while the vCPU held it)\n",
	      f);
	for (i = 0; i < n; i++) {
		fputs("  ", f);
		text_str(f, nz(r->c[idx[i]].id), 0);
		hvp_rep_round_desc(&r->c[idx[i]], buf, sizeof(buf));
		fputs("\n    ", f);
		text_str(f, buf, 0);
		fputc('\n', f);
	}
	if (!n)
		fputs("  (this report names no round holders: written before the bench kept them, or "
		      "no cell ran on the own VMM)\n",
		      f);
}

static void text_targets(const struct rep *r, FILE *f)
{
	struct hvp_rep_target t[16];
	unsigned i, n = hvp_rep_targets(r, t, 16);
	char v[96], b[32];

	fputs("\n== performance targets, as ratios of this run's own figures (95% interval; met or "
	      "missed only when the whole interval is)\n",
	      f);
	for (i = 0; i < n; i++) {
		hvp_rep_target_fmt(&t[i], v, sizeof(v), b, sizeof(b));
		fprintf(f, "  %-66s %24s %8s  %s\n", t[i].what, v, b, t[i].verdict);
	}
}

static void text_auto(const struct rep *r, FILE *f)
{
	unsigned i, n = 0, met = 0, flagged = 0;
	bool target, flag;
	char buf[512];

	for (i = 0; i < r->n; i++) {
		if (!hvp_rep_auto_desc(&r->c[i], buf, sizeof(buf), &target, &flag))
			continue;
		if (!n++)
			fputs("\n== auto against the best method (per point: auto's latency p50 against "
			      "the least p50 of the methods; target: within 10 % or one sync round)\n",
			      f);
		met += target;
		flagged += flag;
		fputs("  ", f);
		text_str(f, nz(r->c[i].id), 0);
		fputs("\n    ", f);
		text_str(f, buf, 0);
		fputc('\n', f);
	}
	if (n)
		fprintf(f, "  within the target in %u of %u points; %u flagged\n", met, n, flagged);
}

static void render_text(const struct rep *r, FILE *f)
{
	unsigned i, k;
	char buf[32];

	fputs("hvpatch bench report (", f);
	text_str(f, nz(r->tool), 0);
	fputs(", started ", f);
	text_str(f, nz(r->started), 0);
	if (isfinite(r->duration_s))
		fprintf(f, ", %.1f s", r->duration_s);
	fprintf(f, "%s)\n", r->quick == 1 ? ", --quick" : "");
	fputs("host: ", f);
	text_str(f, nz(r->cpu), 0);
	fprintf(f, ", %s cores, kernel ", num0(buf, sizeof(buf), r->cores));
	text_str(f, nz(r->kernel), 0);
	fputs(", ", f);
	text_str(f, nz(r->kvm_module), 0);
	fprintf(f, ", TSC %s kHz\n", num0(buf, sizeof(buf), r->tsc_khz));
	fputs("witnesses: KVM stats ", f);
	text_str(f, r->wit_kvm ? r->wit_kvm : "not said", 0);
	fputs("; bpf ", f);
	text_str(f, r->wit_bpf ? r->wit_bpf : "not said", 0);
	fputs("\n\n== unit costs (p50, its 95% CI, p90, max; a 1-vCPU VM)\n", f);
	for (k = 0; k < UC__COUNT; k++) {
		fprintf(f, "  %-48s", hvp_rep_unit_desc[k]);
		rj_ns(f, r->unit[k][F_P50], 10);
		rj_ci(f, r->unit_ci[k], SVG_U_NS, 17);
		rj_ns(f, r->unit[k][F_P90], 10);
		rj_ns(f, r->unit[k][F_MAX], 10);
		fputc('\n', f);
	}
	fputs("  (latencies \"in rnds\" are in units of one sync round of the cell's kind, so\n"
	      "   that reports from different hosts compare)\n",
	      f);
	text_targets(r, f);
	for (i = 0; i < r->nr_groups; i++)
		text_table(r, r->groups[i], f);
	text_auto(r, f);
	text_vstall(r, f);
	text_slow_rounds(r, f);
	fputs("\n  * overcommitted: more vCPUs (plus the service thread) than host cores\n", f);
	fputs("  95% CI: the p50's bootstrap confidence interval, from the raw samples\n", f);
	if (r->no_ci)
		fprintf(f,
			"  (%u p50s have no interval (\"-\"): the report holds no usable raw samples "
			"for them, as one written before the bench stored them)\n",
			r->no_ci);
	fputs("\n== which scheme when (drawn from this run's figures)\n", f);
	hvp_rep_conclusions(r, HVP_REP_REC, emit_text, f);
	fputs("\n== observations\n", f);
	hvp_rep_conclusions(r, HVP_REP_OBS, emit_text, f);
}

/* ---- entry points ---- */

int hvp_report_render(json_object *root, const char *fmt, FILE *f, char *err, size_t errlen)
{
	struct rep r;
	int ret = 0;

	if (!strcmp(fmt, "json")) {
		fprintf(f, "%s\n",
			json_object_to_json_string_ext(root,
						       JSON_C_TO_STRING_PRETTY |
							       JSON_C_TO_STRING_NOSLASHESCAPE));
		goto check;
	}
	if (strcmp(fmt, "csv") && strcmp(fmt, "text") && strcmp(fmt, "html")) {
		snprintf(err, errlen, "unknown report format '%s' (html, json, text, csv)", fmt);
		return -EINVAL;
	}
	if (hvp_rep_parse(root, &r) < 0) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (!strcmp(fmt, "csv"))
		render_csv(&r, f);
	else if (!strcmp(fmt, "text"))
		render_text(&r, f);
	else
		ret = hvp_rep_html(&r, f);
	hvp_rep_free(&r);
	if (ret < 0) {
		snprintf(err, errlen, "cannot render html: %s", strerror(-ret));
		return ret;
	}
check:
	if (fflush(f) == EOF || ferror(f)) {
		snprintf(err, errlen, "write error: %s", strerror(errno));
		return -EIO;
	}
	return 0;
}

static int write_one(const char *dir, json_object *root, const char *fmt, char *err, size_t errlen)
{
	char path[4096], tmp[4200];
	FILE *f;
	int r;

	snprintf(path, sizeof(path), "%s/report.%s", dir, fmt);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f) {
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		return -errno;
	}
	r = hvp_report_render(root, fmt, f, err, errlen);
	if (fclose(f) == EOF && !r) {
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		r = -EIO;
	}
	if (!r && rename(tmp, path) < 0) {
		snprintf(err, errlen, "cannot rename %s: %s", tmp, strerror(errno));
		r = -errno;
	}
	if (r)
		unlink(tmp);
	return r;
}

int hvp_report_write_all(const char *dir, char *err, size_t errlen)
{
	json_object *root;
	int r;

	r = hvp_report_load(dir, &root, err, errlen);
	if (r < 0)
		return r;
	r = write_one(dir, root, "csv", err, errlen);
	if (!r)
		r = write_one(dir, root, "html", err, errlen);
	json_object_put(root);
	return r;
}
