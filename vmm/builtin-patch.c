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

const char cmd_patch_apply_help[] =
	"usage: hvpatch patch apply NAME KEY TARGET [options]\n"
	"Patch every site of KEY to call TARGET (one of KEY's registered targets),\n"
	"live, while the vCPUs run.\n"
	"  --method M        stop | bp-cancel | bp-emulate (default) | naive | bp-cancel-hpa\n"
	"                    (the last two need --unsafe)\n"
	"  --sync S          kick (default) | nmi: how each sync round serializes the vCPUs\n"
	"  --timeout MS      give up after MS milliseconds (default 5000); bp-cancel then\n"
	"                    restores every old byte and reports completed: false\n"
	"  --repeat N        a soak: N patches alternating between TARGET and the old target\n"
	"  --verify          after each completed patch, prove the switch from the guest's\n"
	"                    counters (every vCPU calls the new target, none the old); a\n"
	"                    single patch gives verified (and verify_reason when false),\n"
	"                    a --repeat summary verified and verify_failed\n"
	"  --unsafe          allow naive (it tears instructions) and bp-cancel-hpa (bp-cancel\n"
	"                    as proposed, without its repair): test only\n"
	"  --naive-delay-us N  naive: pause between bytes\n"
	"  --naive-bytes N     naive: stop after N bytes, leaving a torn site (test only)\n"
	"See 'hvpatch patch methods' and README.md for what each method does.\n";

enum {
	APPLY_METHOD,
	APPLY_SYNC,
	APPLY_TIMEOUT,
	APPLY_REPEAT,
	APPLY_UNSAFE,
	APPLY_VERIFY,
	APPLY_NAIVE_DELAY,
	APPLY_NAIVE_BYTES,
};

/* Each becomes the request argument named by its key. */
const struct cli_opt cmd_patch_apply_opts[] = {
	[APPLY_METHOD] = { "method", 0, CLI_OPT_STR, .key = "method" },
	[APPLY_SYNC] = { "sync", 0, CLI_OPT_STR, .key = "sync" },
	[APPLY_TIMEOUT] = { "timeout", 0, CLI_OPT_NUM, 1, 600000, "timeout_ms" },
	[APPLY_REPEAT] = { "repeat", 0, CLI_OPT_NUM, 1, 10000000, "repeat" },
	[APPLY_UNSAFE] = { "unsafe", 0, CLI_OPT_FLAG, .key = "unsafe" },
	[APPLY_VERIFY] = { "verify", 0, CLI_OPT_FLAG, .key = "verify" },
	[APPLY_NAIVE_DELAY] = { "naive-delay-us", 0, CLI_OPT_NUM, 0, 1000000, "naive_delay_us" },
	[APPLY_NAIVE_BYTES] = { "naive-bytes", 0, CLI_OPT_NUM, 0, 5 * HVP_MAX_SITES,
				"naive_bytes" },
	{ NULL }
};

struct apply_args {
	json_object *args; /* the request's */
	uint64_t timeout, repeat;
};

static int apply_set(void *ctx, unsigned opt, const char *arg, uint64_t num)
{
	const struct cli_opt *o = &cmd_patch_apply_opts[opt];
	struct apply_args *a = ctx;
	json_object *v;

	switch (opt) {
	case APPLY_METHOD:
		if (hvp_method_by_name(arg) < 0)
			return usage_error("--method: unknown method '%.64s' (stop, bp-cancel, "
					   "bp-emulate, naive, bp-cancel-hpa)",
					   arg);
		break;
	case APPLY_SYNC:
		if (hvp_sync_by_name(arg) < 0)
			return usage_error("--sync: '%.64s' is neither kick nor nmi", arg);
		break;
	case APPLY_TIMEOUT:
		a->timeout = num;
		break;
	case APPLY_REPEAT:
		a->repeat = num;
		break;
	}
	if (o->type == CLI_OPT_FLAG)
		v = json_object_new_boolean(1);
	else if (o->type == CLI_OPT_NUM)
		v = json_object_new_int64((int64_t)num);
	else
		v = json_object_new_string(arg);
	json_object_object_add(a->args, o->key, v);
	return 0;
}

CLI_CMD(cmd_patch_apply)
{
	struct apply_args a = { .args = json_object_new_object(), .timeout = 5000, .repeat = 1 };
	json_object *args = a.args, *res;
	int c, r;

	if ((r = cli_parse_opts(cmd, argc, argv, apply_set, &a))) {
		json_object_put(args);
		return r == CLI_DONE ? 0 : r;
	}
	if ((r = cli_positional(argc, argv, 3, "NAME KEY TARGET"))) {
		json_object_put(args);
		return r;
	}
	for (c = 1; c <= 2; c++) {
		if (!cli_symbol_name_ok(argv[optind + c])) {
			json_object_put(args);
			return usage_error("'%.64s' is not a %s name: 1 to %d of [a-z0-9_]",
					   argv[optind + c], c == 1 ? "key" : "target",
					   HVP_NAME_LEN - 1);
		}
	}
	json_object_object_add(args, "key", json_object_new_string(argv[optind + 1]));
	json_object_object_add(args, "target", json_object_new_string(argv[optind + 2]));
	/* the service answers when the patch (or the soak) is over */
	r = cli_call_service(argv[optind], "patch", args,
			     (int)(a.repeat > 1 ? 3600000 : a.timeout + 60000), &res);
	if (r)
		return r;
	cli_print_answer(res);
	{
		json_object *done;

		/* a soak reports counts; a single patch whether it took */
		r = json_object_object_get_ex(res, "completed", &done) &&
		    json_object_is_type(done, json_type_boolean) && !json_object_get_boolean(done);
	}
	json_object_put(res);
	return r ? 1 : 0;
}

CLI_CMD(cmd_patch_methods)
{
	int i, r, w = 0;

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
		w = (int)strlen(hvp_methods[i].name) > w ? (int)strlen(hvp_methods[i].name) : w;
	for (i = 0; i < HVP_METHOD__COUNT; i++)
		printf("%-*s  %s\n", w, hvp_methods[i].name, hvp_methods[i].summary);
	return 0;
}
