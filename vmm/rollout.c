// SPDX-License-Identifier: GPL-2.0-only
/*
 * hvpatch rollout: the waves, the gates and the revert (rollout.h).  The
 * CLI around it is builtin-rollout.c.
 *
 * Each VM's service does the patching; the rollout only asks it, with the
 * same requests `patch apply`, `sites` and `stats` send, so a rollout mixes
 * backends freely.  Up to max_parallel requests run at once, one thread
 * each; the threads block SIGINT and SIGTERM, so the signal lands on the
 * main thread, and a request in flight is always answered (a patch is never
 * abandoned half-way: the service finishes it whatever the client does).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hvp_ctl.h"
#include "remote.h"
#include "rollout.h"
#include "util.h"

const char *const rollout_gate_names[ROLLOUT_GATE__COUNT] = {
	[ROLLOUT_GATE_RESULT] = "result",
	[ROLLOUT_GATE_FAULTS] = "faults",
	[ROLLOUT_GATE_STALL] = "stall-p99",
	[ROLLOUT_GATE_VERIFY] = "verify",
};

#define QUERY_TIMEOUT_MS 10000

/* ---- parsing ---- */

static int parse_num(const char *s, uint64_t max, uint64_t *out)
{
	char *end;

	if (*s < '0' || *s > '9') /* strtoull takes signs and blanks */
		return -1;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno || *end || *out > max ? -1 : 0;
}

int rollout_gate_parse(struct rollout_gates *g, const char *s, char *err, size_t errlen)
{
	const char *eq = strchr(s, '=');

	if (!strcmp(s, "verify")) {
		g->on[ROLLOUT_GATE_VERIFY] = true;
		return 0;
	}
	if (eq && eq - s == 6 && !strncmp(s, "faults", 6)) {
		if (parse_num(eq + 1, 1000000, &g->max_faults) < 0)
			goto bad_num;
		g->on[ROLLOUT_GATE_FAULTS] = true;
		return 0;
	}
	if (eq && eq - s == 9 && !strncmp(s, "stall-p99", 9)) {
		if (parse_num(eq + 1, 600000, &g->stall_ms) < 0)
			goto bad_num;
		g->on[ROLLOUT_GATE_STALL] = true;
		return 0;
	}
	snprintf(err, errlen, "--gate: '%.64s' is not a gate (faults=N, stall-p99=MS, verify)", s);
	return -1;
bad_num:
	snprintf(err, errlen,
		 "--gate: '%.64s': the limit is not a number (faults=0..1000000, "
		 "stall-p99=0..600000 ms)",
		 s);
	return -1;
}

void rollout_gates_str(const struct rollout_gates *g, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	if (g->on[ROLLOUT_GATE_FAULTS])
		n += (size_t)snprintf(buf + n, len - n, "faults=%" PRIu64, g->max_faults);
	if (g->on[ROLLOUT_GATE_STALL] && n < len)
		n += (size_t)snprintf(buf + n, len - n, "%sstall-p99=%" PRIu64, n ? " " : "",
				      g->stall_ms);
	if (g->on[ROLLOUT_GATE_VERIFY] && n < len)
		snprintf(buf + n, len - n, "%sverify", n ? " " : "");
}

int rollout_parse_names(const char *list, struct rollout_vm *vms, unsigned max, char *err,
			size_t errlen)
{
	const char *p = list, *c;
	unsigned n = 0, i;

	for (;;) {
		size_t len;

		c = strchr(p, ',');
		len = c ? (size_t)(c - p) : strlen(p);
		if (n == max) {
			snprintf(err, errlen, "--vms: more than %u VMs", max);
			return -1;
		}
		if (len > HVP_VM_NAME_MAX) {
			snprintf(err, errlen, "--vms: '%.*s...' is not a VM name", 32, p);
			return -1;
		}
		memset(&vms[n], 0, sizeof(vms[n]));
		memcpy(vms[n].name, p, len);
		vms[n].name[len] = '\0';
		if (!hvp_name_valid(vms[n].name)) {
			snprintf(err, errlen, "--vms: '%s' is not a VM name", vms[n].name);
			return -1;
		}
		for (i = 0; i < n; i++) {
			if (!strcmp(vms[i].name, vms[n].name)) {
				snprintf(err, errlen, "--vms: %s is named twice", vms[n].name);
				return -1;
			}
		}
		n++;
		if (!c)
			break;
		p = c + 1;
	}
	return (int)n;
}

/* ---- the transport ---- */

/*
 * This host's runtime directory, read once: hvp_rundir() may format it into
 * a static buffer, and the requests run on several threads.
 */
static char local_rundir[PATH_MAX];
static pthread_once_t local_rundir_once = PTHREAD_ONCE_INIT;

static void local_rundir_init(void)
{
	snprintf(local_rundir, sizeof(local_rundir), "%s", hvp_rundir());
}

/*
 * The request to a VM of another host: `hvpatch -j vm request NAME CMD ARGS`
 * run there over ssh.  Its answer is the service's result, or the error the
 * remote CLI got, with the service's class: it comes back as a local one
 * would (a missing VM -ENOENT and NotFound, a refusal -EREMOTEIO and its
 * class); ssh's own failures are -EHOSTUNREACH (Unreachable) or -EPROTO.
 */
static int remote_call(const struct rollout_vm *vm, const char *cmd, json_object *args,
		       int timeout_ms, json_object **result, const char **cls, char *err,
		       size_t errlen)
{
	char tmo[16], msg[512], *json;
	const char *argv[9], *c, *desc;
	bool missing;
	int r;

	/* the remote waits as long as we would; ssh's own time comes on top */
	snprintf(tmo, sizeof(tmo), "%d", timeout_ms);
	json = strdup(args ? json_object_to_json_string_ext(args, JSON_C_TO_STRING_PLAIN) : "{}");
	json_object_put(args);
	if (!json) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	argv[0] = "vm";
	argv[1] = "request";
	argv[2] = "--timeout";
	argv[3] = tmo;
	argv[4] = "--";
	argv[5] = vm->name;
	argv[6] = cmd;
	argv[7] = json;
	argv[8] = NULL;
	r = hvp_remote_json(vm->host, (char *const *)argv, result, &c, msg, sizeof(msg));
	free(json);
	if (r == 0)
		return 0;
	if (cls)
		*cls = c;
	if (r < 0) { /* ssh's own message names the host */
		snprintf(err, errlen, "VM %s: %s", vm->name, msg);
		return !strcmp(c, HVP_ERR_UNREACHABLE) ? -EHOSTUNREACH : -EPROTO;
	}
	/* "HOST: DESC" (a host label has no blank): the service's words, as locally */
	desc = strstr(msg, ": ");
	desc = desc ? desc + 2 : msg;
	missing = !strcmp(c, HVP_ERR_NOT_FOUND) && !strncmp(desc, "no VM named", 11);
	if (missing)
		snprintf(err, errlen, "%s on %s", desc, vm->host);
	else
		snprintf(err, errlen, "VM %s on %s: %s", vm->name, vm->host, desc);
	return missing ? -ENOENT : -EREMOTEIO;
}

int rollout_call(const struct rollout_vm *vm, const char *cmd, json_object *args, int timeout_ms,
		 json_object **result, const char **cls, char *err, size_t errlen)
{
	char path[PATH_MAX];
	json_object *resp = NULL, *v, *e = NULL, *c = NULL, *d = NULL;
	int r;

	*result = NULL;
	if (cls)
		*cls = HVP_ERR_INTERNAL;
	if (vm->host)
		return remote_call(vm, cmd, args, timeout_ms, result, cls, err, errlen);
	pthread_once(&local_rundir_once, local_rundir_init);
	if (hvp_vm_path(path, sizeof(path), local_rundir, vm->name, ".sock") < 0) {
		json_object_put(args);
		snprintf(err, errlen, "runtime directory path too long");
		return -ENAMETOOLONG;
	}
	r = hvp_ctl_call(path, cmd, args, timeout_ms, &resp);
	if (r == -ENOENT || r == -ECONNREFUSED) {
		if (cls)
			*cls = HVP_ERR_NOT_FOUND;
		snprintf(err, errlen, "no VM named '%s' (is it running? see 'hvpatch vm list')",
			 vm->name);
		return r;
	}
	if (r == -ETIMEDOUT) {
		snprintf(err, errlen, "VM %s: the service did not answer within %d s", vm->name,
			 timeout_ms / 1000);
		return r;
	}
	if (r < 0) {
		snprintf(err, errlen, "VM %s: %s", vm->name, strerror(-r));
		return r;
	}
	if (json_object_object_get_ex(resp, "ok", &v) && json_object_get_boolean(v)) {
		*result = json_object_object_get_ex(resp, "result", &v) ? json_object_get(v) :
									  json_object_new_object();
		json_object_put(resp);
		return 0;
	}
	json_object_object_get_ex(resp, "error", &e);
	json_object_object_get_ex(e, "class", &c);
	json_object_object_get_ex(e, "desc", &d);
	/* the class strings are ours; keep one of them, not the peer's text */
	if (cls && c) {
		static const char *const known[] = { HVP_ERR_USAGE, HVP_ERR_NOT_FOUND,
						     HVP_ERR_PROTOCOL, HVP_ERR_REFUSED,
						     HVP_ERR_GUEST };
		unsigned i;

		for (i = 0; i < HVP_ARRAY_SIZE(known); i++)
			if (!strcmp(json_object_get_string(c), known[i]))
				*cls = known[i];
	}
	snprintf(err, errlen, "VM %s: %s", vm->name,
		 d ? json_object_get_string(d) : "the service refused");
	json_object_put(resp);
	return -EREMOTEIO;
}

/* ---- reading a VM ---- */

/* KEY's current target on vm into cur ("" when its sites are mixed); targets too. */
static int key_state(struct rollout *ro, struct rollout_vm *vm, char *cur, size_t curlen,
		     json_object **targets, char *err, size_t errlen)
{
	json_object *args = json_object_new_object(), *res, *keys, *k, *v;
	int r;

	json_object_object_add(args, "key", json_object_new_string(ro->key));
	r = rollout_call(vm, "sites", args, QUERY_TIMEOUT_MS, &res, NULL, err, errlen);
	if (r < 0)
		return r;
	if (!json_object_object_get_ex(res, "keys", &keys) || json_object_array_length(keys) != 1) {
		snprintf(err, errlen, "VM %s has no key named '%s'", vm->name, ro->key);
		json_object_put(res);
		return -ENOENT;
	}
	k = json_object_array_get_idx(keys, 0);
	cur[0] = '\0';
	if (json_object_object_get_ex(k, "current", &v) && v)
		snprintf(cur, curlen, "%s", json_object_get_string(v));
	if (targets) {
		*targets = json_object_object_get_ex(k, "targets", &v) ? json_object_get(v) :
									 json_object_new_array();
	}
	json_object_put(res);
	return 0;
}

/* The guest faults the VM's vCPUs have logged in all. */
static int fault_count(struct rollout_vm *vm, int64_t *n, char *err, size_t errlen)
{
	json_object *res, *vcpus, *v;
	size_t i;
	int r = rollout_call(vm, "stats", NULL, QUERY_TIMEOUT_MS, &res, NULL, err, errlen);

	if (r < 0)
		return r;
	*n = 0;
	if (json_object_object_get_ex(res, "vcpus", &vcpus))
		for (i = 0; i < json_object_array_length(vcpus); i++)
			if (json_object_object_get_ex(json_object_array_get_idx(vcpus, i),
						      "nr_faults", &v))
				*n += json_object_get_int64(v);
	json_object_put(res);
	return 0;
}

/* ---- running steps in parallel ---- */

typedef void rollout_step(struct rollout *ro, struct rollout_vm *vm);

struct pool {
	struct rollout *ro;
	struct rollout_vm **list;
	unsigned n, next;
	rollout_step *step;
	bool stoppable; /* at *stop, take no new VM */
	pthread_mutex_t lock;
};

static void *pool_worker(void *arg)
{
	struct pool *p = arg;

	for (;;) {
		struct rollout_vm *vm;

		pthread_mutex_lock(&p->lock);
		if (p->next >= p->n || (p->stoppable && p->ro->stop && *p->ro->stop)) {
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		vm = p->list[p->next++];
		pthread_mutex_unlock(&p->lock);
		p->step(p->ro, vm);
		pthread_mutex_lock(&p->lock);
		/* the patches and reverts; not the reads around them */
		if (p->stoppable && p->ro->progress)
			p->ro->progress(p->ro, p->ro->progress_arg);
		pthread_mutex_unlock(&p->lock);
	}
}

/* step() on each of list[0..n), at most max_parallel at once; how many were started. */
static unsigned run_pool(struct rollout *ro, struct rollout_vm **list, unsigned n,
			 rollout_step *step, bool stoppable)
{
	struct pool p = { .ro = ro, .list = list, .n = n, .step = step, .stoppable = stoppable };
	unsigned nt = ro->max_parallel < n ? ro->max_parallel : n, i, started = 0;
	pthread_t *th = calloc(nt ? nt : 1, sizeof(*th));
	sigset_t block, old;

	pthread_mutex_init(&p.lock, NULL);
	/* the workers inherit the mask: a signal is the main thread's */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	for (i = 0; th && i < nt; i++)
		if (pthread_create(&th[i], NULL, pool_worker, &p) == 0)
			started++;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!started) /* no thread to be had: one at a time, here */
		pool_worker(&p);
	for (i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&p.lock);
	free(th);
	return p.next;
}

/* ---- the steps ---- */

static void step_prepare(struct rollout *ro, struct rollout_vm *vm)
{
	json_object *res, *v, *targets = NULL;
	char err[256];
	size_t i;
	bool known = false;

	vm->wave = -1;
	vm->failed_gate = -1;
	if (rollout_call(vm, "info", NULL, QUERY_TIMEOUT_MS, &res, NULL, err, sizeof(err)) < 0)
		goto fail;
	if (json_object_object_get_ex(res, "backend", &v))
		snprintf(vm->backend, sizeof(vm->backend), "%s", json_object_get_string(v));
	json_object_put(res);
	if (key_state(ro, vm, vm->from, sizeof(vm->from), &targets, err, sizeof(err)) < 0)
		goto fail;
	for (i = 0; i < json_object_array_length(targets); i++)
		known |= !strcmp(json_object_get_string(json_object_array_get_idx(targets, i)),
				 ro->target);
	json_object_put(targets);
	if (!known) {
		snprintf(err, sizeof(err), "VM %s: '%s' is not a registered target of key %s",
			 vm->name, ro->target, ro->key);
		goto fail;
	}
	if (!vm->from[0]) {
		/* no single target to go back to */
		snprintf(err, sizeof(err),
			 "VM %s: key %s's sites call different targets; patch them to one "
			 "first ('hvpatch patch apply')",
			 vm->name, ro->key);
		goto fail;
	}
	snprintf(vm->now, sizeof(vm->now), "%s", vm->from);
	vm->state = strcmp(vm->from, ro->target) ? ROLLOUT_PENDING : ROLLOUT_ALREADY;
	return;
fail:
	/* why keeps the VM's error until rollout_prepare reports it */
	snprintf(vm->why, sizeof(vm->why), "%s", err);
	vm->failed_gate = ROLLOUT_GATE__COUNT;
}

static void fail_gate(struct rollout_vm *vm, enum rollout_gate g, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void fail_gate(struct rollout_vm *vm, enum rollout_gate g, const char *fmt, ...)
{
	va_list ap;

	vm->gate[g] = ROLLOUT_FAIL;
	if (vm->failed_gate >= 0)
		return; /* the first one is reported */
	vm->failed_gate = (int)g;
	vm->state = ROLLOUT_FAILED;
	va_start(ap, fmt);
	vsnprintf(vm->why, sizeof(vm->why), fmt, ap);
	va_end(ap);
}

/* A patch request to switch KEY to `to` (verify: ask for the proof). */
static int patch_to(struct rollout *ro, struct rollout_vm *vm, const char *to, bool verify,
		    json_object **res, char *err, size_t errlen)
{
	json_object *args = json_object_new_object();
	int64_t t = ro->timeout_ms ? (int64_t)ro->timeout_ms : 5000;

	json_object_object_add(args, "key", json_object_new_string(ro->key));
	json_object_object_add(args, "target", json_object_new_string(to));
	if (ro->method)
		json_object_object_add(args, "method", json_object_new_string(ro->method));
	if (ro->sync)
		json_object_object_add(args, "sync", json_object_new_string(ro->sync));
	if (ro->timeout_ms)
		json_object_object_add(args, "timeout_ms", json_object_new_int64(t));
	if (verify)
		json_object_object_add(args, "verify", json_object_new_boolean(1));
	/* as patch apply waits, and the proof's two waits of up to 10 s */
	return rollout_call(vm, "patch", args, (int)(t + 60000 + (verify ? 20000 : 0)), res, NULL,
			    err, errlen);
}

static void step_patch(struct rollout *ro, struct rollout_vm *vm)
{
	const struct rollout_gates *g = &ro->gates;
	json_object *res, *v;
	int64_t faults0, faults1;
	char err[256];

	vm->gate[ROLLOUT_GATE_RESULT] = ROLLOUT_PASS;
	if (fault_count(vm, &faults0, err, sizeof(err)) < 0) {
		fail_gate(vm, ROLLOUT_GATE_RESULT, "before the patch: %s", err);
		return;
	}
	if (patch_to(ro, vm, ro->target, g->on[ROLLOUT_GATE_VERIFY], &res, err, sizeof(err)) < 0) {
		fail_gate(vm, ROLLOUT_GATE_RESULT, "%s", err);
		return;
	}
	if (json_object_object_get_ex(res, "method", &v))
		snprintf(vm->method, sizeof(vm->method), "%s", json_object_get_string(v));
	vm->latency_ns =
		json_object_object_get_ex(res, "latency_ns", &v) ? json_object_get_int64(v) : 0;
	vm->max_stall_ns =
		json_object_object_get_ex(res, "max_stall_ns", &v) ? json_object_get_int64(v) : 0;
	if (!json_object_object_get_ex(res, "completed", &v) || !json_object_get_boolean(v)) {
		json_object_object_get_ex(res, "reason", &v);
		fail_gate(vm, ROLLOUT_GATE_RESULT, "not completed: %s",
			  v ? json_object_get_string(v) : "no reason given");
		json_object_put(res);
		return;
	}
	vm->state = ROLLOUT_PATCHED;
	if (g->on[ROLLOUT_GATE_VERIFY]) {
		if (json_object_object_get_ex(res, "verified", &v) && json_object_get_boolean(v)) {
			vm->gate[ROLLOUT_GATE_VERIFY] = ROLLOUT_PASS;
		} else {
			json_object *why = NULL, *was = NULL;

			json_object_object_get_ex(res, "verify_reason", &why);
			json_object_object_get_ex(res, "old_target", &was);
			if (!why && !v && was && !strcmp(json_object_get_string(was), ro->target))
				/* the service proves switches only: there was none */
				fail_gate(vm, ROLLOUT_GATE_VERIFY,
					  "no switch to prove: the key was on %s already when its "
					  "patch came (another patch raced this rollout?)",
					  ro->target);
			else
				fail_gate(vm, ROLLOUT_GATE_VERIFY, "%s",
					  why ? json_object_get_string(why) :
					  v   ? "not proven" :
						"the service cannot prove a switch (too old?)");
		}
	}
	json_object_put(res);
	if (g->on[ROLLOUT_GATE_STALL]) {
		if ((uint64_t)vm->max_stall_ns > g->stall_ms * 1000000)
			fail_gate(vm, ROLLOUT_GATE_STALL,
				  "a vCPU stalled %.3f ms during the patch (limit %" PRIu64 " ms)",
				  (double)vm->max_stall_ns / 1e6, g->stall_ms);
		else
			vm->gate[ROLLOUT_GATE_STALL] = ROLLOUT_PASS;
	}
	/* since before the patch: the verify wait included */
	if (fault_count(vm, &faults1, err, sizeof(err)) < 0) {
		/* the VM can no longer be read: it fails the faults gate when one
		 * was asked for, else the patch's own (always checked) */
		fail_gate(vm,
			  g->on[ROLLOUT_GATE_FAULTS] ? ROLLOUT_GATE_FAULTS : ROLLOUT_GATE_RESULT,
			  "its guest faults cannot be read after the patch: %s", err);
		return;
	}
	vm->new_faults = faults1 - faults0;
	if (g->on[ROLLOUT_GATE_FAULTS]) {
		if (vm->new_faults < 0 || (uint64_t)vm->new_faults > g->max_faults)
			fail_gate(vm, ROLLOUT_GATE_FAULTS,
				  "%" PRId64 " new guest faults (at most %" PRIu64 ")",
				  vm->new_faults, g->max_faults);
		else
			vm->gate[ROLLOUT_GATE_FAULTS] = ROLLOUT_PASS;
	}
}

/* Back to `from`, if the VM is not there (a patch that did not complete left it there). */
static void step_revert(struct rollout *ro, struct rollout_vm *vm)
{
	json_object *res, *v;
	char cur[HVP_NAME_LEN], err[256];

	if (key_state(ro, vm, cur, sizeof(cur), NULL, err, sizeof(err)) < 0)
		goto fail;
	if (!strcmp(cur, vm->from))
		return;
	if (patch_to(ro, vm, vm->from, false, &res, err, sizeof(err)) < 0)
		goto fail;
	if (json_object_object_get_ex(res, "completed", &v) && json_object_get_boolean(v)) {
		vm->reverted = true;
	} else {
		json_object_object_get_ex(res, "reason", &v);
		snprintf(err, sizeof(err), "not completed: %s",
			 v ? json_object_get_string(v) : "no reason given");
		json_object_put(res);
		goto fail;
	}
	json_object_put(res);
	return;
fail:
	vm->revert_failed = true;
	snprintf(vm->revert_why, sizeof(vm->revert_why), "%s", err);
}

static void step_read_now(struct rollout *ro, struct rollout_vm *vm)
{
	char err[256];

	if (key_state(ro, vm, vm->now, sizeof(vm->now), NULL, err, sizeof(err)) < 0)
		vm->now[0] = '\0';
	else if (!vm->now[0])
		snprintf(vm->now, sizeof(vm->now), "(mixed)");
}

/* ---- the rollout ---- */

/*
 * Pointers to the VMs that match: wave w (w >= 0), or every VM (-1); with
 * patched_only, those whose patch was tried (the ones a revert looks at).
 */
static unsigned select_vms(struct rollout *ro, struct rollout_vm **list, int w, bool patched_only)
{
	unsigned i, n = 0;

	for (i = 0; i < ro->nr_vms; i++) {
		struct rollout_vm *vm = &ro->vms[i];

		if (w >= 0 && vm->wave != w)
			continue;
		if (patched_only &&
		    (vm->wave < 0 || (vm->state != ROLLOUT_PATCHED && vm->state != ROLLOUT_FAILED)))
			continue;
		list[n++] = vm;
	}
	return n;
}

int rollout_prepare(struct rollout *ro, char *err, size_t errlen)
{
	struct rollout_vm **list = calloc(ro->nr_vms ? ro->nr_vms : 1, sizeof(*list));
	unsigned i, n;

	if (!list) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	n = select_vms(ro, list, -1, false);
	run_pool(ro, list, n, step_prepare, false);
	free(list);
	for (i = 0; i < ro->nr_vms; i++) {
		if (ro->vms[i].failed_gate == ROLLOUT_GATE__COUNT) {
			snprintf(err, errlen, "%s", ro->vms[i].why);
			return -1;
		}
	}
	rollout_plan(ro);
	return 0;
}

/* The next VM of host h still without a wave, from *from on; NULL when none. */
static struct rollout_vm *next_on_host(struct rollout *ro, unsigned h, unsigned *from)
{
	for (; *from < ro->nr_vms; (*from)++) {
		struct rollout_vm *vm = &ro->vms[*from];

		if (vm->state == ROLLOUT_PENDING && vm->wave < 0 && vm->host_idx == h)
			return vm;
	}
	return NULL;
}

/*
 * Across hosts: the canary from the first host listed (the next ones when
 * it has too few), so that a bad patch shows on one host first; then the
 * hosts in turn, a VM of each, so that a wave spreads over them (a host's
 * trouble shows early, and one host is not patched all at once).
 */
static void plan_hosts(struct rollout *ro)
{
	unsigned *next = calloc(ro->nr_hosts, sizeof(*next)), h, k = 0, busy;
	struct rollout_vm *vm;

	for (h = 0; h < ro->nr_hosts && k < ro->canary; h++) {
		unsigned from = 0;

		while (k < ro->canary && (vm = next_on_host(ro, h, &from))) {
			vm->wave = 0;
			ro->nr_waves = 1;
			k++;
		}
	}
	k = 0;
	do {
		busy = 0;
		for (h = 0; h < ro->nr_hosts; h++) {
			unsigned from = next ? next[h] : 0;

			vm = next_on_host(ro, h, &from);
			if (next)
				next[h] = from;
			if (!vm)
				continue;
			vm->wave = 1 + (int)(k++ / ro->wave_size);
			ro->nr_waves = (unsigned)vm->wave + 1;
			busy++;
		}
	} while (busy);
	free(next);
}

void rollout_plan(struct rollout *ro)
{
	unsigned i, k = 0;

	ro->nr_waves = 0;
	ro->wave = -1;
	ro->stopped_wave = -1;
	for (i = 0; i < ro->nr_vms; i++)
		ro->vms[i].wave = -1;
	if (ro->nr_hosts) {
		plan_hosts(ro);
		return;
	}
	for (i = 0; i < ro->nr_vms; i++) {
		struct rollout_vm *vm = &ro->vms[i];

		if (vm->state != ROLLOUT_PENDING)
			continue;
		/* the canary is wave 0 (empty with --canary 0), then wave_size each */
		vm->wave = k < ro->canary ? 0 : 1 + (int)((k - ro->canary) / ro->wave_size);
		ro->nr_waves = (unsigned)vm->wave + 1;
		k++;
	}
}

int rollout_run(struct rollout *ro)
{
	struct rollout_vm **list = calloc(ro->nr_vms ? ro->nr_vms : 1, sizeof(*list));
	unsigned i, n;
	int w, ok = 1;

	if (!list)
		return 1;
	/* interrupted: *stop kept a patch or a revert from starting */
	ro->interrupted = false;
	for (w = 0; w < (int)ro->nr_waves; w++) {
		n = select_vms(ro, list, w, false);
		if (!n)
			continue; /* --canary 0 */
		if (ro->stop && *ro->stop) {
			ro->interrupted = true;
			break;
		}
		ro->wave = w;
		if (run_pool(ro, list, n, step_patch, true) < n)
			ro->interrupted = true;
		for (i = 0; i < n; i++)
			if (list[i]->failed_gate >= 0)
				ro->stopped_wave = w;
		if (ro->stopped_wave >= 0 || ro->interrupted)
			break;
	}
	if (ro->stopped_wave >= 0 && ro->stop && *ro->stop)
		ro->interrupted = true;
	/*
	 * A failed gate: the failed wave goes back to the target it had, every
	 * VM of it (those that passed their gates too: the wave is judged as
	 * one); with revert_all, the earlier waves as well.  After a SIGINT
	 * nothing new starts, a revert neither: each VM is reported where it is.
	 */
	if (ro->stopped_wave >= 0 && !ro->interrupted) {
		ro->reverting = true;
		n = select_vms(ro, list, ro->revert_all ? -1 : ro->stopped_wave, true);
		if (run_pool(ro, list, n, step_revert, true) < n)
			ro->interrupted = true;
	}
	n = select_vms(ro, list, -1, false);
	run_pool(ro, list, n, step_read_now, false);
	for (i = 0; i < ro->nr_vms; i++)
		if (strcmp(ro->vms[i].now, ro->target))
			ok = 0;
	free(list);
	return ok && ro->stopped_wave < 0 && !ro->interrupted ? 0 : 1;
}
