// SPDX-License-Identifier: GPL-2.0-only
/*
 * The patcher may die; the key must not end half-switched.  Without KVM: a
 * fake backend over a shared fake guest RAM, the real patch engine with its
 * real journal in a child process that SIGKILLs itself after journal record
 * K (HVPATCH_JOURNAL_KILL_AT, as tests/backend-recovery.sh does to a qemu
 * VM's service), for every K of every method until a patch runs to its end;
 * then the real recovery (hvp_service_recover(), what `vm attach` runs) over
 * what the child left.  After each kill: recovery succeeds, the whole key
 * calls one target (the old one when the child died before its first step,
 * else the new one), no int3 is left, the patch control block is reset, and
 * no byte outside the sites and that block changed.  Then the journals a
 * recovery must refuse, each leaving the guest untouched: a site holding
 * bytes of neither instruction, a new instruction that is no call into the
 * text, a site outside the text, a malformed journal.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "fake-guest.h"
#include "journal.h"
#include "patch.h"
#include "service-int.h"
#include "tap.h"

static char rundir[] = "/tmp/hvp-unit-recover.XXXXXX";
static char jpath[256];

static void setup(void)
{
	fake_guest_reset();
	unlink(jpath);
}

static struct hvp_agent *agent(void)
{
	return (struct hvp_agent *)(ram + AGENT_GPA);
}

/* The target every site calls (0 or 1), or -1: mixed, int3 or garbage. */
static int key_target(void)
{
	int t = -2, ti;
	uint64_t dest;
	unsigned s;

	for (s = 0; s < NR_SITES; s++) {
		if (hvp_agent_decode(ram + sites[s], sites[s], HVP_OPC_CALL, &dest) < 0)
			return -1;
		ti = hvp_key_target_index(&key, dest);
		if (ti < 0 || (t != -2 && ti != t))
			return -1;
		t = ti;
	}
	return t;
}

/* The patch every case runs: the key to alpha_b, kick rounds, naive allowed. */
static struct hvp_patch_req to_alpha_b(enum hvp_method m)
{
	return (struct hvp_patch_req){ .key = &key,
				       .target = 1,
				       .method = m,
				       .sync = HVP_SYNC_KICK,
				       .timeout_ms = 5000,
				       .unsafe = true };
}

/*
 * In a child: patch the key to alpha_b with METHOD, journaled, dying after
 * record K (0: never).  0 when the patch ran to its end, 1 when it died as
 * asked, -1 otherwise.
 */
static int patch_in_child(enum hvp_method m, unsigned k)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		struct hvp_journal j;
		struct hvp_patch_ctx ctx = { .be = &be, .agent = agent(), .journal = &j };
		struct hvp_patch_req rq = to_alpha_b(m);
		struct hvp_patch_result res;
		char err[256], kbuf[16];

		snprintf(kbuf, sizeof(kbuf), "%u", k);
		setenv("HVPATCH_JOURNAL_KILL_AT", kbuf, 1);
		if (hvp_journal_open(&j, jpath, err, sizeof(err)) < 0)
			_exit(3);
		_exit(hvp_patch_apply(&ctx, &rq, &res) == 0 && res.completed ? 0 : 4);
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
		return 1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* What `vm attach` runs: the recovery of a service over this RAM and journal. */
static int recover(char *err, size_t len)
{
	struct hvp_service s;
	int r;

	memset(&s, 0, sizeof(s));
	snprintf(s.opts.rundir, sizeof(s.opts.rundir), "%s", rundir);
	snprintf(s.opts.name, sizeof(s.opts.name), "vm");
	s.be = &be;
	s.agent = agent();
	s.bounds = (struct hvp_agent_bounds){ .ram_size = RAM_SIZE,
					      .agent_gpa = AGENT_GPA,
					      .text_start = TEXT_START,
					      .text_end = TEXT_END };
	s.journal.fd = -1;
	err[0] = 0;
	r = hvp_service_recover(&s, err, len);
	hvp_journal_close(&s.journal);
	return r;
}

/*
 * The guest's half of a cancel (what its #BP handler does on a hit in state
 * 1): state 4 and the old first byte back, at round 1 and again at round 4,
 * so that the kills also land in cancelled attempts and their retries.
 */
static void cancel_twice(unsigned r)
{
	struct hvp_patch_ctl *ctl = &agent()->patch;

	if ((r == 1 || r == 4) && ctl->state == HVP_BPS_CANCELLABLE) {
		ctl->state = HVP_BPS_CANCELLED;
		ram[ctl->write_addr] = ctl->old_insn[0];
	}
}

static unsigned cancel_plain_kills; /* bp-cancel's records without the script */

static void kill_at_every_record_with(enum hvp_method m, void (*script)(unsigned))
{
	char name[64];
	unsigned k, kills = 0, ok = 0, old_after = 0;
	char err[512];
	int r = -1;

	snprintf(name, sizeof(name), "%s%s", hvp_methods[m].name,
		 script ? " with cancelled attempts" : "");
	for (k = 1; k <= 200; k++) {
		setup();
		guest = script; /* runs in the child, at its rounds */
		r = patch_in_child(m, k);
		guest = NULL;
		if (r != 1)
			break;
		kills++;
		if (recover(err, sizeof(err)) < 0) {
			printf("# %s, killed after record %u: recovery failed: %s\n", name, k, err);
			continue;
		}
		if (key_target() < 0 || changed_elsewhere() ||
		    agent()->patch.state != HVP_BPS_NORMAL ||
		    agent()->patch.method != HVP_PM_NONE) {
			printf("# %s, killed after record %u: key target %d, %u bytes changed "
			       "elsewhere, state %u, method %u\n",
			       name, k, key_target(), changed_elsewhere(), agent()->patch.state,
			       agent()->patch.method);
			continue;
		}
		old_after += key_target() == 0;
		ok++;
	}
	tap_ok(r == 0 && kills >= 3,
	       "%s: killed after each of its %u journal records, then ran to "
	       "its end (%d)",
	       name, kills, r);
	tap_ok(ok == kills,
	       "%s: after each kill the whole key calls one target, no int3, the "
	       "control block reset, nothing else changed (%u of %u; %u stayed old)",
	       name, ok, kills, old_after);
	if (m == HVP_METHOD_BP_CANCEL && !script)
		cancel_plain_kills = kills;
	if (script)
		tap_ok(kills > cancel_plain_kills,
		       "%s: the cancels made it journal more (%u records, %u without)", name, kills,
		       cancel_plain_kills);
	/* begin, then the site records: no step was taken, nothing may change */
	tap_ok(old_after == 1 + NR_SITES && old_after < kills,
	       "%s: it stayed old exactly until the first step (%u kills left it old)", name,
	       old_after);
}

static void kill_at_every_record(enum hvp_method m)
{
	kill_at_every_record_with(m, NULL);
}

/*
 * A journal record that fails (a full disk, an I/O error: the test hook
 * HVPATCH_JOURNAL_FAIL_AT=K fails record K with EIO once written) stops the
 * patch before the write it describes and undoes what was written: for
 * every K until a patch completes, the answer is "nothing written" or
 * "patch cancelled, what it wrote was undone", the key still calls its old
 * target with no int3 left, and nothing else changed.  Only a record that
 * fails after the last write to the text leaves a completed patch, and the
 * answer says so.
 */
static void fail_at_every_record(enum hvp_method m)
{
	const char *name = hvp_methods[m].name;
	unsigned k, fails = 0, ok = 0;
	struct hvp_patch_result res;
	bool done = false;
	char err[256], kbuf[16];

	for (k = 1; k <= 200 && !done; k++) {
		struct hvp_journal j;
		struct hvp_patch_ctx ctx = { .be = &be, .agent = agent(), .journal = &j };
		struct hvp_patch_req rq = to_alpha_b(m);
		int r;

		setup();
		snprintf(kbuf, sizeof(kbuf), "%u", k);
		setenv("HVPATCH_JOURNAL_FAIL_AT", kbuf, 1);
		r = hvp_journal_open(&j, jpath, err, sizeof(err));
		unsetenv("HVPATCH_JOURNAL_FAIL_AT");
		if (r < 0)
			break;
		r = hvp_patch_apply(&ctx, &rq, &res);
		hvp_journal_close(&j);
		if (res.completed && j.records < k) {
			done = true; /* record k was never written: it ran to its end */
			break;
		}
		fails++;
		if ((res.completed ? key_target() == 1 &&
					     (k == j.records /* the end record */ ||
					      strstr(res.reason, "after the patch's last write: it "
								 "completed")) :
				     (strstr(res.reason, "nothing written") ||
				      strstr(res.reason, "what it wrote was undone")) &&
					     key_target() == 0) &&
		    agent()->patch.state == HVP_BPS_NORMAL &&
		    agent()->patch.method == HVP_PM_NONE) {
			if (!changed_elsewhere())
				ok++;
		} else {
			printf("# %s, record %u failed: %d, completed %d, key target %d: %s\n",
			       name, k, r, res.completed, key_target(), res.reason);
		}
	}
	tap_ok(done && fails >= 3,
	       "%s: each of its %u journal records failed in turn, then it ran "
	       "to its end",
	       name, fails);
	tap_ok(ok == fails,
	       "%s: after each failed record the key calls its old target, no int3 "
	       "(or the new one when it failed after the last write, saying so), the "
	       "control block reset, nothing else changed (%u of %u)",
	       name, ok, fails);
}

/*
 * `vm stop` during a patch sets the stop flag the engine reads before each
 * write: at the start of each sync round in turn (and at the pause), the
 * patch either had made its last write (completed, the key on alpha_b) or
 * undoes what it wrote and says "VM is stopping" (the key on alpha_a); no
 * int3 is left, the control block is reset, nothing else changed.
 */
static bool stopping;
static unsigned stop_round;

static void stop_in_round(unsigned r)
{
	if (r == stop_round)
		__atomic_store_n(&stopping, true, __ATOMIC_RELEASE);
}

static void stop_at_every_round(enum hvp_method m)
{
	const char *name = hvp_methods[m].name;
	struct hvp_patch_ctx ctx = { .be = &be, .agent = agent(), .stop = &stopping };
	struct hvp_patch_req rq = to_alpha_b(m);
	struct hvp_patch_result res;
	unsigned n, ok = 0, undone = 0;

	setup();
	stopping = false;
	hvp_patch_apply(&ctx, &rq, &res); /* how many rounds does it take? */
	n = rounds;
	for (stop_round = 0; stop_round <= n; stop_round++) {
		setup();
		stopping = false;
		guest = stop_in_round;
		hvp_patch_apply(&ctx, &rq, &res);
		guest = NULL;
		if ((res.completed ? key_target() == 1 :
				     strstr(res.reason, "VM is stopping") && key_target() == 0) &&
		    agent()->patch.state == HVP_BPS_NORMAL &&
		    agent()->patch.method == HVP_PM_NONE && !changed_elsewhere()) {
			ok++;
			undone += !res.completed;
		} else {
			printf("# %s, stopped in round %u: completed %d, key target %d: %s\n", name,
			       stop_round, res.completed, key_target(), res.reason);
		}
	}
	tap_ok(ok == n + 1 && undone >= 1,
	       "%s: stopped at the pause and at each of its %u rounds: completed or undone, "
	       "never half (%u of %u; %u undone)",
	       name, n, ok, n + 1, undone);
}

/*
 * Write TEXT as the journal over the guest as it is now, recover: the
 * answer, err, and whether any byte of RAM changed.
 */
static int recover_from(const char *text, char *err, size_t len, bool *changed)
{
	FILE *f;
	int r;

	memcpy(before, ram, RAM_SIZE);
	f = fopen(jpath, "w");
	if (!f)
		return -errno;
	fputs(text, f);
	fclose(f);
	r = recover(err, len);
	*changed = memcmp(ram, before, RAM_SIZE) != 0;
	return r;
}

int main(void)
{
	static const enum hvp_method methods[] = { HVP_METHOD_STOP, HVP_METHOD_BP_EMULATE,
						   HVP_METHOD_BP_CANCEL, HVP_METHOD_BP_CANCEL_HPA,
						   HVP_METHOD_NAIVE };
	char err[512], j[1024], site0[128];
	bool changed;
	unsigned i;
	uint8_t insn[HVP_INSN_LEN];
	int r;

	ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	before = malloc(RAM_SIZE);
	if (ram == MAP_FAILED || !before || !mkdtemp(rundir)) {
		printf("1..0 # SKIP cannot set up: %s\n", strerror(errno));
		return 0;
	}
	be.ram = ram;
	snprintf(jpath, sizeof(jpath), "%s/vm.journal", rundir);

	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		kill_at_every_record(methods[i]);
	kill_at_every_record_with(HVP_METHOD_BP_CANCEL, cancel_twice);
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (methods[i] != HVP_METHOD_NAIVE) /* naive writes on: it has no undo */
			fail_at_every_record(methods[i]);
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (methods[i] != HVP_METHOD_NAIVE)
			stop_at_every_round(methods[i]);

	/* journals a recovery must refuse, touching nothing */
	setup();
	hvp_agent_encode(insn, sites[0], HVP_OPC_CALL, TARGET_B);
	snprintf(site0, sizeof(site0),
		 "site 0x%x old=%02x%02x%02x%02x%02x new=%02x%02x%02x%02x%02x\n",
		 (unsigned)sites[0], ram[sites[0]], ram[sites[0] + 1], ram[sites[0] + 2],
		 ram[sites[0] + 3], ram[sites[0] + 4], insn[0], insn[1], insn[2], insn[3], insn[4]);
	snprintf(j, sizeof(j), "begin key=alpha method=stop target=alpha_b sites=1\n%sstep pause\n",
		 site0);
	r = recover_from(j, err, sizeof(err), &changed);
	tap_ok(r == 0 && !memcmp(ram + sites[0], insn, HVP_INSN_LEN) &&
		       !memcmp(ram + sites[1], before + sites[1], RAM_SIZE - sites[1]),
	       "control: a journal of this guest is replayed: its one site now calls alpha_b "
	       "(%d %s)",
	       r, err);

	setup();
	memcpy(ram + sites[0], "\x0f\x0b\x90\x90\x90", HVP_INSN_LEN);
	r = recover_from(j, err, sizeof(err), &changed);
	tap_ok(r == -EINVAL && strstr(err, "neither the journal's old nor its new") && !changed,
	       "a site holding bytes of neither instruction: refused, untouched (%s)", err);

	setup();
	snprintf(j, sizeof(j),
		 "begin key=alpha method=stop target=alpha_b sites=1\n"
		 "site 0x%x old=%02x%02x%02x%02x%02x new=e8ffffff7f\nstep pause\n",
		 (unsigned)sites[0], ram[sites[0]], ram[sites[0] + 1], ram[sites[0] + 2],
		 ram[sites[0] + 3], ram[sites[0] + 4]);
	r = recover_from(j, err, sizeof(err), &changed);
	tap_ok(r == -EINVAL && strstr(err, "no call or jmp into the text") && !changed,
	       "a new instruction that calls outside the text: refused, untouched (%s)", err);

	setup();
	snprintf(j, sizeof(j),
		 "begin key=alpha method=stop target=alpha_b sites=1\n"
		 "site 0x%x old=e800000000 new=e800000000\nstep pause\n",
		 TEXT_END + 0x100);
	r = recover_from(j, err, sizeof(err), &changed);
	tap_ok(r == -EINVAL && strstr(err, "outside the image's text") && !changed,
	       "a site outside the text: refused, untouched (%s)", err);

	setup();
	snprintf(j, sizeof(j), "begin key=alpha method=stop target=alpha_b sites=2\n%sstep pause\n",
		 site0);
	r = recover_from(j, err, sizeof(err), &changed);
	tap_ok(r == -EINVAL && strstr(err, "line 3") && strstr(err, "remove the file") && !changed,
	       "a journal missing a site record after a step: refused naming the line (%s)", err);

	setup();
	snprintf(j, sizeof(j), "begin key=alpha method=stop target=alpha_b sites=2\n%s", site0);
	r = recover_from(j, err, sizeof(err), &changed);
	tap_ok(r == 0 && !changed, "a patch that took no step: nothing finished, untouched (%d %s)",
	       r, err);

	unlink(jpath);
	rmdir(rundir);
	return tap_done();
}
