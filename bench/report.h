/* SPDX-License-Identifier: GPL-2.0-only */
/* `hvpatch report`: render a finished bench run (DIR/report.json). */
#ifndef HVP_REPORT_H
#define HVP_REPORT_H

#include <stddef.h>
#include <stdio.h>

#include <json-c/json.h>

/*
 * Read and check DIR/report.json: an object with schema_version 1 and a
 * cells array.  Everything else is checked where it is used, so a report
 * with missing or mistyped fields still renders.  0 or -errno with the
 * reason in err.
 */
int hvp_report_load(const char *dir, json_object **out, char *err, size_t errlen);
/* Write rep as html, json, text or csv to f.  0 or -errno. */
int hvp_report_render(json_object *rep, const char *fmt, FILE *f, char *err, size_t errlen);
/* DIR/report.json to DIR/report.csv and DIR/report.html.  0 or -errno. */
int hvp_report_write_all(const char *dir, char *err, size_t errlen);

#endif /* HVP_REPORT_H */
