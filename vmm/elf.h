/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Loading the guest agent ELF.  The image is parsed from a byte buffer and
 * every header, segment, section and symbol is bound-checked against it; a
 * corrupt or truncated file is an error that names what is wrong.
 */
#ifndef HVP_ELF_H
#define HVP_ELF_H

#include <stddef.h>
#include <stdint.h>

#define HVP_ELF_MAX_SEGS 16

struct hvp_elf_seg {
	uint64_t paddr; /* guest-physical load address (p_paddr) */
	uint64_t vaddr;
	uint64_t filesz, memsz;
	uint64_t offset; /* into the file                          */
	uint32_t flags;	 /* PF_R | PF_W | PF_X                      */
};

struct hvp_elf {
	uint8_t *data; /* the whole file, owned                   */
	size_t size;
	uint64_t entry;	    /* e_entry                                 */
	uint64_t pvh_entry; /* XEN_ELFNOTE_PHYS32_ENTRY, 0 if absent   */
	unsigned nr_segs;
	struct hvp_elf_seg segs[HVP_ELF_MAX_SEGS];
	/* symbol table (may be absent: then lookups fail with -ENOENT) */
	const void *symtab; /* Elf64_Sym array inside data             */
	size_t nr_syms;
	const char *strtab;
	size_t strtab_size;
};

/*
 * Parse `size` bytes at `data` (copied).  Requires ELF64, little-endian,
 * x86-64, ET_EXEC, PT_LOAD segments inside the file with filesz <= memsz and
 * no overlap between segments.  Returns 0 or -errno; on error writes a
 * one-line reason into err.
 */
int hvp_elf_parse(struct hvp_elf *elf, const void *data, size_t size, char *err, size_t errlen);
/* Read a file and parse it; caps the file size at 64 MiB. */
int hvp_elf_load_file(struct hvp_elf *elf, const char *path, char *err, size_t errlen);
void hvp_elf_free(struct hvp_elf *elf);

/*
 * Check that every PT_LOAD segment fits in [0, ram_size) and copy them into
 * guest RAM at `ram` (zero-filling memsz beyond filesz).  Returns 0 or -errno.
 */
int hvp_elf_load_into(const struct hvp_elf *elf, void *ram, uint64_t ram_size, char *err,
		      size_t errlen);

/* Look a symbol up by name: 0 and its value and size, or -ENOENT. */
int hvp_elf_symbol(const struct hvp_elf *elf, const char *name, uint64_t *value, uint64_t *size);
/* The name of the symbol (FUNC or NOTYPE) whose value is exactly addr, or NULL. */
const char *hvp_elf_symbol_at(const struct hvp_elf *elf, uint64_t addr);
/* The image's text: its first executable (PF_X) segment, or NULL. */
const struct hvp_elf_seg *hvp_elf_text_seg(const struct hvp_elf *elf);

/*
 * Iterate a named section's contents (e.g. ".static_call_sites"):
 * 0 and its bytes, size and address, or -ENOENT; the bytes point into elf->data.
 */
int hvp_elf_section(const struct hvp_elf *elf, const char *name, const void **ptr, uint64_t *size,
		    uint64_t *addr);

#endif /* HVP_ELF_H */
