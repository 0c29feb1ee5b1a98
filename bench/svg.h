/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Small self-contained SVG charts for the bench report: line/step/scatter
 * charts on linear, log or ordinal axes, and a box chart of distributions
 * per category.  Every string that reaches the output is escaped.
 */
#ifndef HVP_SVG_H
#define HVP_SVG_H

#include <stdbool.h>
#include <stdio.h>

#define SVG_MAX_SERIES 16
#define SVG_MAX_ORD    32

enum svg_axis_kind { SVG_LIN, SVG_LOG, SVG_ORD };
enum svg_unit { SVG_U_NONE, SVG_U_NS, SVG_U_RATIO, SVG_U_RATE };

struct svg_axis {
	enum svg_axis_kind kind;
	enum svg_unit unit;
	const char *label;
	bool fixed; /* use min..max as given */
	double min, max;
	bool zero_band; /* log: 0 gets its own band at the low end */
	bool integer;	/* linear: ticks at whole numbers only */
	/* ordinal: the distinct values in display order; zero_label names 0 */
	bool zero_last; /* ordinal: 0 sorts after every other value */
	const char *zero_label;
	unsigned nr_ord;
	double ord[SVG_MAX_ORD];
};

struct svg_series {
	char name[64];
	const char *color;
	int dash;   /* 0 solid, 1 dashed, 2 dotted */
	bool step;  /* a staircase (a CDF) */
	bool lines; /* join the points */
	unsigned n;
	double *x, *y; /* owned by the series */
	bool *hollow;  /* optional: an open marker */
};

struct svg_chart {
	const char *title;
	struct svg_axis x, y;
	double shade_from; /* x from which the plot is shaded, NAN: none */
	const char *shade_label;
	const char *hollow_label; /* the legend's words for an open marker */
	bool dodge;		  /* nudge series apart where they coincide */
	bool diagonal;		  /* draw y = x, labelled */
	unsigned nr_series;
	struct svg_series s[SVG_MAX_SERIES];
};

/* A category of a box chart: quantiles of one distribution. */
struct svg_box {
	char label[48];
	const char *color;
	bool hollow;
	double min, p50, p90, p99, max; /* NAN: absent */
};

struct svg_boxes {
	const char *title;
	struct svg_axis y;
	const char *hollow_label;
	unsigned n;
	struct svg_box *b;
};

void svg_chart_init(struct svg_chart *c, const char *title);
/* Add a series (NULL when full); its arrays hold up to cap points. */
struct svg_series *svg_chart_add(struct svg_chart *c, const char *name, const char *color,
				 unsigned cap);
void svg_series_push(struct svg_series *s, double x, double y, bool hollow);
void svg_chart_free(struct svg_chart *c);
/* Draw it; returns false (and draws nothing) when no point can be placed. */
bool svg_chart_draw(FILE *f, struct svg_chart *c);
bool svg_boxes_draw(FILE *f, const struct svg_boxes *b);

/*
 * Text for HTML and SVG: & < > " ' escaped, a control character (C0 or C1)
 * or a malformed UTF-8 byte as '?'; at most max bytes of s, cut between
 * two characters.
 */
void svg_escape(FILE *f, const char *s, size_t max);
/* The length of the UTF-8 character at s and its code point in *cp; 0: malformed. */
size_t svg_utf8_char(const char *s, unsigned *cp);
/* U+0000-U+001F and U+007F-U+009F. */
bool svg_is_control(unsigned cp);
/* A value in its unit: "12.3 µs", "80%", "10k". */
void svg_fmt(char *buf, size_t len, double v, enum svg_unit u);

#endif /* HVP_SVG_H */
