// SPDX-License-Identifier: GPL-2.0-only
/*
 * The patch engine: rewrite the 5-byte `call rel32` (or trampoline
 * `jmp rel32`) sites of a static call key while every vCPU may be executing
 * them.  The writer is this process, through its mapping of guest RAM; the
 * readers are the guest's vCPUs fetching instructions.
 *
 * The physical rule (Intel SDM Vol. 3A, 9.1.3 "Handling Self- and
 * Cross-Modifying Code"): a processor that executes code another processor
 * modified must execute a serializing instruction after the modification is
 * visible and before it executes the new code.  IRET is serializing (SDM
 * Vol. 3A, 9.3 "Serializing Instructions"); VM entry and VM exit are not on
 * that list.  So a "sync round" here is one of:
 *   kick: every vCPU leaves guest mode and re-enters (acknowledged by its
 *         vCPU thread).  Not architecturally serializing on paper; what VMMs
 *         rely on in practice.
 *   nmi:  every vCPU takes an NMI whose guest handler acknowledges through a
 *         port and returns with iretq: architecturally serializing.
 * What every method below relies on, in both kinds: a round completes only
 * once no guest #BP handler that began before it, or whose int3 executed
 * before it, is still to run (Linux gets this for free: its sync IPI cannot
 * interrupt the int3 handler).  "Stopped in guest user mode" is not enough:
 * on kvm_pvm an int3 can have executed with its #BP still queued in KVM
 * (RIP = int3 + 1, CPL 3, nothing in KVM_GET_VCPU_EVENTS), and a round that
 * completed over it let the handler run after the patch had moved on: a
 * stray #BP in bp-emulate under host load (issue 9).  So:
 *   kick, own VMM (vmm/kvm.c): acknowledged at CPL 3 with RIP - 1 not a site
 *     start (int3s are only ever written at site starts);
 *   kick, qemu/libvirt (vmm/extvm.c): acknowledged once the vCPU's loop, or
 *     two more #BP handlers, ran after the stop (a queued #BP is injected
 *     first at re-entry, and handlers do not nest);
 *   nmi: acknowledged by the guest only from user mode; KVM injects a queued
 *     exception before an NMI, so an NMI never lands in the window.
 * Why that is enough for each method: the handler of any int3 fetched
 * before the round's writes has returned, and any int3 fetched later is
 * fetched after the vCPU re-entered (kick) or after its NMI's iretq, and
 * sees the state the patcher published before writing that int3.  The
 * guest's handler (guest-agent/kernel.c, do_bp) also reads the site byte
 * before the patch state, so that even a late handler acts on the state of
 * the int3 it finds.  The guest witnesses the rule: each acknowledgement
 * records where the vCPU stopped, and a handler that finds its own int3 there
 * counts itself in bp_late (tests/safety-load.sh checks it is 0, and that
 * the old rule makes it grow).
 *
 * Method `stop` (hypervisor stop-machine):
 *   1. Pause every vCPU: each leaves guest mode and parks, acknowledged.
 *   2. Check every site holds the expected old instruction.
 *   3. Write all sites; read each back.
 *   4. Resume.  With --sync nmi each vCPU is handed an NMI before it runs any
 *      other guest instruction; its handler's iretq is the serializing
 *      instruction the SDM asks for.  With --sync kick the vCPUs just
 *      re-enter (VM entry: not serializing on paper).
 *
 *      patcher                     vCPU
 *      -------                     ----
 *      pause, wait all parked      (not in guest mode)
 *      write sites
 *      queue NMI, resume           NMI -> handler -> iretq (serializes)
 *                                  executes new code
 *
 * Method `bp-emulate` (Linux text_poke_bp_batch), for all sites at once:
 *   0. Check old bytes.  Fill the vector emu[] sorted by address with each
 *      site's new destination; nr_emu = n (release); method = EMULATE.
 *   1. int3 on the first byte of every site.          Sync round.
 *   2. The last four bytes of every site.             Sync round.
 *   3. The new first byte of every site.              Sync round.
 *   4. method = NONE, nr_emu = 0.  No handler can still be searching the
 *      vector: every vCPU acknowledged round 3 from user mode.
 *
 *      patcher                     vCPU executing a site
 *      -------                     ---------------------
 *      emu[], nr_emu (release)
 *      site[0] = cc, round         sees cc: #BP; handler bsearches emu[]
 *                                  (acquire nr_emu), emulates the new call
 *      site[1..4] = new, round     still cc: same
 *      site[0] = new, round        cc or the whole new insn (tail synced)
 *      nr_emu = 0                  only the new insn
 *   3 rounds whatever the batch size; a trapping vCPU never waits.
 *
 * Method `bp-cancel` (H. Peter Anvin, LKML "Static calls", 14 Jan 2019), one
 * site at a time through the one global write address:
 *   1. write_addr, old_insn, new_insn; method = CANCEL.
 *   2. state = 1; site[0] = cc; sync round.
 *   3. If site[0] is no longer cc, or cmpxchg(state, 1 -> 2) fails (a #BP in
 *      state 1 made it 4 and put the old byte back): one retry, go to 2.
 *      Past --timeout: put the old byte back, sync, state = 0, restore the
 *      sites this request already patched (bp-emulate batch to the old
 *      target) and report completed = false.
 *   4. Write site[1..4]; sync round; then site[0]; read back.
 *   5. state = 3; sync round; state = 0.
 *   Guest #BP handler: s = cmpxchg(state, 1, 4);
 *      1, 4: cmpxchg(site[0], cc, old[0]) (cancel), re-execute;
 *      2:    wait: re-execute (the proposal's other choice was to complete);
 *      3:    re-execute;  0: not ours.
 *
 *   The sync round in step 4 and the waiting state 2 are not in the
 *   proposal, which writes the first byte right after the tail.  Under the
 *   SDM's rule a vCPU that last serialized when it still saw the old tail
 *   may then run e8 + a rel32 half old, half new: the SPIN model finds it
 *   (tests/model, "bp-cancel"); one guest fault in 10^4 bp-cancel/kick
 *   patches of an ASan soak is consistent with it.  With the round, and handlers that never write the tail, the
 *   model is safe ("bp-cancel-fixed"); it still livelocks.
 *
 *      patcher                       vCPU hitting the site
 *      -------                       ---------------------
 *      state = 1 (release)
 *      site[0] = cc, round           #BP in state 1: state 4, old byte back
 *      check site[0] == cc           (a handler that saw 4 earlier may have
 *                                    restored after our cc: this check, made
 *                                    after a round no handler straddles,
 *                                    catches it)
 *      cmpxchg(state, 1, 2)          #BP in state 2: re-execute (wait)
 *      site[1..4], round, site[0]
 *      state = 3, round, state = 0   #BP in state 3: re-execute
 *
 *   Method `bp-cancel-hpa` (test only, --unsafe) is the proposal as written,
 *   for the bench to set beside bp-cancel: step 4 without its sync round
 *   (site[1..4], then site[0] at once), and a #BP in state 2 completes the
 *   patch (the tail, then the first byte over the int3) and re-executes it.
 *   What the repair costs is one round per site; what it buys is the
 *   faults this method can take.
 *
 *   A vCPU can still livelock the patcher by hitting
 *   the site in every state-1 window (Andy Lutomirski's objection): --timeout
 *   bounds it and the result counts the rollbacks.
 *
 * Method `naive`: write the new bytes one at a time with no protocol.  Test
 * only; it exists to prove that tearing is detected.
 *
 * Every write is read back; a mismatch fails loudly with the site's address.
 *
 * Stopping early.  Before each write to the text, as it checks its deadline,
 * the engine asks must_stop(): has `vm stop` been asked for, or could the
 * journal record of this step not be written and synced?  Then it takes the
 * step back instead (stop: the old bytes, still paused; bp-emulate: the old
 * tails under the int3s, then the int3s off; bp-cancel: what a timeout does)
 * and returns -ECANCELED with the reason.  An undo is never stopped itself,
 * and once the last byte is written the patch completes.
 *
 * The guest is not trusted.  The engine works only from the service's
 * validated copy of the key (vmm/agent.c), never from the guest's tables,
 * which it may rewrite at any time; every write is checked to fall inside
 * one of that copy's sites and inside guest RAM (guard()).  The old
 * instruction is always the one check_old() found, re-encoded, never bytes
 * read back later: bp-emulate puts each int3 in with a compare-and-swap over
 * the expected opcode and checks the tail under it, bp-cancel checks each
 * site before it starts on it and after every round in state 1 (never once
 * state 2 is set: from then on handlers may be completing the new tail, and
 * taking the state back would let another handler tear the site).  A site the
 * guest changed is refused by name and what the patch wrote is undone; a
 * change that lands later is overwritten (inside the site) or caught by the
 * read-back.  The guest can make its own patches fail, never make the
 * service write anywhere else.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "journal.h"
#include "patch.h"
#include "util.h"

const struct hvp_method_info hvp_methods[HVP_METHOD__COUNT] = {
	[HVP_METHOD_STOP] = { "stop",
			      "hypervisor stop-machine: pause every vCPU, write, resume (NMI on resume serializes)",
			      false },
	[HVP_METHOD_BP_CANCEL] = { "bp-cancel",
				   "H. Peter Anvin's cancellable breakpoint (states 0-4), one site at a time",
				   false },
	[HVP_METHOD_BP_EMULATE] = { "bp-emulate",
				    "Linux text_poke_bp batch: int3, tail, first byte; #BP emulates the new call; 3 rounds",
				    false },
	[HVP_METHOD_NAIVE] = { "naive",
			       "no protocol, byte by byte (test only: tears; needs --unsafe)", true,
			       "tears instructions under load" },
	[HVP_METHOD_BP_CANCEL_HPA] = { "bp-cancel-hpa",
				       "H. Peter Anvin's proposal as written: bp-cancel without its tail round; a state 2 #BP completes (test only: needs --unsafe)",
				       true,
				       "writes a call's first byte with no sync round after its tail, so a vCPU may run a half-new call" },
};

int hvp_method_by_name(const char *name)
{
	int i;

	for (i = 0; i < HVP_METHOD__COUNT; i++)
		if (!strcmp(hvp_methods[i].name, name))
			return i;
	return -1;
}

const char *hvp_sync_name(enum hvp_sync_kind kind)
{
	return kind == HVP_SYNC_NMI ? "nmi" : "kick";
}

struct patch_run {
	struct hvp_patch_ctx *ctx;
	const struct hvp_patch_req *req;
	struct hvp_patch_result *res;
	uint8_t *ram;
	uint64_t deadline_ns;
	uint64_t new_dest, old_dest;
	/* why the patch stops before its next write: the VM is stopping, or a
	 * journal record could not be made durable */
	char stop_why[160];
	bool vm_stopping;
	bool jfailed; /* the journal takes no more records */
	bool undoing; /* putting old bytes back: no more stops */
};

/*
 * Journal the step about to be taken (durable before it is taken).  A
 * record that fails is not retried: the patch stops before its next write
 * to the text (must_stop) and undoes what it wrote, unjournaled.  A round
 * whose record failed is still taken: it writes nothing.
 */
__attribute__((format(printf, 2, 3))) static void jstep_(struct patch_run *p, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (!p->ctx->journal || p->jfailed)
		return;
	va_start(ap, fmt);
	r = hvp_journal_vadd(p->ctx->journal, fmt, ap);
	va_end(ap);
	if (r < 0) {
		p->jfailed = true;
		if (!p->stop_why[0])
			snprintf(p->stop_why, sizeof(p->stop_why), "journal: %s", strerror(-r));
	}
}
#define jstep(p, ...) jstep_(p, "step " __VA_ARGS__)

/*
 * Asked before every write to the text, like the deadline: must the patch
 * stop here?  `vm stop` sets *ctx->stop; a failed journal record set
 * stop_why.  Never while undoing: the undo must finish.
 */
static bool must_stop(struct patch_run *p)
{
	if (p->undoing)
		return false;
	if (!p->stop_why[0] && p->ctx->stop && __atomic_load_n(p->ctx->stop, __ATOMIC_ACQUIRE)) {
		p->vm_stopping = true;
		snprintf(p->stop_why, sizeof(p->stop_why), "VM is stopping");
	}
	return p->stop_why[0] != 0;
}

/*
 * The patch stopped (must_stop) and undo_r is how undoing what it wrote
 * went: -ECANCELED and res->reason says why and that nothing stays written,
 * or undo_r when the undo itself failed.
 */
static int stopped(struct patch_run *p, int undo_r)
{
	struct hvp_patch_result *res = p->res;

	if (undo_r < 0) {
		char why[sizeof(res->reason)];

		memcpy(why, res->reason, sizeof(why));
		snprintf(res->reason, sizeof(res->reason),
			 "%.100s: patch cancelled, but undoing what it wrote failed: %.100s",
			 p->stop_why, why);
		return undo_r;
	}
	if (!res->written)
		snprintf(res->reason, sizeof(res->reason),
			 p->vm_stopping ? "%s: patch cancelled, nothing written" :
					  "nothing written: %s",
			 p->stop_why);
	else
		snprintf(res->reason, sizeof(res->reason),
			 "%s: patch cancelled, what it wrote was undone", p->stop_why);
	return -ECANCELED;
}

/* ---- text access: every write is guarded and read back ---- */

/*
 * The last line of defence against a guest that lies: the engine only ever
 * writes inside one of the key's sites as validated at boot (the service's
 * own sorted copy, never the guest's table), and only inside guest RAM.
 * A refusal here is a bug in the engine, reported as one.
 */
static int guard(struct patch_run *p, uint64_t addr, unsigned off, unsigned len)
{
	const struct hvp_key_info *k = p->req->key;

	if (off + len <= HVP_INSN_LEN && addr <= p->ctx->be->ram_size - HVP_INSN_LEN &&
	    bsearch(&addr, k->sites, k->nr_sites, sizeof(uint64_t), hvp_cmp_u64))
		return 0;
	snprintf(p->res->reason, sizeof(p->res->reason),
		 "internal error: refusing to write %u byte(s) at 0x%" PRIx64
		 " + %u: not a registered site of key %s",
		 len, addr, off, k->name);
	fprintf(stderr, "patch: %s\n", p->res->reason);
	return -EFAULT;
}

static int put_byte(struct patch_run *p, uint64_t addr, uint8_t v)
{
	int r = guard(p, addr, 0, 1);

	if (r == 0) {
		__atomic_store_n(&p->ram[addr], v, __ATOMIC_RELEASE);
		p->res->written = true;
	}
	return r;
}

/* The first byte of a site from `from` to `to`, only if it still holds `from`. */
static int swap_byte(struct patch_run *p, uint64_t addr, uint8_t from, uint8_t to)
{
	int r = guard(p, addr, 0, 1);

	if (r < 0)
		return r;
	if (!__atomic_compare_exchange_n(&p->ram[addr], &from, to, 0, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE))
		return -EAGAIN;
	p->res->written = true;
	return 0;
}

static int check_bytes(struct patch_run *p, uint64_t addr, const uint8_t *want, unsigned off,
		       unsigned len)
{
	unsigned i;

	for (i = off; i < off + len; i++) {
		uint8_t got = __atomic_load_n(&p->ram[addr + i], __ATOMIC_ACQUIRE);

		if (got != want[i]) {
			snprintf(p->res->reason, sizeof(p->res->reason),
				 "read-back mismatch at site 0x%" PRIx64
				 " byte %u: wrote %02x, read %02x",
				 addr, i, want[i], got);
			return -EIO;
		}
	}
	return 0;
}

static int write_bytes(struct patch_run *p, uint64_t addr, const uint8_t *insn, unsigned off,
		       unsigned len)
{
	unsigned i;
	int r = guard(p, addr, off, len);

	if (r < 0)
		return r;
	for (i = off; i < off + len; i++)
		__atomic_store_n(&p->ram[addr + i], insn[i], __ATOMIC_RELEASE);
	p->res->written = true;
	return check_bytes(p, addr, insn, off, len);
}

/* A site the guest changed under the patch: name it and what it holds. */
static int site_changed(struct patch_run *p, uint64_t addr)
{
	uint8_t b[HVP_INSN_LEN];

	memcpy(b, p->ram + addr, HVP_INSN_LEN);
	snprintf(p->res->reason, sizeof(p->res->reason),
		 "site 0x%" PRIx64
		 " changed under the patch (holds %02x %02x %02x %02x %02x): the guest rewrote it",
		 addr, b[0], b[1], b[2], b[3], b[4]);
	return -EILSEQ;
}

void hvp_round_describe(const struct hvp_round_info *ri, char *buf, size_t len)
{
	size_t n = 0;
	unsigned i;

	buf[0] = 0;
	for (i = 0; i < ri->nr && n < len; i++) {
		const struct hvp_round_holder *h = &ri->hold[i];
		char where[64] = "not seen stopped";

		if (h->cpl >= 0)
			snprintf(where, sizeof(where), "CPL %d at 0x%" PRIx64 "%s", h->cpl, h->rip,
				 h->cpl == 0 ? ", in a guest handler" : "");
		n += (size_t)
			snprintf(buf + n, len - n,
				 "%svCPU %u %s %.3f ms (%s, %u kicks refused%s, host thread %c)",
				 i ? "; " : "", h->vcpu,
				 h->acked ? "acked after" : "still held it after", h->wait_ns / 1e6,
				 where, h->refusals, h->bp_inflight ? " with a #BP in flight" : "",
				 h->thread ? h->thread : '?');
	}
}

/* Keep the patch's slowest round and who held it (backend.h). */
static void note_round(struct patch_run *p)
{
	struct hvp_backend *be = p->ctx->be;
	struct hvp_round_info ri;

	if (!be->ops->last_round || be->ops->last_round(be, &ri) < 0)
		return;
	if (!p->res->slowest.what || ri.ns > p->res->slowest.ns)
		p->res->slowest = ri;
}

int hvp_patch_sync_round(struct hvp_patch_ctx *ctx, enum hvp_sync_kind kind, int timeout_ms)
{
	uint64_t gen = 0;

	/* the guest's NMI handler acknowledges the generation it reads */
	if (kind == HVP_SYNC_NMI)
		gen = __atomic_add_fetch(&ctx->agent->patch.sync_gen, 1, __ATOMIC_RELEASE);
	return ctx->be->ops->sync_round(ctx->be, kind, gen, timeout_ms);
}

/*
 * One sync round over every vCPU (see the top of this file), retried on a
 * timeout; its failure is written in the result's reason.  0 or -errno.
 */
static int sync_round(struct patch_run *p)
{
	struct hvp_backend *be = p->ctx->be;
	uint64_t now = hvp_now_ns();
	int left = p->deadline_ns > now ? (int)((p->deadline_ns - now) / 1000000u) : 0;
	unsigned tries = 0;
	int r;

	/*
	 * A round in flight gets at least 5 s, and up to 3 attempts: a vCPU
	 * thread starved by a loaded host still acks, and a round abandoned
	 * half-way leaves int3s behind (bp-emulate keeps emulating them, but
	 * the key is stuck until a patch completes it).  Rounds are idempotent:
	 * a new generation asks every vCPU again.
	 */
	if (left < 5000)
		left = 5000;
	do {
		jstep(p, "%s round", hvp_sync_name(p->req->sync));
		r = hvp_patch_sync_round(p->ctx, p->req->sync, left);
		p->res->sync_rounds++;
		note_round(p);
	} while (r == -ETIMEDOUT && ++tries < 3);
	if (r < 0) {
		char held[160] = "";

		if (r == -ETIMEDOUT && be->ops->last_round) {
			struct hvp_round_info ri;

			if (be->ops->last_round(be, &ri) == 0) {
				ri.nr = ri.nr ? 1 : 0; /* the reason has room for one */
				hvp_round_describe(&ri, held, sizeof(held));
			}
		}
		snprintf(p->res->reason, sizeof(p->res->reason),
			 "%s sync round %u: %s (%u attempts)%s%s", hvp_sync_name(p->req->sync),
			 p->res->sync_rounds, strerror(-r), tries + (r != -ETIMEDOUT),
			 held[0] ? "; held by " : "", held);
	}
	return r;
}

/* Every site must hold the key's opcode aimed at one and the same target. */
static int check_old(struct patch_run *p)
{
	const struct hvp_key_info *k = p->req->key;
	int first = -1;
	unsigned i;

	for (i = 0; i < k->nr_sites; i++) {
		uint8_t insn[HVP_INSN_LEN];
		uint64_t dest;
		int t;

		memcpy(insn, p->ram + k->sites[i], HVP_INSN_LEN);
		t = hvp_agent_decode(insn, k->sites[i], k->opcode, &dest) < 0 ?
			    -1 :
			    hvp_key_target_index(k, dest);
		if (t < 0) {
			snprintf(p->res->reason, sizeof(p->res->reason),
				 "site 0x%" PRIx64
				 " holds %02x %02x %02x %02x %02x, not a %s to a registered target of key %s",
				 k->sites[i], insn[0], insn[1], insn[2], insn[3], insn[4],
				 k->opcode == HVP_OPC_CALL ? "call" : "jmp", k->name);
			return -EILSEQ;
		}
		if (first >= 0 && t != first) {
			snprintf(p->res->reason, sizeof(p->res->reason),
				 "key %s is mixed: site 0x%" PRIx64 " calls %s, site 0x%" PRIx64
				 " calls %s",
				 k->name, k->sites[0], k->target_names[first], k->sites[i],
				 k->target_names[t]);
			return -EILSEQ;
		}
		first = t;
	}
	p->res->old_target = (unsigned)first;
	p->old_dest = k->targets[first];
	return 0;
}

static void encode(struct patch_run *p, uint64_t site, uint64_t dest, uint8_t insn[HVP_INSN_LEN])
{
	/* Sites and targets are both inside the image's text: always in range. */
	hvp_agent_encode(insn, site, p->req->key->opcode, dest);
}

/* ---- stop ---- */

static int method_stop(struct patch_run *p)
{
	struct hvp_backend *be = p->ctx->be;
	const struct hvp_key_info *k = p->req->key;
	uint64_t t_paused;
	unsigned i;
	int r;

	jstep(p, "pause");
	if (must_stop(p))
		return stopped(p, 0);
	r = be->ops->pause_all(be, p->req->timeout_ms);
	p->res->sync_rounds++;
	note_round(p);
	if (r < 0) {
		char held[160] = "";

		if (r == -ETIMEDOUT && p->res->slowest.what) {
			struct hvp_round_info ri = p->res->slowest;

			ri.nr = ri.nr ? 1 : 0;
			hvp_round_describe(&ri, held, sizeof(held));
		}
		snprintf(p->res->reason, sizeof(p->res->reason), "pausing the vCPUs: %s%s%s",
			 strerror(-r), held[0] ? "; held by " : "", held);
		return r;
	}
	t_paused = hvp_now_ns();
	r = check_old(p);
	for (i = 0; r == 0 && i < k->nr_sites; i++) {
		uint8_t insn[HVP_INSN_LEN];

		encode(p, k->sites[i], p->new_dest, insn);
		jstep(p, "write site 0x%" PRIx64, k->sites[i]);
		if (must_stop(p)) {
			unsigned j;

			/* still paused: the old bytes go straight back */
			p->undoing = true;
			for (j = 0; r == 0 && j < i; j++) {
				encode(p, k->sites[j], p->old_dest, insn);
				r = write_bytes(p, k->sites[j], insn, 0, HVP_INSN_LEN);
			}
			r = stopped(p, r);
			break;
		}
		r = write_bytes(p, k->sites[i], insn, 0, HVP_INSN_LEN);
	}
	p->res->paused_ns = hvp_now_ns() - t_paused;
	jstep(p, "resume");
	be->ops->resume_all(be, p->req->sync == HVP_SYNC_NMI);
	return r;
}

/* ---- bp-emulate ---- */

/*
 * Take the int3s off sites 0..j-1 again (their tails hold the old
 * instruction), let every handler finish, and end the batch with the key
 * where it was: 0 (res->reason kept), or a failed round's error.
 */
static int emulate_undo(struct patch_run *p, const uint64_t *sites, unsigned j)
{
	struct hvp_patch_ctl *ctl = &p->ctx->agent->patch;
	char reason[sizeof(p->res->reason)];
	unsigned i;
	int r;

	p->undoing = true; /* an undo runs to its end */
	memcpy(reason, p->res->reason, sizeof(reason));
	for (i = 0; i < j; i++)
		swap_byte(p, sites[i], HVP_OPC_INT3, p->req->key->opcode);
	r = sync_round(p);
	if (r < 0)
		return r;
	__atomic_store_n(&ctl->method, HVP_PM_NONE, __ATOMIC_RELEASE);
	__atomic_store_n(&ctl->nr_emu, 0, __ATOMIC_RELEASE);
	memcpy(p->res->reason, reason, sizeof(reason));
	return 0;
}

/*
 * Patch sites[0..n) of the key from `from` to `dest` with the 3-round batch.
 * A site that no longer holds the call to `from` when its int3 goes in is
 * refused by name and the batch is undone; later changes by the guest are
 * overwritten (only ever inside the site) or caught by the read-back.
 */
static int emulate_batch(struct patch_run *p, const uint64_t *sites, unsigned n, uint64_t from,
			 uint64_t dest)
{
	struct hvp_patch_ctl *ctl = &p->ctx->agent->patch;
	const uint8_t op = p->req->key->opcode;
	uint8_t insn[HVP_INSN_LEN], old[HVP_INSN_LEN];
	char first_bad[sizeof(p->res->reason)];
	bool mismatch = false;
	unsigned i;
	int r;

	/* step 0: the vector, sorted because sites[] is */
	jstep(p, "emulation vector, %u sites", n);
	if (must_stop(p))
		return stopped(p, 0);
	__atomic_store_n(&ctl->nr_emu, 0, __ATOMIC_RELEASE);
	for (i = 0; i < n; i++) {
		ctl->emu[i].addr = sites[i];
		ctl->emu[i].target = dest;
		ctl->emu[i].opcode = op;
	}
	__atomic_store_n(&ctl->nr_emu, n, __ATOMIC_RELEASE);
	__atomic_store_n(&ctl->method, HVP_PM_EMULATE, __ATOMIC_RELEASE);

	/* step 1: int3 everywhere, each over the expected old instruction */
	jstep(p, "int3 on %u sites", n);
	if (must_stop(p)) {
		/* no int3 is in: no handler can be searching the vector */
		__atomic_store_n(&ctl->method, HVP_PM_NONE, __ATOMIC_RELEASE);
		__atomic_store_n(&ctl->nr_emu, 0, __ATOMIC_RELEASE);
		return stopped(p, 0);
	}
	for (i = 0; i < n; i++) {
		encode(p, sites[i], from, old);
		r = swap_byte(p, sites[i], op, HVP_OPC_INT3);
		if (r == -EAGAIN ||
		    (r == 0 && memcmp(p->ram + sites[i] + 1, old + 1, HVP_INSN_LEN - 1))) {
			/* the guest changed it: take the batch back */
			site_changed(p, sites[i]);
			if (r == 0)
				i++; /* this one has our int3 too */
			r = emulate_undo(p, sites, i);
			return r < 0 ? r : -EILSEQ;
		}
		if (r < 0)
			goto out;
	}
	r = sync_round(p);
	if (r < 0)
		goto out;
	/*
	 * Steps 2 and 3: a read-back mismatch means the guest wrote the site
	 * after our int3 went in.  That site is the guest's to keep; the batch
	 * still finishes everywhere else, so that no int3 of ours is left
	 * behind, and the first mismatch is reported.
	 */
	jstep(p, "tails of %u sites", n);
	if (must_stop(p))
		return stopped(p, emulate_undo(p, sites, n));
	for (i = 0; i < n; i++) {
		encode(p, sites[i], dest, insn);
		r = write_bytes(p, sites[i], insn, 1, HVP_INSN_LEN - 1);
		if (r == -EIO && !mismatch)
			memcpy(first_bad, p->res->reason, sizeof(first_bad));
		mismatch |= r == -EIO;
		if (r < 0 && r != -EIO)
			goto out;
	}
	r = sync_round(p);
	if (r < 0)
		goto out;
	/* step 3: first bytes */
	jstep(p, "first bytes of %u sites", n);
	if (must_stop(p)) {
		/* under the int3s the old tails go back, a round, then the int3s */
		p->undoing = true;
		for (i = 0; r == 0 && i < n; i++) {
			encode(p, sites[i], from, old);
			r = write_bytes(p, sites[i], old, 1, HVP_INSN_LEN - 1);
		}
		if (r == 0)
			r = sync_round(p);
		if (r == 0)
			r = emulate_undo(p, sites, n);
		return stopped(p, r);
	}
	for (i = 0; i < n; i++) {
		encode(p, sites[i], dest, insn);
		r = write_bytes(p, sites[i], insn, 0, 1);
		if (r == 0)
			r = check_bytes(p, sites[i], insn, 0, HVP_INSN_LEN);
		if (r == -EIO && !mismatch)
			memcpy(first_bad, p->res->reason, sizeof(first_bad));
		mismatch |= r == -EIO;
		if (r < 0 && r != -EIO)
			goto out;
	}
	r = sync_round(p);
out:
	/*
	 * On a failed round the int3s stay and so must the vector: the guest
	 * handler keeps emulating the new call, which is correct either way.
	 */
	if (r == 0) {
		jstep(p, "clear the emulation vector");
		__atomic_store_n(&ctl->method, HVP_PM_NONE, __ATOMIC_RELEASE);
		__atomic_store_n(&ctl->nr_emu, 0, __ATOMIC_RELEASE);
		if (mismatch) {
			memcpy(p->res->reason, first_bad, sizeof(first_bad));
			r = -EIO;
		}
	}
	return r;
}

static int method_emulate(struct patch_run *p)
{
	int r = check_old(p);

	if (r < 0)
		return r;
	return emulate_batch(p, p->req->key->sites, p->req->key->nr_sites, p->old_dest,
			     p->new_dest);
}

/* ---- bp-cancel ---- */

static bool past_deadline(const struct patch_run *p)
{
	return hvp_now_ns() >= p->deadline_ns;
}

/*
 * Stop at site i, with res->reason already saying why: no int3 of ours may
 * stay behind (`armed`: one may be on site i), and sites 0..i-1 go back to
 * the old target.
 */
static int cancel_stop(struct patch_run *p, unsigned i, const uint8_t old[HVP_INSN_LEN], bool armed)
{
	struct hvp_patch_ctl *ctl = &p->ctx->agent->patch;
	const struct hvp_key_info *k = p->req->key;
	char saved[sizeof(p->res->reason)];
	int r;

	/* a rollback (timeout, a changed site, a stop) runs to its end: its
	 * bp-emulate batch must not stop half-way */
	p->undoing = true;
	memcpy(saved, p->res->reason, sizeof(saved));
	if (armed) {
		/* State stays 1/4 until the round is over, so a vCPU that still
		 * traps on the int3 cancels (idempotently) instead of faulting. */
		r = swap_byte(p, k->sites[i], HVP_OPC_INT3, old[0]);
		if (r < 0 && r != -EAGAIN)
			return r;
		p->res->rollbacks++;
		r = sync_round(p);
		if (r < 0)
			return r;
	}
	__atomic_store_n(&ctl->state, HVP_BPS_NORMAL, __ATOMIC_RELEASE);
	__atomic_store_n(&ctl->method, HVP_PM_NONE, __ATOMIC_RELEASE);
	__atomic_store_n(&ctl->write_addr, 0, __ATOMIC_RELEASE);
	if (i > 0) {
		/* bp-emulate always completes: the key ends on its old target */
		r = emulate_batch(p, k->sites, i, p->new_dest, p->old_dest);
		if (r < 0)
			return r;
		p->res->reverted = i;
	}
	memcpy(p->res->reason, saved, sizeof(saved));
	return 0;
}

/* Does the site hold `old`, or `old` under our int3 (when `armed`)? */
static bool holds_old(struct patch_run *p, uint64_t site, const uint8_t old[HVP_INSN_LEN],
		      bool armed)
{
	uint8_t b[HVP_INSN_LEN];
	unsigned j;

	for (j = 0; j < HVP_INSN_LEN; j++)
		b[j] = __atomic_load_n(&p->ram[site + j], __ATOMIC_ACQUIRE);
	if (armed && b[0] == HVP_OPC_INT3)
		b[0] = old[0];
	return !memcmp(b, old, HVP_INSN_LEN);
}

static int cancel_one(struct patch_run *p, unsigned i, bool *gave_up)
{
	struct hvp_patch_ctl *ctl = &p->ctx->agent->patch;
	const struct hvp_key_info *k = p->req->key;
	uint64_t site = k->sites[i];
	uint8_t old[HVP_INSN_LEN], new[HVP_INSN_LEN];
	const uint8_t cc = HVP_OPC_INT3;
	unsigned attempt;
	int r, bad;

	/* The old instruction is the one check_old() saw, never what the guest
	 * may have put there since: a site it changed is refused by name. */
	encode(p, site, p->old_dest, old);
	encode(p, site, p->new_dest, new);
	if (!holds_old(p, site, old, false)) {
		site_changed(p, site);
		r = cancel_stop(p, i, old, false);
		return r < 0 ? r : -EILSEQ;
	}
	memcpy(ctl->old_insn, old, HVP_INSN_LEN);
	memcpy(ctl->new_insn, new, HVP_INSN_LEN);
	__atomic_store_n(&ctl->write_addr, site, __ATOMIC_RELEASE);

	for (attempt = 0;; attempt++) {
		uint32_t one = HVP_BPS_CANCELLABLE;

		if (past_deadline(p)) {
			*gave_up = true;
			snprintf(p->res->reason, sizeof(p->res->reason),
				 "timed out after %d ms at site %u of %u (0x%" PRIx64
				 "): %u attempts cancelled",
				 p->req->timeout_ms, i + 1, k->nr_sites, site, p->res->retries);
			r = cancel_stop(p, i, old, true);
			if (r == 0 && !holds_old(p, site, old, false))
				r = site_changed(p, site);
			return r;
		}
		jstep(p, "state 1, int3 at 0x%" PRIx64, site);
		if (must_stop(p)) {
			/* as at the deadline: sites 0..i-1 go back to the old target */
			*gave_up = true;
			return stopped(p, cancel_stop(p, i, old, attempt > 0));
		}
		__atomic_store_n(&ctl->state, HVP_BPS_CANCELLABLE, __ATOMIC_RELEASE);
		r = put_byte(p, site, HVP_OPC_INT3);
		if (r < 0)
			return r;
		r = sync_round(p);
		if (r < 0)
			return r;
		/*
		 * Still in state 1 (or 4): a handler only ever puts the old first
		 * byte back, so anything else on the site is the guest's doing.
		 * Check before state 2, never after: from state 2 on, handlers
		 * may be writing the new tail, and the state must not go back.
		 */
		if (!holds_old(p, site, old, true)) {
			site_changed(p, site);
			r = cancel_stop(p, i, old, true);
			return r < 0 ? r : -EILSEQ;
		}
		if (__atomic_load_n(&p->ram[site], __ATOMIC_ACQUIRE) == cc &&
		    __atomic_compare_exchange_n(&ctl->state, &one, HVP_BPS_FINAL, 0,
						__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			break;
		p->res->retries++;
		p->res->rollbacks++;
	}
	jstep(p, "state 2, tail then first byte at 0x%" PRIx64, site);
	r = write_bytes(p, site, new, 1, HVP_INSN_LEN - 1);
	/* the round the proposal lacks: every vCPU sees the whole new tail
	 * before any can see a first byte that is not int3 (bp-cancel-hpa
	 * leaves it out, as written) */
	if (r == 0 && p->req->method != HVP_METHOD_BP_CANCEL_HPA)
		r = sync_round(p);
	if (r == 0)
		r = write_bytes(p, site, new, 0, 1);
	if (r == 0)
		r = check_bytes(p, site, new, 0, HVP_INSN_LEN);
	/* -EIO: the guest wrote the site under us; it keeps what it wrote */
	if (r < 0 && r != -EIO)
		return r;
	bad = r;
	jstep(p, "state 3 at 0x%" PRIx64, site);
	__atomic_store_n(&ctl->state, HVP_BPS_INSTALLED, __ATOMIC_RELEASE);
	r = sync_round(p);
	if (r < 0)
		return r;
	jstep(p, "state 0 after 0x%" PRIx64, site);
	__atomic_store_n(&ctl->state, HVP_BPS_NORMAL, __ATOMIC_RELEASE);
	return bad;
}

static int method_cancel(struct patch_run *p)
{
	struct hvp_patch_ctl *ctl = &p->ctx->agent->patch;
	char bad[sizeof(p->res->reason)] = "";
	unsigned i;
	int r;

	r = check_old(p);
	if (r < 0)
		return r;
	__atomic_store_n(&ctl->state, HVP_BPS_NORMAL, __ATOMIC_RELEASE);
	__atomic_store_n(&ctl->method,
			 p->req->method == HVP_METHOD_BP_CANCEL_HPA ? HVP_PM_CANCEL_HPA :
								      HVP_PM_CANCEL,
			 __ATOMIC_RELEASE);
	for (i = 0; i < p->req->key->nr_sites; i++) {
		bool gave_up = false;

		r = cancel_one(p, i, &gave_up);
		if (r == -EIO && !bad[0]) {
			memcpy(bad, p->res->reason, sizeof(bad));
			continue; /* the other sites still get patched */
		}
		if ((r < 0 && r != -EIO) || gave_up)
			return r;
	}
	__atomic_store_n(&ctl->method, HVP_PM_NONE, __ATOMIC_RELEASE);
	__atomic_store_n(&ctl->write_addr, 0, __ATOMIC_RELEASE);
	if (bad[0]) {
		memcpy(p->res->reason, bad, sizeof(bad));
		return -EIO;
	}
	p->res->completed = true;
	return 0;
}

/* ---- naive ---- */

static int method_naive(struct patch_run *p)
{
	const struct hvp_key_info *k = p->req->key;
	struct timespec d = { 0, (long)p->req->naive_delay_us * 1000L };
	unsigned i, b, n = 0, max = p->req->naive_max_bytes;
	int r = check_old(p);

	/* journaled like the others, so that a recovery finishes a torn key */
	if (r == 0)
		jstep(p, "write %u sites byte by byte", k->nr_sites);
	for (i = 0; r == 0 && i < k->nr_sites; i++) {
		uint8_t insn[HVP_INSN_LEN];

		encode(p, k->sites[i], p->new_dest, insn);
		for (b = 0; b < HVP_INSN_LEN && r == 0; b++) {
			if (max && n++ >= max) {
				snprintf(p->res->reason, sizeof(p->res->reason),
					 "stopped after %u bytes as asked: site 0x%" PRIx64
					 " is torn",
					 max, k->sites[i]);
				p->res->completed = false;
				return 0; /* a deliberate partial write */
			}
			r = write_bytes(p, k->sites[i], insn, b, 1);
			if (p->req->naive_delay_us)
				nanosleep(&d, NULL);
		}
	}
	p->res->completed = r == 0;
	return r;
}

/* ---- the guest's counters around a patch ---- */

struct counters {
	uint64_t bp_traps, bp_emulated, bp_cancels, bp_state2_waits, bp_reexec, bp_late, faults;
};

static void read_counters(struct hvp_patch_ctx *ctx, struct counters *c)
{
	unsigned i;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < ctx->be->nr_vcpus; i++) {
		const struct hvp_vcpu *v = &ctx->agent->vcpu[i];

		c->bp_traps += __atomic_load_n(&v->bp_traps, __ATOMIC_RELAXED);
		c->bp_emulated += __atomic_load_n(&v->bp_emulated, __ATOMIC_RELAXED);
		c->bp_cancels += __atomic_load_n(&v->bp_cancels, __ATOMIC_RELAXED);
		c->bp_state2_waits += __atomic_load_n(&v->bp_state2_waits, __ATOMIC_RELAXED);
		c->bp_reexec += __atomic_load_n(&v->bp_reexec, __ATOMIC_RELAXED);
		c->bp_late += __atomic_load_n(&v->bp_late, __ATOMIC_RELAXED);
		c->faults += __atomic_load_n(&v->nr_faults, __ATOMIC_RELAXED);
	}
}

static int patch_apply(struct hvp_patch_ctx *ctx, const struct hvp_patch_req *req,
		       struct hvp_patch_result *res)
{
	const struct hvp_key_info *k = req->key;
	struct patch_run p = { .ctx = ctx, .req = req, .res = res, .ram = ctx->be->ram };
	struct counters before, after;
	uint64_t t0;
	unsigned i;
	int r;

	memset(res, 0, sizeof(*res));
	res->sites = k->nr_sites;
	if (req->method >= HVP_METHOD__COUNT) {
		snprintf(res->reason, sizeof(res->reason), "unknown method");
		return -EINVAL;
	}
	if (hvp_methods[req->method].unsafe && !req->unsafe) {
		snprintf(res->reason, sizeof(res->reason),
			 "method %s %s; it runs only with --unsafe", hvp_methods[req->method].name,
			 hvp_methods[req->method].hazard);
		return -EPERM;
	}
	if (req->target >= k->nr_targets) {
		snprintf(res->reason, sizeof(res->reason), "target index %u out of range",
			 req->target);
		return -EINVAL;
	}
	if (k->nr_sites == 0 || k->nr_sites > HVP_MAX_SITES) {
		snprintf(res->reason, sizeof(res->reason), "key has %u sites", k->nr_sites);
		return -EINVAL;
	}
	/* The validated copy must still be sorted, apart and inside RAM. */
	for (i = 0; i < k->nr_sites; i++) {
		if (ctx->be->ram_size < HVP_INSN_LEN ||
		    k->sites[i] > ctx->be->ram_size - HVP_INSN_LEN ||
		    (i && k->sites[i] - k->sites[i - 1] < HVP_INSN_LEN)) {
			snprintf(res->reason, sizeof(res->reason),
				 "internal error: site table of key %s is not valid at entry %u",
				 k->name, i);
			return -EFAULT;
		}
	}
	p.new_dest = k->targets[req->target];
	if (req->sync != HVP_SYNC_KICK && req->sync != HVP_SYNC_NMI) {
		snprintf(res->reason, sizeof(res->reason), "unknown sync kind");
		return -EINVAL;
	}

	for (i = 0; i < ctx->be->nr_vcpus; i++)
		__atomic_store_n(&ctx->agent->vcpu[i].window_max_gap, 0, __ATOMIC_RELAXED);
	read_counters(ctx, &before);
	t0 = hvp_now_ns();
	p.deadline_ns = t0 + (uint64_t)req->timeout_ms * 1000000u;
	if (ctx->journal) {
		/* one fsync for the lot: the first step's record makes them durable */
		r = hvp_journal_add_nosync(ctx->journal,
					   "begin key=%s method=%s target=%s sites=%u", k->name,
					   hvp_methods[req->method].name,
					   k->target_names[req->target], k->nr_sites);
		for (i = 0; r == 0 && i < k->nr_sites; i++) {
			const uint8_t *b = ctx->be->ram + k->sites[i];
			uint8_t n[HVP_INSN_LEN];

			hvp_agent_encode(n, k->sites[i], k->opcode, p.new_dest);
			r = hvp_journal_add_nosync(ctx->journal,
						   "site 0x%" PRIx64
						   " old=%02x%02x%02x%02x%02x new=%02x%02x%02x%02x%02x",
						   k->sites[i], b[0], b[1], b[2], b[3], b[4], n[0],
						   n[1], n[2], n[3], n[4]);
		}
		if (r < 0) {
			p.jfailed = true;
			snprintf(p.stop_why, sizeof(p.stop_why), "journal: %s", strerror(-r));
		}
	}

	if (must_stop(&p)) {
		r = stopped(&p, 0);
		goto out;
	}
	switch (req->method) {
	case HVP_METHOD_STOP:
		r = method_stop(&p);
		res->completed = r == 0;
		break;
	case HVP_METHOD_BP_EMULATE:
		r = method_emulate(&p);
		res->completed = r == 0;
		break;
	case HVP_METHOD_BP_CANCEL:
	case HVP_METHOD_BP_CANCEL_HPA:
		r = method_cancel(&p);
		break;
	case HVP_METHOD_NAIVE:
	default:
		r = method_naive(&p);
		break;
	}
	/* every write was made: a stop that came after it changes nothing */
	if (res->completed && p.stop_why[0])
		snprintf(res->reason, sizeof(res->reason),
			 "%s after the patch's last write: it completed", p.stop_why);
out:
	res->latency_ns = hvp_now_ns() - t0;
	if (ctx->journal) {
		/* even after a failed record: an end, then empty, is what counts */
		hvp_journal_add(ctx->journal, "end %s",
				r < 0	       ? "error" :
				res->completed ? "completed" :
						 "not-completed");
		hvp_journal_reset(ctx->journal);
	}
	read_counters(ctx, &after);
	res->bp_traps = after.bp_traps - before.bp_traps;
	res->bp_emulated = after.bp_emulated - before.bp_emulated;
	res->bp_cancels = after.bp_cancels - before.bp_cancels;
	res->bp_state2_waits = after.bp_state2_waits - before.bp_state2_waits;
	res->bp_reexec = after.bp_reexec - before.bp_reexec;
	res->bp_late = after.bp_late - before.bp_late;
	res->faults = after.faults - before.faults;
	for (i = 0; i < ctx->be->nr_vcpus; i++) {
		uint64_t g = __atomic_load_n(&ctx->agent->vcpu[i].window_max_gap, __ATOMIC_RELAXED);
		uint64_t ns = ctx->be->tsc_khz ? g * 1000000u / ctx->be->tsc_khz : 0;

		if (i < HVP_MAX_VCPUS)
			res->stall_ns[i] = ns;
		if (ns > res->max_stall_ns) {
			res->max_stall_ns = ns;
			res->max_stall_vcpu = i;
		}
	}
	if (res->faults && res->completed && !res->reason[0])
		snprintf(res->reason, sizeof(res->reason),
			 "%" PRIu64 " guest fault(s) during the patch", res->faults);
	/* A refusal wrote nothing; a failure after writing is -EIO or a round. */
	return r;
}

int hvp_patch_recover(struct hvp_patch_ctx *ctx, const uint64_t *addr,
		      const uint8_t (*new_insn)[HVP_INSN_LEN], unsigned n, unsigned *fixed,
		      char *err, size_t errlen)
{
	struct hvp_backend *be = ctx->be;
	struct hvp_patch_ctl *ctl = &ctx->agent->patch;
	unsigned i;
	int r;

	*fixed = 0;
	for (i = 0; i < n; i++)
		if (addr[i] + HVP_INSN_LEN > be->ram_size) {
			snprintf(err, errlen, "journaled site 0x%" PRIx64 " outside guest RAM",
				 addr[i]);
			return -EINVAL;
		}
	r = be->ops->pause_all(be, 10000);
	if (r < 0) {
		snprintf(err, errlen, "pausing the vCPUs: %s", strerror(-r));
		return r;
	}
	for (i = 0; i < n; i++) {
		if (memcmp(be->ram + addr[i], new_insn[i], HVP_INSN_LEN)) {
			memcpy(be->ram + addr[i], new_insn[i], HVP_INSN_LEN);
			(*fixed)++;
		}
	}
	__atomic_store_n(&ctl->state, HVP_BPS_NORMAL, __ATOMIC_RELEASE);
	__atomic_store_n(&ctl->method, HVP_PM_NONE, __ATOMIC_RELEASE);
	__atomic_store_n(&ctl->nr_emu, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&ctl->write_addr, 0, __ATOMIC_RELEASE);
	for (i = 0; i < n; i++)
		if (memcmp(be->ram + addr[i], new_insn[i], HVP_INSN_LEN)) {
			snprintf(err, errlen, "read-back mismatch at site 0x%" PRIx64, addr[i]);
			r = -EIO;
		}
	be->ops->resume_all(be, false);
	return r;
}

/* ---- the bench's #BP cost ---- */

int hvp_patch_measure_bp(struct hvp_patch_ctx *ctx, const struct hvp_key_info *key,
			 void (*measure)(void *arg), void *arg, struct hvp_patch_result *res)
{
	/* no journal: nothing here is a patch to finish after a crash */
	struct hvp_patch_ctx c = { .be = ctx->be, .agent = ctx->agent, .stop = ctx->stop };
	struct hvp_patch_req req = { .key = key, .sync = HVP_SYNC_KICK, .timeout_ms = 2000 };
	struct patch_run p = { .ctx = &c, .req = &req, .res = res, .ram = ctx->be->ram };
	struct hvp_patch_ctl *ctl = &ctx->agent->patch;
	uint8_t old[HVP_INSN_LEN], trap[HVP_INSN_LEN];
	uint64_t site;
	int r, undo_r;

	memset(res, 0, sizeof(*res));
	res->sites = 1;
	if (key->nr_sites == 0 || key->sites[0] > ctx->be->ram_size - HVP_INSN_LEN) {
		snprintf(res->reason, sizeof(res->reason), "key %s has no site to trap on",
			 key->name);
		return -EINVAL;
	}
	site = key->sites[0];
	r = check_old(&p);
	if (r < 0)
		return r;
	memcpy(old, p.ram + site, HVP_INSN_LEN);
	memcpy(trap, old, HVP_INSN_LEN);
	trap[0] = HVP_OPC_INT3;

	/* the vector first (release), then the int3: bp-emulate's step 0 and 1 */
	__atomic_store_n(&ctl->nr_emu, 0, __ATOMIC_RELEASE);
	ctl->emu[0].addr = site;
	ctl->emu[0].target = p.old_dest;
	ctl->emu[0].opcode = key->opcode;
	__atomic_store_n(&ctl->nr_emu, 1, __ATOMIC_RELEASE);
	__atomic_store_n(&ctl->method, HVP_PM_EMULATE, __ATOMIC_RELEASE);
	r = write_bytes(&p, site, trap, 0, 1);
	if (r == 0)
		measure(arg);

	/* the old byte back, and no handler left in flight, before the vector goes */
	undo_r = r == -EFAULT ? 0 : write_bytes(&p, site, old, 0, 1);
	p.deadline_ns = hvp_now_ns() + (uint64_t)req.timeout_ms * 1000000u;
	if (undo_r == 0)
		undo_r = sync_round(&p);
	if (undo_r < 0)
		return undo_r; /* the vector stays: a late handler still finds it */
	__atomic_store_n(&ctl->method, HVP_PM_NONE, __ATOMIC_RELEASE);
	__atomic_store_n(&ctl->nr_emu, 0, __ATOMIC_RELEASE);
	return r;
}

/*
 * The patching thread runs at SCHED_FIFO priority 1 while it patches, when
 * the host allows it (root, or CAP_SYS_NICE; HVP_NO_BOOST=1 turns it off).
 * On a host with fewer cores than busy threads (two vCPUs in tight loops on
 * two cores), a normal thread woken by the last acknowledgement of a round
 * waits for a running vCPU thread's slice to end: milliseconds per round
 * (the rounds' waiter_late_ns).  A real-time waiter preempts it at once.
 * Only on backends whose waits all block (rt_waiter_ok: the own VMM), so it
 * cannot starve the vCPUs it waits for; a polling backend (QEMU's kick round
 * looks every 20 us) under SCHED_FIFO timed bp-cancel rounds out in CI.
 */
void hvp_patch_boost(const struct hvp_patch_ctx *ctx, struct hvp_patch_boost *b)
{
	struct sched_param rt = { .sched_priority = 1 };
	const char *no = getenv("HVP_NO_BOOST");

	memset(b, 0, sizeof(*b));
	b->policy = SCHED_OTHER;
	if (ctx->be->rt_waiter_ok && !(no && *no && strcmp(no, "0")) &&
	    pthread_getschedparam(pthread_self(), &b->policy, &b->old) == 0 &&
	    b->policy == SCHED_OTHER)
		b->on = pthread_setschedparam(pthread_self(), SCHED_FIFO, &rt) == 0;
}

void hvp_patch_unboost(struct hvp_patch_boost *b)
{
	if (b->on)
		pthread_setschedparam(pthread_self(), b->policy, &b->old);
	b->on = false;
}

int hvp_patch_apply(struct hvp_patch_ctx *ctx, const struct hvp_patch_req *req,
		    struct hvp_patch_result *res)
{
	struct hvp_patch_boost b;
	int r;

	hvp_patch_boost(ctx, &b);
	r = patch_apply(ctx, req, res);
	res->boosted = b.on;
	hvp_patch_unboost(&b);
	return r;
}
