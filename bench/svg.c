// SPDX-License-Identifier: GPL-2.0-only
/*
 * SVG charts drawn in C for the self-contained HTML report: no scripts, no
 * fonts, no external references.  The charts are inline <svg> elements of an
 * HTML page, so they need no XML namespace declaration.
 *
 * Axes are linear, log10 (optionally with a band at the low end for zeros,
 * which a log scale cannot place) or ordinal (distinct values evenly
 * spaced, e.g. hit rates where 0 means a tight loop and sorts last).
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "svg.h"

#define W    720
#define PX0  76 /* plot area */
#define PX1  (W - 196)
#define PY0  38 /* top */
#define BAND 18 /* the log axis' zero band */

/* The frame's height and the plot's bottom edge: box charts need room for labels. */
struct frame {
	int h, py1;
};

static const struct frame plain = { 340, 340 - 54 };
static const struct frame tall = { 420, 420 - 124 };

/* A resolved axis: the range on screen and its ticks. */
struct scale {
	const struct svg_axis *a;
	double lo, hi, step; /* LOG: in decades; ORD: -0.5 .. n - 0.5 */
	bool band;
	unsigned n;
	double ord[SVG_MAX_ORD];
	double p0, p1; /* pixels of lo and hi */
};

size_t svg_utf8_char(const char *str, unsigned *cp)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t len = s[0] < 0x80 ? 1 : s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : 2, i;

	*cp = len == 1 ? s[0] : s[0] & (0x7f >> len);
	if (len > 1 && (s[0] < 0xc2 || s[0] > 0xf4))
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		*cp = *cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && *cp < 0x800) || (len == 4 && (*cp < 0x10000 || *cp > 0x10ffff)))
		return 0; /* overlong, or past Unicode */
	return len;
}

bool svg_is_control(unsigned cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp < 0xa0);
}

void svg_escape(FILE *f, const char *s, size_t max)
{
	size_t i, len;

	if (!s)
		return;
	/* a character at a time, so that the cut at max never splits one */
	for (i = 0; s[i] && i < max; i += len ? len : 1) {
		unsigned cp;

		len = svg_utf8_char(s + i, &cp);
		switch (len ? cp : 0) {
		case '&':
			fputs("&amp;", f);
			break;
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		case '\'':
			fputs("&#39;", f);
			break;
		default:
			if (!len || svg_is_control(cp))
				fputc('?', f);
			else
				fwrite(s + i, 1, len, f);
		}
	}
	if (s[i])
		fputs("\xe2\x80\xa6", f); /* … */
}

/*
 * The unit changes where a value rounds up to the next one, not at the
 * next one itself: 999.7 µs at 3 digits is "1 ms", never "1e+03 µs".
 */
#define UP3 0.9995  /* the least fraction of 1000 that "%.3g" rounds to 1000 */
#define UP4 0.99995 /* the same for "%.4g" and 10000 */

void svg_fmt(char *buf, size_t len, double v, enum svg_unit u)
{
	double a = fabs(v);

	if (!isfinite(v)) {
		snprintf(buf, len, "-");
		return;
	}
	switch (u) {
	case SVG_U_NS:
		if (a < UP3 * 1e3)
			snprintf(buf, len, "%.3g ns", v);
		else if (a < UP3 * 1e6)
			snprintf(buf, len, "%.3g \xc2\xb5s", v / 1e3);
		else if (a < UP3 * 1e9)
			snprintf(buf, len, "%.3g ms", v / 1e6);
		else
			snprintf(buf, len, "%.3g s", v / 1e9);
		break;
	case SVG_U_RATIO:
		snprintf(buf, len, "%.0f%%", v * 100);
		break;
	case SVG_U_RATE:
	case SVG_U_NONE:
		if (a < UP4 * 1e4)
			snprintf(buf, len, "%.4g", v);
		else if (a < UP3 * 1e6)
			snprintf(buf, len, "%.3gk", v / 1e3);
		else if (a < UP3 * 1e9)
			snprintf(buf, len, "%.3gM", v / 1e6);
		else
			snprintf(buf, len, "%.3gG", v / 1e9);
		if (u == SVG_U_RATE)
			snprintf(buf + strlen(buf), len - strlen(buf), "/s");
		break;
	}
}

void svg_chart_init(struct svg_chart *c, const char *title)
{
	memset(c, 0, sizeof(*c));
	c->title = title;
	c->shade_from = NAN;
}

struct svg_series *svg_chart_add(struct svg_chart *c, const char *name, const char *color,
				 unsigned cap)
{
	struct svg_series *s;

	if (c->nr_series >= SVG_MAX_SERIES)
		return NULL;
	s = &c->s[c->nr_series];
	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "%s", name ? name : "?");
	s->color = color;
	s->lines = true;
	s->x = calloc(cap ? cap : 1, sizeof(double));
	s->y = calloc(cap ? cap : 1, sizeof(double));
	s->hollow = calloc(cap ? cap : 1, sizeof(bool));
	if (!s->x || !s->y || !s->hollow) {
		free(s->x);
		free(s->y);
		free(s->hollow);
		return NULL;
	}
	c->nr_series++;
	return s;
}

/* The caller sized the series; a push past it would need the cap it gave. */
void svg_series_push(struct svg_series *s, double x, double y, bool hollow)
{
	s->x[s->n] = x;
	s->y[s->n] = y;
	s->hollow[s->n] = hollow;
	s->n++;
}

void svg_chart_free(struct svg_chart *c)
{
	unsigned i;

	for (i = 0; i < c->nr_series; i++) {
		free(c->s[i].x);
		free(c->s[i].y);
		free(c->s[i].hollow);
	}
	c->nr_series = 0;
}

static int cmp_ord(const void *pa, const void *pb, void *zl)
{
	double a = *(const double *)pa, b = *(const double *)pb;

	if (*(bool *)zl) {
		if (a == 0 && b != 0)
			return 1;
		if (b == 0 && a != 0)
			return -1;
	}
	return a < b ? -1 : a > b;
}

/* Insertion sort: at most SVG_MAX_ORD values, and qsort has no context. */
static void sort_ord(double *v, unsigned n, bool zero_last)
{
	unsigned i, j;

	for (i = 1; i < n; i++)
		for (j = i; j > 0 && cmp_ord(&v[j - 1], &v[j], &zero_last) > 0; j--) {
			double t = v[j];

			v[j] = v[j - 1];
			v[j - 1] = t;
		}
}

static double nice_step(double range)
{
	double e = pow(10, floor(log10(range))), f = range / e;

	return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * e;
}

/* Accept one value into the axis' range; false when it cannot be placed. */
static bool usable(const struct svg_axis *a, double v)
{
	if (!isfinite(v))
		return false;
	if (a->kind == SVG_LOG)
		return v > 0 || (v == 0 && a->zero_band);
	return true;
}

static bool scale_setup(struct scale *s, const struct svg_axis *a, const double *const *vals,
			const unsigned *counts, unsigned nr, double p0, double p1)
{
	double mn = INFINITY, mx = -INFINITY;
	bool any = false, zero = false;
	unsigned i, j, k;

	memset(s, 0, sizeof(*s));
	s->a = a;
	s->p0 = p0;
	s->p1 = p1;
	for (i = 0; i < nr; i++) {
		for (j = 0; j < counts[i]; j++) {
			double v = vals[i][j];

			if (!usable(a, v))
				continue;
			any = true;
			if (a->kind == SVG_ORD) {
				for (k = 0; k < s->n && s->ord[k] != v; k++)
					;
				if (k == s->n && s->n < SVG_MAX_ORD)
					s->ord[s->n++] = v;
				continue;
			}
			if (a->kind == SVG_LOG && v == 0) {
				zero = true;
				continue;
			}
			mn = fmin(mn, v);
			mx = fmax(mx, v);
		}
	}
	if (!any)
		return false;
	switch (a->kind) {
	case SVG_ORD:
		sort_ord(s->ord, s->n, a->zero_last);
		s->lo = -0.5;
		s->hi = s->n - 0.5;
		break;
	case SVG_LIN:
		if (a->fixed) {
			mn = a->min;
			mx = a->max;
		}
		if (mx - mn < 1e-12) {
			mn = mn > 0 ? 0 : mn - 1;
			mx = mx + 1;
		}
		s->step = nice_step((mx - mn) / 5);
		if (a->integer && s->step < 1)
			s->step = 1;
		s->lo = floor(mn / s->step) * s->step;
		s->hi = ceil(mx / s->step) * s->step;
		if (a->fixed) {
			s->lo = a->min;
			s->hi = a->max;
		}
		break;
	case SVG_LOG:
		if (!isfinite(mn)) { /* zeros only */
			mn = 1;
			mx = 10;
		}
		s->lo = floor(log10(mn));
		s->hi = ceil(log10(mx));
		if (s->hi - s->lo < 1)
			s->hi = s->lo + 1;
		s->band = zero && a->zero_band;
		break;
	}
	return true;
}

/* Pixel of v, or NAN when it has no place on this axis. */
static double scale_map(const struct scale *s, double v)
{
	double p0 = s->p0, p1 = s->p1, dir = p1 > p0 ? 1 : -1;
	unsigned k;

	if (!isfinite(v))
		return NAN;
	switch (s->a->kind) {
	case SVG_ORD:
		for (k = 0; k < s->n; k++)
			if (s->ord[k] == v)
				return p0 + (k + 0.5) / s->n * (p1 - p0);
		return NAN;
	case SVG_LOG:
		if (v <= 0)
			return s->band && v == 0 ? p0 : NAN;
		if (s->band)
			p0 += dir * BAND;
		return p0 + (log10(v) - s->lo) / (s->hi - s->lo) * (p1 - p0);
	case SVG_LIN:
	default:
		return p0 + (v - s->lo) / (s->hi - s->lo) * (p1 - p0);
	}
}

static void tick_label(char *buf, size_t len, const struct scale *s, double v)
{
	if (s->a->kind == SVG_ORD && v == 0 && s->a->zero_label)
		snprintf(buf, len, "%s", s->a->zero_label);
	else
		svg_fmt(buf, len, v, s->a->unit);
}

/* The values where an axis has ticks, at most max. */
static unsigned scale_ticks(const struct scale *s, double *v, unsigned max)
{
	unsigned n = 0, k;
	double d, every;

	switch (s->a->kind) {
	case SVG_ORD:
		for (k = 0; k < s->n && n < max; k++)
			v[n++] = s->ord[k];
		break;
	case SVG_LIN:
		for (d = s->lo; d <= s->hi + s->step / 2 && n < max; d += s->step)
			v[n++] = fabs(d) < s->step / 1e6 ? 0 : d;
		break;
	case SVG_LOG:
		if (s->band && n < max)
			v[n++] = 0;
		every = s->hi - s->lo > 6 ? 2 : 1;
		for (d = s->lo; d <= s->hi + 0.5 && n < max; d += every) {
			v[n++] = pow(10, d);
			if (s->hi - s->lo <= 2 && d < s->hi) {
				if (n < max)
					v[n++] = 2 * pow(10, d);
				if (n < max)
					v[n++] = 5 * pow(10, d);
			}
		}
		break;
	}
	return n;
}

static void frame_open(FILE *f, const struct frame *fr, const char *title)
{
	fprintf(f,
		"<svg class=\"chart\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
		"role=\"img\" font-family=\"sans-serif\" font-size=\"11\">\n<title>",
		W, fr->h, W, fr->h);
	svg_escape(f, title, 200);
	fprintf(f, "</title>\n<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n",
		W, fr->h);
	fprintf(f, "<text x=\"%d\" y=\"20\" font-size=\"13\" font-weight=\"bold\">", PX0);
	svg_escape(f, title, 110);
	fputs("</text>\n", f);
}

static void axes_draw(FILE *f, const struct frame *fr, const struct scale *sx,
		      const struct scale *sy, bool xticks)
{

	double t[64];
	unsigned n, i;
	char lab[48];

	/* y grid and labels */
	n = scale_ticks(sy, t, 64);
	for (i = 0; i < n; i++) {
		double py = scale_map(sy, t[i]);

		if (!isfinite(py))
			continue;
		fprintf(f,
			"<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#e3e3e3\"/>\n",
			PX0, py, PX1, py);
		tick_label(lab, sizeof(lab), sy, t[i]);
		fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">", PX0 - 5, py + 4);
		svg_escape(f, lab, sizeof(lab));
		fputs("</text>\n", f);
	}
	if (xticks) {
		n = scale_ticks(sx, t, 64);
		for (i = 0; i < n; i++) {
			double px = scale_map(sx, t[i]);

			if (!isfinite(px))
				continue;
			fprintf(f,
				"<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#e3e3e3\"/>\n",
				px, PY0, px, fr->py1);
			tick_label(lab, sizeof(lab), sx, t[i]);
			fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">", px,
				fr->py1 + 15);
			svg_escape(f, lab, sizeof(lab));
			fputs("</text>\n", f);
		}
	}
	fprintf(f,
		"<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#888\"/>\n",
		PX0, PY0, PX1 - PX0, fr->py1 - PY0);
	if (sx && sx->a->label) {
		fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">", (PX0 + PX1) / 2,
			fr->h - 12);
		svg_escape(f, sx->a->label, 100);
		fputs("</text>\n", f);
	}
	if (sy->a->label) {
		fprintf(f,
			"<text transform=\"translate(14 %d) rotate(-90)\" text-anchor=\"middle\">",
			(PY0 + fr->py1) / 2);
		svg_escape(f, sy->a->label, 60);
		fputs("</text>\n", f);
	}
}

static void legend_hollow(FILE *f, int y, const char *label)
{
	fprintf(f,
		"<circle cx=\"%d\" cy=\"%d\" r=\"3.2\" fill=\"#fff\" stroke=\"#555\" "
		"stroke-width=\"1.5\"/>\n<text x=\"%d\" y=\"%d\">",
		PX1 + 24, y, PX1 + 42, y + 4);
	svg_escape(f, label, 26);
	fputs("</text>\n", f);
}

/* y = x over the span both axes share, sampled so that it bends right on any scale. */
static void diagonal(FILE *f, const struct scale *sx, const struct scale *sy)
{
	double lo, hi, v;
	bool pen = false;
	int k;

	if (sx->a->kind == SVG_ORD || sy->a->kind == SVG_ORD)
		return;
	lo = sx->a->kind == SVG_LOG ? pow(10, sx->lo) : sx->lo;
	hi = sx->a->kind == SVG_LOG ? pow(10, sx->hi) : sx->hi;
	lo = fmax(lo, sy->a->kind == SVG_LOG ? pow(10, sy->lo) : sy->lo);
	hi = fmin(hi, sy->a->kind == SVG_LOG ? pow(10, sy->hi) : sy->hi);
	if (!(hi > lo))
		return;
	fputs("<path fill=\"none\" stroke=\"#999\" stroke-dasharray=\"4 4\" d=\"", f);
	for (k = 0; k <= 32; k++) {
		double px, py;

		v = sx->a->kind == SVG_LOG ? lo * pow(hi / lo, k / 32.0) :
					     lo + (hi - lo) * k / 32.0;
		px = scale_map(sx, v);
		py = scale_map(sy, v);
		if (!isfinite(px) || !isfinite(py))
			continue;
		fprintf(f, "%c%.1f %.1f", pen ? 'L' : 'M', px, py);
		pen = true;
	}
	fputs("\"/>\n", f);
}

static const char *dasharray(int dash)
{
	return dash == 1 ? " stroke-dasharray=\"6 3\"" :
	       dash == 2 ? " stroke-dasharray=\"2 3\"" :
			   "";
}

bool svg_chart_draw(FILE *f, struct svg_chart *c)
{
	const double *xs[SVG_MAX_SERIES], *ys[SVG_MAX_SERIES];
	unsigned cnt[SVG_MAX_SERIES], i, j, placed = 0;
	const struct frame *fr = &plain;
	bool hollow = false;
	struct scale sx, sy;
	static unsigned clip_id;

	for (i = 0; i < c->nr_series; i++) {
		xs[i] = c->s[i].x;
		ys[i] = c->s[i].y;
		cnt[i] = c->s[i].n;
	}
	if (!scale_setup(&sx, &c->x, xs, cnt, c->nr_series, PX0, PX1) ||
	    !scale_setup(&sy, &c->y, ys, cnt, c->nr_series, fr->py1, PY0))
		return false;
	for (i = 0; i < c->nr_series; i++)
		for (j = 0; j < c->s[i].n; j++)
			placed += isfinite(scale_map(&sx, c->s[i].x[j])) &&
				  isfinite(scale_map(&sy, c->s[i].y[j]));
	if (!placed)
		return false;
	clip_id++;
	frame_open(f, fr, c->title);
	if (isfinite(c->shade_from)) {
		double px = scale_map(&sx, c->shade_from);

		if (isfinite(px) && px < PX1) {
			fprintf(f,
				"<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"#f6e7e7\"/>\n",
				px, PY0, PX1 - px, fr->py1 - PY0);
			if (c->shade_label) {
				fprintf(f, "<text x=\"%.1f\" y=\"%d\" fill=\"#a33\">", px + 4,
					PY0 + 12);
				svg_escape(f, c->shade_label, 40);
				fputs("</text>\n", f);
			}
		}
	}
	axes_draw(f, fr, &sx, &sy, true);
	fprintf(f,
		"<clipPath id=\"clip%u\"><rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/></clipPath>\n",
		clip_id, PX0 - 4, PY0 - 4, PX1 - PX0 + 8, fr->py1 - PY0 + 8);
	fprintf(f, "<g clip-path=\"url(#clip%u)\">\n", clip_id);
	if (c->diagonal)
		diagonal(f, &sx, &sy);
	for (i = 0; i < c->nr_series; i++) {
		const struct svg_series *s = &c->s[i];
		bool pen = false;
		double lastpy = NAN;
		/* dodge: series i drawn 2.5 px away from the next, centred on the value */
		double dy = c->dodge ? 2.5 * ((double)i - (c->nr_series - 1) / 2.0) : 0;

		if (s->lines && s->n > 1) {
			fprintf(f, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\"%s d=\"",
				s->color, dasharray(s->dash));
			for (j = 0; j < s->n; j++) {
				double px = scale_map(&sx, s->x[j]),
				       py = scale_map(&sy, s->y[j]) + dy;

				if (!isfinite(px) || !isfinite(py)) {
					pen = false;
					continue;
				}
				if (s->step) {
					if (!pen)
						fprintf(f, "M%.1f %.1f", px,
							isfinite(scale_map(&sy, 0)) ?
								scale_map(&sy, 0) :
								(double)fr->py1);
					else
						fprintf(f, "H%.1f", px);
					fprintf(f, "V%.1f", py);
				} else {
					fprintf(f, "%c%.1f %.1f", pen ? 'L' : 'M', px, py);
				}
				pen = true;
				lastpy = py;
			}
			if (s->step && pen && isfinite(lastpy))
				fprintf(f, "H%d", PX1);
			fputs("\"/>\n", f);
		}
		if (s->n > 80 && s->lines)
			continue;
		for (j = 0; j < s->n; j++) {
			double px = scale_map(&sx, s->x[j]), py = scale_map(&sy, s->y[j]) + dy;

			if (!isfinite(px) || !isfinite(py))
				continue;
			hollow |= s->hollow[j];
			fprintf(f,
				"<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.2\" fill=\"%s\" stroke=\"%s\" "
				"stroke-width=\"1.5\"/>\n",
				px, py, s->hollow[j] ? "#fff" : s->color, s->color);
		}
	}
	fputs("</g>\n", f);
	/* the legend */
	for (i = 0; i < c->nr_series; i++) {
		int y = PY0 + 8 + 17 * (int)i;

		fprintf(f,
			"<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" "
			"stroke-width=\"2.5\"%s/>\n",
			PX1 + 12, y, PX1 + 36, y, c->s[i].color, dasharray(c->s[i].dash));
		fprintf(f, "<text x=\"%d\" y=\"%d\">", PX1 + 42, y + 4);
		svg_escape(f, c->s[i].name, 26);
		fputs("</text>\n", f);
	}
	if (hollow && c->hollow_label)
		legend_hollow(f, PY0 + 8 + 17 * (int)c->nr_series, c->hollow_label);
	if (c->dodge)
		fprintf(f,
			"<text x=\"%d\" y=\"%d\" font-size=\"9\" fill=\"#666\">lines nudged "
			"apart by 2.5 px</text>\n",
			PX1 + 12, fr->py1);
	fputs("</svg>\n", f);
	return true;
}

bool svg_boxes_draw(FILE *f, const struct svg_boxes *b)
{
	double *vals, step, bw;
	const double *pv[1];
	unsigned cnt[1], i, n = 0;
	const struct frame *fr = &tall;
	struct scale sy;
	bool ok, hollow = false;

	if (!b->n)
		return false;
	vals = calloc((size_t)b->n * 5, sizeof(double));
	if (!vals)
		return false;
	for (i = 0; i < b->n; i++) {
		vals[n++] = b->b[i].min;
		vals[n++] = b->b[i].p50;
		vals[n++] = b->b[i].p90;
		vals[n++] = b->b[i].p99;
		vals[n++] = b->b[i].max;
	}
	pv[0] = vals;
	cnt[0] = n;
	ok = scale_setup(&sy, &b->y, pv, cnt, 1, fr->py1, PY0);
	free(vals);
	if (!ok)
		return false;
	frame_open(f, fr, b->title);
	axes_draw(f, fr, NULL, &sy, false);
	step = (double)(PX1 - PX0) / b->n;
	bw = step * 0.5 > 22 ? 22 : step * 0.5;
	for (i = 0; i < b->n; i++) {
		const struct svg_box *x = &b->b[i];
		double cx = PX0 + step * (i + 0.5);
		double ymin = scale_map(&sy, x->min), ymax = scale_map(&sy, x->max);
		double y50 = scale_map(&sy, x->p50), y90 = scale_map(&sy, x->p90);
		double y99 = scale_map(&sy, x->p99);
		const char *fill = x->hollow ? "#fff" : x->color;

		if (isfinite(ymin) && isfinite(ymax))
			fprintf(f,
				"<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n",
				cx, ymin, cx, ymax, x->color);
		if (isfinite(y50) && isfinite(y90))
			fprintf(f,
				"<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" "
				"fill-opacity=\"0.55\" stroke=\"%s\"/>\n",
				cx - bw / 2, fmin(y50, y90), bw, fmax(fabs(y90 - y50), 1.5), fill,
				x->color);
		if (isfinite(y50))
			fprintf(f,
				"<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#000\" "
				"stroke-width=\"2\"/>\n",
				cx - bw / 2, y50, cx + bw / 2, y50);
		if (isfinite(y99))
			fprintf(f,
				"<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
				"stroke-width=\"2\"/>\n",
				cx - bw / 3, y99, cx + bw / 3, y99, x->color);
		fprintf(f,
			"<text transform=\"translate(%.1f %d) rotate(-60)\" text-anchor=\"end\" "
			"font-size=\"10\">",
			cx + 3, fr->py1 + 10);
		svg_escape(f, x->label, 24);
		fputs("</text>\n", f);
		hollow |= x->hollow;
	}
	if (hollow && b->hollow_label)
		legend_hollow(f, PY0 + 8, b->hollow_label);
	fputs("</svg>\n", f);
	return true;
}
