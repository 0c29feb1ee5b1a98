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
#include "remote.h"
#include "rollout.h"
#include "util.h"

const char cmd_rollout_help[] =
	"usage: hvpatch rollout KEY TARGET [--vms NAME,...|--all] [--hosts H1,...] [options]\n"
	"Patch KEY to TARGET on many VMs: a canary first, then waves, each checked\n"
	"against the gates before the next starts.  When a VM fails a gate the\n"
	"rollout stops and every VM of its wave goes back to the target it had\n"
	"(the waves before it passed their gates and stay, unless --revert all).\n"
	"VMs already on TARGET are skipped.  Any backend: the rollout only talks\n"
	"to each VM's service.\n"
	"  --vms LIST         the VMs, in rollout order (a comma list)\n"
	"  --all              every VM of this host (its runtime directory), by name\n"
	"  --hosts H1,H2,...  roll out across these hosts: ssh://[user@]host[:port],\n"
	"                     or local (or empty) for this one.  --all takes every VM\n"
	"                     of every host; a --vms entry is NAME (on exactly one of\n"
	"                     the hosts) or HOST/NAME (HOST as listed here, with or\n"
	"                     without ssh://).  The canary is on the first host, the\n"
	"                     waves take a VM of each host in turn.  Each request to\n"
	"                     a remote VM is 'hvpatch vm request' run there over ssh\n"
	"                     (see 'hvpatch -H'); one connection per host is shared.\n"
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
	"VM, key or target, or a host that cannot be reached, patches nothing.  On SIGINT the patches in flight finish,\n"
	"no new one starts, and the report says which target each VM is on.\n"
	"Exit status: 0 every VM is on TARGET, 1 a gate failed (reverted) or\n"
	"interrupted, 2 usage.\n";

enum {
	RO_VMS,
	RO_ALL,
	RO_HOSTS,
	RO_CANARY,
	RO_WAVE_SIZE,
	RO_MAX_PARALLEL,
	RO_GATE,
	RO_REVERT,
	RO_METHOD,
	RO_SYNC,
	RO_TIMEOUT,
};

#define MAX_VMS	  4096
#define MAX_HOSTS 256

const struct cli_opt cmd_rollout_opts[] = {
	[RO_VMS] = { "vms", 0, CLI_OPT_STR },
	[RO_ALL] = { "all", 0, CLI_OPT_FLAG },
	[RO_HOSTS] = { "hosts", 0, CLI_OPT_STR },
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
	const char *vms, *hosts;
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
	case RO_HOSTS:
		a->hosts = arg;
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

/* ---- across hosts (--hosts) ---- */

/* This host, in --hosts and in the report. */
static const char local_host[] = "local";

/* A host as [user@]host[:port] into buf (a host already parsed), "local" for this one. */
static const char *host_label(const char *host, char *buf, size_t len)
{
	struct hvp_host h;
	char err[512];

	if (host == local_host || hvp_host_parse(host, &h, err, sizeof(err)) < 0)
		return host;
	snprintf(buf, len, "%s", h.label);
	return buf;
}

/*
 * The hosts of --hosts into ro->hosts (each a copy, the caller's to free
 * with the array): a usage error for a malformed or repeated one.
 */
static int parse_hosts(struct rollout *ro, const char *list)
{
	const char **hosts = calloc(MAX_HOSTS, sizeof(*hosts));
	const char *p = list, *c;
	char err[512], l1[300], l2[300];
	unsigned n = 0, i;

	if (!hosts)
		return cli_fail(HVP_ERR_INTERNAL, "out of memory");
	ro->hosts = hosts;
	for (;; p = c + 1) {
		struct hvp_host h;
		char *e;

		c = strchr(p, ',');
		e = strndup(p, c ? (size_t)(c - p) : strlen(p));
		if (!e)
			return cli_fail(HVP_ERR_INTERNAL, "out of memory");
		if (n == MAX_HOSTS) {
			free(e);
			return usage_error("--hosts: more than %u hosts", MAX_HOSTS);
		}
		hosts[n] = e;
		ro->nr_hosts = ++n;
		if (!*e || !strcmp(e, local_host)) {
			free(e);
			hosts[n - 1] = local_host;
		} else if (hvp_host_parse(e, &h, err, sizeof(err)) < 0) {
			return usage_error("--hosts: %s (or 'local' for this host)", err);
		}
		/* ssh://h and ssh://h/ too: its VMs would be patched twice at once */
		for (i = 0; i + 1 < n; i++)
			if (!strcmp(host_label(hosts[i], l1, sizeof(l1)),
				    host_label(hosts[n - 1], l2, sizeof(l2))))
				return usage_error("--hosts: %.300s is named twice", hosts[i]);
		if (!c)
			break;
	}
	return 0;
}

static void free_hosts(struct rollout *ro)
{
	unsigned i;

	for (i = 0; ro->hosts && i < ro->nr_hosts; i++)
		if (ro->hosts[i] != local_host)
			free((char *)ro->hosts[i]);
	free((void *)ro->hosts);
}

/*
 * Every VM of host h (`vm list` there), appended to vms[*n..max), sorted by
 * name.  This is also the first request to each host, one host at a time:
 * it checks that the host can be reached and has hvpatch, and it opens the
 * host's shared ssh connection before the rollout's threads use it at once.
 */
static int host_vms(struct rollout *ro, unsigned h, struct rollout_vm *vms, unsigned *n,
		    unsigned max)
{
	static const char *const argv[] = { "vm", "list", NULL };
	json_object *ans, *list, *name;
	const char *cls;
	char err[512];
	unsigned from = *n, i;
	int r;

	if (ro->hosts[h] == local_host) {
		r = local_vms(vms + from, max - from);
		for (i = from; i < from + (unsigned)r; i++)
			vms[i].host_idx = h;
		*n = from + (unsigned)r;
		return 0;
	}
	r = hvp_remote_json(ro->hosts[h], (char *const *)argv, &ans, &cls, err, sizeof(err));
	if (r)
		return cli_fail(cls, "%s; nothing was patched", err);
	json_object_object_get_ex(ans, "vms", &list);
	for (i = 0; i < json_object_array_length(list) && *n < max; i++) {
		struct rollout_vm *vm = &vms[*n];
		const char *s = json_object_object_get_ex(json_object_array_get_idx(list, i),
							  "name", &name) ?
					json_object_get_string(name) :
					NULL;

		if (!s || !hvp_name_valid(s))
			continue;
		memset(vm, 0, sizeof(*vm));
		snprintf(vm->name, sizeof(vm->name), "%s", s);
		vm->host = ro->hosts[h];
		vm->host_idx = h;
		(*n)++;
	}
	json_object_put(ans);
	qsort(vms + from, *n - from, sizeof(*vms), cmp_vm_name);
	return 0;
}

/* Whether s names host h: as listed in --hosts, without ssh://, or local/empty for this host. */
static bool host_named(const struct rollout *ro, unsigned h, const char *s, size_t len)
{
	const char *e = ro->hosts[h];

	if (e == local_host)
		return !len || (len == 5 && !strncmp(s, local_host, 5));
	if (!strncmp(e, "ssh://", 6) && strncmp(s, "ssh://", 6))
		e += 6;
	return strlen(e) == len ? !strncmp(e, s, len) :
				  /* ssh://host/ names ssh://host */
				  strlen(e) == len + 1 && e[len] == '/' && !strncmp(e, s, len);
}

/*
 * --vms with --hosts: each entry NAME or HOST/NAME, looked up in the hosts'
 * VMs (inv[0..nr_inv)), into ro->vms in the order given.
 */
static int resolve_names(struct rollout *ro, const char *list, const struct rollout_vm *inv,
			 unsigned nr_inv)
{
	const char *p = list, *c;
	unsigned n = 0, i, h;

	for (;; p = c + 1) {
		size_t len;
		const char *slash, *name;
		int found = -1, hit = 0, where = -1;
		char entry[HVP_VM_NAME_MAX + 320], hosts_with[256] = "";

		c = strchr(p, ',');
		len = c ? (size_t)(c - p) : strlen(p);
		if (len >= sizeof(entry))
			return usage_error("--vms: '%.32s...' is not a VM name", p);
		memcpy(entry, p, len);
		entry[len] = '\0';
		/* a VM name has no '/'; an ssh:// URI has, so the last one splits */
		slash = strrchr(entry, '/');
		name = slash ? slash + 1 : entry;
		if (!hvp_name_valid(name))
			return usage_error("--vms: '%s' is not a VM name (NAME or HOST/NAME)",
					   entry);
		if (slash) {
			for (h = 0; h < ro->nr_hosts && where < 0; h++)
				if (host_named(ro, h, entry, (size_t)(slash - entry)))
					where = (int)h;
			if (where < 0)
				return usage_error("--vms: %s: '%.*s' is not one of --hosts", entry,
						   (int)(slash - entry), entry);
		}
		for (i = 0; i < nr_inv; i++) {
			if (strcmp(inv[i].name, name) ||
			    (where >= 0 && inv[i].host_idx != (unsigned)where))
				continue;
			if (hit++)
				strncat(hosts_with, ", ",
					sizeof(hosts_with) - strlen(hosts_with) - 1);
			else
				found = (int)i;
			strncat(hosts_with, ro->hosts[inv[i].host_idx],
				sizeof(hosts_with) - strlen(hosts_with) - 1);
		}
		if (!hit && where >= 0)
			return usage_error("--vms: no VM named '%s' on %s; nothing was patched",
					   name, ro->hosts[where]);
		if (!hit)
			return usage_error("--vms: no VM named '%s' on any of the hosts; nothing "
					   "was patched",
					   name);
		if (hit > 1)
			return usage_error("--vms: '%s' is on more than one host (%s): name it "
					   "HOST/%s",
					   name, hosts_with, name);
		for (i = 0; i < n; i++)
			if (!strcmp(ro->vms[i].name, name) &&
			    ro->vms[i].host_idx == inv[found].host_idx)
				return usage_error("--vms: %s is named twice", entry);
		if (n == MAX_VMS)
			return usage_error("--vms: more than %u VMs", MAX_VMS);
		ro->vms[n++] = inv[found];
		ro->nr_vms = n;
		if (!c)
			break;
	}
	return 0;
}

/*
 * ro->vms from --hosts and --vms or --all: every host listed first (and so
 * reached), then the VMs.  0, or the exit status after the error.
 */
static int hosts_vms(struct rollout_args *a)
{
	struct rollout *ro = &a->ro;
	struct rollout_vm *inv;
	unsigned nr_inv = 0, h;
	int r;

	if ((r = parse_hosts(ro, a->hosts)))
		return r;
	/* hvp_rundir() formats into a buffer of its own: fix it before the threads */
	if (setenv("HVPATCH_RUNTIME_DIR", hvp_rundir(), 1) < 0)
		return cli_fail(HVP_ERR_INTERNAL, "out of memory");
	inv = a->all ? ro->vms : calloc(MAX_VMS, sizeof(*inv));
	if (!inv)
		return cli_fail(HVP_ERR_INTERNAL, "out of memory");
	for (h = 0; h < ro->nr_hosts; h++)
		if ((r = host_vms(ro, h, inv, &nr_inv, MAX_VMS)))
			break;
	if (!r && a->all) {
		ro->nr_vms = nr_inv;
		if (!nr_inv)
			r = usage_error(
				"--all: no VM runs on any of the hosts (see 'hvpatch vm list')");
	} else if (!r) {
		r = resolve_names(ro, a->vms, inv, nr_inv);
	}
	if (inv != ro->vms)
		free(inv);
	return r;
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
	if (ro->nr_hosts)
		json_object_object_add(o, "host", json_object_new_string(ro->hosts[vm->host_idx]));
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
	if (ro->nr_hosts) {
		json_object *hosts = json_object_new_array();

		for (i = 0; i < ro->nr_hosts; i++)
			json_object_array_add(hosts, json_object_new_string(ro->hosts[i]));
		json_object_object_add(o, "hosts", hosts);
	}
	for (i = 0; i < ro->nr_vms; i++) {
		const struct rollout_vm *vm = &ro->vms[i];

		json_object_array_add(vms, vm_json(ro, vm));
		if (vm->failed_gate >= 0) {
			json_object *f = json_object_new_object();

			json_object_object_add(f, "vm", json_object_new_string(vm->name));
			if (ro->nr_hosts)
				json_object_object_add(f, "host",
						       json_object_new_string(
							       ro->hosts[vm->host_idx]));
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
	int hw = 0; /* the HOST column's width: none without --hosts */

	for (i = 0; i < ro->nr_hosts; i++)
		if ((int)strlen(ro->hosts[i]) > hw)
			hw = (int)strlen(ro->hosts[i]);
	if (hw)
		printf("%-*s ", hw, "HOST");
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
		if (hw)
			printf("%-*s ", hw, ro->hosts[vm->host_idx]);
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
		char name[HVP_VM_NAME_MAX + 320];

		/* HOST/NAME with --hosts, as --vms takes it */
		snprintf(name, sizeof(name), "%s%s%s", hw ? ro->hosts[vm->host_idx] : "",
			 hw ? "/" : "", vm->name);
		if (vm->state == ROLLOUT_ALREADY)
			printf("%s: already on %s\n", name, ro->target);
		if (vm->failed_gate >= 0)
			printf("%s: gate %s failed: %s\n", name,
			       rollout_gate_names[vm->failed_gate], vm->why);
		if (vm->revert_failed)
			printf("%s: the revert to %s failed: %s\n", name, vm->from, vm->revert_why);
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
	if (a.hosts) {
		if ((r = hosts_vms(&a)))
			goto out;
	} else {
		n = a.all ? local_vms(ro->vms, MAX_VMS) :
			    rollout_parse_names(a.vms, ro->vms, MAX_VMS, err, sizeof(err));
		if (n < 0) {
			free(ro->vms);
			return usage_error("%s", err);
		}
		if (n == 0) {
			free(ro->vms);
			return usage_error(
				"--all: no VM runs on this host (see 'hvpatch vm list')");
		}
		ro->nr_vms = (unsigned)n;
	}
	ro->stop = &rollout_stop;
	/* a Ctrl-C from here on stops the rollout, not the command */
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	/* every VM read first: a VM that cannot take part stops it before any patch */
	if (rollout_prepare(ro, err, sizeof(err)) < 0) {
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGTERM, &old_term, NULL);
		r = usage_error("%s; nothing was patched", err);
		goto out;
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
out:
	free(ro->vms);
	free_hosts(ro);
	return r;
}
