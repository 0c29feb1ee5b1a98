/* SPDX-License-Identifier: GPL-2.0-only */
/* What tests/unit-rollout.c and tests/unit-rollout-run.c both print of a plan. */
#ifndef HVP_TESTS_ROLLOUT_WAVES_H
#define HVP_TESTS_ROLLOUT_WAVES_H

#include <stdio.h>
#include <string.h>

#include "rollout.h"

/* Each of vms[0..n)'s wave into out, "-" for none: "0 1 1 - 2". */
static const char *waves_of(const struct rollout_vm *vms, unsigned n, char *out, size_t len)
{
	unsigned i;

	out[0] = '\0';
	for (i = 0; i < n; i++) {
		size_t l = strlen(out);

		if (vms[i].wave < 0)
			snprintf(out + l, len - l, "%s-", i ? " " : "");
		else
			snprintf(out + l, len - l, "%s%d", i ? " " : "", vms[i].wave);
	}
	return out;
}

#endif
