// SPDX-License-Identifier: GPL-2.0-only
/* hvpatch patch apply, patch methods: patching a running VM. */
#include "config.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "builtin.h"
#include "hvp_agent.h"
#include "hvp_ctl.h"
#include "methods.h"
#include "cost.h"
#include "patch.h"

const char cmd_patch_apply_help[] =
	"usage: hvpatch patch apply NAME KEY TARGET [options]\n"
	"Patch every site of KEY to call TARGET (one of KEY's registered targets),\n"
	"live, while the vCPUs run.\n"
	"  --method M        stop | bp-cancel | bp-emulate (default) | naive | bp-cancel-hpa\n"
	"                    (the last two need --unsafe) | auto: the method and sync kind\n"
	"                    the cost model predicts best (see 'hvpatch patch plan'); the\n"
	"                    result says which and why\n"
	"  --prefer P        with --method auto: stall (default, the least predicted longest\n"
	"                    stall) | latency (the least predicted latency)\n"
	"  --sync S          kick (default) | nmi: how each sync round serializes the vCPUs;\n"
	"                    with --method auto, only that kind is considered\n"
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
	APPLY_PREFER,
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
	[APPLY_PREFER] = { "prefer", 0, CLI_OPT_STR, .key = "prefer" },
	{ NULL }
};

struct apply_args {
	json_object *args; /* the request's */
	uint64_t timeout, repeat;
};

/* An option of apply or plan: checked, then the request argument o->key. */
static int patch_opt(const struct cli_opt *o, const char *arg, uint64_t num, json_object *args)
{
	json_object *v;

	if (!strcmp(o->key, "method") && strcmp(arg, "auto") && hvp_method_by_name(arg) < 0)
		return usage_error("--method: unknown method '%.64s' (stop, bp-cancel, "
				   "bp-emulate, naive, bp-cancel-hpa, auto)",
				   arg);
	if (!strcmp(o->key, "sync") && hvp_sync_by_name(arg) < 0)
		return usage_error("--sync: '%.64s' is neither kick nor nmi", arg);
	if (!strcmp(o->key, "prefer") && hvp_prefer_by_name(arg) < 0)
		return usage_error("--prefer: '%.64s' is neither stall nor latency", arg);
	if (o->type == CLI_OPT_FLAG)
		v = json_object_new_boolean(1);
	else if (o->type == CLI_OPT_NUM)
		v = json_object_new_int64((int64_t)num);
	else
		v = json_object_new_string(arg);
	json_object_object_add(args, o->key, v);
	return 0;
}

static int apply_set(void *ctx, unsigned opt, const char *arg, uint64_t num)
{
	struct apply_args *a = ctx;

	if (opt == APPLY_TIMEOUT)
		a->timeout = num;
	else if (opt == APPLY_REPEAT)
		a->repeat = num;
	return patch_opt(&cmd_patch_apply_opts[opt], arg, num, a->args);
}

/* NAME KEY TARGET: key and target into args; optind + 0 is the VM's name. */
static int name_key_target(int argc, char **argv, json_object *args)
{
	int c, r;

	if ((r = cli_positional(argc, argv, 3, "NAME KEY TARGET")))
		return r;
	for (c = 1; c <= 2; c++) {
		if (!cli_symbol_name_ok(argv[optind + c]))
			return usage_error("'%.64s' is not a %s name: 1 to %d of [a-z0-9_]",
					   argv[optind + c], c == 1 ? "key" : "target",
					   HVP_NAME_LEN - 1);
	}
	json_object_object_add(args, "key", json_object_new_string(argv[optind + 1]));
	json_object_object_add(args, "target", json_object_new_string(argv[optind + 2]));
	return 0;
}

CLI_CMD(cmd_patch_apply)
{
	struct apply_args a = { .args = json_object_new_object(), .timeout = 5000, .repeat = 1 };
	json_object *args = a.args, *res;
	const char *method;
	int r;

	if ((r = cli_parse_opts(cmd, argc, argv, apply_set, &a))) {
		json_object_put(args);
		return r == CLI_DONE ? 0 : r;
	}
	/* the service reads --prefer only for auto: without it, it was dropped */
	method = json_object_get_string(json_object_object_get(args, "method"));
	if (json_object_object_get_ex(args, "prefer", NULL) &&
	    (!method || strcmp(method, "auto"))) {
		json_object_put(args);
		return usage_error("--prefer is --method auto's objective: add --method auto");
	}
	if ((r = name_key_target(argc, argv, args))) {
		json_object_put(args);
		return r;
	}
	/* the service answers when the patch (or the soak) is over */
	r = cli_call_service(argv[optind], "patch", args,
			     (int)(a.repeat > 1 ? 3600000 : a.timeout + 60000), &res);
	if (r)
		return r;
	if (!cli_json_mode && json_object_object_get_ex(res, "chosen_by", NULL)) {
		/* one line for the choice; the prediction table is -j's */
		printf("auto chose %s --sync %s: %s\n",
		       json_object_get_string(json_object_object_get(res, "method")),
		       json_object_get_string(json_object_object_get(res, "sync")),
		       json_object_get_string(json_object_object_get(res, "why")));
		json_object_object_del(res, "chosen_by");
		json_object_object_del(res, "why");
		json_object_object_del(res, "predicted");
	}
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

const char cmd_patch_plan_help[] =
	"usage: hvpatch patch plan NAME KEY TARGET [options]\n"
	"Predict, without patching, each method and sync kind's latency, longest stall\n"
	"and chance to complete within the timeout, from this host's unit costs and the\n"
	"key's calls observed for 60 ms; and which one --method auto would take.\n"
	"  --timeout MS      the patch's timeout (default 5000)\n"
	"  --prefer P        stall (default) | latency: auto's objective\n"
	"  --sync S          kick | nmi: consider only that kind (default both)\n"
	"See README.md (\"--method auto\") for the model and how crude it is.\n";

enum { PLAN_TIMEOUT, PLAN_PREFER, PLAN_SYNC };

const struct cli_opt cmd_patch_plan_opts[] = {
	[PLAN_TIMEOUT] = { "timeout", 0, CLI_OPT_NUM, 1, 600000, "timeout_ms" },
	[PLAN_PREFER] = { "prefer", 0, CLI_OPT_STR, .key = "prefer" },
	[PLAN_SYNC] = { "sync", 0, CLI_OPT_STR, .key = "sync" },
	{ NULL }
};

static int plan_set(void *ctx, unsigned opt, const char *arg, uint64_t num)
{
	return patch_opt(&cmd_patch_plan_opts[opt], arg, num, ctx);
}

/* "12 ns", "4.5 us", "3.25 ms", "-" (does not complete) */
static const char *fmt_ns(char *buf, size_t len, json_object *v)
{
	double ns = v ? json_object_get_double(v) : -1;

	if (ns <= 0) /* not measured, or no latency: it does not complete */
		snprintf(buf, len, "-");
	else if (ns < 1e3)
		snprintf(buf, len, "%.0f ns", ns);
	else if (ns < 1e6)
		snprintf(buf, len, "%.1f us", ns / 1e3);
	else
		snprintf(buf, len, "%.2f ms", ns / 1e6);
	return buf;
}

static void plan_print(const char *vm, json_object *p)
{
	json_object *obs = json_object_object_get(p, "observed");
	json_object *u = json_object_object_get(p, "units");
	json_object *rows = json_object_object_get(p, "predictions"), *m;
	char a[32], b[32], c[32], d[32];
	size_t i;

	printf("VM %s, key %s: %" PRId64 " sites, %" PRId64 " vCPUs, %" PRId64 " calls/s (%" PRId64
	       " per site), %" PRId64 " NMIs/s, over %" PRId64 " ms\n",
	       vm, json_object_get_string(json_object_object_get(p, "key")), cli_jint(obs, "sites"),
	       cli_jint(obs, "vcpus"), cli_jint(obs, "calls_per_s"),
	       cli_jint(obs, "calls_per_site_per_s"), cli_jint(obs, "nmis_per_s"),
	       cli_jint(obs, "window_ms"));
	printf("unit costs (%s/%" PRId64 " vCPUs, %s %" PRId64
	       " s ago): exit %s, kick round %s, NMI round %s, #BP %s",
	       json_object_get_string(json_object_object_get(u, "backend")), cli_jint(u, "vcpus"),
	       json_object_get_string(json_object_object_get(u, "source")), cli_jint(u, "age_s"),
	       fmt_ns(a, sizeof(a), json_object_object_get(u, "exit_round_trip_ns")),
	       fmt_ns(b, sizeof(b), json_object_object_get(u, "kick_round_ns")),
	       fmt_ns(c, sizeof(c), json_object_object_get(u, "nmi_round_ns")),
	       fmt_ns(d, sizeof(d), json_object_object_get(u, "bp_trap_ns")));
	m = json_object_object_get(u, "assumed");
	for (i = 0; m && i < json_object_array_length(m); i++)
		printf("%s%s", i ? ", " : " (assumed, not measured: ",
		       json_object_get_string(json_object_array_get_idx(m, i)));
	printf("%s\n", m && json_object_array_length(m) ? ")" : "");
	printf("%-11s %-5s %10s %10s %8s  %s\n", "method", "sync", "latency", "max stall",
	       "P(done)", "note");
	for (i = 0; rows && i < json_object_array_length(rows); i++) {
		json_object *r = json_object_array_get_idx(rows, i);
		json_object *ok = json_object_object_get(r, "allowed");
		json_object *note = json_object_object_get(r, "note");

		if (json_object_get_boolean(ok))
			snprintf(c, sizeof(c), "%.2f",
				 json_object_get_double(json_object_object_get(r, "p_complete")));
		else
			snprintf(c, sizeof(c), "n/a");
		printf("%-11s %-5s %10s %10s %8s  %s\n",
		       json_object_get_string(json_object_object_get(r, "method")),
		       json_object_get_string(json_object_object_get(r, "sync")),
		       fmt_ns(a, sizeof(a), json_object_object_get(r, "latency_ns")),
		       fmt_ns(b, sizeof(b), json_object_object_get(r, "max_stall_ns")), c,
		       note ? json_object_get_string(note) : "");
	}
	m = json_object_object_get(p, "method");
	if (m)
		printf("auto (--prefer %s, --timeout %" PRId64 "): %s --sync %s: %s\n",
		       json_object_get_string(json_object_object_get(p, "prefer")),
		       cli_jint(p, "timeout_ms"), json_object_get_string(m),
		       json_object_get_string(json_object_object_get(p, "sync")),
		       json_object_get_string(json_object_object_get(p, "why")));
	else
		printf("auto: %s\n", json_object_get_string(json_object_object_get(p, "why")));
}

CLI_CMD(cmd_patch_plan)
{
	json_object *args = json_object_new_object(), *res;
	int r;

	if ((r = cli_parse_opts(cmd, argc, argv, plan_set, args)) ||
	    (r = name_key_target(argc, argv, args))) {
		json_object_put(args);
		return r == CLI_DONE ? 0 : r;
	}
	r = cli_call_service(argv[optind], "plan", args, 30000, &res);
	if (r)
		return r;
	if (cli_json_mode)
		cli_print_json(res);
	else
		plan_print(argv[optind], res);
	json_object_put(res);
	return 0;
}
