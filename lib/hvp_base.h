/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Helpers every layer needs (protocol/, vmm/, bench/, tests/): libc only, so
 * that the protocol layer can use them without depending on the VMM.
 * Header-only, so that no library's link order changes for them.
 */
#ifndef HVP_BASE_H
#define HVP_BASE_H

#include <stdint.h>
#include <time.h>

#define HVP_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* CLOCK_MONOTONIC in ns: for timeouts and intervals, never wall time. */
static inline uint64_t hvp_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Sleep at least about ns; a signal may cut it short, which callers allow. */
static inline void hvp_sleep_ns(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000u), (long)(ns % 1000000000u) };

	nanosleep(&ts, NULL);
}

/* qsort/bsearch order of uint64_t values. */
static inline int hvp_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

#endif /* HVP_BASE_H */
