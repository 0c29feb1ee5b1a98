// SPDX-License-Identifier: GPL-2.0-only
/*
 * The rollout's pure parts (vmm/rollout.c): --gate parsing takes the three
 * gates and their limits and refuses anything else; --vms takes a comma
 * list of valid, distinct names; the plan gives the canary wave 0 and then
 * wave_size VMs a wave, skipping the VMs already on TARGET; across hosts,
 * the canary from the first host and the waves a VM of each host in turn.
 */
#include "config.h"

#include <string.h>

#include "rollout.h"
#include "rollout-waves.h"
#include "util.h"
#include "tap.h"

static int gate_ok(const char *s)
{
	struct rollout_gates g = { 0 };
	char err[256];

	return rollout_gate_parse(&g, s, err, sizeof(err)) == 0;
}

/*
 * The waves of n VMs (already[i]: on TARGET; hosts[i]: the VM's host, a
 * digit, or hosts NULL: no --hosts) as a string, e.g. "0 1 1 - 2".
 */
static const char *plan_on(unsigned n, const char *already, const char *hosts, unsigned canary,
			   unsigned wave_size, unsigned *nr_waves)
{
	static const char *const names[] = { "a", "b", "c", "d" };
	static char out[128];
	struct rollout_vm vms[16];
	struct rollout ro = { .vms = vms, .nr_vms = n, .canary = canary, .wave_size = wave_size };
	unsigned i;

	memset(vms, 0, sizeof(vms));
	for (i = 0; i < n; i++) {
		vms[i].state = already[i] == 'y' ? ROLLOUT_ALREADY : ROLLOUT_PENDING;
		vms[i].host_idx = hosts ? (unsigned)(hosts[i] - '0') : 0;
	}
	if (hosts) {
		ro.hosts = names;
		ro.nr_hosts = 4;
	}
	rollout_plan(&ro);
	*nr_waves = ro.nr_waves;
	return waves_of(vms, n, out, sizeof(out));
}

static const char *plan(unsigned n, const char *already, unsigned canary, unsigned wave_size,
			unsigned *nr_waves)
{
	return plan_on(n, already, NULL, canary, wave_size, nr_waves);
}

/* Plans across hosts: each VM's host, whether it is on TARGET, and the waves wanted. */
static const struct host_plan {
	const char *hosts, *already;
	unsigned canary, wave_size;
	const char *want;
	unsigned nr_waves;
	const char *what;
} host_plans[] = {
	{ "000111", "nnnnnn", 1, 2, "0 1 2 1 2 3", 4,
	  "the canary on the first host, then a VM of each host in turn" },
	{ "11000", "nnnnn", 1, 2, "1 2 0 1 2", 3, "the canary on host 0 though its VMs come last" },
	{ "00111", "yynnn", 2, 3, "- - 0 0 1", 2,
	  "the first host has nothing to patch: the canary from the next" },
	{ "012012", "nnnnnn", 0, 3, "1 1 1 2 2 2", 3,
	  "--canary 0, waves of 3 over 3 hosts, one VM of each" },
};

int main(void)
{
	struct rollout_gates g = { 0 };
	struct rollout_vm vms[8];
	char err[256], s[128];
	unsigned waves;
	size_t i;
	const char *p;
	int n;

	tap_ok(rollout_gate_parse(&g, "faults=0", err, sizeof(err)) == 0 &&
		       g.on[ROLLOUT_GATE_FAULTS] && g.max_faults == 0,
	       "faults=0");
	tap_ok(rollout_gate_parse(&g, "stall-p99=25", err, sizeof(err)) == 0 &&
		       g.on[ROLLOUT_GATE_STALL] && g.stall_ms == 25,
	       "stall-p99=25");
	tap_ok(rollout_gate_parse(&g, "verify", err, sizeof(err)) == 0 && g.on[ROLLOUT_GATE_VERIFY],
	       "verify");
	rollout_gates_str(&g, s, sizeof(s));
	tap_ok(!strcmp(s, "faults=0 stall-p99=25 verify"), "the gates as given: '%s'", s);
	tap_ok(gate_ok("faults=1000000") && !gate_ok("faults=1000001"), "faults: up to 1000000");
	tap_ok(!gate_ok("") && !gate_ok("faults") && !gate_ok("faults=") && !gate_ok("faults=-1") &&
		       !gate_ok("faults=+1") && !gate_ok("faults= 1") && !gate_ok("faults=1x") &&
		       !gate_ok("faults=0x1") && !gate_ok("fault=0") && !gate_ok("faultsx=0") &&
		       !gate_ok("stall-p99") && !gate_ok("stall-p99=600001") &&
		       !gate_ok("stall-p99=99999999999999999999999") && !gate_ok("verify=1") &&
		       !gate_ok("Verify") && !gate_ok("verify "),
	       "malformed gates are refused");
	tap_ok(rollout_gate_parse(&g, "bogus", err, sizeof(err)) < 0 && strstr(err, "bogus") &&
		       strstr(err, "faults=N"),
	       "the error names the gate and the forms: %s", err);

	n = rollout_parse_names("a,b.1,c-2", vms, 8, err, sizeof(err));
	tap_ok(n == 3 && !strcmp(vms[0].name, "a") && !strcmp(vms[1].name, "b.1") &&
		       !strcmp(vms[2].name, "c-2") && !vms[0].host,
	       "--vms a,b.1,c-2: three VMs of this host");
	tap_ok(rollout_parse_names("a,a", vms, 8, err, sizeof(err)) < 0 && strstr(err, "twice"),
	       "a name given twice: %s", err);
	tap_ok(rollout_parse_names("", vms, 8, err, sizeof(err)) < 0 &&
		       rollout_parse_names("a,", vms, 8, err, sizeof(err)) < 0 &&
		       rollout_parse_names(",a", vms, 8, err, sizeof(err)) < 0 &&
		       rollout_parse_names("a,,b", vms, 8, err, sizeof(err)) < 0 &&
		       rollout_parse_names("a/b", vms, 8, err, sizeof(err)) < 0 &&
		       rollout_parse_names("..", vms, 8, err, sizeof(err)) < 0 &&
		       rollout_parse_names("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", vms, 8, err,
					   sizeof(err)) < 0,
	       "empty, bad and overlong names are refused");
	tap_ok(rollout_parse_names("a,b,c", vms, 2, err, sizeof(err)) < 0,
	       "more VMs than fit: refused");

	p = plan(12, "nnnnnnnnnnnn", 1, 4, &waves);
	tap_ok(!strcmp(p, "0 1 1 1 1 2 2 2 2 3 3 3") && waves == 4,
	       "12 VMs, canary 1, waves of 4: %s (%u waves)", p, waves);
	p = plan(6, "ynnyyn", 1, 2, &waves);
	tap_ok(!strcmp(p, "- 0 1 - - 1") && waves == 2,
	       "VMs already on TARGET get no wave: %s (%u waves)", p, waves);
	p = plan(5, "nnnnn", 0, 2, &waves);
	tap_ok(!strcmp(p, "1 1 2 2 3") && waves == 4, "--canary 0: wave 0 is empty: %s", p);
	p = plan(3, "nnn", 5, 2, &waves);
	tap_ok(!strcmp(p, "0 0 0") && waves == 1, "a canary larger than the VMs: %s", p);
	p = plan(3, "yyy", 1, 2, &waves);
	tap_ok(!strcmp(p, "- - -") && waves == 0, "every VM on TARGET: no wave");
	/* across hosts (the VMs listed host by host, as --all lists them) */
	for (i = 0; i < HVP_ARRAY_SIZE(host_plans); i++) {
		const struct host_plan *t = &host_plans[i];

		p = plan_on((unsigned)strlen(t->hosts), t->already, t->hosts, t->canary,
			    t->wave_size, &waves);
		tap_ok(!strcmp(p, t->want) && waves == t->nr_waves, "hosts: %s: %s", t->what, p);
	}
	return tap_done();
}
