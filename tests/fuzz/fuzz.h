/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What every libFuzzer target here shares: the entry point, a property check
 * that aborts (libFuzzer saves the input) and a say() for the regress run.
 * A target defines FUZZ_NAME ("fuzz-ctl", ...) before including this.
 */
#ifndef HVP_FUZZ_H
#define HVP_FUZZ_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef FUZZ_NAME
#error "define FUZZ_NAME before including fuzz.h"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                           \
	do {                                                                                  \
		if (!(cond)) {                                                                \
			fprintf(stderr, FUZZ_NAME ": property violated: %s (%s:%d)\n", #cond, \
				__FILE__, __LINE__);                                          \
			abort();                                                              \
		}                                                                             \
	} while (0)

/* HVP_FUZZ_VERBOSE=1: say what happened to each input (for the regress run). */
__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...)
{
	static int verbose = -1;
	va_list ap;

	if (verbose < 0)
		verbose = getenv("HVP_FUZZ_VERBOSE") != NULL;
	if (!verbose)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

#endif /* HVP_FUZZ_H */
