// SPDX-License-Identifier: GPL-2.0-only
/* hvpatch rollout: one patch across many VMs, in waves (the logic is rollout.c). */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "builtin.h"
#include "methods.h"
#include "rollout.h"
#include "util.h"

const char cmd_rollout_help[] =
	"usage: hvpatch rollout KEY TARGET [--vms NAME,...|--all] [options]\n"
	"Patch KEY to TARGET on many VMs: a canary first, then waves, each checked\n"
	"against the gates before the next starts.  When a VM fails a gate the\n"
	"rollout stops and every VM of its wave goes back to the target it had\n"
	"(the waves before it passed their gates and stay, unless --revert all).\n"
	"VMs already on TARGET are skipped.  Any backend: the rollout only talks\n"
	"to each VM's service.\n"
	"  --vms LIST         the VMs, in rollout order (a comma list)\n"
	"  --all              every VM of this host (its runtime directory), by name\n"
	"  --canary N         VMs patched first, on their own (default 1; 0: none)\n"
	"  --wave-size M      VMs per wave after the canary (default 4)\n"
	"  --max-parallel P   VMs patched at once within a wave (default 4)\n"
	"  --gate G           a health gate, checked on every VM after its patch\n"
	"                     (repeatable; the patch must complete in any case):\n"
	"                     faults=N: at most N new guest faults since before it;\n"
	"                     stall-p99=MS: its longest vCPU stall at most MS ms;\n"
	"                     verify: the switch proven from the guest's counters\n"
	"                     (as 'patch apply --verify')\n"
	"  --revert wave|all  on a failed gate, revert its wave (default) or every VM\n"
	"                     this rollout patched\n"
	"  --method M         passed to each patch (see 'hvpatch patch methods')\n"
	"  --sync S           kick | nmi, passed to each patch\n"
	"  --timeout MS       each patch's timeout (default 5000)\n"
	"Every VM is read (its key, its target now) before any is patched: an unknown\n"
	"VM, key or target patches nothing.  On SIGINT the patches in flight finish,\n"
	"no new one starts, and the report says which target each VM is on.\n"
	"Exit status: 0 every VM is on TARGET, 1 a gate failed (reverted) or\n"
	"interrupted, 2 usage.\n";

enum {
	RO_VMS,
	RO_ALL,
	RO_CANARY,
	RO_WAVE_SIZE,
	RO_MAX_PARALLEL,
	RO_GATE,
	RO_REVERT,
	RO_METHOD,
	RO_SYNC,
	RO_TIMEOUT,
};

#define MAX_VMS 4096

const struct cli_opt cmd_rollout_opts[] = {
	[RO_VMS] = { "vms", 0, CLI_OPT_STR },
	[RO_ALL] = { "all", 0, CLI_OPT_FLAG },
	[RO_CANARY] = { "canary", 0, CLI_OPT_NUM, 0, MAX_VMS },
	[RO_WAVE_SIZE] = { "wave-size", 0, CLI_OPT_NUM, 1, MAX_VMS },
	[RO_MAX_PARALLEL] = { "max-parallel", 0, CLI_OPT_NUM, 1, 64 },
	[RO_GATE] = { "gate", 0, CLI_OPT_STR },
	[RO_REVERT] = { "revert", 0, CLI_OPT_STR },
	[RO_METHOD] = { "method", 0, CLI_OPT_STR },
	[RO_SYNC] = { "sync", 0, CLI_OPT_STR },
	[RO_TIMEOUT] = { "timeout", 0, CLI_OPT_NUM, 1, 600000 },
	{ NULL }
};

struct rollout_args {
	struct rollout ro;
	const char *vms;
	bool all;
};

static int rollout_set(void *ctx, unsigned opt, const char *arg, uint64_t num)
{
	struct rollout_args *a = ctx;
	char err[256];

	switch (opt) {
	case RO_VMS:
		a->vms = arg;
		break;
	case RO_ALL:
		a->all = true;
		break;
	case RO_CANARY:
		a->ro.canary = (unsigned)num;
		break;
	case RO_WAVE_SIZE:
		a->ro.wave_size = (unsigned)num;
		break;
	case RO_MAX_PARALLEL:
		a->ro.max_parallel = (unsigned)num;
		break;
	case RO_GATE:
		if (rollout_gate_parse(&a->ro.gates, arg, err, sizeof(err)) < 0)
			return usage_error("%s", err);
		break;
	case RO_REVERT:
		if (strcmp(arg, "wave") && strcmp(arg, "all"))
			return usage_error("--revert: '%.64s' is neither wave nor all", arg);
		a->ro.revert_all = !strcmp(arg, "all");
		break;
	case RO_METHOD:
		/* the service judges it (methods it knows that this CLI may not) */
		if (!*arg || strlen(arg) > 31 ||
		    strspn(arg, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(arg))
			return usage_error("--method: '%.64s' is not a method name", arg);
		a->ro.method = arg;
		break;
	case RO_SYNC:
		if (hvp_sync_by_name(arg) < 0)
			return usage_error("--sync: '%.64s' is neither kick nor nmi", arg);
		a->ro.sync = arg;
		break;
	case RO_TIMEOUT:
		a->ro.timeout_ms = num;
		break;
	}
	return 0;
}

static int cmp_vm_name(const void *a, const void *b)
{
	return strcmp(((const struct rollout_vm *)a)->name, ((const struct rollout_vm *)b)->name);
}

/* Every VM with a socket in this host's runtime directory, sorted by name. */
static int local_vms(struct rollout_vm *vms, unsigned max)
{
	struct dirent *de;
	unsigned n = 0;
	DIR *d = opendir(hvp_rundir());

	while (d && (de = readdir(d))) {
		size_t len = strlen(de->d_name);

		if (len < 6 || len - 5 > HVP_VM_NAME_MAX || strcmp(de->d_name + len - 5, ".sock"))
			continue;
		if (n == max)
			break;
		memset(&vms[n], 0, sizeof(vms[n]));
		memcpy(vms[n].name, de->d_name, len - 5);
		if (hvp_name_valid(vms[n].name))
			n++;
	}
	if (d)
		closedir(d);
	qsort(vms, n, sizeof(*vms), cmp_vm_name);
	return (int)n;
}

/* ---- the report ---- */

static const char *result_name(const struct rollout_vm *vm)
{
	switch (vm->state) {
	case ROLLOUT_ALREADY:
		return "already";
	case ROLLOUT_PATCHED:
		return "patched";
	case ROLLOUT_FAILED:
		return "failed";
	default:
		return "not-started";
	}
}

static const char *verdict_name(enum rollout_verdict v)
{
	return v == ROLLOUT_PASS ? "pass" : v == ROLLOUT_FAIL ? "fail" : NULL;
}

static json_object *vm_json(const struct rollout *ro, const struct rollout_vm *vm)
{
	json_object *o = json_object_new_object(), *g = json_object_new_object();
	unsigned i;

	json_object_object_add(o, "name", json_object_new_string(vm->name));
	if (vm->host)
		json_object_object_add(o, "host", json_object_new_string(vm->host));
	json_object_object_add(o, "backend", json_object_new_string(vm->backend));
	json_object_object_add(o, "wave", vm->wave >= 0 ? json_object_new_int(vm->wave) : NULL);
	json_object_object_add(o, "result", json_object_new_string(result_name(vm)));
	json_object_object_add(o, "from", json_object_new_string(vm->from));
	json_object_object_add(o, "now", vm->now[0] ? json_object_new_string(vm->now) : NULL);
	json_object_object_add(o, "on_target",
			       json_object_new_boolean(!strcmp(vm->now, ro->target)));
	if (vm->state == ROLLOUT_PATCHED || vm->state == ROLLOUT_FAILED) {
		json_object_object_add(o, "method",
				       vm->method[0] ? json_object_new_string(vm->method) : NULL);
		for (i = 0; i < ROLLOUT_GATE__COUNT; i++)
			if (verdict_name(vm->gate[i]))
				json_object_object_add(g, rollout_gate_names[i],
						       json_object_new_string(
							       verdict_name(vm->gate[i])));
		json_object_object_add(o, "latency_ns", json_object_new_int64(vm->latency_ns));
		json_object_object_add(o, "max_stall_ns", json_object_new_int64(vm->max_stall_ns));
		json_object_object_add(o, "new_faults", json_object_new_int64(vm->new_faults));
	}
	json_object_object_add(o, "gates", g);
	if (vm->failed_gate >= 0) {
		json_object_object_add(o, "failed_gate",
				       json_object_new_string(rollout_gate_names[vm->failed_gate]));
		json_object_object_add(o, "why", json_object_new_string(vm->why));
	}
	json_object_object_add(o, "reverted", json_object_new_boolean(vm->reverted));
	if (vm->revert_failed)
		json_object_object_add(o, "revert_failed", json_object_new_string(vm->revert_why));
	return o;
}

static json_object *report_json(const struct rollout *ro, int status)
{
	json_object *o = json_object_new_object(), *vms = json_object_new_array();
	json_object *failed = json_object_new_array();
	char gates[128];
	unsigned i;

	rollout_gates_str(&ro->gates, gates, sizeof(gates));
	json_object_object_add(o, "key", json_object_new_string(ro->key));
	json_object_object_add(o, "target", json_object_new_string(ro->target));
	json_object_object_add(o, "gates", json_object_new_string(gates));
	json_object_object_add(o, "canary", json_object_new_int((int)ro->canary));
	json_object_object_add(o, "wave_size", json_object_new_int((int)ro->wave_size));
	json_object_object_add(o, "max_parallel", json_object_new_int((int)ro->max_parallel));
	json_object_object_add(o, "revert",
			       json_object_new_string(ro->revert_all ? "all" : "wave"));
	json_object_object_add(o, "waves", json_object_new_int((int)ro->nr_waves));
	json_object_object_add(o, "completed", json_object_new_boolean(status == 0));
	json_object_object_add(o, "stopped_at_wave",
			       ro->stopped_wave >= 0 ? json_object_new_int(ro->stopped_wave) :
						       NULL);
	json_object_object_add(o, "interrupted", json_object_new_boolean(ro->interrupted));
	for (i = 0; i < ro->nr_vms; i++) {
		const struct rollout_vm *vm = &ro->vms[i];

		json_object_array_add(vms, vm_json(ro, vm));
		if (vm->failed_gate >= 0) {
			json_object *f = json_object_new_object();

			json_object_object_add(f, "vm", json_object_new_string(vm->name));
			json_object_object_add(f, "gate",
					       json_object_new_string(
						       rollout_gate_names[vm->failed_gate]));
			json_object_object_add(f, "why", json_object_new_string(vm->why));
			json_object_array_add(failed, f);
		}
	}
	json_object_object_add(o, "failed", failed);
	json_object_object_add(o, "vms", vms);
	return o;
}

static void report_text(const struct rollout *ro, int status)
{
	unsigned i, on = 0, reverted = 0, untouched = 0, already = 0;

	printf("%-16s %-8s %-6s %-11s %-11s %-16s %-8s %s\n", "VM", "BACKEND", "WAVE", "METHOD",
	       "RESULT", "GATES", "REVERTED", "NOW");
	for (i = 0; i < ro->nr_vms; i++) {
		const struct rollout_vm *vm = &ro->vms[i];
		char wave[16], gates[48];

		if (vm->wave < 0)
			snprintf(wave, sizeof(wave), "-");
		else if (vm->wave == 0)
			snprintf(wave, sizeof(wave), "canary");
		else
			snprintf(wave, sizeof(wave), "%d", vm->wave);
		if (vm->failed_gate >= 0)
			snprintf(gates, sizeof(gates), "%s FAILED",
				 rollout_gate_names[vm->failed_gate]);
		else
			snprintf(gates, sizeof(gates), "%s",
				 vm->state == ROLLOUT_PATCHED ? "pass" : "-");
		printf("%-16s %-8s %-6s %-11s %-11s %-16s %-8s %s\n", vm->name, vm->backend, wave,
		       vm->method[0] ? vm->method : "-",
		       vm->state == ROLLOUT_ALREADY ? "already" : result_name(vm), gates,
		       vm->revert_failed ? "FAILED" :
		       vm->reverted	 ? "yes" :
					   "no",
		       vm->now[0] ? vm->now : "?");
		on += !strcmp(vm->now, ro->target);
		reverted += vm->reverted;
		untouched += vm->state == ROLLOUT_PENDING;
		already += vm->state == ROLLOUT_ALREADY;
	}
	for (i = 0; i < ro->nr_vms; i++) {
		const struct rollout_vm *vm = &ro->vms[i];

		if (vm->state == ROLLOUT_ALREADY)
			printf("%s: already on %s\n", vm->name, ro->target);
		if (vm->failed_gate >= 0)
			printf("%s: gate %s failed: %s\n", vm->name,
			       rollout_gate_names[vm->failed_gate], vm->why);
		if (vm->revert_failed)
			printf("%s: the revert to %s failed: %s\n", vm->name, vm->from,
			       vm->revert_why);
	}
	if (status == 0)
		printf("rollout done: %u VMs on %s (%u patched, %u already on it)\n", on,
		       ro->target, on - already, already);
	else if (ro->stopped_wave >= 0)
		printf("rollout stopped at %s%.0d: a gate failed; %u VMs reverted to their "
		       "previous target, %u not started, %u stay on %s\n",
		       ro->stopped_wave ? "wave " : "the canary", ro->stopped_wave, reverted,
		       untouched, on, ro->target);
	else
		printf("rollout %s: %u of %u VMs on %s, the others on their previous target "
		       "(see NOW)\n",
		       ro->interrupted ? "interrupted" : "not completed", on, ro->nr_vms,
		       ro->target);
}

/* ---- progress and signals ---- */

static volatile sig_atomic_t rollout_stop;

static void on_signal(int sig)
{
	(void)sig;
	rollout_stop = 1;
}

static void progress(const struct rollout *ro, void *arg)
{
	unsigned i, done = 0, failed = 0, todo = 0;

	(void)arg;
	for (i = 0; i < ro->nr_vms; i++) {
		todo += ro->vms[i].wave >= 0;
		done += ro->vms[i].state == ROLLOUT_PATCHED || ro->vms[i].state == ROLLOUT_FAILED;
		failed += ro->vms[i].state == ROLLOUT_FAILED;
	}
	fprintf(stderr, "\r\033[Krollout: %s %d of %u, %u of %u VMs patched, %u failed%s",
		ro->wave > 0 ? "wave" : "canary", ro->wave > 0 ? ro->wave : 1,
		ro->wave > 0 ? ro->nr_waves - 1 : 1, done, todo, failed,
		ro->reverting ? ", reverting" :
		rollout_stop  ? ", stopping" :
				"");
	fflush(stderr);
}

CLI_CMD(cmd_rollout)
{
	struct rollout_args a = { .ro = { .canary = 1, .wave_size = 4, .max_parallel = 4 } };
	struct rollout *ro = &a.ro;
	struct sigaction sa = { .sa_handler = on_signal }, old_int, old_term;
	char err[512];
	int r, n;
	bool tty;

	if ((r = cli_parse_opts(cmd, argc, argv, rollout_set, &a)))
		return r == CLI_DONE ? 0 : r;
	if ((r = cli_positional(argc, argv, 2, "KEY TARGET")))
		return r;
	ro->key = argv[optind];
	ro->target = argv[optind + 1];
	if (!cli_symbol_name_ok(ro->key) || !cli_symbol_name_ok(ro->target))
		return usage_error("'%.64s' is not a %s name: 1 to %d of [a-z0-9_]",
				   cli_symbol_name_ok(ro->key) ? ro->target : ro->key,
				   cli_symbol_name_ok(ro->key) ? "target" : "key",
				   HVP_NAME_LEN - 1);
	if (!a.vms == !a.all)
		return usage_error("name the VMs: --vms NAME,... or --all (one of them)");
	if ((r = cli_rundir_ok()))
		return r;
	ro->vms = calloc(MAX_VMS, sizeof(*ro->vms));
	if (!ro->vms)
		return cli_fail(HVP_ERR_INTERNAL, "out of memory");
	n = a.all ? local_vms(ro->vms, MAX_VMS) :
		    rollout_parse_names(a.vms, ro->vms, MAX_VMS, err, sizeof(err));
	if (n < 0) {
		free(ro->vms);
		return usage_error("%s", err);
	}
	if (n == 0) {
		free(ro->vms);
		return usage_error("--all: no VM runs on this host (see 'hvpatch vm list')");
	}
	ro->nr_vms = (unsigned)n;
	ro->stop = &rollout_stop;
	/* a Ctrl-C from here on stops the rollout, not the command */
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	/* every VM read first: a VM that cannot take part stops it before any patch */
	if (rollout_prepare(ro, err, sizeof(err)) < 0) {
		free(ro->vms);
		return usage_error("%s; nothing was patched", err);
	}
	tty = !cli_json_mode && isatty(STDERR_FILENO);
	if (tty) {
		ro->progress = progress;
		if (ro->nr_waves)
			progress(ro, NULL);
	}
	r = rollout_run(ro);
	if (tty)
		fprintf(stderr, "\r\033[K");
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	if (cli_json_mode) {
		json_object *o = report_json(ro, r);

		cli_print_json(o);
		json_object_put(o);
	} else {
		report_text(ro, r);
	}
	free(ro->vms);
	return r;
}
