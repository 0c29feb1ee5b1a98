// SPDX-License-Identifier: GPL-2.0-only
/*
 * The own VMM on /dev/kvm.
 *
 * One thread per vCPU.  Other threads talk to a vCPU thread only through
 * requests: they store a request bit (release), then send SIGUSR1; the signal
 * handler only sets kvm_run->immediate_exit, so KVM_RUN returns -EINTR at
 * once whether the signal lands before or during it.  The vCPU thread clears
 * immediate_exit, then reads its requests (acquire) before every KVM_RUN:
 *
 *   requester                         vCPU thread
 *   ---------                         -----------
 *   store req bit (release)      (a)  run->immediate_exit = 0
 *   pthread_kill(SIGUSR1)             reqs = xchg(req bits, 0)    pairs with (a)
 *     handler: immediate_exit = 1     ioctl(KVM_RUN)
 *
 * If the bit is stored after the vCPU read it, the signal arrives after that
 * read too, sets immediate_exit, and KVM_RUN returns at once: no lost kick.
 *
 * Acknowledgements travel the other way under vm->lock with a condition
 * variable: nobody spin-waits.  On a host with fewer cores than runnable
 * threads a spinning waiter holds the core the vCPU thread needs to take the
 * kick, and a kick that takes ~5 us with a core to spare takes milliseconds
 * (measured on a 2-core host).
 *
 * What a kick acknowledges.  A kick round promises the engine that every
 * vCPU has left guest mode after the round began and that no guest #BP
 * handler that began before the round is still to run.  The vCPU thread can
 * see where its vCPU stopped (RIP, CS), but not every #BP that is on its way:
 *
 *   - In guest kernel mode (CPL 0) it may be inside the #BP or NMI handler:
 *     no acknowledgement, the waiter kicks again (RETRY_US).
 *   - In user mode it may have executed an int3 whose #BP is not delivered
 *     yet.  On this project's kvm_pvm hosts a user-mode int3 traps to the
 *     host, which moves RIP past the int3 (a trap: the saved RIP is the next
 *     byte) and queues the #BP in KVM's exception state to be injected at
 *     the next entry.  A signal that arrives in between sends KVM_RUN back to
 *     us with the #BP still queued: the vCPU reads as CPL 3, RIP = int3 + 1,
 *     and KVM_GET_VCPU_EVENTS shows nothing, because KVM leaves soft
 *     exceptions (#BP, #OF) out of it, expecting RIP to still point at the
 *     instruction (arch/x86/kvm/x86.c, kvm_vcpu_ioctl_x86_get_vcpu_events).
 *     The next KVM_RUN injects it (the kvm:kvm_inj_exception tracepoint
 *     prints "#BP [reinjected]" right after kvm:kvm_userspace_exit), and
 *     the handler runs after the round has completed.  Seen here under a
 *     fork-heavy host load: 13.5 % of kicks found a vCPU in that state,
 *     1,109 re-injected #BPs in 60 s of bp-emulate patches; with the old
 *     rule ("stopped in user mode") the round completed over them and the
 *     late handler found the next patch's int3 and no vector: a stray #BP
 *     (issue 9).
 *
 * So a kick acknowledges only when the vCPU stopped in user mode at a RIP
 * whose previous byte is not the first byte of a site (b->trap_sites, every
 * site the engine may arm).  The engine writes int3 nowhere else, and an
 * undelivered #BP leaves RIP exactly one byte past its int3; site + 1 is
 * inside a 5-byte instruction, where user code never stops otherwise.  A
 * refused vCPU re-enters, KVM delivers the #BP before any other guest
 * instruction, and a later kick finds it in the handler (refused) or back
 * in user mode past it (acknowledged).  A guest that jumps to site + 1 on
 * purpose only delays its own patches.  Counted in kick_bp_inflight.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "backends.h"
#include "hvp_agent.h"
#include "kvm.h"
#include "util.h"

#define REQ_KICK (1u << 0) /* leave guest mode and acknowledge */
#define REQ_NMI	 (1u << 1) /* KVM_NMI before the next entry     */
#define REQ_STOP (1u << 2) /* leave the thread                  */

#define KICK_SIGNAL SIGUSR1

struct kvm_vcpu_state {
	struct hvp_kvm *vm;
	unsigned id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool thread_started;
	uint32_t requests; /* REQ_*, atomic                     */
	/* under vm->lock */
	uint64_t kick_acked; /* last kick generation seen         */
	uint64_t nmi_acked;  /* low 32 bits of the last generation acked */
	bool parked;	     /* out of guest mode, held by pause  */
	bool halted;	     /* guest executed hlt: never resumes */
	bool exited;	     /* thread ended                      */
	struct hvp_vcpu_exits exits;
	/* who holds the current round (hvp_round_info), under vm->lock */
	pid_t tid;			/* its host thread                   */
	uint64_t ack_ns;		/* when it last acknowledged or parked */
	uint64_t stop_rip;		/* where a kick last found it        */
	int stop_cpl;			/* of that stop, -1 not seen         */
	unsigned refusals, bp_refusals; /* kicks refused in this round       */
	bool handler_ack;		/* this round: acked by its #BP handler */
	char thread_state;		/* sampled while it held it (atomic) */
	int stats_fd;			/* KVM_GET_STATS_FD, -1 if absent    */
	off_t stat_off[5];		/* of the witness fields, -1 absent  */
};

static const char *const witness_names[5] = {
	"exits", "io_exits", "signal_exits", "nmi_injections", "insn_emulation",
};

struct hvp_kvm {
	struct hvp_backend b;
	int kvm_fd, vm_fd;
	size_t run_size;
	struct hvp_backend_events ev;
	struct hvp_kvm_opts opts;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool paused;		    /* under lock */
	uint64_t kick_gen;	    /* under lock */
	bool sync_regs;		    /* RIP and CS come with kvm_run     */
	bool ack_cpl3_only;	    /* test only: the rule before issue 9 */
	uint64_t round_t0;	    /* under lock: the round being waited */
	struct hvp_round_info last; /* under lock: the last one finished  */
	struct kvm_vcpu_state *vcpus;
};

static __thread struct kvm_run *tl_run;

static void kick_handler(int sig)
{
	(void)sig;
	if (tl_run)
		__atomic_store_n(&tl_run->immediate_exit, 1, __ATOMIC_RELAXED);
}

/* ---- ioctl layers: raw returns -errno; checked names the ioctl ---- */

static int kvm_ioctl_raw(int fd, unsigned long req, void *arg)
{
	int r = ioctl(fd, req, arg);

	return r < 0 ? -errno : r;
}

#define kvm_ioctl_arg(fd, req, ptr)                                             \
	({                                                                      \
		_Static_assert(_IOC_SIZE(req) == sizeof(*(ptr)), #req " size"); \
		kvm_ioctl_raw(fd, req, ptr);                                    \
	})

static int kvm_check(int r, const char *what, char *err, size_t errlen)
{
	if (r < 0)
		snprintf(err, errlen, "%s: %s", what, strerror(-r));
	return r;
}

static void deadline_after(struct timespec *ts, int timeout_ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += timeout_ms / 1000;
	ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* ---- the vCPU thread ---- */

static void vcpu_request(struct kvm_vcpu_state *v, uint32_t req)
{
	__atomic_fetch_or(&v->requests, req, __ATOMIC_RELEASE); /* (a) */
	if (v->thread_started)
		pthread_kill(v->thread, KICK_SIGNAL);
}

static void vcpu_mark_dead(struct kvm_vcpu_state *v, const char *why)
{
	struct hvp_kvm *vm = v->vm;

	pthread_mutex_lock(&vm->lock);
	v->halted = true;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	if (why && vm->ev.vcpu_dead)
		vm->ev.vcpu_dead(vm->ev.ctx, v->id, why);
}

static int vcpu_stop_point(struct kvm_vcpu_state *v, uint64_t *rip);

static void handle_io(struct kvm_vcpu_state *v)
{
	struct hvp_kvm *vm = v->vm;
	struct kvm_run *run = v->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	uint32_t val = 0;

	v->exits.io_exits++;
	if (run->io.direction != KVM_EXIT_IO_OUT) {
		/* Reads of any port see all-ones, like an empty ISA bus. */
		memset(data, 0xff, (size_t)run->io.size * run->io.count);
		return;
	}
	if (run->io.port == HVP_PORT_SERIAL) {
		if (vm->ev.serial)
			vm->ev.serial(vm->ev.ctx, (const char *)data,
				      (unsigned)run->io.size * run->io.count);
		return;
	}
	memcpy(&val, data, run->io.size < 4 ? run->io.size : 4);
	switch (run->io.port) {
	case HVP_PORT_READY:
		if (val == HVP_READY_MAGIC && vm->ev.ready)
			vm->ev.ready(vm->ev.ctx);
		break;
	case HVP_PORT_FAULT:
		if (vm->ev.fault)
			vm->ev.fault(vm->ev.ctx, v->id);
		break;
	case HVP_PORT_NMI_ACK:
		/* The value is the low half of the generation the handler saw.
		 * A lying guest can only make its own patches unsafe. */
		pthread_mutex_lock(&vm->lock);
		v->nmi_acked = val;
		v->ack_ns = hvp_now_ns();
		v->exits.nmi_acks++;
		pthread_cond_broadcast(&vm->cond);
		pthread_mutex_unlock(&vm->lock);
		break;
	case HVP_PORT_KICK_ACK:
		/*
		 * A #BP handler acknowledged the kick round in progress as it
		 * left (guest-agent/kernel.c, bp_leave): this exit is after the
		 * round began (the handler read its generation), and what is
		 * left of the handler reads nothing of the patch.  Only the
		 * round being waited for counts.
		 */
		pthread_mutex_lock(&vm->lock);
		if (val == (uint32_t)vm->kick_gen && v->kick_acked < vm->kick_gen) {
			v->kick_acked = vm->kick_gen;
			v->ack_ns = hvp_now_ns();
			v->handler_ack = true;
			/* in the handler, leaving it: free with synced registers */
			if (vm->sync_regs)
				v->stop_cpl = vcpu_stop_point(v, &v->stop_rip);
			v->exits.kick_guest_acks++;
			pthread_cond_broadcast(&vm->cond);
		}
		pthread_mutex_unlock(&vm->lock);
		break;
	default:
		break; /* unknown ports are ignored, as on real hardware */
	}
}

/*
 * Where the vCPU stopped: RIP and CPL, from kvm_run's synced registers when
 * KVM offers them (no ioctl), else KVM_GET_REGS/KVM_GET_SREGS.  -1 if they
 * cannot be read.
 */
static int vcpu_stop_point(struct kvm_vcpu_state *v, uint64_t *rip)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	if (v->vm->sync_regs) {
		*rip = v->run->s.regs.regs.rip;
		return v->run->s.regs.sregs.cs.selector & 3;
	}
	if (kvm_ioctl_arg(v->fd, KVM_GET_REGS, &regs) < 0 ||
	    kvm_ioctl_arg(v->fd, KVM_GET_SREGS, &sregs) < 0)
		return -1;
	*rip = regs.rip;
	return sregs.cs.selector & 3;
}

static int cmp_addr(const void *key, const void *elem)
{
	uint64_t a = *(const uint64_t *)key, b = *(const uint64_t *)elem;

	return a < b ? -1 : a > b;
}

/* May a #BP be queued for this vCPU?  RIP one byte past a site (above). */
static bool bp_in_flight(struct hvp_kvm *vm, uint64_t rip)
{
	const uint64_t *sites = __atomic_load_n(&vm->b.trap_sites, __ATOMIC_ACQUIRE);
	uint64_t int3 = rip - 1;

	return sites && bsearch(&int3, sites, vm->b.nr_trap_sites, sizeof(*sites), cmp_addr);
}

/*
 * Does this kick acknowledge the round?  The rule is at the top of the file.
 * An acknowledgement is published in the vCPU's agent slot (where it stopped,
 * its loop count) for the guest's #BP handler to check: one that finds its
 * own RIP and loop count there ran after a round completed over its int3
 * (bp_late, protocol/hvp_agent.h).  The vCPU is out of guest mode: nothing
 * of the guest's races with these stores.
 */
static bool kick_acks(struct kvm_vcpu_state *v)
{
	const uint64_t *sites = __atomic_load_n(&v->vm->b.trap_sites, __ATOMIC_ACQUIRE);
	struct hvp_vcpu *gv;
	uint64_t rip = 0;

	v->stop_cpl = vcpu_stop_point(v, &rip);
	v->stop_rip = rip;
	if (v->stop_cpl != 3) {
		v->refusals++;
		return false;
	}
	if (!v->vm->ack_cpl3_only && bp_in_flight(v->vm, rip)) {
		v->exits.kick_bp_inflight++;
		v->refusals++;
		v->bp_refusals++;
		return false;
	}
	if (sites && v->id < HVP_MAX_VCPUS) {
		gv = &v->vm->b.agent->vcpu[v->id];
		__atomic_store_n(&gv->ack_loops, __atomic_load_n(&gv->loops, __ATOMIC_RELAXED),
				 __ATOMIC_RELAXED);
		__atomic_store_n(&gv->ack_rip, rip, __ATOMIC_RELAXED);
		/* acknowledged: its #BP handler need not (bp_leave) */
		__atomic_store_n(&gv->kick_acked_gen, v->vm->kick_gen, __ATOMIC_RELAXED);
	}
	return true;
}

/* Act on requests; returns false when the thread must end. */
static bool vcpu_handle_requests(struct kvm_vcpu_state *v)
{
	struct hvp_kvm *vm = v->vm;
	uint32_t reqs = __atomic_exchange_n(&v->requests, 0, __ATOMIC_ACQUIRE); /* pairs (a) */

	if (reqs & REQ_STOP)
		return false;
	pthread_mutex_lock(&vm->lock);
	/* where it stopped while it held the round (not after it acked):
	 * free with synced registers; a kick's kick_acks() reads it anyway */
	if (reqs && !(reqs & REQ_KICK) && vm->sync_regs && v->exits.exits &&
	    v->ack_ns < vm->round_t0)
		v->stop_cpl = vcpu_stop_point(v, &v->stop_rip);
	if (reqs & REQ_KICK) {
		v->exits.kicks++;
		/*
		 * A round must not complete while a #BP handler that started,
		 * or whose int3 executed, before it is still to run: the
		 * guarantee Linux gets because an IPI cannot interrupt its int3
		 * handler.  Refused: the waiter kicks again (RETRY_US).
		 */
		if (kick_acks(v)) {
			v->kick_acked = vm->kick_gen;
			v->ack_ns = hvp_now_ns();
			pthread_cond_broadcast(&vm->cond);
		}
	}
	if (vm->paused) {
		v->parked = true;
		v->ack_ns = hvp_now_ns();
		if (vm->sync_regs && v->exits.exits) /* free: kvm_run holds them */
			v->stop_cpl = vcpu_stop_point(v, &v->stop_rip);
		pthread_cond_broadcast(&vm->cond);
		while (vm->paused && !(__atomic_load_n(&v->requests, __ATOMIC_ACQUIRE) & REQ_STOP))
			pthread_cond_wait(&vm->cond, &vm->lock);
		v->parked = false;
		/* requests queued while parked (resume's NMI) are read below */
		reqs |= __atomic_exchange_n(&v->requests, 0, __ATOMIC_ACQUIRE);
		if (reqs & REQ_STOP) {
			pthread_mutex_unlock(&vm->lock);
			return false;
		}
	}
	pthread_mutex_unlock(&vm->lock);
	if (reqs & REQ_NMI) {
		int r = kvm_ioctl_raw(v->fd, KVM_NMI, NULL);

		if (r < 0)
			fprintf(stderr, "vcpu %u: KVM_NMI: %s\n", v->id, strerror(-r));
		else
			v->exits.nmis_injected++;
	}
	return true;
}

static void *vcpu_thread(void *arg)
{
	struct kvm_vcpu_state *v = arg;
	struct hvp_kvm *vm = v->vm;
	char why[128];

	tl_run = v->run;
	pthread_mutex_lock(&vm->lock);
	v->tid = (pid_t)syscall(SYS_gettid);
	pthread_mutex_unlock(&vm->lock);
	for (;;) {
		int r;

		__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_RELAXED);
		if (vm->sync_regs)
			v->run->kvm_valid_regs = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS;
		if (!vcpu_handle_requests(v))
			break;
		if (v->halted) {
			/* Dead or halted for good: wait for stop only. */
			pthread_mutex_lock(&vm->lock);
			while (!(__atomic_load_n(&v->requests, __ATOMIC_ACQUIRE) & REQ_STOP))
				pthread_cond_wait(&vm->cond, &vm->lock);
			pthread_mutex_unlock(&vm->lock);
			break;
		}
		r = ioctl(v->fd, KVM_RUN, 0);
		v->exits.exits++;
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			snprintf(why, sizeof(why), "KVM_RUN: %s", strerror(errno));
			vcpu_mark_dead(v, why);
			continue;
		}
		switch (v->run->exit_reason) {
		case KVM_EXIT_IO:
			handle_io(v);
			break;
		case KVM_EXIT_HLT:
			/* The agent halts only after recording a fault. */
			vcpu_mark_dead(v, NULL);
			break;
		case KVM_EXIT_MMIO:
			snprintf(why, sizeof(why), "access to unbacked guest address 0x%llx",
				 (unsigned long long)v->run->mmio.phys_addr);
			vcpu_mark_dead(v, why);
			break;
		case KVM_EXIT_SHUTDOWN:
			vcpu_mark_dead(v, "triple fault (KVM_EXIT_SHUTDOWN)");
			break;
		case KVM_EXIT_INTERNAL_ERROR:
			snprintf(why, sizeof(why), "KVM internal error, suberror %u%s",
				 v->run->internal.suberror,
				 v->run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION ?
					 " (instruction emulation failed)" :
					 "");
			vcpu_mark_dead(v, why);
			break;
		case KVM_EXIT_FAIL_ENTRY:
			snprintf(why, sizeof(why), "VM entry failed, reason 0x%llx",
				 (unsigned long long)
					 v->run->fail_entry.hardware_entry_failure_reason);
			vcpu_mark_dead(v, why);
			break;
		case KVM_EXIT_INTR:
			break;
		case KVM_EXIT_DEBUG:
			vcpu_mark_dead(v, "KVM_EXIT_DEBUG: the host trapped the guest's #BP");
			break;
		default:
			snprintf(why, sizeof(why), "unexpected exit reason %u",
				 v->run->exit_reason);
			vcpu_mark_dead(v, why);
			break;
		}
	}
	pthread_mutex_lock(&vm->lock);
	v->exited = true;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	tl_run = NULL;
	return NULL;
}

/* A vCPU that can no longer run guest code needs no acknowledgement. */
static bool vcpu_out(const struct kvm_vcpu_state *v)
{
	return v->halted || v->exited;
}

/* ---- backend operations ---- */

static struct hvp_kvm *to_kvm(struct hvp_backend *b)
{
	return (struct hvp_kvm *)b;
}

static int kvm_start(struct hvp_backend *b)
{
	struct hvp_kvm *vm = to_kvm(b);
	unsigned i;
	int r;

	for (i = 0; i < b->nr_vcpus; i++) {
		r = pthread_create(&vm->vcpus[i].thread, NULL, vcpu_thread, &vm->vcpus[i]);
		if (r)
			return -r;
		vm->vcpus[i].thread_started = true;
	}
	return 0;
}

/*
 * A round begins (under vm->lock, before its first request): forget who held
 * the last one.  Its start is what each vCPU's ack_ns is measured from.
 */
static void round_begin(struct hvp_kvm *vm)
{
	unsigned i;

	vm->round_t0 = hvp_now_ns();
	for (i = 0; i < vm->b.nr_vcpus; i++) {
		vm->vcpus[i].refusals = vm->vcpus[i].bp_refusals = 0;
		vm->vcpus[i].handler_ack = false;
		vm->vcpus[i].stop_cpl = -1; /* seen in this round only */
		__atomic_store_n(&vm->vcpus[i].thread_state, 0, __ATOMIC_RELAXED);
	}
}

/*
 * What the host scheduler is doing with a vCPU thread that holds a round:
 * the state letter of /proc/self/task/TID/stat ('R' running or runnable,
 * 'S' sleeping, ...).  Only read once a round is already slow.
 */
static void sample_thread(struct kvm_vcpu_state *v, pid_t tid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = 0;
	p = strrchr(buf, ')'); /* the name may hold spaces and parentheses */
	if (p && p[1] == ' ' && p[2])
		__atomic_store_n(&v->thread_state, p[2], __ATOMIC_RELAXED);
}

/*
 * The round is over (done or timed out): keep its holders, the vCPUs that
 * acknowledged last (or never), for hvp_round_info.  Under vm->lock.
 */
static void round_end(struct hvp_kvm *vm, const char *what,
		      bool (*done)(const struct kvm_vcpu_state *, uint64_t), uint64_t arg)
{
	struct hvp_round_info *ri = &vm->last;
	uint64_t now = hvp_now_ns();
	unsigned i, j;

	memset(ri, 0, sizeof(*ri));
	ri->what = what;
	ri->ns = now - vm->round_t0;
	for (i = 0; i < vm->b.nr_vcpus; i++) {
		struct kvm_vcpu_state *v = &vm->vcpus[i];
		struct hvp_round_holder h = {
			.vcpu = i,
			.acked = vcpu_out(v) || done(v, arg),
			.rip = v->stop_rip,
			.cpl = v->stop_cpl,
			.refusals = v->refusals,
			.bp_inflight = v->bp_refusals,
			.handler_ack = v->handler_ack,
			.thread = __atomic_load_n(&v->thread_state, __ATOMIC_RELAXED),
		};

		if (!h.acked)
			h.wait_ns = ri->ns;
		else if (v->ack_ns >= vm->round_t0)
			h.wait_ns = v->ack_ns - vm->round_t0;
		/* insertion into the slowest HVP_ROUND_HOLDERS */
		for (j = ri->nr; j > 0 && ri->hold[j - 1].wait_ns < h.wait_ns; j--)
			if (j < HVP_ROUND_HOLDERS)
				ri->hold[j] = ri->hold[j - 1];
		if (j < HVP_ROUND_HOLDERS) {
			ri->hold[j] = h;
			if (ri->nr < HVP_ROUND_HOLDERS)
				ri->nr++;
		}
	}
}

/*
 * Wait until every vCPU is done(), blocking on the condition variable.  With
 * retry_req, every vCPU not yet done is sent that request again every
 * RETRY_US: its acknowledgement was refused (it was in guest kernel mode, or
 * had a #BP in flight).  All of them at each tick, not one after the other:
 * with 64 vCPUs on 2 cores a round otherwise cost the sum of the vCPUs'
 * waits instead of the longest.  Without retry_req, the waiter still wakes
 * every SLOW_US to sample the holders' threads; the owner's broadcast wakes it
 * at once otherwise.
 */
#define RETRY_US 200
#define SLOW_US	 1000

/* The first vCPU at or after i that is not done; nr_vcpus if none. */
static unsigned first_pending(struct hvp_kvm *vm, unsigned i,
			      bool (*done)(const struct kvm_vcpu_state *, uint64_t), uint64_t arg)
{
	while (i < vm->b.nr_vcpus && (vcpu_out(&vm->vcpus[i]) || done(&vm->vcpus[i], arg)))
		i++;
	return i;
}

static int wait_all(struct hvp_kvm *vm, const char *what,
		    bool (*done)(const struct kvm_vcpu_state *, uint64_t), uint64_t arg,
		    uint32_t retry_req, int timeout_ms)
{
	uint64_t deadline = hvp_now_ns() + (uint64_t)timeout_ms * 1000000u;
	uint64_t step = (retry_req ? RETRY_US : SLOW_US) * 1000u;
	uint64_t next = hvp_now_ns() + step;
	unsigned i = 0, j;
	int r = 0;

	pthread_mutex_lock(&vm->lock);
	while ((i = first_pending(vm, i, done, arg)) < vm->b.nr_vcpus) {
		uint64_t now = hvp_now_ns(), wait;
		struct timespec ts;

		if (now >= deadline) {
			r = -ETIMEDOUT;
			break;
		}
		/*
		 * Due by the clock, not by a timed-out wait: other vCPUs'
		 * acknowledgements (an NMI storm's) broadcast on the same
		 * condition variable and would otherwise keep postponing the
		 * retry.  Every vCPU still pending is sampled and asked again;
		 * the lock is dropped meanwhile, so done() is read again after.
		 */
		if (now >= next) {
			for (j = i; j < vm->b.nr_vcpus; j++) {
				struct kvm_vcpu_state *v = &vm->vcpus[j];
				pid_t tid = v->tid;

				bool sample, resend;

				if (vcpu_out(v) || done(v, arg))
					continue;
				/* a holder's thread once, the first one's each tick */
				sample = tid && (j == i || !__atomic_load_n(&v->thread_state,
									    __ATOMIC_RELAXED));
				/* not one that has not yet read the last request */
				resend = retry_req &&
					 !(__atomic_load_n(&v->requests, __ATOMIC_ACQUIRE) &
					   retry_req);
				if (!sample && !resend)
					continue;
				pthread_mutex_unlock(&vm->lock);
				if (sample)
					sample_thread(v, tid);
				if (resend)
					vcpu_request(v, retry_req);
				pthread_mutex_lock(&vm->lock);
			}
			next = now + step;
			continue;
		}
		wait = (next < deadline ? next : deadline) - now;
		deadline_after(&ts, 0);
		ts.tv_sec += (time_t)(wait / 1000000000u);
		ts.tv_nsec += (long)(wait % 1000000000u);
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&vm->cond, &vm->lock, &ts);
	}
	round_end(vm, what, done, arg);
	pthread_mutex_unlock(&vm->lock);
	return r;
}

static bool is_parked(const struct kvm_vcpu_state *v, uint64_t arg)
{
	(void)arg;
	return v->parked;
}

static bool kick_done(const struct kvm_vcpu_state *v, uint64_t gen)
{
	return v->parked || v->kick_acked >= gen;
}

static bool nmi_done(const struct kvm_vcpu_state *v, uint64_t gen)
{
	return (int32_t)((uint32_t)v->nmi_acked - (uint32_t)gen) >= 0;
}

static int kvm_pause_all(struct hvp_backend *b, int timeout_ms)
{
	struct hvp_kvm *vm = to_kvm(b);
	unsigned i;
	int r;

	pthread_mutex_lock(&vm->lock);
	vm->paused = true;
	round_begin(vm);
	pthread_mutex_unlock(&vm->lock);
	/* Signal every vCPU before waiting for any (cloud-hypervisor's lesson). */
	for (i = 0; i < b->nr_vcpus; i++)
		vcpu_request(&vm->vcpus[i], REQ_KICK);
	r = wait_all(vm, "pause", is_parked, 0, 0, timeout_ms);
	if (r < 0) {
		pthread_mutex_lock(&vm->lock);
		vm->paused = false;
		pthread_cond_broadcast(&vm->cond);
		pthread_mutex_unlock(&vm->lock);
	}
	return r;
}

static int kvm_resume_all(struct hvp_backend *b, bool nmi_first)
{
	struct hvp_kvm *vm = to_kvm(b);
	unsigned i;

	pthread_mutex_lock(&vm->lock);
	/* Queued before the wake-up, so each thread injects before KVM_RUN. */
	if (nmi_first)
		for (i = 0; i < b->nr_vcpus; i++)
			__atomic_fetch_or(&vm->vcpus[i].requests, REQ_NMI, __ATOMIC_RELEASE);
	vm->paused = false;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

static int kvm_sync_round(struct hvp_backend *b, enum hvp_sync_kind kind, uint64_t gen,
			  int timeout_ms)
{
	struct hvp_kvm *vm = to_kvm(b);
	unsigned i;

	if (kind == HVP_SYNC_KICK) {
		uint64_t kg;

		pthread_mutex_lock(&vm->lock);
		kg = ++vm->kick_gen;
		round_begin(vm);
		pthread_mutex_unlock(&vm->lock);
		/* for the guest's #BP handlers to acknowledge as they leave */
		if (__atomic_load_n(&b->trap_sites, __ATOMIC_ACQUIRE))
			__atomic_store_n(&b->agent->patch.kick_gen, kg, __ATOMIC_RELEASE);
		for (i = 0; i < b->nr_vcpus; i++)
			vcpu_request(&vm->vcpus[i], REQ_KICK);
		return wait_all(vm, "kick", kick_done, kg, REQ_KICK, timeout_ms);
	}

	/*
	 * NMI round: every vCPU must take an NMI and acknowledge it through
	 * HVP_PORT_NMI_ACK.  The service has already stored the new generation
	 * in the agent area, so an ack means the handler saw it and its iretq
	 * follows the modification.  The guest acknowledges only NMIs that
	 * interrupted user mode (see kick acks above); others are re-sent.
	 */
	pthread_mutex_lock(&vm->lock);
	round_begin(vm);
	pthread_mutex_unlock(&vm->lock);
	for (i = 0; i < b->nr_vcpus; i++)
		vcpu_request(&vm->vcpus[i], REQ_NMI);
	return wait_all(vm, "nmi", nmi_done, gen, REQ_NMI, timeout_ms);
}

static int kvm_inject_nmi(struct hvp_backend *b, unsigned vcpu)
{
	struct hvp_kvm *vm = to_kvm(b);

	if (vcpu >= b->nr_vcpus)
		return -EINVAL;
	vcpu_request(&vm->vcpus[vcpu], REQ_NMI);
	return 0;
}

static bool kvm_vcpu_alive(struct hvp_backend *b, unsigned vcpu)
{
	struct hvp_kvm *vm = to_kvm(b);
	bool alive;

	if (vcpu >= b->nr_vcpus)
		return false;
	pthread_mutex_lock(&vm->lock);
	alive = !vcpu_out(&vm->vcpus[vcpu]);
	pthread_mutex_unlock(&vm->lock);
	return alive;
}

static int kvm_get_exits(struct hvp_backend *b, unsigned vcpu, struct hvp_vcpu_exits *out)
{
	struct hvp_kvm *vm = to_kvm(b);

	if (vcpu >= b->nr_vcpus)
		return -EINVAL;
	pthread_mutex_lock(&vm->lock);
	*out = vm->vcpus[vcpu].exits; /* racy counters; a snapshot is enough */
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

/* Find the witness counters in the vCPU's binary statistics. */
static void stats_open(struct kvm_vcpu_state *v)
{
	struct kvm_stats_header h;
	size_t dsz, i, j;
	char *descs;

	for (j = 0; j < 5; j++)
		v->stat_off[j] = -1;
	v->stats_fd = kvm_ioctl_raw(v->fd, KVM_GET_STATS_FD, NULL);
	if (v->stats_fd < 0)
		return;
	if (pread(v->stats_fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) || h.num_desc > 4096 ||
	    h.name_size > 256)
		return;
	dsz = sizeof(struct kvm_stats_desc) + h.name_size;
	descs = calloc(h.num_desc, dsz);
	if (!descs)
		return;
	if (pread(v->stats_fd, descs, dsz * h.num_desc, h.desc_offset) ==
	    (ssize_t)(dsz * h.num_desc)) {
		for (i = 0; i < h.num_desc; i++) {
			struct kvm_stats_desc *d = (struct kvm_stats_desc *)(descs + i * dsz);

			d->name[h.name_size - 1] = 0;
			for (j = 0; j < 5; j++)
				if (!strcmp(d->name, witness_names[j]) && d->size == 1)
					v->stat_off[j] = (off_t)(h.data_offset + d->offset);
		}
	}
	free(descs);
}

static int kvm_witness(struct hvp_backend *b, unsigned vcpu, struct hvp_kvm_witness *out)
{
	struct hvp_kvm *vm = to_kvm(b);
	struct kvm_vcpu_state *v;
	uint64_t vals[5] = { 0 };
	unsigned j;

	if (vcpu >= b->nr_vcpus)
		return -EINVAL;
	v = &vm->vcpus[vcpu];
	if (v->stats_fd < 0)
		return -ENOTSUP;
	for (j = 0; j < 5; j++)
		if (v->stat_off[j] >= 0 && pread(v->stats_fd, &vals[j], sizeof(vals[j]),
						 v->stat_off[j]) != sizeof(vals[j]))
			return -EIO;
	out->exits = vals[0];
	out->io_exits = vals[1];
	out->signal_exits = vals[2];
	out->nmi_injections = vals[3];
	out->insn_emulation = vals[4];
	return 0;
}

static int kvm_last_round(struct hvp_backend *b, struct hvp_round_info *out)
{
	struct hvp_kvm *vm = to_kvm(b);

	pthread_mutex_lock(&vm->lock);
	*out = vm->last;
	pthread_mutex_unlock(&vm->lock);
	return out->what ? 0 : -ENOENT;
}

static void kvm_destroy(struct hvp_backend *b)
{
	struct hvp_kvm *vm = to_kvm(b);
	unsigned i;

	if (vm->vcpus) {
		pthread_mutex_lock(&vm->lock);
		vm->paused = false;
		pthread_mutex_unlock(&vm->lock);
		for (i = 0; i < b->nr_vcpus; i++)
			vcpu_request(&vm->vcpus[i], REQ_STOP);
		pthread_mutex_lock(&vm->lock);
		pthread_cond_broadcast(&vm->cond);
		pthread_mutex_unlock(&vm->lock);
		for (i = 0; i < b->nr_vcpus; i++) {
			struct kvm_vcpu_state *v = &vm->vcpus[i];

			if (v->thread_started)
				pthread_join(v->thread, NULL);
			if (v->run)
				munmap(v->run, vm->run_size);
			if (v->stats_fd >= 0)
				close(v->stats_fd);
			if (v->fd >= 0)
				close(v->fd);
		}
		free(vm->vcpus);
	}
	if (b->ram)
		munmap(b->ram, b->ram_size);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	pthread_cond_destroy(&vm->cond);
	pthread_mutex_destroy(&vm->lock);
	free(vm);
}

static const struct hvp_backend_ops kvm_ops = {
	.name = "kvm",
	.start = kvm_start,
	.pause_all = kvm_pause_all,
	.resume_all = kvm_resume_all,
	.sync_round = kvm_sync_round,
	.inject_nmi = kvm_inject_nmi,
	.vcpu_alive = kvm_vcpu_alive,
	.get_exits = kvm_get_exits,
	.witness = kvm_witness,
	.last_round = kvm_last_round,
	.destroy = kvm_destroy,
};

/* ---- creation ---- */

static int setup_cpuid(struct hvp_kvm *vm, struct kvm_vcpu_state *v, char *err, size_t errlen)
{
	struct kvm_cpuid2 *c;
	unsigned n = 128, i;
	int r;

	c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
	if (!c)
		return -ENOMEM;
	c->nent = n;
	r = kvm_check(kvm_ioctl_raw(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, c),
		      "KVM_GET_SUPPORTED_CPUID", err, errlen);
	if (r < 0)
		goto out;
	for (i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		if (e->function == 1) {
			e->ebx = (e->ebx & 0x00ffffffu) | v->id << 24; /* initial APIC id */
		} else if (e->function == 0xb || e->function == 0x1f) {
			e->edx = v->id; /* x2APIC id */
		}
	}
	r = kvm_check(kvm_ioctl_raw(v->fd, KVM_SET_CPUID2, c), "KVM_SET_CPUID2", err, errlen);
out:
	free(c);
	return r;
}

/* 32-bit flat protected mode, paging off: the PVH boot protocol's state. */
static int setup_regs(struct hvp_kvm *vm, struct kvm_vcpu_state *v, char *err, size_t errlen)
{
	struct kvm_segment code = {
		.base = 0,
		.limit = 0xffffffff,
		.selector = 0x8,
		.type = 0xb,
		.present = 1,
		.dpl = 0,
		.db = 1,
		.s = 1,
		.l = 0,
		.g = 1,
	};
	struct kvm_segment data = code;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	int r;

	r = kvm_check(kvm_ioctl_arg(v->fd, KVM_GET_SREGS, &sregs), "KVM_GET_SREGS", err, errlen);
	if (r < 0)
		return r;
	data.type = 0x3;
	data.selector = 0x10;
	sregs.cs = code;
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
	sregs.cr0 = 0x11; /* PE | ET */
	sregs.cr4 = 0;
	sregs.efer = 0;
	r = kvm_check(kvm_ioctl_arg(v->fd, KVM_SET_SREGS, &sregs), "KVM_SET_SREGS", err, errlen);
	if (r < 0)
		return r;
	memset(&regs, 0, sizeof(regs));
	regs.rip = vm->opts.entry32;
	regs.rflags = 0x2;
	return kvm_check(kvm_ioctl_arg(v->fd, KVM_SET_REGS, &regs), "KVM_SET_REGS", err, errlen);
}

static int create_vcpu(struct hvp_kvm *vm, unsigned id, char *err, size_t errlen)
{
	struct kvm_vcpu_state *v = &vm->vcpus[id];
	int r;

	v->vm = vm;
	v->id = id;
	r = kvm_ioctl_raw(vm->vm_fd, KVM_CREATE_VCPU, (void *)(uintptr_t)id);
	if (r < 0)
		return kvm_check(r, "KVM_CREATE_VCPU", err, errlen);
	v->fd = r;
	v->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		v->run = NULL;
		r = -errno;
		return kvm_check(r, "mmap(kvm_run)", err, errlen);
	}
	stats_open(v);
	r = setup_cpuid(vm, v, err, errlen);
	if (r < 0)
		return r;
	if (vm->opts.guest_debug_sw_bp) {
		struct kvm_guest_debug dbg = {
			.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_SW_BP,
		};

		r = kvm_check(kvm_ioctl_arg(v->fd, KVM_SET_GUEST_DEBUG, &dbg),
			      "KVM_SET_GUEST_DEBUG", err, errlen);
		if (r < 0)
			return r;
	}
	return setup_regs(vm, v, err, errlen);
}

static const struct {
	int cap;
	const char *name;
} required_caps[] = {
	{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
	{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
	{ KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
	{ KVM_CAP_USER_NMI, "KVM_CAP_USER_NMI" },
};

int hvp_kvm_create(struct hvp_backend **out, const struct hvp_kvm_opts *o,
		   const struct hvp_backend_events *ev, char *err, size_t errlen)
{
	struct kvm_userspace_memory_region region;
	struct sigaction sa;
	struct hvp_kvm *vm;
	unsigned i;
	int r, max;

	if (o->nr_vcpus == 0 || o->nr_vcpus > HVP_MAX_VCPUS) {
		snprintf(err, errlen, "vCPU count %u out of range 1..%d", o->nr_vcpus,
			 HVP_MAX_VCPUS);
		return -EINVAL;
	}
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	vm->kvm_fd = vm->vm_fd = -1;
	vm->opts = *o;
	vm->ev = *ev;
	vm->b.ops = &kvm_ops;
	vm->b.nr_vcpus = o->nr_vcpus;
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->cond, NULL);

	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		r = -errno;
		if (hvp_kvm_usable(err, errlen) == 0) /* it came back: say what we saw */
			snprintf(err, errlen, "cannot open /dev/kvm: %s", strerror(-r));
		goto fail;
	}
	r = kvm_ioctl_raw(vm->kvm_fd, KVM_GET_API_VERSION, NULL);
	if (r != KVM_API_VERSION) {
		snprintf(err, errlen, "KVM API version %d, need %d", r, KVM_API_VERSION);
		r = -ENOTSUP;
		goto fail;
	}
	for (i = 0; i < HVP_ARRAY_SIZE(required_caps); i++) {
		if (kvm_ioctl_raw(vm->kvm_fd, KVM_CHECK_EXTENSION,
				  (void *)(uintptr_t)required_caps[i].cap) <= 0) {
			snprintf(err, errlen, "this KVM lacks %s", required_caps[i].name);
			r = -ENOTSUP;
			goto fail;
		}
	}
	max = kvm_ioctl_raw(vm->kvm_fd, KVM_CHECK_EXTENSION, (void *)(uintptr_t)KVM_CAP_MAX_VCPUS);
	if (max > 0 && o->nr_vcpus > (unsigned)max) {
		snprintf(err, errlen, "this KVM allows at most %d vCPUs", max);
		r = -ENOTSUP;
		goto fail;
	}
	r = kvm_ioctl_raw(vm->kvm_fd, KVM_CHECK_EXTENSION, (void *)(uintptr_t)KVM_CAP_SYNC_REGS);
	vm->sync_regs = r > 0 && (r & (KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS)) ==
					 (KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS);
	/* Test only (tests/safety-load.sh): the kick rule before issue 9, so
	 * that the test can show it sees what that rule let through. */
	vm->ack_cpl3_only =
		getenv("HVP_TEST_KICK_ACK") && !strcmp(getenv("HVP_TEST_KICK_ACK"), "cpl3");
	r = kvm_ioctl_raw(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, NULL);
	if (kvm_check(r, "KVM_GET_VCPU_MMAP_SIZE", err, errlen) < 0)
		goto fail;
	vm->run_size = (size_t)r;
	r = kvm_ioctl_raw(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (kvm_check(r, "KVM_CREATE_VM", err, errlen) < 0)
		goto fail;
	vm->vm_fd = r;

	vm->b.ram_size = o->ram_size;
	vm->b.ram = mmap(NULL, o->ram_size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (vm->b.ram == MAP_FAILED) {
		vm->b.ram = NULL;
		r = -errno;
		snprintf(err, errlen, "cannot map %llu bytes of guest RAM: %s",
			 (unsigned long long)o->ram_size, strerror(errno));
		goto fail;
	}
	region = (struct kvm_userspace_memory_region){
		.slot = 0,
		.guest_phys_addr = 0,
		.memory_size = o->ram_size,
		.userspace_addr = (uintptr_t)vm->b.ram,
	};
	r = kvm_ioctl_arg(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region);
	if (kvm_check(r, "KVM_SET_USER_MEMORY_REGION", err, errlen) < 0)
		goto fail;

	/* No signal may reach a vCPU thread before tl_run is set: harmless,
	 * the handler checks it. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kick_handler;
	sigemptyset(&sa.sa_mask);
	sigaction(KICK_SIGNAL, &sa, NULL);

	vm->vcpus = calloc(o->nr_vcpus, sizeof(*vm->vcpus));
	if (!vm->vcpus) {
		r = -ENOMEM;
		goto fail;
	}
	for (i = 0; i < o->nr_vcpus; i++) {
		vm->vcpus[i].fd = vm->vcpus[i].stats_fd = -1;
		vm->vcpus[i].stop_cpl = -1;
	}
	for (i = 0; i < o->nr_vcpus; i++) {
		r = create_vcpu(vm, i, err, errlen);
		if (r < 0)
			goto fail;
	}
	r = kvm_ioctl_raw(vm->vcpus[0].fd, KVM_GET_TSC_KHZ, NULL);
	vm->b.tsc_khz = r > 0 ? (uint64_t)r : 0;
	vm->b.rt_waiter_ok = true; /* every wait blocks on vm->cond */
	*out = &vm->b;
	return 0;

fail:
	kvm_destroy(&vm->b);
	return r < 0 ? r : -EINVAL;
}

/* Does /proc/cpuinfo's first "flags" line list vmx or svm? */
static bool cpu_has_vmx_svm(void)
{
	FILE *f = fopen("/proc/cpuinfo", "re");
	char line[4096], *tok, *save = NULL, *flags;
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "flags", 5) || !(flags = strchr(line, ':')))
			continue;
		for (tok = strtok_r(flags + 1, " \t\n", &save); tok && !found;
		     tok = strtok_r(NULL, " \t\n", &save))
			found = !strcmp(tok, "vmx") || !strcmp(tok, "svm");
		break;
	}
	fclose(f);
	return found;
}

int hvp_kvm_usable(char *why, size_t len)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC), e;
	bool vmx_svm;

	if (fd >= 0) {
		close(fd);
		if (len)
			why[0] = 0;
		return 0;
	}
	e = errno;
	if (e == EACCES || e == EPERM) {
		snprintf(why, len,
			 "/dev/kvm is not read-write for this user (add the user to the group that "
			 "owns it, usually kvm)");
		return -e;
	}
	if (e != ENOENT && e != ENODEV && e != ENXIO) {
		snprintf(why, len, "cannot open /dev/kvm: %s", strerror(e));
		return -e;
	}
	vmx_svm = cpu_has_vmx_svm();
	if (access("/sys/module/kvm_pvm", F_OK) == 0 && !vmx_svm)
		snprintf(why, len,
			 "this host has no /dev/kvm: the kvm_pvm module is loaded but bound no "
			 "device (it does not bind on a kernel that is itself a PVM guest) and the "
			 "CPU offers no VMX or SVM for kvm_intel or kvm_amd, so no VM can run here");
	else if (!vmx_svm)
		snprintf(why, len,
			 "this host has no /dev/kvm and its CPU offers no VMX or SVM (in a VM: "
			 "nested virtualization is off), so no VM can run here");
	else if (access("/sys/module/kvm_intel", F_OK) && access("/sys/module/kvm_amd", F_OK))
		snprintf(why, len,
			 "this host has no /dev/kvm: load kvm_intel or kvm_amd (modprobe)");
	else
		snprintf(why, len, "this host has no /dev/kvm (%s)", strerror(e));
	return -e;
}

/* The registry's entry (vmm/backends.c): the ELF is loaded by the service. */
int hvp_kvm_backend_create(const struct hvp_backend_args *a, const struct hvp_backend_events *ev,
			   struct hvp_backend **out, char *err, size_t errlen)
{
	struct hvp_kvm_opts ko = {
		.nr_vcpus = a->nr_vcpus,
		.ram_size = (uint64_t)a->mem_mib << 20,
		.entry32 = a->entry32,
		.guest_debug_sw_bp = a->guest_debug_sw_bp,
	};

	return hvp_kvm_create(out, &ko, ev, err, errlen);
}
