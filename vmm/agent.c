// SPDX-License-Identifier: GPL-2.0-only
/* Validation of the guest-written agent area; see agent.h. */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "lib/hvp_base.h"

static bool range_in(uint64_t addr, uint64_t len, uint64_t lo, uint64_t hi)
{
	uint64_t end;

	if (__builtin_add_overflow(addr, len, &end))
		return false;
	return addr >= lo && end <= hi;
}

static bool range_overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/*
 * Where may code the service patches or aims at live?  Only inside the
 * image's text, which is inside RAM and outside the agent area.  NULL when
 * [addr, addr + len) is such a place, else what is wrong with it.
 */
static const char *place(const struct hvp_agent_bounds *bd, uint64_t addr, uint64_t len)
{
	if (!range_in(addr, len, 0, bd->ram_size))
		return "outside guest RAM (and the image's text)";
	if (range_overlaps(addr, len, bd->agent_gpa, sizeof(struct hvp_agent)))
		return "inside the agent area (not the image's text)";
	if (!range_in(addr, len, bd->text_start, bd->text_end))
		return "outside the image's text";
	return NULL;
}

int hvp_agent_check_header(const uint8_t *ram, const struct hvp_agent_bounds *bd, char *err,
			   size_t errlen)
{
	struct hvp_agent hdr;

	if (bd->agent_gpa % 4096 ||
	    !range_in(bd->agent_gpa, sizeof(struct hvp_agent), 0, bd->ram_size)) {
		snprintf(err, errlen, "agent area at 0x%llx does not fit in %llu bytes of RAM",
			 (unsigned long long)bd->agent_gpa, (unsigned long long)bd->ram_size);
		return -EINVAL;
	}
	/* only the fixed header is needed here */
	memcpy(&hdr, ram + bd->agent_gpa, offsetof(struct hvp_agent, config));
	if (hdr.magic != HVP_AGENT_MAGIC) {
		snprintf(err, errlen, "agent area: bad magic 0x%llx",
			 (unsigned long long)hdr.magic);
		return -EINVAL;
	}
	if (hdr.abi_version != HVP_AGENT_ABI_VERSION) {
		snprintf(err, errlen,
			 "agent ABI version %u, this hvpatch speaks %u (stale guest image?)",
			 hdr.abi_version, HVP_AGENT_ABI_VERSION);
		return -EINVAL;
	}
	if (hdr.size != sizeof(struct hvp_agent)) {
		snprintf(err, errlen, "agent area size %u, expected %zu", hdr.size,
			 sizeof(struct hvp_agent));
		return -EINVAL;
	}
	return 0;
}

int hvp_agent_decode(const uint8_t insn[HVP_INSN_LEN], uint64_t addr, uint8_t opcode,
		     uint64_t *dest)
{
	int32_t rel;

	if (insn[0] != opcode)
		return -EINVAL;
	memcpy(&rel, insn + 1, sizeof(rel));
	*dest = addr + HVP_INSN_LEN + (uint64_t)(int64_t)rel;
	return 0;
}

int hvp_agent_encode(uint8_t insn[HVP_INSN_LEN], uint64_t addr, uint8_t opcode, uint64_t dest)
{
	int64_t rel = (int64_t)(dest - (addr + HVP_INSN_LEN));
	int32_t rel32 = (int32_t)rel;

	if (rel != rel32)
		return -ERANGE;
	insn[0] = opcode;
	memcpy(insn + 1, &rel32, sizeof(rel32));
	return 0;
}

int hvp_key_target_index(const struct hvp_key_info *k, uint64_t dest)
{
	unsigned t;

	for (t = 0; t < k->nr_targets; t++)
		if (k->targets[t] == dest)
			return (int)t;
	return -1;
}

int hvp_key_target_by_name(const struct hvp_key_info *k, const char *name)
{
	unsigned t;

	for (t = 0; t < k->nr_targets; t++)
		if (!strcmp(k->target_names[t], name))
			return (int)t;
	return -1;
}

/* A name must be NUL-terminated inside its field and made of [a-z0-9_]. */
static bool name_ok(char name[HVP_NAME_LEN])
{
	size_t i;

	if (!memchr(name, 0, HVP_NAME_LEN) || !name[0])
		return false;
	for (i = 0; name[i]; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
			return false;
	}
	return true;
}

void hvp_agent_keys_free(struct hvp_key_info *keys, unsigned nr)
{
	unsigned i;

	if (!keys)
		return;
	for (i = 0; i < nr; i++)
		free(keys[i].sites);
	free(keys);
}

static int check_key(const uint8_t *ram, const struct hvp_agent_bounds *bd,
		     const struct hvp_key *raw, const uint64_t *all_sites, uint32_t total,
		     struct hvp_key_info *k, char *err, size_t errlen)
{
	struct hvp_key copy = *raw;
	const char *where;
	uint32_t end;
	unsigned t, s;

	if (!name_ok(copy.name)) {
		snprintf(err, errlen, "key %u: name is not a NUL-terminated [a-z0-9_] string",
			 k->index);
		return -EINVAL;
	}
	memcpy(k->name, copy.name, HVP_NAME_LEN);
	if (copy.kind != HVP_KEY_INLINE && copy.kind != HVP_KEY_TRAMP) {
		snprintf(err, errlen, "key %s: unknown kind %u", k->name, copy.kind);
		return -EINVAL;
	}
	k->kind = copy.kind;
	k->opcode = copy.kind == HVP_KEY_INLINE ? HVP_OPC_CALL : HVP_OPC_JMP;
	if (copy.nr_targets == 0 || copy.nr_targets > HVP_MAX_TARGETS) {
		snprintf(err, errlen, "key %s: %u targets (1..%d allowed)", k->name,
			 copy.nr_targets, HVP_MAX_TARGETS);
		return -EINVAL;
	}
	k->nr_targets = copy.nr_targets;
	for (t = 0; t < k->nr_targets; t++) {
		where = place(bd, copy.targets[t], 1);
		if (where) {
			snprintf(err, errlen, "key %s: target %u at 0x%llx is %s", k->name, t,
				 (unsigned long long)copy.targets[t], where);
			return -EINVAL;
		}
		if (!name_ok(copy.target_names[t])) {
			snprintf(err, errlen, "key %s: target %u has a bad name", k->name, t);
			return -EINVAL;
		}
		if (hvp_key_target_index(k, copy.targets[t]) >= 0 ||
		    hvp_key_target_by_name(k, copy.target_names[t]) >= 0) {
			snprintf(err, errlen, "key %s: target %u is registered twice", k->name, t);
			return -EINVAL;
		}
		k->targets[t] = copy.targets[t];
		memcpy(k->target_names[t], copy.target_names[t], HVP_NAME_LEN);
	}
	if (copy.nr_sites == 0 || __builtin_add_overflow(copy.first_site, copy.nr_sites, &end) ||
	    end > total) {
		snprintf(err, errlen, "key %s: sites [%u, +%u) outside the %u registered sites",
			 k->name, copy.first_site, copy.nr_sites, total);
		return -EINVAL;
	}
	if (copy.calls_per_pass == 0 || copy.calls_per_pass > 1000000) {
		snprintf(err, errlen, "key %s: calls_per_pass %u out of range", k->name,
			 copy.calls_per_pass);
		return -EINVAL;
	}
	k->calls_per_pass = copy.calls_per_pass;
	k->nr_sites = copy.nr_sites;
	k->sites = malloc(sizeof(uint64_t) * k->nr_sites);
	if (!k->sites)
		return -ENOMEM;
	memcpy(k->sites, all_sites + copy.first_site, sizeof(uint64_t) * k->nr_sites);
	qsort(k->sites, k->nr_sites, sizeof(uint64_t), hvp_cmp_u64);
	for (s = 1; s < k->nr_sites; s++) {
		if (k->sites[s] - k->sites[s - 1] < HVP_INSN_LEN) {
			snprintf(err, errlen, "key %s: sites 0x%llx and 0x%llx overlap", k->name,
				 (unsigned long long)k->sites[s - 1],
				 (unsigned long long)k->sites[s]);
			return -EINVAL;
		}
	}
	for (s = 0; s < k->nr_sites; s++) {
		uint64_t a = k->sites[s], dest;
		uint8_t insn[HVP_INSN_LEN];

		where = place(bd, a, HVP_INSN_LEN);
		if (where) {
			snprintf(err, errlen, "key %s: site 0x%llx is %s", k->name,
				 (unsigned long long)a, where);
			return -EINVAL;
		}
		memcpy(insn, ram + a, HVP_INSN_LEN);
		if (hvp_agent_decode(insn, a, k->opcode, &dest) < 0 ||
		    hvp_key_target_index(k, dest) < 0) {
			snprintf(err, errlen,
				 "key %s: site 0x%llx holds %02x %02x %02x %02x %02x, not a %s to one of its targets",
				 k->name, (unsigned long long)a, insn[0], insn[1], insn[2], insn[3],
				 insn[4], k->opcode == HVP_OPC_CALL ? "call" : "jmp");
			return -EINVAL;
		}
	}
	return 0;
}

int hvp_agent_read_keys(const uint8_t *ram, const struct hvp_agent_bounds *bd,
			struct hvp_key_info **keys_out, unsigned *nr_out, char *err, size_t errlen)
{
	const struct hvp_agent *a = (const struct hvp_agent *)(ram + bd->agent_gpa);
	struct hvp_key rawkeys[HVP_MAX_KEYS];
	uint64_t *sites = NULL, *all = NULL;
	struct hvp_key_info *keys = NULL;
	uint32_t nr_keys, nr_sites, n = 0;
	unsigned i, j;
	int r;

	r = hvp_agent_check_header(ram, bd, err, errlen);
	if (r < 0)
		return r;
	nr_keys = __atomic_load_n(&a->nr_keys, __ATOMIC_RELAXED);
	nr_sites = __atomic_load_n(&a->nr_sites, __ATOMIC_RELAXED);
	if (nr_keys == 0 || nr_keys > HVP_MAX_KEYS) {
		snprintf(err, errlen, "agent reports %u keys (1..%d allowed)", nr_keys,
			 HVP_MAX_KEYS);
		return -EINVAL;
	}
	if (nr_sites == 0 || nr_sites > HVP_MAX_SITES) {
		snprintf(err, errlen, "agent reports %u sites (1..%d allowed)", nr_sites,
			 HVP_MAX_SITES);
		return -EINVAL;
	}
	memcpy(rawkeys, a->keys, sizeof(rawkeys));
	sites = malloc(sizeof(uint64_t) * nr_sites);
	keys = calloc(nr_keys, sizeof(*keys));
	if (!sites || !keys) {
		r = -ENOMEM;
		goto fail;
	}
	memcpy(sites, a->sites, sizeof(uint64_t) * nr_sites);
	for (i = 0; i < nr_keys; i++) {
		keys[i].index = i;
		r = check_key(ram, bd, &rawkeys[i], sites, nr_sites, &keys[i], err, errlen);
		if (r < 0)
			goto fail;
		for (j = 0; j < i; j++) {
			if (!strcmp(keys[j].name, keys[i].name)) {
				snprintf(err, errlen, "key name %s is used twice", keys[i].name);
				r = -EINVAL;
				goto fail;
			}
		}
		n += keys[i].nr_sites;
	}
	/* No two sites of any keys may overlap: patching one would tear another. */
	all = malloc(sizeof(uint64_t) * n);
	if (!all) {
		r = -ENOMEM;
		goto fail;
	}
	for (i = 0, n = 0; i < nr_keys; i++) {
		memcpy(all + n, keys[i].sites, sizeof(uint64_t) * keys[i].nr_sites);
		n += keys[i].nr_sites;
	}
	qsort(all, n, sizeof(uint64_t), hvp_cmp_u64);
	for (i = 1; i < n; i++) {
		if (all[i] - all[i - 1] < HVP_INSN_LEN) {
			snprintf(err, errlen, "sites 0x%llx and 0x%llx overlap",
				 (unsigned long long)all[i - 1], (unsigned long long)all[i]);
			r = -EINVAL;
			goto fail;
		}
	}
	free(all);
	free(sites);
	*keys_out = keys;
	*nr_out = nr_keys;
	return 0;

fail:
	free(all);
	free(sites);
	hvp_agent_keys_free(keys, nr_keys);
	return r;
}
