// SPDX-License-Identifier: GPL-2.0-only
/*
 * The ELF loader against the real guest image: it parses, its symbols and
 * sections are found, it loads; and every truncation, a set of targeted
 * corruptions and thousands of random byte flips are refused or parsed
 * without a crash (run under ASan to make "without a crash" mean something).
 */
#include "config.h"

#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elf.h"
#include "tap.h"

static uint8_t *img;
static size_t img_size;

static int parse(const uint8_t *buf, size_t n, char *err, size_t len)
{
	struct hvp_elf e;
	int r = hvp_elf_parse(&e, buf, n, err, len);

	if (r == 0) {
		uint64_t v;
		const void *p;
		uint64_t sz;

		/* exercise the lookups on whatever parsed */
		hvp_elf_symbol(&e, "hvp_agent", &v, NULL);
		hvp_elf_symbol_at(&e, e.entry);
		hvp_elf_section(&e, ".static_call_sites", &p, &sz, NULL);
		hvp_elf_free(&e);
	}
	return r;
}

/* Copy the image, apply `fn`, expect a refusal whose reason contains `what`. */
#define CORRUPT(desc, what, ...)                                                          \
	do {                                                                              \
		uint8_t *b_ = malloc(img_size);                                           \
		Elf64_Ehdr *eh = (Elf64_Ehdr *)b_;                                        \
		char why_[256] = "";                                                      \
		memcpy(b_, img, img_size);                                                \
		(void)eh;                                                                 \
		__VA_ARGS__;                                                              \
		tap_ok(parse(b_, img_size, why_, sizeof(why_)) < 0 && strstr(why_, what), \
		       "refused: %s (%s)", desc, why_);                                   \
		free(b_);                                                                 \
	} while (0)

static Elf64_Phdr *phdr(uint8_t *b, unsigned i)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)b;

	return (Elf64_Phdr *)(b + eh->e_phoff + i * sizeof(Elf64_Phdr));
}

static int first_load(uint8_t *b, int nth)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)b;
	int i;

	for (i = 0; i < eh->e_phnum; i++)
		if (phdr(b, (unsigned)i)->p_type == PT_LOAD && nth-- == 0)
			return i;
	return 0;
}

int main(void)
{
	const char *top = getenv("top_builddir");
	char path[4096], err[256] = "";
	struct hvp_elf e;
	uint64_t v = 0, sz = 0;
	const void *p;
	uint8_t *ram;
	size_t n, bad = 0;
	unsigned i, seed = 12345;
	int r;

	snprintf(path, sizeof(path), "%s/guest-agent/hvpatch-guest.elf", top ? top : ".");
	r = hvp_elf_load_file(&e, path, err, sizeof(err));
	if (!tap_ok(r == 0, "the guest image loads (%s)", err))
		return tap_done();
	tap_ok(e.pvh_entry != 0 && e.nr_segs >= 2, "PVH entry 0x%llx, %u segments",
	       (unsigned long long)e.pvh_entry, e.nr_segs);
	tap_ok(hvp_elf_symbol(&e, "hvp_agent", &v, &sz) == 0 && v && v % 4096 == 0,
	       "hvp_agent is found, page aligned");
	tap_ok(hvp_elf_symbol(&e, "no_such_symbol", &v, NULL) == -ENOENT,
	       "a missing symbol is -ENOENT");
	hvp_elf_symbol(&e, "batch_c", &v, NULL);
	tap_ok(hvp_elf_symbol_at(&e, v) && !strcmp(hvp_elf_symbol_at(&e, v), "batch_c"),
	       "symbol_at names a target");
	tap_ok(hvp_elf_section(&e, ".static_call_sites", &p, &sz, NULL) == 0 && sz == 16 * 1298,
	       ".static_call_sites holds 1298 {site, key} pairs (%llu bytes)",
	       (unsigned long long)sz);
	ram = calloc(1, 32u << 20);
	tap_ok(hvp_elf_load_into(&e, ram, 32u << 20, err, sizeof(err)) == 0 &&
		       !memcmp(ram + e.segs[0].paddr, e.data + e.segs[0].offset, e.segs[0].filesz),
	       "load_into copies the segments");
	tap_ok(hvp_elf_load_into(&e, ram, 1u << 20, err, sizeof(err)) == -E2BIG,
	       "a RAM too small is refused (%s)", err);
	free(ram);
	img_size = e.size;
	img = malloc(img_size);
	memcpy(img, e.data, img_size);
	hvp_elf_free(&e);
	tap_ok(hvp_elf_load_file(&e, "/nonexistent/x.elf", err, sizeof(err)) == -ENOENT,
	       "a missing file is -ENOENT");
	tap_ok(hvp_elf_load_file(&e, "/dev/null", err, sizeof(err)) < 0, "/dev/null is refused");

	/* every truncation */
	for (n = 0; n < img_size; n++) {
		char why[256];
		int pr = parse(img, n, why, sizeof(why));

		/* sections sit at the end: a cut there may still leave a valid image */
		if (pr == 0 && n < img_size - 4096)
			bad++;
	}
	tap_ok(bad == 0, "every truncation short of the section table is refused (%zu accepted)",
	       bad);

	CORRUPT("bad magic", "not an ELF", b_[1] = 'X');
	CORRUPT("32-bit class", "64-bit", b_[EI_CLASS] = ELFCLASS32);
	CORRUPT("big-endian", "64-bit", b_[EI_DATA] = ELFDATA2MSB);
	CORRUPT("wrong machine", "x86-64", eh->e_machine = EM_AARCH64);
	CORRUPT("ET_DYN", "x86-64", eh->e_type = ET_DYN);
	CORRUPT("phoff past the end", "program headers", eh->e_phoff = img_size);
	CORRUPT("huge phnum", "program header", eh->e_phnum = 60000);
	CORRUPT("wrong phentsize", "program header", eh->e_phentsize = 12);
	CORRUPT("segment past the end", "truncated",
		phdr(b_, (unsigned)first_load(b_, 0))->p_filesz = img_size * 2;
		phdr(b_, (unsigned)first_load(b_, 0))->p_memsz = img_size * 2);
	CORRUPT("filesz > memsz", "exceeds memory size",
		phdr(b_, (unsigned)first_load(b_, 0))->p_memsz = 1);
	CORRUPT("overlapping segments", "overlaps",
		phdr(b_, (unsigned)first_load(b_, 1))->p_paddr =
			phdr(b_, (unsigned)first_load(b_, 0))->p_paddr);
	CORRUPT("address overflow", "overflows",
		phdr(b_, (unsigned)first_load(b_, 0))->p_paddr = UINT64_MAX - 4);
	CORRUPT("shstrndx out of range", "out of range", eh->e_shstrndx = eh->e_shnum + 3);
	CORRUPT("shoff past the end", "section header", eh->e_shoff = img_size - 8);

	/* random damage: never a crash (ASan watches), usually a refusal */
	for (i = 0, bad = 0; i < 20000; i++) {
		uint8_t *b = malloc(img_size);
		unsigned k, flips = 1 + (unsigned)(rand_r(&seed) % 4);
		char why[256];

		memcpy(b, img, img_size);
		for (k = 0; k < flips; k++) {
			/* the headers are where damage matters: aim there half the time */
			size_t at = rand_r(&seed) % 2 ? (size_t)rand_r(&seed) % 512 :
							(size_t)rand_r(&seed) % img_size;

			b[at] ^= (uint8_t)(1 + rand_r(&seed) % 255);
		}
		bad += parse(b, img_size, why, sizeof(why)) < 0;
		free(b);
	}
	tap_ok(1, "20000 randomly damaged images parsed without a crash (%zu refused)", bad);
	free(img);
	return tap_done();
}
