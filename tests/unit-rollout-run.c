// SPDX-License-Identifier: GPL-2.0-only
/*
 * The rollout run for real (vmm/rollout.c: rollout_prepare, rollout_run),
 * against fake VM services: each fake VM is a real control server
 * (hvp_ctlsrv_open) on RUNDIR/NAME.sock, whose handler keeps the VM's state
 * (KEY's current target, its vCPUs' fault counters) and answers info, sites,
 * stats and patch with the fields and error classes vmm/service.c uses.
 * Some VMs misbehave on purpose: a patch that adds faults, a long stall, a
 * refused patch, a patch that does not complete, a switch that cannot be
 * proven, a service that goes away once its patch is answered.  Checked
 * against README's "Rolling out to many VMs": the canary first, waves of
 * --wave-size, at most --max-parallel patches at once, a failed gate stops
 * the rollout and reverts its wave (or, with revert all, every VM patched)
 * while the earlier waves stay, VMs already on TARGET are skipped, `now` is
 * read back, the return value, and the stop flag starting nothing new.
 * Then the `hvpatch rollout` CLI against the same fakes: its exit status and
 * its -j report.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "ctlsrv.h"
#include "hvp_ctl.h"
#include "rollout.h"
#include "rollout-waves.h"
#include "util.h"
#include "tap.h"

#define KEY	  "single"
#define OLD	  "single_a"
#define TARGET	  "single_b"
#define NR_VCPUS  2
#define MAX_FAKES 12

static const char *const targets[] = { "single_a", "single_b", "single_c" };

struct fake_vm {
	char name[HVP_VM_NAME_MAX + 1];
	char path[PATH_MAX];
	const char *backend;
	struct hvp_ctlsrv *srv;
	pthread_t closer;
	bool closing;

	/* its state, under lock */
	pthread_mutex_t lock;
	char current[HVP_NAME_LEN]; /* KEY's target; "" when its sites disagree */
	bool no_key;		    /* its image has no KEY */
	int64_t nr_faults[NR_VCPUS];

	/* how a patch to TARGET misbehaves */
	int64_t add_faults;   /* guest faults it causes */
	int64_t stall_ns;     /* its max_stall_ns */
	bool refuse;	      /* Refused, nothing written */
	bool incomplete;      /* completed: false, nothing switched */
	bool unproven;	      /* verify: the switch is not proven */
	bool die_after_patch; /* the service goes away once the patch is answered */
	bool raced;	      /* another patch put it on TARGET before ours came */

	/* what it was asked */
	int nr_patches, nr_forward, nr_back;
	long fwd_start, fwd_end; /* event numbers of its first patch to TARGET */
};

static struct fake_vm fakes[MAX_FAKES];
static unsigned nr_fakes;
static char rundir[PATH_MAX];

/* across every fake: the patches in flight, and an event clock */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cond = PTHREAD_COND_INITIALIZER;
static int in_flight, max_in_flight, want_parallel;
static long clock_ev;

static long tick(void)
{
	long t;

	pthread_mutex_lock(&g_lock);
	t = ++clock_ev;
	pthread_mutex_unlock(&g_lock);
	return t;
}

static const char *arg_s(json_object *args, const char *name)
{
	json_object *v;

	return json_object_object_get_ex(args, name, &v) &&
			       json_object_is_type(v, json_type_string) ?
		       json_object_get_string(v) :
		       NULL;
}

static bool is_target(const char *t)
{
	size_t i;

	for (i = 0; i < HVP_ARRAY_SIZE(targets); i++)
		if (!strcmp(t, targets[i]))
			return true;
	return false;
}

static json_object *fake_info(struct fake_vm *vm)
{
	json_object *o = json_object_new_object(), *keys = json_object_new_array();

	json_object_object_add(o, "name", json_object_new_string(vm->name));
	json_object_object_add(o, "backend", json_object_new_string(vm->backend));
	json_object_object_add(o, "pid", json_object_new_int64(getpid()));
	json_object_object_add(o, "vcpus", json_object_new_int(NR_VCPUS));
	json_object_object_add(o, "socket", json_object_new_string(vm->path));
	json_object_object_add(o, "state", json_object_new_string("running"));
	if (!vm->no_key)
		json_object_array_add(keys, json_object_new_string(KEY));
	json_object_object_add(o, "workload_keys", keys);
	return hvp_ctl_ok_new(o);
}

/* As do_sites(): every key, or only args.key (NotFound when it has none). */
static json_object *fake_sites(struct fake_vm *vm, json_object *args)
{
	json_object *o, *keys, *k, *tg, *sites;
	const char *only = arg_s(args, "key");
	size_t i;

	if (only && (vm->no_key || strcmp(only, KEY)))
		return hvp_ctl_error_new(HVP_ERR_NOT_FOUND, "no key named '%s'", only);
	o = json_object_new_object();
	keys = json_object_new_array();
	if (!vm->no_key) {
		k = json_object_new_object();
		tg = json_object_new_array();
		sites = json_object_new_array();
		json_object_object_add(k, "name", json_object_new_string(KEY));
		json_object_object_add(k, "kind", json_object_new_string("inline"));
		for (i = 0; i < HVP_ARRAY_SIZE(targets); i++)
			json_object_array_add(tg, json_object_new_string(targets[i]));
		json_object_object_add(k, "targets", tg);
		for (i = 0; i < 2; i++) {
			json_object *s = json_object_new_object();

			json_object_object_add(s, "addr",
					       json_object_new_string(i ? "0x1010" : "0x1000"));
			json_object_object_add(s, "target",
					       json_object_new_string(vm->current[0] ? vm->current :
								      i		     ? "single_c" :
										       "single_a"));
			json_object_array_add(sites, s);
		}
		json_object_object_add(k, "current",
				       vm->current[0] ? json_object_new_string(vm->current) : NULL);
		json_object_object_add(k, "nr_sites", json_object_new_int(2));
		json_object_object_add(k, "sites", sites);
		json_object_array_add(keys, k);
	}
	json_object_object_add(o, "keys", keys);
	json_object_object_add(o, "agent_tables_changed", json_object_new_boolean(0));
	return hvp_ctl_ok_new(o);
}

static json_object *fake_stats(struct fake_vm *vm)
{
	json_object *o = json_object_new_object(), *a = json_object_new_array();
	unsigned i;

	json_object_object_add(o, "tsc_khz", json_object_new_int64(2000000));
	for (i = 0; i < NR_VCPUS; i++) {
		json_object *v = json_object_new_object();

		json_object_object_add(v, "id", json_object_new_int((int)i));
		json_object_object_add(v, "state", json_object_new_string("running"));
		json_object_object_add(v, "nr_faults", json_object_new_int64(vm->nr_faults[i]));
		json_object_object_add(v, "faults", json_object_new_array());
		json_object_array_add(a, v);
	}
	json_object_object_add(o, "vcpus", a);
	json_object_object_add(o, "nmis_sent", json_object_new_int64(0));
	return hvp_ctl_ok_new(o);
}

static void *closer_thread(void *arg)
{
	struct fake_vm *vm = arg;

	hvp_ctlsrv_close(vm->srv);
	return NULL;
}

/* Count this patch in flight; with want_parallel, wait (a while) for that many. */
static void flight_begin(void)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += 300 * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&g_lock);
	in_flight++;
	if (in_flight > max_in_flight)
		max_in_flight = in_flight;
	pthread_cond_broadcast(&g_cond);
	while (want_parallel && in_flight < want_parallel)
		if (pthread_cond_timedwait(&g_cond, &g_lock, &until) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&g_lock);
	usleep(5000);
}

static void flight_end(void)
{
	pthread_mutex_lock(&g_lock);
	in_flight--;
	pthread_mutex_unlock(&g_lock);
}

/* As do_patch(): the same checks and classes, then the patch result's fields. */
static json_object *fake_patch(struct fake_vm *vm, json_object *args)
{
	const char *key = arg_s(args, "key"), *to = arg_s(args, "target");
	const char *method = arg_s(args, "method"), *sync = arg_s(args, "sync");
	json_object *o, *v;
	bool verify, forward, completed = true;
	char old[HVP_NAME_LEN];
	int64_t stall = 1000;
	long start;

	if (!key || !to)
		return hvp_ctl_error_new(HVP_ERR_USAGE, "patch needs a key and a target");
	if (vm->no_key || strcmp(key, KEY))
		return hvp_ctl_error_new(HVP_ERR_NOT_FOUND, "no key named '%s'", key);
	if (!is_target(to))
		return hvp_ctl_error_new(HVP_ERR_NOT_FOUND,
					 "'%s' is not a registered target of key %s", to, key);
	if (method && strcmp(method, "bp-emulate") && strcmp(method, "stop"))
		return hvp_ctl_error_new(HVP_ERR_USAGE, "unknown method '%s' (see 'patch methods')",
					 method);
	if (sync && strcmp(sync, "kick") && strcmp(sync, "nmi"))
		return hvp_ctl_error_new(HVP_ERR_USAGE, "unknown sync kind '%s' (kick or nmi)",
					 sync);
	if (json_object_object_get_ex(args, "timeout_ms", &v) &&
	    (json_object_get_int64(v) < 1 || json_object_get_int64(v) > 600000))
		return hvp_ctl_error_new(HVP_ERR_USAGE,
					 "timeout_ms, naive_delay_us or naive_bytes out of range");
	verify = json_object_object_get_ex(args, "verify", &v) && json_object_get_boolean(v);

	start = tick();
	flight_begin();
	pthread_mutex_lock(&vm->lock);
	forward = !strcmp(to, TARGET);
	vm->nr_patches++;
	vm->nr_forward += forward;
	vm->nr_back += !forward;
	if (forward && !vm->fwd_start)
		vm->fwd_start = start;
	if (forward && vm->raced) /* someone else's patch came first */
		snprintf(vm->current, sizeof(vm->current), "%s", TARGET);
	snprintf(old, sizeof(old), "%s", vm->current);
	if (forward && vm->refuse) {
		if (!vm->fwd_end)
			vm->fwd_end = tick();
		pthread_mutex_unlock(&vm->lock);
		flight_end();
		return hvp_ctl_error_new(HVP_ERR_REFUSED, "nothing written: site 0x1000 is busy");
	}
	if (forward && vm->incomplete) {
		completed = false;
	} else {
		snprintf(vm->current, sizeof(vm->current), "%s", to);
		if (forward) {
			vm->nr_faults[1] += vm->add_faults;
			if (vm->stall_ns)
				stall = vm->stall_ns;
		}
	}
	pthread_mutex_unlock(&vm->lock);

	o = json_object_new_object();
	json_object_object_add(o, "completed", json_object_new_boolean(completed));
	json_object_object_add(o, "method", json_object_new_string(method ? method : "bp-emulate"));
	json_object_object_add(o, "sync", json_object_new_string(sync ? sync : "kick"));
	json_object_object_add(o, "key", json_object_new_string(key));
	json_object_object_add(o, "target", json_object_new_string(to));
	json_object_object_add(o, "old_target", json_object_new_string(old));
	json_object_object_add(o, "sites", json_object_new_int(2));
	json_object_object_add(o, "vcpus", json_object_new_int(NR_VCPUS));
	json_object_object_add(o, "latency_ns", json_object_new_int64(123456));
	json_object_object_add(o, "faults", json_object_new_int64(forward ? vm->add_faults : 0));
	json_object_object_add(o, "max_stall_ns", json_object_new_int64(stall));
	json_object_object_add(o, "max_stall_vcpu", json_object_new_int(0));
	if (!completed)
		json_object_object_add(o, "reason",
				       json_object_new_string("timed out waiting for vCPU 1"));
	/* as locked_apply(): a proof only of a completed switch */
	if (verify && completed && strcmp(old, to)) {
		json_object_object_add(o, "verified", json_object_new_boolean(!vm->unproven));
		if (vm->unproven)
			json_object_object_add(o, "verify_reason",
					       json_object_new_string(
						       "vCPU 0: single_a gained 3 calls after "
						       "the patch"));
	}
	flight_end();
	pthread_mutex_lock(&vm->lock);
	if (forward && !vm->fwd_end)
		vm->fwd_end = tick();
	pthread_mutex_unlock(&vm->lock);
	if (forward && vm->die_after_patch && !vm->closing) {
		int i;

		/* the socket goes; this answer still goes out (close's grace) */
		vm->closing = true;
		pthread_create(&vm->closer, NULL, closer_thread, vm);
		for (i = 0; i < 2000 && access(vm->path, F_OK) == 0; i++)
			usleep(1000);
	}
	return hvp_ctl_ok_new(o);
}

static json_object *fake_handle(void *ctx, const char *cmd, json_object *args,
				const struct ucred *peer)
{
	struct fake_vm *vm = ctx;
	json_object *r;

	(void)peer;
	if (!strcmp(cmd, "patch"))
		return fake_patch(vm, args);
	pthread_mutex_lock(&vm->lock);
	if (!strcmp(cmd, "info"))
		r = fake_info(vm);
	else if (!strcmp(cmd, "sites"))
		r = fake_sites(vm, args);
	else if (!strcmp(cmd, "stats"))
		r = fake_stats(vm);
	else
		r = hvp_ctl_error_new(HVP_ERR_USAGE, "unknown command '%s'", cmd);
	pthread_mutex_unlock(&vm->lock);
	return r;
}

/* ---- the fakes' life ---- */

static struct fake_vm *fake_add(const char *name, const char *current)
{
	struct fake_vm *vm = &fakes[nr_fakes++];
	char err[256];

	memset(vm, 0, sizeof(*vm));
	pthread_mutex_init(&vm->lock, NULL);
	snprintf(vm->name, sizeof(vm->name), "%s", name);
	snprintf(vm->current, sizeof(vm->current), "%s", current);
	vm->backend = nr_fakes % 2 ? "kvm" : "qemu";
	hvp_vm_path(vm->path, sizeof(vm->path), rundir, name, ".sock");
	if (hvp_ctlsrv_open(&vm->srv, vm->path, fake_handle, vm, err, sizeof(err)) < 0) {
		printf("Bail out! cannot open %s: %s\n", vm->path, err);
		exit(1);
	}
	return vm;
}

/* n fakes PREFIX0.., on `current` */
static void fakes_add(const char *prefix, unsigned n, const char *current)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		char name[16];

		snprintf(name, sizeof(name), "%s%u", prefix, i);
		fake_add(name, current);
	}
}

static struct fake_vm *fake(const char *name)
{
	unsigned i;

	for (i = 0; i < nr_fakes; i++)
		if (!strcmp(fakes[i].name, name))
			return &fakes[i];
	return NULL;
}

static void fakes_close(void)
{
	unsigned i;

	for (i = 0; i < nr_fakes; i++) {
		if (fakes[i].closing)
			pthread_join(fakes[i].closer, NULL);
		else
			hvp_ctlsrv_close(fakes[i].srv);
		pthread_mutex_destroy(&fakes[i].lock);
	}
	nr_fakes = 0;
	max_in_flight = 0;
	want_parallel = 0;
}

/* Forget what the fakes were asked (between two rollouts on the same fakes). */
static void fakes_reset_counts(void)
{
	unsigned i;

	for (i = 0; i < nr_fakes; i++) {
		fakes[i].nr_patches = fakes[i].nr_forward = fakes[i].nr_back = 0;
		fakes[i].fwd_start = fakes[i].fwd_end = 0;
	}
	max_in_flight = 0;
}

/* ---- a rollout over the fakes ---- */

static struct rollout_vm vms[MAX_FAKES];
static struct rollout ro;
static volatile sig_atomic_t stop_flag;
static int progress_calls, stop_after;

static void on_progress(const struct rollout *r, void *arg)
{
	(void)r;
	(void)arg;
	progress_calls++;
	if (stop_after && progress_calls == stop_after)
		stop_flag = 1;
}

/* A rollout of every fake, in their order; rollout_prepare's result. */
static int setup(unsigned canary, unsigned wave_size, unsigned max_parallel, const char *gates,
		 bool revert_all, char *err, size_t errlen)
{
	char buf[128], *g, *save = NULL;
	unsigned i;

	memset(vms, 0, sizeof(vms));
	memset(&ro, 0, sizeof(ro));
	for (i = 0; i < nr_fakes; i++)
		snprintf(vms[i].name, sizeof(vms[i].name), "%s", fakes[i].name);
	ro.key = KEY;
	ro.target = TARGET;
	ro.canary = canary;
	ro.wave_size = wave_size;
	ro.max_parallel = max_parallel;
	ro.revert_all = revert_all;
	ro.vms = vms;
	ro.nr_vms = nr_fakes;
	ro.stop = &stop_flag;
	ro.progress = on_progress;
	stop_flag = 0;
	progress_calls = 0;
	stop_after = 0;
	snprintf(buf, sizeof(buf), "%s", gates);
	for (g = strtok_r(buf, " ", &save); g; g = strtok_r(NULL, " ", &save))
		if (rollout_gate_parse(&ro.gates, g, err, errlen) < 0)
			return -1;
	return rollout_prepare(&ro, err, errlen);
}

static struct rollout_vm *rvm(const char *name)
{
	unsigned i;

	for (i = 0; i < ro.nr_vms; i++)
		if (!strcmp(vms[i].name, name))
			return &vms[i];
	return NULL;
}

/* Each VM's wave, "-" for none: "0 1 1 - 2". */
static const char *waves_str(void)
{
	static char out[128];

	return waves_of(vms, ro.nr_vms, out, sizeof(out));
}

/* Each VM's now, its first letter after "single_" ('a', 'b'), '?' when unread. */
static const char *now_str(void)
{
	static char out[MAX_FAKES + 1];
	unsigned i;

	for (i = 0; i < ro.nr_vms; i++)
		out[i] = !strncmp(vms[i].now, "single_", 7) ? vms[i].now[7] : '?';
	out[i] = '\0';
	return out;
}

/* Each VM's result: P patched, F failed, A already, - not started; r/R reverted/revert failed. */
static const char *state_str(void)
{
	static char out[3 * MAX_FAKES + 1];
	unsigned i;
	size_t l = 0;

	for (i = 0; i < ro.nr_vms; i++) {
		const struct rollout_vm *vm = &vms[i];

		out[l++] = vm->state == ROLLOUT_PATCHED ? 'P' :
			   vm->state == ROLLOUT_FAILED	? 'F' :
			   vm->state == ROLLOUT_ALREADY ? 'A' :
							  '-';
		if (vm->reverted)
			out[l++] = 'r';
		if (vm->revert_failed)
			out[l++] = 'R';
		out[l++] = ' ';
	}
	out[l ? l - 1 : 0] = '\0';
	return out;
}

/* Every patch of an earlier wave answered before any of a later one was asked. */
static bool waves_in_order(void)
{
	unsigned i, j;

	for (i = 0; i < ro.nr_vms; i++)
		for (j = 0; j < ro.nr_vms; j++) {
			struct fake_vm *a = fake(vms[i].name), *b = fake(vms[j].name);

			if (vms[i].wave < 0 || vms[j].wave <= vms[i].wave || !a->fwd_start ||
			    !b->fwd_start)
				continue;
			if (a->fwd_end > b->fwd_start)
				return false;
		}
	return true;
}

/* The patch requests the fakes saw, forward and back: "1/0 1/1 0/0". */
static const char *requests_str(void)
{
	static char out[8 * MAX_FAKES];
	unsigned i;
	size_t l = 0;

	out[0] = '\0';
	for (i = 0; i < nr_fakes; i++)
		l += (size_t)snprintf(out + l, sizeof(out) - l, "%s%d/%d", i ? " " : "",
				      fakes[i].nr_forward, fakes[i].nr_back);
	return out;
}

/* ---- the scenarios ---- */

static void all_good(void)
{
	char err[256];
	unsigned i;
	int r;

	for (i = 0; i < 7; i++) {
		char n[8];

		snprintf(n, sizeof(n), "g%u", i);
		fake_add(n, i == 3 ? TARGET : OLD);
	}
	r = setup(1, 2, 2, "faults=0 stall-p99=50 verify", false, err, sizeof(err));
	tap_ok(r == 0, "all good: prepared (%s)", r ? err : "ok");
	tap_ok(!strcmp(waves_str(), "0 1 1 - 2 2 3") && ro.nr_waves == 4,
	       "all good: canary 1, waves of 2, g3 already on TARGET gets none: %s (%u waves)",
	       waves_str(), ro.nr_waves);
	tap_ok(!strcmp(vms[0].backend, "kvm") && !strcmp(vms[1].backend, "qemu") &&
		       !strcmp(vms[0].from, OLD) && !strcmp(vms[3].from, TARGET),
	       "all good: backend and from read from each VM");
	want_parallel = 2;
	r = rollout_run(&ro);
	want_parallel = 0;
	tap_ok(r == 0, "all good: rollout_run returns 0");
	tap_ok(!strcmp(now_str(), "bbbbbbb"), "all good: every VM's now is " TARGET ": %s",
	       now_str());
	tap_ok(!strcmp(state_str(), "P P P A P P P"), "all good: states %s", state_str());
	tap_ok(!strcmp(requests_str(), "1/0 1/0 1/0 0/0 1/0 1/0 1/0"),
	       "all good: one patch each, none to g3: %s", requests_str());
	tap_ok(waves_in_order(), "all good: the canary first, each wave after the one before");
	tap_ok(max_in_flight == 2, "all good: at most --max-parallel 2 patches at once (saw %d)",
	       max_in_flight);
	tap_ok(ro.stopped_wave == -1 && !ro.interrupted && !ro.reverting,
	       "all good: not stopped, not interrupted, no revert");
	tap_ok(vms[1].gate[ROLLOUT_GATE_RESULT] == ROLLOUT_PASS &&
		       vms[1].gate[ROLLOUT_GATE_FAULTS] == ROLLOUT_PASS &&
		       vms[1].gate[ROLLOUT_GATE_STALL] == ROLLOUT_PASS &&
		       vms[1].gate[ROLLOUT_GATE_VERIFY] == ROLLOUT_PASS &&
		       vms[1].failed_gate == -1 && !strcmp(vms[1].method, "bp-emulate") &&
		       vms[1].latency_ns == 123456 && vms[1].new_faults == 0 &&
		       vms[3].gate[ROLLOUT_GATE_RESULT] == ROLLOUT_UNCHECKED,
	       "all good: every gate passed, the patch's method and latency kept");
	fakes_close();
}

/* max_parallel 3 over a wave of 6: never more than 3 at once */
static void parallel(void)
{
	char err[256];
	int r;

	fakes_add("p", 7, OLD);
	setup(1, 6, 3, "", false, err, sizeof(err));
	want_parallel = 6; /* each patch waits a while for more to come */
	r = rollout_run(&ro);
	tap_ok(r == 0 && max_in_flight == 3,
	       "a wave of 6 with --max-parallel 3: 3 at once at most (saw %d)", max_in_flight);
	fakes_close();
}

/* A VM of wave 2 adds faults: wave 2 reverted, waves 0 and 1 stay, wave 3 never starts. */
static void faults_gate(bool revert_all)
{
	const char *how = revert_all ? "revert all" : "revert wave";
	char err[256];
	int r;

	fakes_add("f", 8, OLD);
	fake("f5")->add_faults = 2;
	setup(1, 3, 3, "faults=0", revert_all, err, sizeof(err));
	tap_ok(!strcmp(waves_str(), "0 1 1 1 2 2 2 3"), "%s: waves %s", how, waves_str());
	r = rollout_run(&ro);
	tap_ok(r == 1 && ro.stopped_wave == 2 && !ro.interrupted,
	       "%s: a failed gate in wave 2 stops there, returns 1 (%d, stopped at %d)", how, r,
	       ro.stopped_wave);
	tap_ok(rvm("f5")->failed_gate == ROLLOUT_GATE_FAULTS && rvm("f5")->new_faults == 2 &&
		       strstr(rvm("f5")->why, "2 new guest faults"),
	       "%s: f5 failed gate faults: %s", how, rvm("f5")->why);
	if (!revert_all) {
		tap_ok(!strcmp(state_str(), "P P P P Pr Fr Pr -"),
		       "%s: all of wave 2 reverted, earlier waves stay, wave 3 not started: %s",
		       how, state_str());
		tap_ok(!strcmp(now_str(), "bbbbaaaa"), "%s: now %s", how, now_str());
		tap_ok(!strcmp(requests_str(), "1/0 1/0 1/0 1/0 1/1 1/1 1/1 0/0"),
		       "%s: patch requests %s", how, requests_str());
	} else {
		tap_ok(!strcmp(state_str(), "Pr Pr Pr Pr Pr Fr Pr -"),
		       "%s: every VM patched reverted, wave 3 not started: %s", how, state_str());
		tap_ok(!strcmp(now_str(), "aaaaaaaa"), "%s: now %s", how, now_str());
		tap_ok(!strcmp(requests_str(), "1/1 1/1 1/1 1/1 1/1 1/1 1/1 0/0"),
		       "%s: patch requests %s", how, requests_str());
	}
	tap_ok(waves_in_order() && max_in_flight <= 3, "%s: waves in order, at most 3 at once",
	       how);
	if (!revert_all) {
		/* a rerun picks up where the stopped rollout left off */
		fake("f5")->add_faults = 0;
		fakes_reset_counts();
		setup(1, 3, 3, "faults=0", false, err, sizeof(err));
		tap_ok(!strcmp(waves_str(), "- - - - 0 1 1 1") &&
			       !strcmp(state_str(), "A A A A - - - -"),
		       "rerun: the VMs on TARGET are skipped: %s", waves_str());
		r = rollout_run(&ro);
		tap_ok(r == 0 && !strcmp(now_str(), "bbbbbbbb") &&
			       !strcmp(requests_str(), "0/0 0/0 0/0 0/0 1/0 1/0 1/0 1/0"),
		       "rerun: the rest patched, returns 0 (%d, %s)", r, requests_str());
	}
	fakes_close();
}

/* The canary stalls too long: only it was patched, and it goes back. */
static void stall_canary(void)
{
	char err[256];
	int r;

	fake_add("s0", OLD)->stall_ns = 80 * 1000000LL;
	fake_add("s1", OLD);
	fake_add("s2", OLD);
	setup(1, 4, 4, "stall-p99=50", false, err, sizeof(err));
	r = rollout_run(&ro);
	tap_ok(r == 1 && ro.stopped_wave == 0 && vms[0].failed_gate == ROLLOUT_GATE_STALL &&
		       strstr(vms[0].why, "80.000 ms") && strstr(vms[0].why, "limit 50 ms"),
	       "stall: the canary's 80 ms stall fails stall-p99=50: %s", vms[0].why);
	tap_ok(!strcmp(state_str(), "Fr - -") && !strcmp(now_str(), "aaa") &&
		       !strcmp(requests_str(), "1/1 0/0 0/0"),
	       "stall: the canary reverted, no wave started: %s, %s", state_str(), requests_str());
	fakes_close();

	/* exactly at the limit passes: at most MS ms */
	fake_add("s0", OLD)->stall_ns = 50 * 1000000LL;
	setup(1, 4, 4, "stall-p99=50", false, err, sizeof(err));
	r = rollout_run(&ro);
	tap_ok(r == 0 && vms[0].gate[ROLLOUT_GATE_STALL] == ROLLOUT_PASS,
	       "stall: 50 ms with stall-p99=50 passes");
	fakes_close();
}

/* A refused patch, one that does not complete, one not proven, all in one wave. */
static void patch_errors(void)
{
	char err[256];
	int r;

	fake_add("e0", OLD);
	fake_add("e1", OLD)->refuse = true;
	fake_add("e2", OLD)->incomplete = true;
	fake_add("e3", OLD)->unproven = true;
	fake_add("e4", OLD);
	fake_add("e5", OLD);
	setup(1, 4, 2, "verify", false, err, sizeof(err));
	r = rollout_run(&ro);
	tap_ok(r == 1 && ro.stopped_wave == 1, "errors: wave 1 stopped (%d)", ro.stopped_wave);
	tap_ok(rvm("e1")->failed_gate == ROLLOUT_GATE_RESULT &&
		       strstr(rvm("e1")->why, "site 0x1000 is busy") && !rvm("e1")->reverted,
	       "errors: a refused patch fails gate result, nothing to revert: %s", rvm("e1")->why);
	tap_ok(rvm("e2")->failed_gate == ROLLOUT_GATE_RESULT &&
		       strstr(rvm("e2")->why, "not completed: timed out") && !rvm("e2")->reverted,
	       "errors: an incomplete patch fails gate result: %s", rvm("e2")->why);
	tap_ok(rvm("e3")->failed_gate == ROLLOUT_GATE_VERIFY &&
		       strstr(rvm("e3")->why, "gained 3 calls") && rvm("e3")->reverted,
	       "errors: an unproven switch fails gate verify and is reverted: %s", rvm("e3")->why);
	tap_ok(!strcmp(state_str(), "P F F Fr Pr -") && !strcmp(now_str(), "baaaaa"),
	       "errors: the canary stays, wave 1 back on " OLD ", e5 not started: %s %s",
	       state_str(), now_str());
	fakes_close();
}

/* Another patch puts a VM on TARGET between the rollout's read and its patch. */
static void raced(void)
{
	char err[256];
	int r;

	fake_add("r0", OLD);
	fake_add("r1", OLD)->raced = true;
	setup(1, 1, 1, "verify", false, err, sizeof(err));
	r = rollout_run(&ro);
	tap_ok(r == 1 && rvm("r1")->failed_gate == ROLLOUT_GATE_VERIFY &&
		       strstr(rvm("r1")->why, "no switch to prove") &&
		       strstr(rvm("r1")->why, "raced"),
	       "raced: nothing switched, so nothing to prove, and gate verify says so (it said "
	       "'too old?'): %s",
	       rvm("r1")->why);
	fakes_close();
}

/* A service that goes away once its patch is answered. */
static void dies(void)
{
	char err[256];
	int r;

	fake_add("d0", OLD);
	fake_add("d1", OLD)->die_after_patch = true;
	fake_add("d2", OLD);
	fake_add("d3", OLD);
	setup(1, 2, 2, "", false, err, sizeof(err));
	r = rollout_run(&ro);
	tap_ok(r == 1 && ro.stopped_wave == 1 && rvm("d1")->state == ROLLOUT_FAILED &&
		       strstr(rvm("d1")->why, "after the patch") && strstr(rvm("d1")->why, "d1"),
	       "dies: the VM gone after its patch fails the wave: %s", rvm("d1")->why);
	/* no faults gate was asked for: the patch's own gate fails, not that one */
	tap_ok(rvm("d1")->failed_gate == ROLLOUT_GATE_RESULT &&
		       rvm("d1")->gate[ROLLOUT_GATE_FAULTS] == ROLLOUT_UNCHECKED,
	       "dies: without --gate faults it fails gate result, not faults (%d)",
	       rvm("d1")->failed_gate);
	tap_ok(rvm("d1")->revert_failed && !rvm("d1")->reverted && !rvm("d1")->now[0] &&
		       strstr(rvm("d1")->revert_why, "no VM named 'd1'"),
	       "dies: its revert failed, its now unknown: %s", rvm("d1")->revert_why);
	tap_ok(!strcmp(state_str(), "P FR Pr -") && !strcmp(now_str(), "b?aa"),
	       "dies: d2 reverted, the canary stays, d3 not started: %s %s", state_str(),
	       now_str());
	fakes_close();
}

/* The stop flag (SIGINT) set from the progress callback: nothing new starts. */
static void stop(void)
{
	char err[256];
	int r;

	fakes_add("t", 6, OLD);
	setup(1, 5, 1, "", false, err, sizeof(err));
	stop_after = 3; /* the canary, then 2 of wave 1 */
	r = rollout_run(&ro);
	tap_ok(r == 1 && ro.interrupted && ro.stopped_wave == -1,
	       "stop: returns 1, interrupted (%d)", r);
	tap_ok(!strcmp(state_str(), "P P P - - -") && !strcmp(now_str(), "bbbaaa") &&
		       !strcmp(requests_str(), "1/0 1/0 1/0 0/0 0/0 0/0"),
	       "stop: the 3 done stay, nothing new started: %s %s", state_str(), requests_str());
	fakes_close();

	/* set by the canary's progress: wave 1 never starts */
	fakes_add("t", 3, OLD);
	setup(1, 5, 4, "", false, err, sizeof(err));
	stop_after = 1;
	r = rollout_run(&ro);
	tap_ok(r == 1 && ro.interrupted && !strcmp(requests_str(), "1/0 0/0 0/0") &&
		       !strcmp(now_str(), "baa"),
	       "stop after the canary: no wave starts: %s", requests_str());
	fakes_close();

	/* set while a failed wave is reverted: no further revert starts */
	fakes_add("t", 4, OLD);
	fake("t1")->add_faults = 1;
	setup(0, 4, 1, "faults=0", false, err, sizeof(err));
	stop_after = 5; /* the 4 patches, then the first revert */
	r = rollout_run(&ro);
	tap_ok(r == 1 && ro.interrupted && ro.stopped_wave == 1 &&
		       !strcmp(requests_str(), "1/1 1/0 1/0 1/0") && !strcmp(now_str(), "abbb"),
	       "stop during the revert: no other revert starts, now read back: %s %s",
	       requests_str(), now_str());
	fakes_close();
}

/*
 * The stop flag set by the last step: nothing was kept from starting, so the
 * rollout is not interrupted (rollout.h), and with every VM on TARGET it
 * returns 0; when a gate failed, that stop still keeps the revert from
 * starting.
 */
static void stop_at_end(void)
{
	char err[256];
	int r;

	fakes_add("u", 3, OLD);
	setup(1, 2, 1, "", false, err, sizeof(err));
	stop_after = 3; /* the last patch */
	r = rollout_run(&ro);
	tap_ok(r == 0 && !ro.interrupted && !strcmp(now_str(), "bbb"),
	       "stop after the last patch: every VM on TARGET, not interrupted, returns 0 (%d, "
	       "interrupted %d)",
	       r, ro.interrupted);
	fakes_close();

	fakes_add("u", 2, OLD);
	fake("u1")->add_faults = 1;
	setup(0, 2, 1, "faults=0", false, err, sizeof(err));
	stop_after = 2; /* the failed wave's last patch */
	r = rollout_run(&ro);
	tap_ok(r == 1 && ro.interrupted && ro.stopped_wave == 1 &&
		       !strcmp(requests_str(), "1/0 1/0") && !strcmp(now_str(), "bb"),
	       "stop after a failed wave's last patch: no revert, interrupted: %s", requests_str());
	fakes_close();

	fakes_add("u", 2, OLD);
	fake("u1")->add_faults = 1;
	setup(0, 2, 1, "faults=0", false, err, sizeof(err));
	stop_after = 4; /* the last revert */
	r = rollout_run(&ro);
	tap_ok(r == 1 && !ro.interrupted && ro.stopped_wave == 1 &&
		       !strcmp(requests_str(), "1/1 1/1") && !strcmp(now_str(), "aa"),
	       "stop after the last revert: the revert was whole, not interrupted (%d)",
	       ro.interrupted);
	fakes_close();
}

/* A VM that cannot take part: prepare fails, nothing is patched. */
static void prepare_errors(void)
{
	char err[256];
	int r;

	fake_add("x0", OLD);
	fake_add("x1", OLD)->no_key = true;
	r = setup(1, 4, 4, "", false, err, sizeof(err));
	tap_ok(r < 0 && strstr(err, "x1") && strstr(err, "no key named 'single'"),
	       "prepare: a VM without KEY: %s", err);
	fakes_close();

	fake_add("x0", "");
	r = setup(1, 4, 4, "", false, err, sizeof(err));
	tap_ok(r < 0 && strstr(err, "different targets"), "prepare: a VM with mixed sites: %s",
	       err);
	fakes_close();

	fake_add("x0", OLD);
	fake_add("x1", OLD);
	r = setup(1, 4, 4, "", false, err, sizeof(err));
	ro.target = "single_z";
	r = rollout_prepare(&ro, err, sizeof(err));
	tap_ok(r < 0 && strstr(err, "'single_z' is not a registered target"),
	       "prepare: an unknown TARGET: %s", err);
	/* a VM with no service */
	snprintf(vms[1].name, sizeof(vms[1].name), "nosuch");
	ro.target = TARGET;
	r = rollout_prepare(&ro, err, sizeof(err));
	tap_ok(r < 0 && strstr(err, "no VM named 'nosuch'") && !strcmp(requests_str(), "0/0 0/0"),
	       "prepare: a VM with no service; nothing was patched: %s", err);
	fakes_close();
}

/* ---- the CLI against the same fakes ---- */

static int run_cli(char *out, size_t outlen, const char *const *args)
{
	const char *top = getenv("top_builddir");
	char bin[PATH_MAX];
	const char *argv[32];
	int pfd[2], status;
	size_t n = 0, i;
	ssize_t k;
	pid_t pid;

	snprintf(bin, sizeof(bin), "%s/hvpatch", top ? top : ".");
	argv[0] = bin;
	for (i = 0; args[i] && i < 30; i++)
		argv[i + 1] = args[i];
	argv[i + 1] = NULL;
	if (pipe(pfd) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	close(pfd[1]);
	while (n + 1 < outlen && (k = read(pfd[0], out + n, outlen - n - 1)) > 0)
		n += (size_t)k;
	out[n] = '\0';
	close(pfd[0]);
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static json_object *cli_vm(json_object *rep, const char *name)
{
	json_object *a, *v, *n;
	size_t i;

	if (!json_object_object_get_ex(rep, "vms", &a))
		return NULL;
	for (i = 0; i < json_object_array_length(a); i++) {
		v = json_object_array_get_idx(a, i);
		if (json_object_object_get_ex(v, "name", &n) &&
		    !strcmp(json_object_get_string(n), name))
			return v;
	}
	return NULL;
}

static const char *jstr(json_object *o, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(o, k, &v) && v ? json_object_get_string(v) : "(null)";
}

static void cli(void)
{
	static char out[65536];
	json_object *rep;
	int st;

	if (access(getenv("top_builddir") ? getenv("top_builddir") : ".", F_OK) < 0)
		return;
	fake_add("c0", OLD);
	fake_add("c1", OLD);
	fake_add("c2", TARGET);
	fake_add("c3", OLD);
	st = run_cli(out, sizeof(out),
		     (const char *const[]){ "-j", "rollout", KEY, TARGET, "--vms", "c0,c1,c2,c3",
					    "--wave-size", "1", "--gate", "faults=0", NULL });
	rep = json_tokener_parse(out);
	tap_ok(st == 0 && rep &&
		       json_object_get_boolean(json_object_object_get(rep, "completed")) &&
		       !strcmp(jstr(rep, "stopped_at_wave"), "(null)") &&
		       !strcmp(jstr(cli_vm(rep, "c2"), "result"), "already") &&
		       !strcmp(jstr(cli_vm(rep, "c3"), "result"), "patched") &&
		       !strcmp(jstr(cli_vm(rep, "c3"), "now"), TARGET) &&
		       !strcmp(jstr(cli_vm(rep, "c3"), "wave"), "2"),
	       "cli: every VM on TARGET, exit 0 (%d), -j completed", st);
	json_object_put(rep);
	fakes_close();

	fake_add("c0", OLD);
	fake_add("c1", OLD)->add_faults = 1;
	fake_add("c2", OLD);
	fake_add("c3", OLD);
	st = run_cli(out, sizeof(out),
		     (const char *const[]){ "-j", "rollout", KEY, TARGET, "--vms", "c0,c1,c2,c3",
					    "--wave-size", "2", "--gate", "faults=0", NULL });
	rep = json_tokener_parse(out);
	tap_ok(st == 1 && rep &&
		       !json_object_get_boolean(json_object_object_get(rep, "completed")) &&
		       !strcmp(jstr(rep, "stopped_at_wave"), "1") &&
		       !strcmp(jstr(json_object_array_get_idx(json_object_object_get(rep, "failed"),
							      0),
				    "vm"),
			       "c1") &&
		       !strcmp(jstr(cli_vm(rep, "c0"), "now"), TARGET) &&
		       !strcmp(jstr(cli_vm(rep, "c1"), "result"), "failed") &&
		       !strcmp(jstr(cli_vm(rep, "c1"), "now"), OLD) &&
		       json_object_get_boolean(
			       json_object_object_get(cli_vm(rep, "c2"), "reverted")) &&
		       !strcmp(jstr(cli_vm(rep, "c3"), "result"), "not-started") &&
		       !strcmp(jstr(json_object_object_get(cli_vm(rep, "c1"), "gates"), "faults"),
			       "fail"),
	       "cli: a failed gate: exit 1 (%d), -j names c1, wave 1 reverted, c3 not started", st);
	json_object_put(rep);
	fakes_close();

	fake_add("c0", OLD);
	st = run_cli(out, sizeof(out),
		     (const char *const[]){ "-j", "rollout", KEY, TARGET, "--vms", "c0,nosuch",
					    NULL });
	tap_ok(st == 2 && strstr(out, "nothing was patched") && fake("c0")->nr_patches == 0,
	       "cli: an unknown VM: exit 2 (%d), nothing patched", st);
	fakes_close();
}

static void cleanup(void)
{
	rmdir(rundir);
}

int main(void)
{
	snprintf(rundir, sizeof(rundir), "/tmp/hvp-rollout-run.XXXXXX");
	if (!mkdtemp(rundir) || chmod(rundir, 0700) < 0) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	atexit(cleanup);
	setenv("HVPATCH_RUNTIME_DIR", rundir, 1);
	unsetenv("HVPATCH_HOST");

	all_good();
	parallel();
	faults_gate(false);
	faults_gate(true);
	stall_canary();
	patch_errors();
	raced();
	dies();
	stop();
	stop_at_end();
	prepare_errors();
	cli();
	return tap_done();
}
