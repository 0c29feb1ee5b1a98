// SPDX-License-Identifier: GPL-2.0-only
/* hvpatch patch apply, patch methods: patching a running VM. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "builtin.h"
#include "hvp_agent.h"
#include "hvp_ctl.h"
#include "methods.h"
#include "patch.h"

static const char patch_apply_help[] =
	"usage: hvpatch patch apply NAME KEY TARGET [options]\n"
	"Patch every site of KEY to call TARGET (one of KEY's registered targets),\n"
	"live, while the vCPUs run.\n"
	"  --method M        stop | bp-cancel | bp-emulate (default) | naive (needs --unsafe)\n"
	"  --sync S          kick (default) | nmi: how each sync round serializes the vCPUs\n"
	"  --timeout MS      give up after MS milliseconds (default 5000); bp-cancel then\n"
	"                    restores every old byte and reports completed: false\n"
	"  --repeat N        a soak: N patches alternating between TARGET and the old target\n"
	"  --verify          with --repeat: after each completed patch, prove the switch from\n"
	"                    the guest's counters (every vCPU calls the new target, none the\n"
	"                    old); the summary gives verified and verify_failed\n"
	"  --unsafe          allow the naive method (it tears instructions: test only)\n"
	"  --naive-delay-us N  naive: pause between bytes\n"
	"  --naive-bytes N     naive: stop after N bytes, leaving a torn site (test only)\n"
	"See 'hvpatch patch methods' and README.md for what each method does.\n";

int cmd_patch_apply(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "method", required_argument, NULL, 'm' },
		{ "sync", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 't' },
		{ "repeat", required_argument, NULL, 'r' },
		{ "unsafe", no_argument, NULL, 'u' },
		{ "verify", no_argument, NULL, 'V' },
		{ "naive-delay-us", required_argument, NULL, 'd' },
		{ "naive-bytes", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	json_object *args = json_object_new_object(), *res;
	uint64_t v, timeout = 5000, repeat = 1;
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (hvp_method_by_name(optarg) < 0) {
				json_object_put(args);
				return usage_error("--method: unknown method '%.64s' (stop, bp-cancel, "
						   "bp-emulate, naive)", optarg);
			}
			json_object_object_add(args, "method", json_object_new_string(optarg));
			break;
		case 's':
			if (hvp_sync_by_name(optarg) < 0) {
				json_object_put(args);
				return usage_error("--sync: '%.64s' is neither kick nor nmi", optarg);
			}
			json_object_object_add(args, "sync", json_object_new_string(optarg));
			break;
		case 't':
		case 'r':
		case 'd':
		case 'b':
			if (cli_parse_u64(c == 't' ? "--timeout" : c == 'r' ? "--repeat" :
				      c == 'd' ? "--naive-delay-us" : "--naive-bytes", optarg,
				      c == 't' || c == 'r' ? 1 : 0,
				      c == 't' ? 600000 : c == 'r' ? 10000000 :
				      c == 'd' ? 1000000 : 5 * HVP_MAX_SITES, &v)) {
				json_object_put(args);
				return EXIT_USAGE;
			}
			if (c == 't')
				timeout = v;
			else if (c == 'r')
				repeat = v;
			json_object_object_add(args, c == 't' ? "timeout_ms" : c == 'r' ? "repeat" :
					       c == 'd' ? "naive_delay_us" : "naive_bytes",
					       json_object_new_int64((int64_t)v));
			break;
		case 'u':
			json_object_object_add(args, "unsafe", json_object_new_boolean(1));
			break;
		case 'V':
			json_object_object_add(args, "verify", json_object_new_boolean(1));
			break;
		case 'h':
			json_object_put(args);
			fputs(patch_apply_help, stdout);
			return 0;
		default:
			json_object_put(args);
			return usage_error("patch apply: bad option (see 'hvpatch patch apply --help')");
		}
	}
	if ((r = cli_positional(argc, argv, 3, "NAME KEY TARGET"))) {
		json_object_put(args);
		return r;
	}
	for (c = 1; c <= 2; c++) {
		if (!cli_symbol_name_ok(argv[optind + c])) {
			json_object_put(args);
			return usage_error("'%.64s' is not a %s name: 1 to %d of [a-z0-9_]",
					   argv[optind + c], c == 1 ? "key" : "target", HVP_NAME_LEN - 1);
		}
	}
	json_object_object_add(args, "key", json_object_new_string(argv[optind + 1]));
	json_object_object_add(args, "target", json_object_new_string(argv[optind + 2]));
	/* the service answers when the patch (or the soak) is over */
	r = cli_call_service(argv[optind], "patch", args,
			 (int)(repeat > 1 ? 3600000 : timeout + 60000), &res);
	if (r)
		return r;
	if (cli_json_mode) {
		cli_print_json(res);
	} else {
		cli_print_tree(res, 0);
	}
	{
		json_object *done;

		/* a soak reports counts; a single patch whether it took */
		r = json_object_object_get_ex(res, "completed", &done) &&
		    json_object_is_type(done, json_type_boolean) && !json_object_get_boolean(done);
	}
	json_object_put(res);
	return r ? 1 : 0;
}

int cmd_patch_methods(int argc, char **argv)
{
	int i, r;

	optind = 1;
	if ((r = cli_positional(argc, argv, 0, "")))
		return r;
	if (cli_json_mode) {
		json_object *a = hvp_methods_json();

		cli_print_json(a);
		json_object_put(a);
		return 0;
	}
	for (i = 0; i < HVP_METHOD__COUNT; i++)
		printf("%-11s %s\n", hvp_methods[i].name, hvp_methods[i].summary);
	return 0;
}
