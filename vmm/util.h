/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef HVP_UTIL_H
#define HVP_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define HVP_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Runtime directory: $HVPATCH_RUNTIME_DIR, else /run/hvpatch. */
const char *hvp_rundir(void);
/* Create the runtime directory (mode 0700) if missing: 0 or -errno. */
int hvp_rundir_ensure(const char *dir);
/* A VM name is [A-Za-z0-9][A-Za-z0-9_.-]{0,31} and not "." or "..". */
int hvp_name_valid(const char *name);
/* "<rundir>/<name><suffix>", e.g. suffix ".sock"; -ENAMETOOLONG on overflow. */
int hvp_vm_path(char *buf, size_t len, const char *rundir, const char *name, const char *suffix);

static inline uint64_t hvp_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif /* HVP_UTIL_H */
