// SPDX-License-Identifier: GPL-2.0-only
/* hvpatch stats: the guest agent's counters, per vCPU. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>

#include <json-c/json.h>

#include "builtin.h"

CLI_CMD(cmd_stats)
{
	json_object *res, *vcpus;
	size_t i;
	int r;

	optind = 1;
	if ((r = cli_positional(argc, argv, 1, "the VM's NAME")))
		return r;
	if ((r = cli_call_show(argv[optind], "stats", NULL, 10000, &res)) || !res)
		return r;
	json_object_object_get_ex(res, "vcpus", &vcpus);
	printf("%-4s %-8s %12s %14s %9s %8s %6s %12s\n", "VCPU", "STATE", "LOOPS", "CALLS",
	       "BP_TRAPS", "NMIS", "FAULTS", "MAX_GAP_US");
	for (i = 0; i < json_object_array_length(vcpus); i++) {
		json_object *v = json_object_array_get_idx(vcpus, i), *st, *calls, *faults;

		json_object_object_get_ex(v, "state", &st);
		printf("%-4lld %-8s %12lld %14lld %9lld %8lld %6lld %12.1f\n",
		       (long long)cli_jint(v, "id"), json_object_get_string(st),
		       (long long)cli_jint(v, "loops"), (long long)cli_jint(v, "total_calls"),
		       (long long)cli_jint(v, "bp_traps"), (long long)cli_jint(v, "nmis"),
		       (long long)cli_jint(v, "nr_faults"),
		       (double)cli_jint(v, "max_gap_ns") / 1000.0);
		json_object_object_get_ex(v, "calls", &calls);
		printf("     calls:");
		json_object_object_foreach(calls, k, n)
		{
			if (json_object_get_int64(n))
				printf(" %s=%lld", k, (long long)json_object_get_int64(n));
		}
		printf("\n");
		json_object_object_get_ex(v, "faults", &faults);
		for (size_t j = 0; j < json_object_array_length(faults); j++) {
			json_object *f = json_object_array_get_idx(faults, j), *nm, *rip;

			json_object_object_get_ex(f, "name", &nm);
			json_object_object_get_ex(f, "rip", &rip);
			printf("     fault: %s at rip %s, cpl %lld\n", json_object_get_string(nm),
			       json_object_get_string(rip), (long long)cli_jint(f, "cpl"));
		}
	}
	json_object_put(res);
	return 0;
}
