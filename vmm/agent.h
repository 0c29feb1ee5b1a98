/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Reading the agent area.  Everything in it was written by the guest and is
 * treated like network input: copied out of guest RAM first, then checked,
 * so the guest cannot change a value between the check and the use.
 */
#ifndef HVP_AGENTV_H
#define HVP_AGENTV_H

#include <stddef.h>
#include <stdint.h>
#include "hvp_agent.h"

struct hvp_key_info {
	unsigned index; /* position in the agent's keys[]   */
	char name[HVP_NAME_LEN];
	uint32_t kind;	/* HVP_KEY_*                        */
	uint8_t opcode; /* e8 for inline, e9 for tramp      */
	unsigned nr_targets;
	uint64_t targets[HVP_MAX_TARGETS];
	char target_names[HVP_MAX_TARGETS][HVP_NAME_LEN];
	unsigned calls_per_pass;
	unsigned nr_sites;
	uint64_t *sites; /* sorted ascending, owned          */
};

/* The trusted frame a guest's claims are checked against (from the ELF). */
struct hvp_agent_bounds {
	uint64_t ram_size;
	uint64_t agent_gpa;	       /* address of struct hvp_agent      */
	uint64_t text_start, text_end; /* the image's executable segment   */
};

/*
 * Check that the agent area fits in RAM and carries our magic, ABI version
 * and size.  Returns 0 or -EINVAL with a reason.
 */
int hvp_agent_check_header(const uint8_t *ram, const struct hvp_agent_bounds *bd, char *err,
			   size_t errlen);

/*
 * Copy and validate the key and site tables: counts in range, names printable
 * and unique, targets and sites inside the image's text and outside the agent
 * area, sites not overlapping, every site holding the key's opcode with a
 * displacement that reaches one of its registered targets.
 * On success *keys is an array of *nr entries to free with hvp_agent_keys_free.
 */
int hvp_agent_read_keys(const uint8_t *ram, const struct hvp_agent_bounds *bd,
			struct hvp_key_info **keys, unsigned *nr, char *err, size_t errlen);
void hvp_agent_keys_free(struct hvp_key_info *keys, unsigned nr);

/* Decode a 5-byte call/jmp at addr: 0 and its destination, or -EINVAL. */
int hvp_agent_decode(const uint8_t insn[HVP_INSN_LEN], uint64_t addr, uint8_t opcode,
		     uint64_t *dest);
/* Encode a rel32 call/jmp from addr to dest: 0, or -ERANGE. */
int hvp_agent_encode(uint8_t insn[HVP_INSN_LEN], uint64_t addr, uint8_t opcode, uint64_t dest);
/* Which registered target does dest name?  Index, or -1. */
int hvp_key_target_index(const struct hvp_key_info *k, uint64_t dest);
int hvp_key_target_by_name(const struct hvp_key_info *k, const char *name);

#endif
