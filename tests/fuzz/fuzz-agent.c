// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target: the agent-area validator (vmm/agent.c).
 *
 * The guest writes the agent area's header, keys and sites; the service reads
 * them with hvp_agent_read_keys() and must refuse anything that would make it
 * patch outside the image's text.  This target builds a fake 2 MiB guest RAM
 * (page-aligned, filled with int3 like the guest's text padding) with the
 * agent at AGENT_GPA and a 64 KiB text range at TEXT_START, and lets the
 * input write the guest's part of it.  Input layout (all little-endian):
 *
 *   offset size
 *        0    1  flags: bit 0: the text range also covers the agent area
 *                       (exercises the "site inside the agent" refusal);
 *                       bit 1: also run hvp_agent_check_header() with the
 *                       agent address taken from `probe_gpa`
 *        1    1  reserved
 *        2    2  agent_len: how many of the following bytes are the agent
 *                area image (capped at offsetof(struct hvp_agent, patch),
 *                i.e. header, config, keys and sites)
 *        4    8  probe_gpa
 *       12    .  agent_len bytes copied to RAM at AGENT_GPA
 *        .    .  the rest copied to RAM at TEXT_START (capped at 64 KiB),
 *                so that sites can hold real call/jmp instructions
 *
 * On success every returned key is checked against what the service relies
 * on (abort() on violation): counts in range, names NUL-terminated
 * [a-z0-9_] and unique, targets inside text and outside the agent, every
 * site inside text and outside the agent, sorted, 5 bytes apart (also
 * across keys), holding the key's opcode with a displacement that reaches
 * one of its targets.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "lib/hvp_base.h"

#define FUZZ_NAME "fuzz-agent"
#include "fuzz.h"

#define RAM_SIZE   (2u << 20)
#define TEXT_START 0x100000u
#define TEXT_SIZE  0x10000u
#define TEXT_END   (TEXT_START + TEXT_SIZE)
#define AGENT_GPA  0x180000u
#define AGENT_AREA offsetof(struct hvp_agent, patch) /* guest-written part */
#define HDR_LEN	   12

_Static_assert(AGENT_GPA % 4096 == 0, "agent is page-aligned");
_Static_assert(AGENT_GPA + sizeof(struct hvp_agent) <= RAM_SIZE, "agent fits in RAM");
_Static_assert(TEXT_END <= AGENT_GPA, "text and agent are apart by default");

/* One fixed-size buffer for the whole run: allocated once, never grows. */
static uint8_t *ram;

static void ram_init(void)
{
	ram = aligned_alloc(4096, RAM_SIZE);
	if (!ram)
		abort();
	memset(ram, HVP_OPC_INT3, RAM_SIZE);
	memset(ram + AGENT_GPA, 0, sizeof(struct hvp_agent));
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static bool name_ok(const char *name)
{
	size_t i;

	if (!memchr(name, 0, HVP_NAME_LEN) || !name[0])
		return false;
	for (i = 0; name[i]; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
		      name[i] == '_'))
			return false;
	return true;
}

static bool in_range(uint64_t a, uint64_t len, uint64_t lo, uint64_t hi)
{
	return a >= lo && a <= hi && len <= hi - a;
}

static void check_keys(const struct hvp_agent_bounds *bd, const struct hvp_agent *a,
		       const struct hvp_key_info *keys, unsigned nr)
{
	uint64_t all[HVP_MAX_KEYS * HVP_MAX_SITES];
	unsigned i, j, t, s, n = 0;

	CHECK(keys != NULL);
	CHECK(nr >= 1 && nr <= HVP_MAX_KEYS && nr == a->nr_keys);
	for (i = 0; i < nr; i++) {
		const struct hvp_key_info *k = &keys[i];

		CHECK(k->index == i);
		CHECK(name_ok(k->name));
		for (j = 0; j < i; j++)
			CHECK(strcmp(keys[j].name, k->name) != 0);
		CHECK(k->kind == HVP_KEY_INLINE || k->kind == HVP_KEY_TRAMP);
		CHECK(k->opcode == (k->kind == HVP_KEY_INLINE ? HVP_OPC_CALL : HVP_OPC_JMP));
		CHECK(k->nr_targets >= 1 && k->nr_targets <= HVP_MAX_TARGETS);
		for (t = 0; t < k->nr_targets; t++) {
			CHECK(in_range(k->targets[t], 1, bd->text_start, bd->text_end));
			/* agent.h: "targets and sites ... outside the agent area" */
			CHECK(k->targets[t] < bd->agent_gpa ||
			      k->targets[t] >= bd->agent_gpa + sizeof(struct hvp_agent));
			CHECK(name_ok(k->target_names[t]));
			for (j = 0; j < t; j++) {
				CHECK(k->targets[j] != k->targets[t]);
				CHECK(strcmp(k->target_names[j], k->target_names[t]) != 0);
			}
			CHECK(hvp_key_target_index(k, k->targets[t]) == (int)t);
			CHECK(hvp_key_target_by_name(k, k->target_names[t]) == (int)t);
		}
		CHECK(k->calls_per_pass >= 1);
		CHECK(k->nr_sites >= 1 && k->nr_sites <= a->nr_sites);
		CHECK(k->sites != NULL);
		for (s = 0; s < k->nr_sites; s++) {
			uint64_t site = k->sites[s], dest, back;
			uint8_t insn[HVP_INSN_LEN];

			CHECK(in_range(site, HVP_INSN_LEN, bd->text_start, bd->text_end));
			CHECK(site + HVP_INSN_LEN <= bd->agent_gpa ||
			      site >= bd->agent_gpa + sizeof(struct hvp_agent));
			CHECK(site + HVP_INSN_LEN <= RAM_SIZE);
			if (s)
				CHECK(site >= k->sites[s - 1] + HVP_INSN_LEN);
			CHECK(hvp_agent_decode(ram + site, site, k->opcode, &dest) == 0);
			CHECK(hvp_key_target_index(k, dest) >= 0);
			/* What the patch engine does next: re-encode to every target. */
			for (t = 0; t < k->nr_targets; t++) {
				CHECK(hvp_agent_encode(insn, site, k->opcode, k->targets[t]) == 0);
				CHECK(hvp_agent_decode(insn, site, k->opcode, &back) == 0);
				CHECK(back == k->targets[t]);
			}
			CHECK(n < HVP_MAX_KEYS * HVP_MAX_SITES);
			all[n++] = site;
		}
	}
	qsort(all, n, sizeof(all[0]), hvp_cmp_u64);
	for (i = 1; i < n; i++)
		CHECK(all[i] - all[i - 1] >= HVP_INSN_LEN);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hvp_agent_bounds bd = {
		.ram_size = RAM_SIZE,
		.agent_gpa = AGENT_GPA,
		.text_start = TEXT_START,
		.text_end = TEXT_END,
	};
	struct hvp_key_info *keys = NULL;
	size_t agent_len, text_len;
	unsigned nr = 0;
	char err[256];
	uint8_t flags;
	int r;

	if (!ram)
		ram_init();
	if (size < HDR_LEN)
		return 0;
	flags = data[0];
	agent_len = (size_t)data[2] | (size_t)data[3] << 8;
	if (agent_len > AGENT_AREA)
		agent_len = AGENT_AREA;
	if (agent_len > size - HDR_LEN)
		agent_len = size - HDR_LEN;
	text_len = size - HDR_LEN - agent_len;
	if (text_len > TEXT_SIZE)
		text_len = TEXT_SIZE;

	if (flags & 2) {
		struct hvp_agent_bounds probe = bd;

		/* A hostile agent address must be refused, never dereferenced. */
		probe.agent_gpa = get_le64(data + 4);
		memset(err, 'X', sizeof(err));
		r = hvp_agent_check_header(ram, &probe, err, sizeof(err));
		if (r < 0) {
			CHECK(memchr(err, 0, sizeof(err)) != NULL);
			say("  probe 0x%llx: %s\n", (unsigned long long)probe.agent_gpa, err);
		} else
			CHECK(probe.agent_gpa % 4096 == 0 &&
			      in_range(probe.agent_gpa, sizeof(struct hvp_agent), 0, RAM_SIZE));
	}
	if (flags & 1)
		bd.text_end = AGENT_GPA + sizeof(struct hvp_agent) + 0x1000;

	memcpy(ram + AGENT_GPA, data + HDR_LEN, agent_len);
	memcpy(ram + TEXT_START, data + HDR_LEN + agent_len, text_len);

	memset(err, 'X', sizeof(err));
	r = hvp_agent_read_keys(ram, &bd, &keys, &nr, err, sizeof(err));
	if (r == 0) {
		say("  accepted: %u keys\n", nr);
		check_keys(&bd, (const struct hvp_agent *)(ram + AGENT_GPA), keys, nr);
		hvp_agent_keys_free(keys, nr);
	} else {
		CHECK(r == -EINVAL || r == -ENOMEM);
		CHECK(memchr(err, 0, sizeof(err)) != NULL);
		say("  refused: %s\n", err);
	}

	/* Put the RAM back the way ram_init() left it. */
	memset(ram + AGENT_GPA, 0, agent_len);
	memset(ram + TEXT_START, HVP_OPC_INT3, text_len);
	return 0;
}
