// SPDX-License-Identifier: GPL-2.0-only
/*
 * The part of the qemu and libvirt backends that does not depend on how QEMU
 * is reached.  What it costs and what it promises, compared with the own VMM:
 *
 *   pause_all   QMP `stop` (virDomainSuspend): QEMU kicks every vCPU thread
 *               out of KVM_RUN and returns once all are parked.  A few hundred
 *               microseconds of QMP round trip on top of the kicks.
 *   resume_all  `cont`; with nmi_first, `inject-nmi` is queued while stopped,
 *               so every vCPU takes the NMI before any other instruction
 *               (KVM injects a pending NMI at entry), as in the own VMM.
 *   kick round  stop + cont: every vCPU leaves guest mode and re-enters.  The
 *               round promises that no guest #BP handler that began, or
 *               whose int3 executed, before it is still to run.  Reading
 *               where a vCPU stopped (HMP `info registers`) synchronizes its
 *               whole state through QEMU, and on this project's kvm_pvm
 *               hosts that loses a guest int3 in flight (KVM leaves soft
 *               exceptions out of KVM_GET_VCPU_EVENTS, expecting RIP to still
 *               point at the int3; kvm_pvm has already moved it past, see
 *               vmm/kvm.c): the guest then runs from the int3's second byte
 *               and takes #UD.  Nor does guest memory show an int3 in
 *               flight: until KVM injects the #BP, the guest has not run a
 *               single instruction of its handler.  (The rule before issue 9
 *               acknowledged a vCPU whose in_trap count, bumped by the
 *               handler's C code, was 0 while stopped: a vCPU stopped
 *               between the int3 and that increment passed.)  What is
 *               certain: KVM injects a queued #BP at the next entry, before
 *               any other guest instruction, and a handler returns to user
 *               mode before the workload loop goes on, and before another
 *               #BP handler can begin.  So a vCPU acknowledges once its
 *               workload loop counter (`loops`, bumped at CPL3 on every
 *               iteration, paced or not) has moved past the value read
 *               while the VM was stopped, or its #BP count has grown by two
 *               (vcpu_moved_on): it has re-entered, and every handler that
 *               was running or pending at the stop has returned.  One stop +
 *               cont per round, then a poll of guest memory every 20 us.  A
 *               guest that stops its loop only fails its own patches (the
 *               round times out).
 *   NMI round   `inject-nmi` (virDomainInjectNMI).  With KVM's in-kernel
 *               LAPIC, QEMU delivers it through LINT1 (the guest routes LINT1
 *               to NMI) after synchronizing the vCPU's state - the same int3
 *               loss as above, measured here: bp-emulate with NMI rounds
 *               faulted (#UD at a site's second byte) within a few patches.
 *               So b->nmi_int3_hazard is set on kvm_pvm hosts and the service
 *               refuses breakpoint methods with NMI rounds there; `stop` with
 *               an NMI on resume is safe (no int3 exists while it runs).
 *               (QEMU's userspace LAPIC, kernel-irqchip=off, did not help:
 *               inject-nmi then hung and the guest still lost an int3.)  QEMU delivers it to every
 *               vCPU (x86's NMI monitor command has no CPU argument), so
 *               inject_nmi(vcpu) is all-CPU too: it acts for vCPU 0 only and
 *               is a no-op for the others, so that a caller looping over the
 *               vCPUs sends each one NMI.  The guest's handler stores the
 *               generation in its agent slot (nmi_acked_gen) before its port
 *               write, which QEMU ignores; we poll the slots, sleeping 20 us
 *               between looks, and re-inject every millisecond while some
 *               vCPU has not acknowledged (its NMI landed in kernel mode).
 *
 * Readiness and faults are also polled from the agent area (every 10 ms),
 * since their port writes end in QEMU too.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "extvm.h"
#include "hvp_agent.h"
#include "util.h"

#define WATCH_PERIOD_NS 10000000L
#define ACK_POLL_NS	20000L
#define NMI_RESEND_NS	1000000ull

struct hvp_ext {
	struct hvp_backend b;
	struct hvp_backend_ops ops; /* ext_ops, named after the transport */
	const struct hvp_ext_transport *tr;
	void *t;
	struct hvp_backend_events ev;
	struct hvp_ext_opts opts;
	char ram_path[PATH_MAX];
	struct hvp_agent *agent; /* in guest RAM: untrusted */
	bool leave_running;
	bool running; /* attach: the VM already runs */

	pthread_mutex_t lock; /* one stop/cont/NMI sequence at a time */
	pthread_t watch;
	bool watch_started;
	bool stopping; /* atomic */
	bool paused;   /* under lock: pause_all held */
	bool dead;     /* atomic: QEMU went away */
	uint64_t faults_seen[HVP_MAX_VCPUS];
	struct hvp_vcpu_exits exits[HVP_MAX_VCPUS];
};

static const struct hvp_backend_ops ext_ops;

static struct hvp_ext *to_ext(struct hvp_backend *b)
{
	return (struct hvp_ext *)b;
}

/* On destroy leave the VM running (a failed attach, recovery tests). */
static void ext_detach(struct hvp_backend *b)
{
	to_ext(b)->leave_running = true;
}

void hvp_ext_set_running(struct hvp_backend *b)
{
	if (b && b->ops->start == ext_ops.start)
		to_ext(b)->running = true;
}

static void *watch_thread(void *arg)
{
	struct hvp_ext *x = arg;
	bool ready = false;
	unsigned i;

	while (!__atomic_load_n(&x->stopping, __ATOMIC_ACQUIRE)) {
		if (!ready && __atomic_load_n(&x->agent->ready, __ATOMIC_ACQUIRE) == 1) {
			ready = true;
			if (x->ev.ready)
				x->ev.ready(x->ev.ctx);
		}
		for (i = 0; i < x->b.nr_vcpus; i++) {
			uint64_t nf =
				__atomic_load_n(&x->agent->vcpu[i].nr_faults, __ATOMIC_ACQUIRE);

			if (nf != x->faults_seen[i]) {
				x->faults_seen[i] = nf;
				if (x->ev.fault)
					x->ev.fault(x->ev.ctx, i);
			}
		}
		if (!__atomic_load_n(&x->dead, __ATOMIC_ACQUIRE) && !x->tr->alive(x->t)) {
			__atomic_store_n(&x->dead, true, __ATOMIC_RELEASE);
			for (i = 0; i < x->b.nr_vcpus; i++)
				if (x->ev.vcpu_dead)
					x->ev.vcpu_dead(x->ev.ctx, i, "the QEMU process exited");
		}
		hvp_sleep_ns(WATCH_PERIOD_NS);
	}
	return NULL;
}

static int ext_start(struct hvp_backend *b)
{
	struct hvp_ext *x = to_ext(b);
	char err[256];
	unsigned i;
	int r;

	for (i = 0; i < b->nr_vcpus; i++)
		x->faults_seen[i] = __atomic_load_n(&x->agent->vcpu[i].nr_faults, __ATOMIC_ACQUIRE);
	if (!x->running) {
		r = x->tr->cont(x->t, err, sizeof(err));
		if (r < 0) {
			fprintf(stderr, "%s\n", err);
			return r;
		}
		x->running = true;
	}
	r = pthread_create(&x->watch, NULL, watch_thread, x);
	if (r)
		return -r;
	x->watch_started = true;
	return 0;
}

static int ext_pause_all(struct hvp_backend *b, int timeout_ms)
{
	struct hvp_ext *x = to_ext(b);
	char err[256];
	unsigned i;
	int r;

	(void)timeout_ms; /* QMP's own reply timeout bounds it */
	pthread_mutex_lock(&x->lock);
	r = x->tr->stop(x->t, err, sizeof(err));
	if (r == 0) {
		x->paused = true;
		for (i = 0; i < b->nr_vcpus; i++)
			x->exits[i].exits++;
	} else {
		fprintf(stderr, "pause: %s\n", err);
	}
	pthread_mutex_unlock(&x->lock);
	return r;
}

static int ext_resume_all(struct hvp_backend *b, bool nmi_first)
{
	struct hvp_ext *x = to_ext(b);
	char err[256];
	unsigned i;
	int r = 0;

	pthread_mutex_lock(&x->lock);
	if (nmi_first) {
		/* Queued in KVM while every vCPU is out: taken before any
		 * other guest instruction once it runs again. */
		r = x->tr->nmi(x->t, err, sizeof(err));
		if (r < 0)
			fprintf(stderr, "resume: %s\n", err);
		else
			for (i = 0; i < b->nr_vcpus; i++)
				x->exits[i].nmis_injected++;
	}
	r = x->tr->cont(x->t, err, sizeof(err));
	if (r < 0)
		fprintf(stderr, "resume: %s\n", err);
	else
		x->paused = false;
	pthread_mutex_unlock(&x->lock);
	return r;
}

static bool vcpu_gone(struct hvp_ext *x, unsigned i)
{
	return __atomic_load_n(&x->agent->vcpu[i].state, __ATOMIC_ACQUIRE) == HVP_VCPU_DEAD;
}

/*
 * Has vCPU i left behind every guest trap handler that was running or
 * pending when the VM was stopped, with `loops` and `traps` read then?
 * Yes once its workload loop has moved on, or once two more #BP handlers
 * have begun: handlers do not nest (a kernel-mode int3 is a fault), so the
 * second began after the first returned, and the first is the one that was
 * pending or running at the stop, or came after it.  The second way is for a
 * vCPU that hits a bp-cancel site in state 2, which re-executes the site
 * and traps again until the patcher moves on; it never gets back to its
 * loop until this round completes.
 */
static bool vcpu_moved_on(struct hvp_ext *x, unsigned i, uint64_t loops, uint64_t traps)
{
	const struct hvp_vcpu *v = &x->agent->vcpu[i];

	return __atomic_load_n(&v->loops, __ATOMIC_ACQUIRE) != loops ||
	       __atomic_load_n(&v->bp_traps, __ATOMIC_ACQUIRE) - traps >= 2 || vcpu_gone(x, i);
}

/*
 * One stop + cont, then wait until every vCPU has moved on (above).  The
 * rule and why it is enough are at the top of the file.
 */
static int kick_round(struct hvp_ext *x, int timeout_ms)
{
	uint64_t deadline = hvp_now_ns() + (uint64_t)timeout_ms * 1000000u;
	uint64_t loops[HVP_MAX_VCPUS], traps[HVP_MAX_VCPUS];
	char err[256];
	unsigned i, left;
	int r;

	pthread_mutex_lock(&x->lock);
	r = x->tr->stop(x->t, err, sizeof(err));
	if (r == 0) {
		/* Every vCPU is out and still: its counters cannot move. */
		for (i = 0; i < x->b.nr_vcpus; i++) {
			loops[i] = __atomic_load_n(&x->agent->vcpu[i].loops, __ATOMIC_ACQUIRE);
			traps[i] = __atomic_load_n(&x->agent->vcpu[i].bp_traps, __ATOMIC_ACQUIRE);
		}
		r = x->tr->cont(x->t, err, sizeof(err));
	}
	pthread_mutex_unlock(&x->lock);
	if (r < 0) {
		fprintf(stderr, "kick round: %s\n", err);
		return r;
	}
	for (i = 0; i < x->b.nr_vcpus; i++) {
		x->exits[i].exits++;
		x->exits[i].kicks++;
	}
	for (;;) {
		left = 0;
		for (i = 0; i < x->b.nr_vcpus; i++)
			left += !vcpu_moved_on(x, i, loops[i], traps[i]);
		if (!left)
			return 0;
		if (hvp_now_ns() >= deadline)
			return -ETIMEDOUT;
		hvp_sleep_ns(ACK_POLL_NS);
	}
}

static int nmi_round(struct hvp_ext *x, uint64_t gen, int timeout_ms)
{
	uint64_t deadline = hvp_now_ns() + (uint64_t)timeout_ms * 1000000u;
	uint64_t last_sent = 0;
	bool acked[HVP_MAX_VCPUS] = { false };
	char err[256];
	unsigned i;

	for (;;) {
		uint64_t now = hvp_now_ns();
		unsigned left = 0;

		for (i = 0; i < x->b.nr_vcpus; i++) {
			if (!acked[i]) {
				uint64_t g = __atomic_load_n(&x->agent->vcpu[i].nmi_acked_gen,
							     __ATOMIC_ACQUIRE);

				if ((int32_t)((uint32_t)g - (uint32_t)gen) >= 0 ||
				    vcpu_gone(x, i)) {
					acked[i] = true;
					x->exits[i].nmi_acks++;
				}
			}
			left += !acked[i];
		}
		if (!left)
			return 0;
		if (now >= deadline)
			return -ETIMEDOUT;
		if (now - last_sent >= NMI_RESEND_NS) {
			int r;

			pthread_mutex_lock(&x->lock);
			r = x->tr->nmi(x->t, err, sizeof(err));
			pthread_mutex_unlock(&x->lock);
			if (r < 0) {
				fprintf(stderr, "NMI round: %s\n", err);
				return r;
			}
			for (i = 0; i < x->b.nr_vcpus; i++)
				x->exits[i].nmis_injected++;
			last_sent = hvp_now_ns();
		}
		hvp_sleep_ns(ACK_POLL_NS);
	}
}

static int ext_sync_round(struct hvp_backend *b, enum hvp_sync_kind kind, uint64_t gen,
			  int timeout_ms)
{
	struct hvp_ext *x = to_ext(b);

	if (__atomic_load_n(&x->dead, __ATOMIC_ACQUIRE))
		return -ESRCH;
	return kind == HVP_SYNC_KICK ? kick_round(x, timeout_ms) : nmi_round(x, gen, timeout_ms);
}

static int ext_inject_nmi(struct hvp_backend *b, unsigned vcpu)
{
	struct hvp_ext *x = to_ext(b);
	char err[256];
	unsigned i;
	int r;

	if (vcpu >= b->nr_vcpus)
		return -EINVAL;
	if (vcpu != 0)
		return 0; /* all-CPU: vCPU 0's call already reached it */
	pthread_mutex_lock(&x->lock);
	r = x->tr->nmi(x->t, err, sizeof(err));
	pthread_mutex_unlock(&x->lock);
	if (r == 0)
		for (i = 0; i < b->nr_vcpus; i++)
			x->exits[i].nmis_injected++;
	return r;
}

static bool ext_vcpu_alive(struct hvp_backend *b, unsigned vcpu)
{
	struct hvp_ext *x = to_ext(b);

	return vcpu < b->nr_vcpus && !__atomic_load_n(&x->dead, __ATOMIC_ACQUIRE) &&
	       !vcpu_gone(x, vcpu);
}

static int ext_get_exits(struct hvp_backend *b, unsigned vcpu, struct hvp_vcpu_exits *out)
{
	struct hvp_ext *x = to_ext(b);

	if (vcpu >= b->nr_vcpus)
		return -EINVAL;
	*out = x->exits[vcpu]; /* racy counters; a snapshot is enough */
	return 0;
}

/*
 * KVM's own per-vCPU statistics, as QEMU reads them (QMP query-stats,
 * provider kvm): the same witness the own VMM reads from KVM_GET_STATS_FD.
 */
static int ext_witness(struct hvp_backend *b, unsigned vcpu, struct hvp_kvm_witness *out)
{
	struct hvp_ext *x = to_ext(b);
	json_object *args = json_object_new_object(), *ret = NULL, *jv;
	char err[256];
	size_t i, j;
	int r;

	if (vcpu >= b->nr_vcpus)
		return -EINVAL;
	json_object_object_add(args, "target", json_object_new_string("vcpu"));
	r = x->tr->qmp(x->t, "query-stats", args, &ret, err, sizeof(err));
	if (r < 0)
		return -ENOTSUP;
	memset(out, 0, sizeof(*out));
	r = -ENOTSUP;
	/* one entry per vCPU, in vCPU order */
	jv = json_object_is_type(ret, json_type_array) && vcpu < json_object_array_length(ret) ?
		     json_object_array_get_idx(ret, vcpu) :
		     NULL;
	if (jv && json_object_object_get_ex(jv, "stats", &jv)) {
		for (i = 0; i < json_object_array_length(jv); i++) {
			json_object *st = json_object_array_get_idx(jv, i), *n, *v;
			static const char *const names[] = {
				"exits",	  "io_exits",	    "signal_exits",
				"nmi_injections", "insn_emulation",
			};
			uint64_t *dst[] = {
				&out->exits,	      &out->io_exits,	    &out->signal_exits,
				&out->nmi_injections, &out->insn_emulation,
			};

			if (!json_object_object_get_ex(st, "name", &n) ||
			    !json_object_object_get_ex(st, "value", &v) ||
			    !json_object_is_type(v, json_type_int))
				continue;
			for (j = 0; j < HVP_ARRAY_SIZE(names); j++)
				if (!strcmp(json_object_get_string(n), names[j])) {
					*dst[j] = (uint64_t)json_object_get_int64(v);
					r = 0;
				}
		}
	}
	json_object_put(ret);
	return r;
}

static void ext_destroy(struct hvp_backend *b)
{
	struct hvp_ext *x = to_ext(b);

	__atomic_store_n(&x->stopping, true, __ATOMIC_RELEASE);
	if (x->watch_started)
		pthread_join(x->watch, NULL);
	if (x->t)
		x->tr->destroy(x->t, x->leave_running);
	if (b->ram)
		munmap(b->ram, b->ram_size);
	pthread_mutex_destroy(&x->lock);
	free(x);
}

static const struct hvp_backend_ops ext_ops = {
	.name = "ext",
	.start = ext_start,
	.pause_all = ext_pause_all,
	.resume_all = ext_resume_all,
	.sync_round = ext_sync_round,
	.inject_nmi = ext_inject_nmi,
	.vcpu_alive = ext_vcpu_alive,
	.get_exits = ext_get_exits,
	.witness = ext_witness,
	.detach = ext_detach,
	.destroy = ext_destroy,
};

/* The guest's TSC rate: QEMU's CPU object property tsc-frequency (Hz). */
static uint64_t read_tsc_khz(struct hvp_ext *x)
{
	json_object *ret = NULL, *cpu, *path, *args;
	uint64_t khz = 0;
	char err[256];

	if (x->tr->qmp(x->t, "query-cpus-fast", NULL, &ret, err, sizeof(err)) < 0)
		return 0;
	cpu = json_object_is_type(ret, json_type_array) && json_object_array_length(ret) ?
		      json_object_array_get_idx(ret, 0) :
		      NULL;
	if (!cpu || !json_object_object_get_ex(cpu, "qom-path", &path)) {
		json_object_put(ret);
		return 0;
	}
	args = json_object_new_object();
	json_object_object_add(args, "path", json_object_new_string(json_object_get_string(path)));
	json_object_object_add(args, "property", json_object_new_string("tsc-frequency"));
	json_object_put(ret);
	ret = NULL;
	if (x->tr->qmp(x->t, "qom-get", args, &ret, err, sizeof(err)) == 0 &&
	    json_object_is_type(ret, json_type_int))
		khz = (uint64_t)json_object_get_int64(ret) / 1000;
	json_object_put(ret);
	return khz;
}

int hvp_ext_create(struct hvp_backend **out, const struct hvp_ext_transport *tr, void *t,
		   const struct hvp_ext_opts *o, const struct hvp_backend_events *ev, char *err,
		   size_t errlen)
{
	struct hvp_ext *x = calloc(1, sizeof(*x));
	struct stat st;
	int fd, r;

	if (!x) {
		tr->destroy(t, o->attach);
		return -ENOMEM;
	}
	x->ops = ext_ops;
	x->ops.name = tr->name;
	x->b.ops = &x->ops;
	x->tr = tr;
	x->t = t;
	x->ev = *ev;
	x->opts = *o;
	x->b.nr_vcpus = o->nr_vcpus;
	x->b.ram_size = o->ram_size;
	x->leave_running = o->attach; /* until the attach has succeeded */
	pthread_mutex_init(&x->lock, NULL);
	snprintf(x->ram_path, sizeof(x->ram_path), "%s", o->ram_path);
	x->b.ram_path = x->ram_path;
	if (o->nr_vcpus == 0 || o->nr_vcpus > HVP_MAX_VCPUS ||
	    o->agent_gpa + sizeof(struct hvp_agent) > o->ram_size) {
		snprintf(err, errlen, "bad vCPU count or agent address");
		r = -EINVAL;
		goto fail;
	}
	fd = open(o->ram_path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "guest RAM file %s: %s", o->ram_path, strerror(errno));
		goto fail;
	}
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size < o->ram_size) {
		snprintf(err, errlen, "guest RAM file %s is %lld bytes, expected %llu", o->ram_path,
			 (long long)st.st_size, (unsigned long long)o->ram_size);
		close(fd);
		r = -EINVAL;
		goto fail;
	}
	x->b.ram = mmap(NULL, o->ram_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (x->b.ram == MAP_FAILED) {
		x->b.ram = NULL;
		r = -errno;
		snprintf(err, errlen, "mmap %s: %s", o->ram_path, strerror(errno));
		goto fail;
	}
	x->agent = (struct hvp_agent *)(x->b.ram + o->agent_gpa);
	x->b.tsc_khz = read_tsc_khz(x);
	x->leave_running = false;
	if (access("/sys/module/kvm_pvm", F_OK) == 0)
		x->b.nmi_int3_hazard =
			"on this kvm_pvm host QEMU's NMI injection synchronizes the vCPU state, "
			"which loses a guest int3 in flight (the guest then takes #UD): use "
			"--sync kick or --method stop with QEMU and libvirt (--unsafe to try anyway)";
	*out = &x->b;
	return 0;
fail:
	ext_destroy(&x->b);
	return r;
}
