/* SPDX-License-Identifier: GPL-2.0-only */
/* `hvpatch bench run`: sweeps of the patch methods, written to report.json. */
#ifndef HVP_BENCH_H
#define HVP_BENCH_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#define HVP_BENCH_MAX_LIST 16
/* The methods bit past the engine's (enum hvp_method): the auto column,
 * each point's patches made with the method the cost model chose. */
#define HVP_BENCH_AUTO	   5

struct hvp_bench_opts {
	bool quick;
	bool progress;	      /* a progress bar on stderr       */
	char out[PATH_MAX];   /* report directory               */
	char image[PATH_MAX]; /* guest ELF                      */
	unsigned repeat;      /* samples per cell               */
	unsigned methods;     /* bit per enum hvp_method, HVP_BENCH_AUTO */
	unsigned syncs;	      /* bit per enum hvp_sync_kind     */
	unsigned nr_vcpus, vcpus[HVP_BENCH_MAX_LIST];
	unsigned nr_rates;
	uint64_t rates[HVP_BENCH_MAX_LIST]; /* 0 = tight loop */
	unsigned nr_nmi_rates;
	uint64_t nmi_rates[HVP_BENCH_MAX_LIST];
	unsigned nr_sites, sites[HVP_BENCH_MAX_LIST]; /* 1, 16, 256, 1024 */
	int timeout_ms;				      /* per patch                      */
	unsigned backends; /* bit per HVP_BENCH_BE_*: the backend group */
	bool unsafe;	   /* the test-only methods in `methods` run */
};

/* Fill the defaults for a quick or a full run (lists left empty get them). */
void hvp_bench_defaults(struct hvp_bench_opts *o);
/* Run the matrix and write OUT/report.json (and the rendered files when the
 * renderer is built in).  Returns 0 or -errno with a reason in err. */
int hvp_bench_run(const struct hvp_bench_opts *o, char *err, size_t errlen);

#endif
