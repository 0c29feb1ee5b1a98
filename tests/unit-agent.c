// SPDX-License-Identifier: GPL-2.0-only
/*
 * The agent area is written by the guest: every hostile value must be refused
 * with a reason, and nothing outside guest RAM or the image's text may ever be
 * read as a site.  Builds a fake guest RAM with a valid agent, then corrupts it
 * one field at a time.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "tap.h"

#define RAM_SIZE   (4u << 20)
#define TEXT_START 0x100000u
#define TEXT_END   0x110000u
#define AGENT_GPA  0x200000u

static uint8_t *ram;
static struct hvp_agent_bounds bd = {
	.ram_size = RAM_SIZE,
	.agent_gpa = AGENT_GPA,
	.text_start = TEXT_START,
	.text_end = TEXT_END,
};

static struct hvp_agent *agent(void)
{
	return (struct hvp_agent *)(ram + AGENT_GPA);
}

/* Two keys: "alpha" (inline, 3 sites) and "beta" (trampoline, 1 site). */
static void build_good(void)
{
	struct hvp_agent *a;
	uint64_t t;
	unsigned i;

	memset(ram, 0xcc, RAM_SIZE);
	memset(ram + AGENT_GPA, 0, sizeof(struct hvp_agent));
	a = agent();
	a->magic = HVP_AGENT_MAGIC;
	a->abi_version = HVP_AGENT_ABI_VERSION;
	a->size = sizeof(struct hvp_agent);
	a->nr_keys = 2;
	a->nr_sites = 4;

	strcpy(a->keys[0].name, "alpha");
	a->keys[0].kind = HVP_KEY_INLINE;
	a->keys[0].nr_targets = 2;
	a->keys[0].targets[0] = TEXT_START + 0x100;
	a->keys[0].targets[1] = TEXT_START + 0x200;
	strcpy(a->keys[0].target_names[0], "alpha_a");
	strcpy(a->keys[0].target_names[1], "alpha_b");
	a->keys[0].first_site = 0;
	a->keys[0].nr_sites = 3;
	a->keys[0].calls_per_pass = 3;
	for (i = 0; i < 3; i++) {
		a->sites[i] = TEXT_START + 0x1000 + 8 * i;
		hvp_agent_encode(ram + a->sites[i], a->sites[i], HVP_OPC_CALL,
				 a->keys[0].targets[0]);
	}

	strcpy(a->keys[1].name, "beta");
	a->keys[1].kind = HVP_KEY_TRAMP;
	a->keys[1].nr_targets = 1;
	t = TEXT_START + 0x300;
	a->keys[1].targets[0] = t;
	strcpy(a->keys[1].target_names[0], "beta_a");
	a->keys[1].first_site = 3;
	a->keys[1].nr_sites = 1;
	a->keys[1].calls_per_pass = 4;
	a->sites[3] = TEXT_START + 0x2000;
	hvp_agent_encode(ram + a->sites[3], a->sites[3], HVP_OPC_JMP, t);
}

static int read_keys(char *err, size_t len)
{
	struct hvp_key_info *keys = NULL;
	unsigned nr = 0;
	int r;

	r = hvp_agent_read_keys(ram, &bd, &keys, &nr, err, len);
	hvp_agent_keys_free(keys, nr);
	return r;
}

/* Corrupt the good agent with `mutate`, expect a refusal naming `what`. */
#define EXPECT_REFUSED(desc, what, ...)                                                      \
	do {                                                                                 \
		char why_[256] = "";                                                         \
		int r_;                                                                      \
		build_good();                                                                \
		__VA_ARGS__;                                                                 \
		r_ = read_keys(why_, sizeof(why_));                                          \
		tap_ok(r_ == -EINVAL && strstr(why_, what), "refused: %s (%s)", desc, why_); \
	} while (0)

int main(void)
{
	struct hvp_key_info *keys = NULL;
	char err[256] = "";
	uint8_t insn[HVP_INSN_LEN];
	uint64_t dest;
	unsigned nr = 0;
	int r;

	ram = aligned_alloc(4096, RAM_SIZE);
	if (!ram)
		return 99;

	/* the good case */
	build_good();
	r = hvp_agent_read_keys(ram, &bd, &keys, &nr, err, sizeof(err));
	tap_ok(r == 0 && nr == 2, "a valid agent is accepted (%s)", err);
	tap_ok(r == 0 && keys[0].nr_sites == 3 && keys[0].opcode == HVP_OPC_CALL &&
		       keys[1].opcode == HVP_OPC_JMP && !strcmp(keys[1].name, "beta"),
	       "keys, kinds and sites are read");
	tap_ok(r == 0 && keys[0].sites[0] < keys[0].sites[1] && keys[0].sites[1] < keys[0].sites[2],
	       "sites come back sorted");
	if (r == 0) {
		tap_ok(hvp_key_target_by_name(&keys[0], "alpha_b") == 1 &&
			       hvp_key_target_by_name(&keys[0], "beta_a") == -1,
		       "targets are found by name, only within their key");
	} else {
		tap_ok(0, "targets are found by name");
	}
	hvp_agent_keys_free(keys, nr);

	/* encode / decode */
	tap_ok(hvp_agent_encode(insn, 0x1000, HVP_OPC_CALL, 0x2000) == 0 &&
		       hvp_agent_decode(insn, 0x1000, HVP_OPC_CALL, &dest) == 0 && dest == 0x2000,
	       "call rel32 round trip");
	tap_ok(hvp_agent_encode(insn, 0x1000, HVP_OPC_CALL, 0x1000 - 0x100) == 0 &&
		       hvp_agent_decode(insn, 0x1000, HVP_OPC_CALL, &dest) == 0 &&
		       dest == 0x1000 - 0x100,
	       "backward call round trip");
	tap_ok(hvp_agent_encode(insn, 0x1000, HVP_OPC_CALL, 0x1000ull + (1ull << 32)) == -ERANGE,
	       "a displacement beyond 2 GiB is refused");
	tap_ok(hvp_agent_decode(insn, 0x1000, HVP_OPC_JMP, &dest) == -EINVAL,
	       "decoding the wrong opcode fails");

	/* the header */
	EXPECT_REFUSED("bad magic", "magic", agent()->magic ^= 1);
	EXPECT_REFUSED("old ABI version", "ABI version", agent()->abi_version = 0);
	EXPECT_REFUSED("wrong size", "size", agent()->size = 4096);
	{
		struct hvp_agent_bounds save = bd;

		bd.agent_gpa = RAM_SIZE - 4096;
		build_good();
		r = hvp_agent_check_header(ram, &bd, err, sizeof(err));
		tap_ok(r == -EINVAL && strstr(err, "does not fit"),
		       "agent past the end of RAM (%s)", err);
		bd.agent_gpa = UINT64_MAX - 16;
		r = hvp_agent_check_header(ram, &bd, err, sizeof(err));
		tap_ok(r == -EINVAL, "agent address that overflows is refused");
		bd = save;
	}

	/* counts */
	EXPECT_REFUSED("no keys", "keys", agent()->nr_keys = 0);
	EXPECT_REFUSED("absurd key count", "keys", agent()->nr_keys = 1000000);
	EXPECT_REFUSED("absurd site count", "sites", agent()->nr_sites = 0xffffffffu);
	EXPECT_REFUSED("key sites beyond the table", "outside the", agent()->keys[0].nr_sites = 40);
	EXPECT_REFUSED("first_site + nr_sites overflows", "outside the",
		       agent()->keys[0].first_site = 0xffffffffu;
		       agent()->keys[0].nr_sites = 2);
	EXPECT_REFUSED("a key with no sites", "outside the", agent()->keys[1].nr_sites = 0);
	EXPECT_REFUSED("calls_per_pass 0", "calls_per_pass", agent()->keys[0].calls_per_pass = 0);

	/* names and kinds */
	EXPECT_REFUSED("unterminated key name", "name",
		       memset(agent()->keys[0].name, 'a', HVP_NAME_LEN));
	EXPECT_REFUSED("key name with a slash", "name", strcpy(agent()->keys[0].name, "../x"));
	EXPECT_REFUSED("empty key name", "name", agent()->keys[0].name[0] = 0);
	EXPECT_REFUSED("duplicate key names", "twice", strcpy(agent()->keys[1].name, "alpha"));
	EXPECT_REFUSED("unknown kind", "kind", agent()->keys[0].kind = 7);
	EXPECT_REFUSED("zero targets", "targets", agent()->keys[0].nr_targets = 0);
	EXPECT_REFUSED("too many targets", "targets", agent()->keys[0].nr_targets = 5);
	EXPECT_REFUSED("target name with spaces", "bad name",
		       strcpy(agent()->keys[0].target_names[1], "rm -rf"));
	EXPECT_REFUSED("the same target twice", "twice",
		       agent()->keys[0].targets[1] = agent()->keys[0].targets[0]);

	/* addresses */
	EXPECT_REFUSED("target inside the agent area", "inside the agent area",
		       agent()->keys[0].targets[1] = AGENT_GPA + 64);
	EXPECT_REFUSED("target beyond RAM", "outside guest RAM",
		       agent()->keys[0].targets[1] = 0xffffffffffff0000ull);
	EXPECT_REFUSED("site outside RAM", "outside guest RAM",
		       agent()->sites[1] = (uint64_t)RAM_SIZE * 16);
	EXPECT_REFUSED("site inside the agent area", "inside the agent area",
		       agent()->sites[1] = AGENT_GPA + 128);
	EXPECT_REFUSED("target in RAM but outside text", "outside the image's text",
		       agent()->keys[0].targets[1] = TEXT_START - 16);
	EXPECT_REFUSED("site straddling the end of text", "outside the image's text",
		       agent()->sites[1] = TEXT_END - 2);
	EXPECT_REFUSED("site address that overflows", "outside guest RAM",
		       agent()->sites[1] = UINT64_MAX - 2);
	EXPECT_REFUSED("overlapping sites within a key", "overlap",
		       agent()->sites[1] = agent()->sites[0] + 2);
	EXPECT_REFUSED("a site shared by two keys", "overlap",
		       agent()->keys[1].kind = HVP_KEY_INLINE;
		       agent()->sites[3] = agent()->sites[0];
		       agent()->keys[1].targets[0] = agent()->keys[0].targets[0]);
	EXPECT_REFUSED("a site that is not a call", "not a call", ram[agent()->sites[2]] = 0x90);
	EXPECT_REFUSED("a site calling an unregistered function", "not a call",
		       hvp_agent_encode(ram + agent()->sites[2], agent()->sites[2], HVP_OPC_CALL,
					TEXT_START + 0x4444));
	EXPECT_REFUSED("an int3 left on a site", "not a call",
		       ram[agent()->sites[0]] = HVP_OPC_INT3);
	EXPECT_REFUSED("a trampoline site holding a call", "not a jmp",
		       ram[agent()->sites[3]] = HVP_OPC_CALL);

	free(ram);
	return tap_done();
}
