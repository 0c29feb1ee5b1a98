// SPDX-License-Identifier: GPL-2.0-only
/*
 * The guest ELF loader.  The file is untrusted input: every offset and size
 * is checked for overflow and against the file before it is read, and every
 * string must end inside its table.
 */
#include "config.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "elf.h"

#define MAX_PHDRS		 64
#define MAX_SHDRS		 256
#define MAX_FILE		 (64u << 20)
#define XEN_ELFNOTE_PHYS32_ENTRY 18

/* [off, off+len) inside a buffer of `size` bytes, without overflow. */
static bool in_file(uint64_t off, uint64_t len, size_t size)
{
	uint64_t end;

	return !__builtin_add_overflow(off, len, &end) && end <= size;
}

/* A string at `off` in a table [base, base+tsize) that ends inside it. */
static const char *table_str(const char *tab, size_t tsize, uint64_t off)
{
	if (off >= tsize || !memchr(tab + off, 0, tsize - off))
		return NULL;
	return tab + off;
}

static int parse_notes(struct hvp_elf *elf, uint64_t off, uint64_t size)
{
	uint64_t pos = 0;

	while (pos + sizeof(Elf64_Nhdr) <= size) {
		Elf64_Nhdr nh;
		uint64_t name_sz, desc_sz, desc_off;

		memcpy(&nh, elf->data + off + pos, sizeof(nh));
		name_sz = ((uint64_t)nh.n_namesz + 3) & ~3ull;
		desc_sz = ((uint64_t)nh.n_descsz + 3) & ~3ull;
		desc_off = pos + sizeof(nh) + name_sz;
		if (desc_off > size || desc_sz > size - desc_off)
			return -EINVAL;
		if (nh.n_namesz == 4 && !memcmp(elf->data + off + pos + sizeof(nh), "Xen", 4) &&
		    nh.n_type == XEN_ELFNOTE_PHYS32_ENTRY) {
			uint32_t e32;
			uint64_t e64;

			if (nh.n_descsz == 4) {
				memcpy(&e32, elf->data + off + desc_off, 4);
				elf->pvh_entry = e32;
			} else if (nh.n_descsz == 8) {
				memcpy(&e64, elf->data + off + desc_off, 8);
				elf->pvh_entry = e64;
			} else {
				return -EINVAL;
			}
		}
		pos = desc_off + desc_sz;
	}
	return 0;
}

static int parse_phdrs(struct hvp_elf *elf, const Elf64_Ehdr *eh, char *err, size_t errlen)
{
	unsigned i, j;

	if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0 || eh->e_phnum > MAX_PHDRS) {
		snprintf(err, errlen, "bad program header table (entsize %u, count %u)",
			 eh->e_phentsize, eh->e_phnum);
		return -EINVAL;
	}
	if (!in_file(eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr), elf->size)) {
		snprintf(err, errlen,
			 "truncated: program headers at 0x%llx end past the file size 0x%zx",
			 (unsigned long long)eh->e_phoff, elf->size);
		return -EINVAL;
	}
	for (i = 0; i < eh->e_phnum; i++) {
		Elf64_Phdr ph;
		uint64_t end;

		memcpy(&ph, elf->data + eh->e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_NOTE) {
			if (!in_file(ph.p_offset, ph.p_filesz, elf->size) ||
			    parse_notes(elf, ph.p_offset, ph.p_filesz) < 0) {
				snprintf(err, errlen, "segment %u: malformed note", i);
				return -EINVAL;
			}
			continue;
		}
		if (ph.p_type != PT_LOAD)
			continue;
		if (elf->nr_segs == HVP_ELF_MAX_SEGS) {
			snprintf(err, errlen, "more than %d loadable segments", HVP_ELF_MAX_SEGS);
			return -EINVAL;
		}
		if (ph.p_filesz > ph.p_memsz) {
			snprintf(err, errlen,
				 "segment %u: file size 0x%llx exceeds memory size 0x%llx", i,
				 (unsigned long long)ph.p_filesz, (unsigned long long)ph.p_memsz);
			return -EINVAL;
		}
		if (!in_file(ph.p_offset, ph.p_filesz, elf->size)) {
			snprintf(err, errlen, "truncated: segment %u ends past the file size 0x%zx",
				 i, elf->size);
			return -EINVAL;
		}
		if (__builtin_add_overflow(ph.p_paddr, ph.p_memsz, &end)) {
			snprintf(err, errlen, "segment %u: address range overflows", i);
			return -EINVAL;
		}
		for (j = 0; j < elf->nr_segs; j++) {
			const struct hvp_elf_seg *o = &elf->segs[j];

			if (ph.p_memsz && o->memsz && ph.p_paddr < o->paddr + o->memsz &&
			    o->paddr < end) {
				snprintf(err, errlen, "segment %u overlaps an earlier segment", i);
				return -EINVAL;
			}
		}
		elf->segs[elf->nr_segs++] = (struct hvp_elf_seg){
			.paddr = ph.p_paddr,
			.vaddr = ph.p_vaddr,
			.filesz = ph.p_filesz,
			.memsz = ph.p_memsz,
			.offset = ph.p_offset,
			.flags = ph.p_flags,
		};
	}
	if (!elf->nr_segs) {
		snprintf(err, errlen, "no loadable segment");
		return -EINVAL;
	}
	return 0;
}

static int shdr_at(const struct hvp_elf *elf, const Elf64_Ehdr *eh, unsigned i, Elf64_Shdr *sh)
{
	if (i >= eh->e_shnum)
		return -EINVAL;
	memcpy(sh, elf->data + eh->e_shoff + (uint64_t)i * sizeof(*sh), sizeof(*sh));
	return 0;
}

/* Sections are optional (symbols, .static_call_sites); when present they must be sane. */
static int parse_shdrs(struct hvp_elf *elf, const Elf64_Ehdr *eh, char *err, size_t errlen)
{
	Elf64_Shdr sh, link;
	unsigned i;

	if (eh->e_shnum == 0)
		return 0;
	if (eh->e_shentsize != sizeof(Elf64_Shdr) || eh->e_shnum > MAX_SHDRS ||
	    !in_file(eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr), elf->size)) {
		snprintf(err, errlen, "bad or truncated section header table");
		return -EINVAL;
	}
	if (eh->e_shstrndx >= eh->e_shnum) {
		snprintf(err, errlen, "section name table index %u out of range", eh->e_shstrndx);
		return -EINVAL;
	}
	for (i = 0; i < eh->e_shnum; i++) {
		shdr_at(elf, eh, i, &sh);
		if (sh.sh_type != SHT_NOBITS && sh.sh_type != SHT_NULL &&
		    !in_file(sh.sh_offset, sh.sh_size, elf->size)) {
			snprintf(err, errlen, "truncated: section %u ends past the file size", i);
			return -EINVAL;
		}
		if (sh.sh_type != SHT_SYMTAB || elf->symtab)
			continue;
		if (sh.sh_entsize != sizeof(Elf64_Sym) || shdr_at(elf, eh, sh.sh_link, &link) < 0 ||
		    link.sh_type != SHT_STRTAB ||
		    !in_file(link.sh_offset, link.sh_size, elf->size) || link.sh_size == 0 ||
		    elf->data[link.sh_offset + link.sh_size - 1] != 0) {
			snprintf(err, errlen, "section %u: malformed symbol table", i);
			return -EINVAL;
		}
		elf->symtab = elf->data + sh.sh_offset;
		elf->nr_syms = sh.sh_size / sizeof(Elf64_Sym);
		elf->strtab = (const char *)elf->data + link.sh_offset;
		elf->strtab_size = link.sh_size;
	}
	return 0;
}

int hvp_elf_parse(struct hvp_elf *elf, const void *data, size_t size, char *err, size_t errlen)
{
	Elf64_Ehdr eh;
	int r;

	memset(elf, 0, sizeof(*elf));
	if (size < sizeof(eh) || memcmp(data, ELFMAG, SELFMAG)) {
		snprintf(err, errlen,
			 size < sizeof(eh) ? "truncated: %zu bytes, shorter than an ELF header" :
					     "not an ELF file",
			 size);
		return -EINVAL;
	}
	memcpy(&eh, data, sizeof(eh));
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh.e_ident[EI_VERSION] != EV_CURRENT) {
		snprintf(err, errlen, "not a little-endian 64-bit ELF");
		return -EINVAL;
	}
	if (eh.e_machine != EM_X86_64 || eh.e_type != ET_EXEC) {
		snprintf(err, errlen, "not an x86-64 executable (machine %u, type %u)",
			 eh.e_machine, eh.e_type);
		return -EINVAL;
	}
	elf->data = malloc(size);
	if (!elf->data)
		return -ENOMEM;
	memcpy(elf->data, data, size);
	elf->size = size;
	elf->entry = eh.e_entry;
	r = parse_phdrs(elf, &eh, err, errlen);
	if (r == 0)
		r = parse_shdrs(elf, &eh, err, errlen);
	if (r < 0)
		hvp_elf_free(elf);
	return r;
}

int hvp_elf_load_file(struct hvp_elf *elf, const char *path, char *err, size_t errlen)
{
	struct stat st;
	uint8_t *buf;
	size_t got = 0;
	int fd, r;

	memset(elf, 0, sizeof(*elf));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return r;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > MAX_FILE) {
		snprintf(err, errlen, "%s: not a regular file of at most %u MiB", path,
			 MAX_FILE >> 20);
		close(fd);
		return -EINVAL;
	}
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	r = hvp_elf_parse(elf, buf, got, err, errlen);
	if (r < 0) {
		char tmp[256];

		snprintf(tmp, sizeof(tmp), "%s", err);
		snprintf(err, errlen, "%s: %s", path, tmp);
	}
	free(buf);
	return r;
}

void hvp_elf_free(struct hvp_elf *elf)
{
	free(elf->data);
	memset(elf, 0, sizeof(*elf));
}

int hvp_elf_load_into(const struct hvp_elf *elf, void *ram, uint64_t ram_size, char *err,
		      size_t errlen)
{
	unsigned i;

	for (i = 0; i < elf->nr_segs; i++) {
		const struct hvp_elf_seg *s = &elf->segs[i];

		if (!in_file(s->paddr, s->memsz, ram_size)) {
			snprintf(err, errlen,
				 "segment %u at 0x%llx+0x%llx does not fit in %llu MiB of RAM", i,
				 (unsigned long long)s->paddr, (unsigned long long)s->memsz,
				 (unsigned long long)(ram_size >> 20));
			return -E2BIG;
		}
		memcpy((uint8_t *)ram + s->paddr, elf->data + s->offset, s->filesz);
		memset((uint8_t *)ram + s->paddr + s->filesz, 0, s->memsz - s->filesz);
	}
	return 0;
}

static const Elf64_Sym *sym_at(const struct hvp_elf *elf, size_t i, Elf64_Sym *copy)
{
	memcpy(copy, (const uint8_t *)elf->symtab + i * sizeof(*copy), sizeof(*copy));
	return copy;
}

int hvp_elf_symbol(const struct hvp_elf *elf, const char *name, uint64_t *value, uint64_t *size)
{
	Elf64_Sym s;
	size_t i;

	for (i = 0; elf->symtab && i < elf->nr_syms; i++) {
		const char *n =
			table_str(elf->strtab, elf->strtab_size, sym_at(elf, i, &s)->st_name);

		if (n && !strcmp(n, name) && s.st_shndx != SHN_UNDEF) {
			*value = s.st_value;
			if (size)
				*size = s.st_size;
			return 0;
		}
	}
	return -ENOENT;
}

const struct hvp_elf_seg *hvp_elf_text_seg(const struct hvp_elf *elf)
{
	unsigned i;

	for (i = 0; i < elf->nr_segs; i++)
		if (elf->segs[i].flags & PF_X)
			return &elf->segs[i];
	return NULL;
}

const char *hvp_elf_symbol_at(const struct hvp_elf *elf, uint64_t addr)
{
	const char *best = NULL;
	Elf64_Sym s;
	size_t i;

	for (i = 0; elf->symtab && i < elf->nr_syms; i++) {
		const char *n;
		unsigned type;

		sym_at(elf, i, &s);
		type = ELF64_ST_TYPE(s.st_info);
		if (s.st_value != addr || (type != STT_FUNC && type != STT_NOTYPE))
			continue;
		n = table_str(elf->strtab, elf->strtab_size, s.st_name);
		if (!n || !n[0])
			continue;
		if (type == STT_FUNC)
			return n;
		if (!best)
			best = n;
	}
	return best;
}

int hvp_elf_section(const struct hvp_elf *elf, const char *name, const void **ptr, uint64_t *size,
		    uint64_t *addr)
{
	Elf64_Ehdr eh;
	Elf64_Shdr sh, strs;
	unsigned i;

	memcpy(&eh, elf->data, sizeof(eh));
	if (!eh.e_shnum || shdr_at(elf, &eh, eh.e_shstrndx, &strs) < 0 ||
	    !in_file(strs.sh_offset, strs.sh_size, elf->size))
		return -ENOENT;
	for (i = 0; i < eh.e_shnum; i++) {
		const char *n;

		shdr_at(elf, &eh, i, &sh);
		n = table_str((const char *)elf->data + strs.sh_offset, strs.sh_size, sh.sh_name);
		/* Only sections with bytes in the file: parse_shdrs() checked
		 * those, but NULL and NOBITS headers may claim any offset. */
		if (!n || strcmp(n, name) || sh.sh_type == SHT_NOBITS || sh.sh_type == SHT_NULL ||
		    !in_file(sh.sh_offset, sh.sh_size, elf->size))
			continue;
		*ptr = elf->data + sh.sh_offset;
		*size = sh.sh_size;
		if (addr)
			*addr = sh.sh_addr;
		return 0;
	}
	return -ENOENT;
}
