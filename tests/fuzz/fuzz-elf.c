// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target: the guest-image ELF loader (vmm/elf.c).
 *
 * The input is the whole image file.  hvp_elf_parse() must either refuse it
 * with a reason or produce a struct hvp_elf whose every pointer and range is
 * inside its own copy of the file; then the lookups the service makes
 * (vmm/vm.c, vmm/patch.c) run on it, and its segments are loaded into a
 * 4 MiB guest RAM.  Properties asserted (abort() on violation):
 *  - after a refusal, the reason is a NUL-terminated string;
 *  - segments: at most HVP_ELF_MAX_SEGS, filesz <= memsz, file bytes inside
 *    the file, no two overlapping in guest-physical space;
 *  - the symbol and string tables lie inside the file;
 *  - a symbol name returned by hvp_elf_symbol_at() is NUL-terminated inside
 *    the string table;
 *  - a section returned by hvp_elf_section() lies inside the file;
 *  - hvp_elf_load_into() succeeds only if every segment fits in RAM, copies
 *    the file bytes and zero-fills the rest of memsz.
 * hvp_elf_free() is called on every path, after success and after a
 * refusal, on a struct zeroed before the parse, as vmm/vm.c does
 * (hvp_service_free() frees s->elf whether or not the load succeeded).
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elf.h" /* vmm/elf.h, the project's, not <elf.h> */

#define FUZZ_NAME "fuzz-elf"
#include "fuzz.h"

#define RAM_SIZE (4u << 20)
#define SYM_SIZE 24 /* sizeof(Elf64_Sym) */

/* One fixed-size guest RAM for the whole run: allocated once, never grows. */
static uint8_t *ram;

/* Names the service and tests look up, plus a few awkward ones. */
static const char *const lookups[] = {
	"hvp_agent",
	"pvh_start32",
	"__text_start",
	"__text_end",
	"__image_end",
	"__start_static_call_sites",
	"__stop_static_call_sites",
	"single_a",
	"tramp_c",
	"",
	"hvp_agent_but_longer_than_any_symbol_in_the_table",
};

static const char *const sections[] = {
	".static_call_sites", ".text", ".symtab", ".bss", "",
};

static bool inside(const void *p, size_t len, const void *base, size_t size)
{
	uintptr_t a = (uintptr_t)p, b = (uintptr_t)base;

	return a >= b && a - b <= size && len <= size - (a - b);
}

/* Touch every byte so that ASan sees a read past the owned copy. */
static unsigned touch(const void *p, size_t len)
{
	const volatile uint8_t *q = p;
	unsigned sum = 0;
	size_t i;

	for (i = 0; i < len; i++)
		sum += q[i];
	return sum;
}

/* A name returned by hvp_elf_symbol_at() is a string inside the table. */
static void check_name(const struct hvp_elf *elf, const char *name)
{
	if (!name)
		return;
	CHECK(elf->strtab != NULL);
	CHECK(inside(name, 1, elf->strtab, elf->strtab_size));
	CHECK(memchr(name, 0, elf->strtab_size - (size_t)(name - elf->strtab)) != NULL);
}

static void check_parsed(const struct hvp_elf *elf)
{
	const void *ptr;
	uint64_t v, sz, addr;
	unsigned i, j;

	CHECK(elf->data != NULL);
	CHECK(elf->nr_segs <= HVP_ELF_MAX_SEGS);
	touch(elf->data, elf->size);
	for (i = 0; i < elf->nr_segs; i++) {
		const struct hvp_elf_seg *s = &elf->segs[i];

		CHECK(s->filesz <= s->memsz);
		CHECK(s->offset <= elf->size && s->filesz <= elf->size - s->offset);
		CHECK(s->paddr + s->memsz >= s->paddr); /* no wrap */
		for (j = 0; j < i; j++) {
			const struct hvp_elf_seg *o = &elf->segs[j];

			if (s->memsz && o->memsz)
				CHECK(s->paddr >= o->paddr + o->memsz ||
				      o->paddr >= s->paddr + s->memsz);
		}
	}
	if (elf->symtab) {
		CHECK(elf->nr_syms <= elf->size / SYM_SIZE);
		CHECK(inside(elf->symtab, elf->nr_syms * SYM_SIZE, elf->data, elf->size));
		CHECK(elf->strtab != NULL);
		CHECK(inside(elf->strtab, elf->strtab_size, elf->data, elf->size));
	}

	for (i = 0; i < sizeof(lookups) / sizeof(lookups[0]); i++) {
		if (hvp_elf_symbol(elf, lookups[i], &v, &sz) == 0) {
			CHECK(elf->symtab != NULL);
			check_name(elf, hvp_elf_symbol_at(elf, v));
		}
	}
	check_name(elf, hvp_elf_symbol_at(elf, elf->entry));
	check_name(elf, hvp_elf_symbol_at(elf, elf->pvh_entry));
	check_name(elf, hvp_elf_symbol_at(elf, 0));

	for (i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
		if (hvp_elf_section(elf, sections[i], &ptr, &sz, &addr) == 0) {
			CHECK(sz <= elf->size);
			CHECK(sz == 0 || inside(ptr, (size_t)sz, elf->data, elf->size));
			touch(ptr, (size_t)sz);
		}
	}
}

static void check_load(const struct hvp_elf *elf)
{
	char err[256];
	unsigned i;
	bool fits = true;
	int r;

	for (i = 0; i < elf->nr_segs; i++)
		if (elf->segs[i].paddr > RAM_SIZE ||
		    elf->segs[i].memsz > RAM_SIZE - elf->segs[i].paddr)
			fits = false;

	memset(err, 'X', sizeof(err));
	r = hvp_elf_load_into(elf, ram, RAM_SIZE, err, sizeof(err));
	if (r < 0) {
		CHECK(memchr(err, 0, sizeof(err)) != NULL);
		say("  load refused: %s\n", err);
		return;
	}
	say("  loaded\n");
	CHECK(fits);
	for (i = 0; i < elf->nr_segs; i++) {
		const struct hvp_elf_seg *s = &elf->segs[i];
		size_t k;

		CHECK(!memcmp(ram + s->paddr, elf->data + s->offset, (size_t)s->filesz));
		for (k = (size_t)s->filesz; k < s->memsz; k++)
			CHECK(ram[s->paddr + k] == 0);
	}
	/* Only what was written needs undoing: keep RAM all 0xa5 between runs. */
	for (i = 0; i < elf->nr_segs; i++)
		memset(ram + elf->segs[i].paddr, 0xa5, (size_t)elf->segs[i].memsz);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hvp_elf elf;
	char err[256];
	int r;

	if (!ram) {
		ram = aligned_alloc(4096, RAM_SIZE);
		if (!ram)
			abort();
		memset(ram, 0xa5, RAM_SIZE);
	}

	memset(&elf, 0, sizeof(elf));
	memset(err, 'X', sizeof(err));
	r = hvp_elf_parse(&elf, data, size, err, sizeof(err));
	if (r == 0) {
		say("  parsed: %u segments, %zu symbols, entry 0x%llx, pvh 0x%llx\n", elf.nr_segs,
		    elf.nr_syms, (unsigned long long)elf.entry, (unsigned long long)elf.pvh_entry);
		CHECK(elf.size == size);
		CHECK(!memcmp(elf.data, data, size));
		check_parsed(&elf);
		check_load(&elf);
	} else {
		CHECK(r < 0);
		CHECK(memchr(err, 0, sizeof(err)) != NULL);
		say("  refused: %s\n", err);
	}
	hvp_elf_free(&elf);
	return 0;
}
