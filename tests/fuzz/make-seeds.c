// SPDX-License-Identifier: GPL-2.0-only
/*
 * Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/{ctl,agent,
 * elf}/), deterministically: run through tests/fuzz/make-seeds.sh, which
 * compiles this with the host compiler.  Every seed is small (< 64 KiB).
 *
 * Built against protocol/hvp_agent.h and protocol/hvp_ctl.h so that the seeds
 * follow the ABI; the ELF seeds use the system <elf.h> (this file is built
 * without -I vmm, where the project's own elf.h lives).
 *
 * usage: make-seeds OUTDIR     (OUTDIR gets ctl/, agent/, elf/)
 */
#include <elf.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hvp_agent.h"
#include "hvp_ctl.h"

static const char *outdir;

static void put(const char *sub, const char *name, const void *buf, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", outdir, sub);
	if (mkdir(path, 0755) < 0 && errno != EEXIST) {
		perror(path);
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/%s/%s", outdir, sub, name);
	f = fopen(path, "wb");
	if (!f || (len && fwrite(buf, 1, len, f) != len) || fclose(f)) {
		perror(path);
		exit(1);
	}
}

static void le16(uint8_t *p, uint16_t v)
{
	p[0] = v & 0xff;
	p[1] = v >> 8;
}

static void le32(uint8_t *p, uint32_t v)
{
	le16(p, v & 0xffff);
	le16(p + 2, v >> 16);
}

static void le64(uint8_t *p, uint64_t v)
{
	le32(p, v & 0xffffffffu);
	le32(p + 4, v >> 32);
}

/* ---------------------------------------------------------------- ctl --- */

/*
 * Wire mode (selector 0) or socket mode (2): 16-byte header, payload (maybe
 * cut short).
 */
static void ctl_msg(const char *name, uint8_t mode, uint32_t magic, uint16_t version, uint16_t type,
		    int64_t len /* -1: strlen(payload) */, const char *payload, size_t cut)
{
	uint8_t buf[1 + HVP_CTL_HDR_SIZE + 4096];
	size_t plen = strlen(payload);

	if (cut && cut < plen)
		plen = cut;
	buf[0] = mode;
	le32(buf + 1, magic);
	le16(buf + 5, version);
	le16(buf + 7, type);
	le32(buf + 9, len < 0 ? (uint32_t)strlen(payload) : (uint32_t)len);
	le32(buf + 13, 7);
	memcpy(buf + 1 + HVP_CTL_HDR_SIZE, payload, plen);
	put("ctl", name, buf, 1 + HVP_CTL_HDR_SIZE + plen);
}

#define ctl_wire(name, ...) ctl_msg(name, 0, __VA_ARGS__)
#define ctl_sock(name, ...) ctl_msg(name, 2, __VA_ARGS__)

/* Payload mode: selector byte 1, then the bytes as they are. */
static void ctl_payload(const char *name, const void *payload, size_t len)
{
	uint8_t buf[4096];

	buf[0] = 1;
	memcpy(buf + 1, payload, len);
	put("ctl", name, buf, 1 + len);
}

/* A string literal's bytes, without its terminating NUL (it may hold NULs). */
#define CTL_P(name, lit) ctl_payload(name, lit, sizeof(lit) - 1)

/* `levels` nested objects: {"a":{"a":...1...}} */
static void ctl_deep(const char *name, unsigned levels)
{
	char buf[1024];
	size_t n = 0;
	unsigned i;

	for (i = 0; i < levels; i++)
		n += (size_t)sprintf(buf + n, "{\"a\":");
	buf[n++] = '1';
	for (i = 0; i < levels; i++)
		buf[n++] = '}';
	ctl_payload(name, buf, n);
}

static void ctl_seeds(void)
{
	static const char req_info[] = "{\"cmd\":\"info\",\"args\":{}}";
	static const char req_patch[] =
		"{\"cmd\":\"patch\",\"args\":{\"key\":\"small\",\"target\":\"small_c\","
		"\"method\":\"bp-cancel\",\"sync\":\"nmi\",\"timeout_ms\":5000,"
		"\"naive_delay_us\":0,\"unsafe\":false}}";
	static const char resp_ok[] =
		"{\"ok\":true,\"result\":{\"keys\":[{\"name\":\"single\",\"sites\":1,"
		"\"targets\":[\"single_a\",\"single_b\"]}],\"uptime\":1.5e3,\"x\":null}}";
	static const char resp_err[] =
		"{\"ok\":false,\"error\":{\"class\":\"NotFound\",\"desc\":\"no key \\\"zz\\\"\"}}";

	ctl_wire("req-info", HVP_CTL_MAGIC, HVP_CTL_VERSION, HVP_CTL_T_REQUEST, -1, req_info, 0);
	ctl_wire("req-patch", HVP_CTL_MAGIC, HVP_CTL_VERSION, HVP_CTL_T_REQUEST, -1, req_patch, 0);
	ctl_wire("req-no-args", HVP_CTL_MAGIC, HVP_CTL_VERSION, HVP_CTL_T_REQUEST, -1,
		 "{\"cmd\":\"stats\"}", 0);
	ctl_wire("resp-ok", HVP_CTL_MAGIC, HVP_CTL_VERSION, HVP_CTL_T_RESPONSE, -1, resp_ok, 0);
	ctl_wire("resp-ok-bare", HVP_CTL_MAGIC, HVP_CTL_VERSION, HVP_CTL_T_RESPONSE, -1,
		 "{\"ok\":true}", 0);
	ctl_wire("resp-err", HVP_CTL_MAGIC, HVP_CTL_VERSION, HVP_CTL_T_RESPONSE, -1, resp_err, 0);
	ctl_wire("req-truncated", HVP_CTL_MAGIC, HVP_CTL_VERSION, HVP_CTL_T_REQUEST, -1, req_patch,
		 40);
	ctl_wire("req-len-short", HVP_CTL_MAGIC, HVP_CTL_VERSION, HVP_CTL_T_REQUEST, 12, req_info,
		 0);
	ctl_wire("req-trailing", HVP_CTL_MAGIC, HVP_CTL_VERSION, HVP_CTL_T_REQUEST, -1,
		 "{\"cmd\":\"info\"} \r\n x", 0);
	ctl_wire("hdr-bad-magic", 0x43505649u, HVP_CTL_VERSION, HVP_CTL_T_REQUEST, -1, req_info, 0);
	ctl_wire("hdr-bad-version", HVP_CTL_MAGIC, 2, HVP_CTL_T_REQUEST, -1, req_info, 0);
	ctl_wire("hdr-bad-type", HVP_CTL_MAGIC, HVP_CTL_VERSION, 3, -1, req_info, 0);
	ctl_wire("hdr-len-zero", HVP_CTL_MAGIC, HVP_CTL_VERSION, HVP_CTL_T_REQUEST, 0, req_info, 0);
	ctl_wire("hdr-len-huge", HVP_CTL_MAGIC, HVP_CTL_VERSION, HVP_CTL_T_REQUEST,
		 HVP_CTL_MAX_PAYLOAD + 1, req_info, 0);

	ctl_sock("s-req-patch", HVP_CTL_MAGIC, HVP_CTL_VERSION, HVP_CTL_T_REQUEST, -1, req_patch,
		 0);
	ctl_sock("s-resp-err", HVP_CTL_MAGIC, HVP_CTL_VERSION, HVP_CTL_T_RESPONSE, -1, resp_err, 0);
	ctl_sock("s-truncated", HVP_CTL_MAGIC, HVP_CTL_VERSION, HVP_CTL_T_REQUEST, -1, req_patch,
		 40);
	ctl_sock("s-hdr-bad-type", HVP_CTL_MAGIC, HVP_CTL_VERSION, 0, -1, req_info, 0);

	ctl_payload("p-req-info", req_info, strlen(req_info));
	ctl_payload("p-resp-err", resp_err, strlen(resp_err));
	CTL_P("p-cmd-nul-escape", "{\"cmd\":\"info\\u0000x\"}");
	CTL_P("p-raw-nul", "{\"cmd\":\"in\0fo\"}");
	CTL_P("p-bad-utf8", "{\"cmd\":\"info\",\"args\":{\"k\":\"\xc3\x28\"}}");
	CTL_P("p-surrogates",
	      "{\"cmd\":\"info\",\"args\":{\"a\":\"\\ud83d\\ude00\",\"b\":\"\\ud800\","
	      "\"c\":\"\\udc00x\",\"\\u00e9\":\"\xc3\xa9\"}}");
	CTL_P("p-numbers", "{\"ok\":true,\"result\":[0,-0,1e400,-1.5E-3,9223372036854775808,"
			   "-9223372036854775809,18446744073709551615,true,false,null]}");
	CTL_P("p-dup-keys", "{\"cmd\":\"info\",\"cmd\":\"stop\",\"args\":{},\"args\":1}");
	CTL_P("p-unknown-key", "{\"cmd\":\"info\",\"argz\":{}}");
	CTL_P("p-not-object", "[\"cmd\",\"info\"]");
	CTL_P("p-ws", " \t\r\n{\"cmd\" : \"a.b-c_9\" , \"args\" : { } } \n");
	/* The depth limit is 32 and json-c counts the scalar inside as a level:
	 * 31 objects around a number parse, 32 do not. */
	ctl_deep("p-deep-max", 31);
	ctl_deep("p-too-deep", 32);
}

/* -------------------------------------------------------------- agent --- */

/* Must match fuzz-agent.c. */
#define A_TEXT_START 0x100000u
#define A_AGENT_GPA  0x180000u
#define A_HDR_LEN    12
#define A_TEXT_MAX   0x10000u

struct agent_seed {
	uint8_t flags;
	uint64_t probe_gpa;
	struct hvp_agent *a;	  /* only the guest-written part is used */
	uint8_t text[A_TEXT_MAX]; /* bytes at A_TEXT_START */
	size_t text_len;
};

static void encode(struct agent_seed *s, uint64_t site, uint8_t opc, uint64_t dest)
{
	uint8_t *p = s->text + (site - A_TEXT_START);
	int32_t rel = (int32_t)(int64_t)(dest - (site + HVP_INSN_LEN));

	p[0] = opc;
	memcpy(p + 1, &rel, 4);
	if (site - A_TEXT_START + HVP_INSN_LEN > s->text_len)
		s->text_len = site - A_TEXT_START + HVP_INSN_LEN;
}

static void agent_begin(struct agent_seed *s)
{
	memset(s->a, 0, offsetof(struct hvp_agent, patch));
	memset(s->text, HVP_OPC_INT3, sizeof(s->text));
	s->text_len = 0;
	s->flags = 0;
	s->probe_gpa = 0;
	s->a->magic = HVP_AGENT_MAGIC;
	s->a->abi_version = HVP_AGENT_ABI_VERSION;
	s->a->size = sizeof(struct hvp_agent);
	s->a->ready = 1;
}

static void agent_put(struct agent_seed *s, const char *name)
{
	size_t alen = offsetof(struct hvp_agent, sites) + 8 * (size_t)s->a->nr_sites;
	size_t max = offsetof(struct hvp_agent, patch);
	uint8_t *buf;

	if (alen > max)
		alen = max;
	buf = malloc(A_HDR_LEN + alen + s->text_len);
	if (!buf)
		exit(1);
	memset(buf, 0, A_HDR_LEN);
	buf[0] = s->flags;
	le16(buf + 2, (uint16_t)alen);
	le64(buf + 4, s->probe_gpa);
	memcpy(buf + A_HDR_LEN, s->a, alen);
	memcpy(buf + A_HDR_LEN + alen, s->text, s->text_len);
	put("agent", name, buf, A_HDR_LEN + alen + s->text_len);
	free(buf);
}

static void add_key(struct agent_seed *s, unsigned k, const char *name, uint32_t kind,
		    unsigned ntargets, const uint64_t *targets, unsigned nsites,
		    uint64_t first_addr)
{
	struct hvp_key *key = &s->a->keys[k];
	uint8_t opc = kind == HVP_KEY_INLINE ? HVP_OPC_CALL : HVP_OPC_JMP;
	unsigned t, i;

	snprintf(key->name, sizeof(key->name), "%s", name);
	key->kind = kind;
	key->nr_targets = ntargets;
	for (t = 0; t < ntargets; t++) {
		key->targets[t] = targets[t];
		snprintf(key->target_names[t], sizeof(key->target_names[t]), "%s_%c", name,
			 'a' + t);
	}
	key->first_site = s->a->nr_sites;
	key->nr_sites = nsites;
	key->calls_per_pass = nsites;
	for (i = 0; i < nsites; i++) {
		uint64_t site = first_addr + HVP_INSN_LEN * i;

		s->a->sites[s->a->nr_sites++] = site;
		encode(s, site, opc, targets[i % ntargets]);
	}
	s->a->nr_keys = k + 1;
}

static void agent_seeds(void)
{
	static struct agent_seed s;
	const uint64_t T = A_TEXT_START;

	s.a = aligned_alloc(4096, sizeof(struct hvp_agent));
	if (!s.a)
		exit(1);

	/* The unit test's agent: "alpha" (inline, 3 sites), "beta" (trampoline). */
	agent_begin(&s);
	add_key(&s, 0, "alpha", HVP_KEY_INLINE, 2, (uint64_t[]){ T + 0x100, T + 0x200 }, 3,
		T + 0x400);
	add_key(&s, 1, "beta", HVP_KEY_TRAMP, 1, (uint64_t[]){ T + 0x300 }, 1, T + 0x500);
	agent_put(&s, "good-two-keys");

	/* The same with the text range covering the agent area (flags bit 0). */
	s.flags = 1;
	agent_put(&s, "good-text-covers-agent");
	/* ... and a hostile agent address for the header check (flags bit 1). */
	s.flags = 2;
	s.probe_gpa = UINT64_MAX - 4095;
	agent_put(&s, "probe-gpa-wraps");
	s.probe_gpa = A_AGENT_GPA + 0x1000;
	agent_put(&s, "probe-gpa-other-page");

	/* Like the real guest: five keys, near and far targets, 1298 sites. */
	agent_begin(&s);
	add_key(&s, 0, "single", HVP_KEY_INLINE, 3, (uint64_t[]){ T + 0x10, T + 0x20, T + 0xf000 },
		1, T + 0x200);
	add_key(&s, 1, "small", HVP_KEY_INLINE, 3, (uint64_t[]){ T + 0x30, T + 0x40, T + 0xf010 },
		16, T + 0x210);
	add_key(&s, 2, "medium", HVP_KEY_INLINE, 3, (uint64_t[]){ T + 0x50, T + 0x60, T + 0xf020 },
		256, T + 0x300);
	add_key(&s, 3, "batch", HVP_KEY_INLINE, 3, (uint64_t[]){ T + 0x70, T + 0x80, T + 0xf030 },
		1024, T + 0x800);
	add_key(&s, 4, "tramp", HVP_KEY_TRAMP, 3, (uint64_t[]){ T + 0x90, T + 0xa0, T + 0xf040 }, 1,
		T + 0x1c0);
	agent_put(&s, "guest-like");

	/* A few refusals, to seed the error paths. */
	agent_begin(&s);
	add_key(&s, 0, "alpha", HVP_KEY_INLINE, 2, (uint64_t[]){ T + 0x100, T + 0x200 }, 3,
		T + 0x400);
	s.a->sites[1] = s.a->sites[0] + 2;
	agent_put(&s, "bad-overlap");
	agent_begin(&s);
	add_key(&s, 0, "alpha", HVP_KEY_INLINE, 2, (uint64_t[]){ T + 0x100, T + 0x200 }, 3,
		T + 0x400);
	s.a->sites[2] = A_AGENT_GPA + 0x40;
	s.flags = 1;
	agent_put(&s, "bad-site-in-agent");
	agent_begin(&s);
	add_key(&s, 0, "alpha", HVP_KEY_INLINE, 1, (uint64_t[]){ T + 0x100 }, 2, T + 0x400);
	s.a->keys[0].first_site = 0xffffffffu;
	agent_put(&s, "bad-first-site-wraps");
	agent_begin(&s);
	add_key(&s, 0, "alpha", HVP_KEY_INLINE, 1, (uint64_t[]){ T + 0x100 }, 2, T + 0x400);
	s.a->magic ^= 1;
	agent_put(&s, "bad-magic");

	/* Two keys, each valid alone, naming the same sites. */
	agent_begin(&s);
	add_key(&s, 0, "alpha", HVP_KEY_INLINE, 1, (uint64_t[]){ T + 0x100 }, 2, T + 0x400);
	s.a->keys[1] = s.a->keys[0];
	snprintf(s.a->keys[1].name, HVP_NAME_LEN, "gamma");
	s.a->nr_keys = 2;
	agent_put(&s, "bad-shared-site");

	/*
	 * Two keys whose sites overlap by four bytes, each valid alone: alpha's
	 * `call` at S has displacement 0xe9, so S+1 holds `jmp +0`, beta's site.
	 */
	agent_begin(&s);
	add_key(&s, 0, "alpha", HVP_KEY_INLINE, 1, (uint64_t[]){ T + 0x400 + 5 + 0xe9 }, 1,
		T + 0x400);
	add_key(&s, 1, "beta", HVP_KEY_TRAMP, 1, (uint64_t[]){ T + 0x401 + 5 }, 1, T + 0x401);
	encode(&s, T + 0x400, HVP_OPC_CALL, T + 0x400 + 5 + 0xe9);
	s.text_len = 0x406; /* S+5 = 0: beta's displacement is 0 */
	agent_put(&s, "bad-cross-key-overlap");

	free(s.a);
}

/* ---------------------------------------------------------------- elf --- */

#define E_TEXT_VA  0x100000u
#define E_TEXT_OFF 0x1000u
#define E_DATA_VA  0x102000u
#define E_DATA_OFF 0x2000u
#define E_AGENT_VA 0x103000u

struct elfbuf {
	uint8_t b[0x4000];
	size_t len;
};

static size_t eb_add(struct elfbuf *e, const void *p, size_t len, size_t align)
{
	size_t off = (e->len + align - 1) & ~(align - 1);

	if (off + len > sizeof(e->b))
		exit(1);
	memset(e->b + e->len, 0, off - e->len);
	memcpy(e->b + off, p, len);
	e->len = off + len;
	return off;
}

/* Offset of a name in a string table (which starts with a NUL). */
static uint32_t strofs(const char *tab, size_t size, const char *name)
{
	size_t i, n = strlen(name) + 1;

	for (i = 1; i + n <= size; i++)
		if (!tab[i - 1] && !memcmp(tab + i, name, n))
			return (uint32_t)i;
	fprintf(stderr, "make-seeds: %s not in string table\n", name);
	exit(1);
}

enum {
	SH_NULL,
	SH_TEXT,
	SH_NOTE,
	SH_DATA,
	SH_SCS,
	SH_BSS,
	SH_SYMTAB,
	SH_STRTAB,
	SH_SHSTRTAB,
	SH_NR
};

/*
 * A tiny guest-like image: PT_LOAD text (R X) at 1 MiB holding the PVH note,
 * PT_LOAD data (R W) with .static_call_sites and a NOBITS tail where
 * hvp_agent lives, PT_NOTE, and a symbol table.
 */
static void build_elf(struct elfbuf *e, int with_shdrs)
{
	static const char shstr[] =
		"\0.text\0.note\0.data\0.static_call_sites\0.bss\0.symtab\0.strtab\0.shstrtab";
	static const char str[] =
		"\0pvh_start32\0hvp_agent\0single_a\0single_b\0__text_start\0__text_end\0"
		"__start_static_call_sites\0__stop_static_call_sites\0local_thing";
#define STR(name) strofs(str, sizeof(str), name)
	Elf64_Ehdr eh = { 0 };
	Elf64_Phdr ph[3] = { { 0 } };
	Elf64_Shdr sh[SH_NR] = { { 0 } };
	Elf64_Sym sym[10] = { { 0 } };
	uint8_t text[0x100], data[0x40];
	size_t note_off, scs_off, sym_off, str_off, shstr_off, sh_off;
	uint32_t note[5] = { 4, 4, 18, 0x006e6558 /* "Xen" */, E_TEXT_VA };

	memset(e, 0, sizeof(*e));
	memset(text, 0xcc, sizeof(text));
	/* pvh_start32: call single_a (e8 rel32) at +0x20, then hlt */
	text[0x20] = 0xe8;
	le32(text + 0x21, (uint32_t)(0x40 - 0x25));
	text[0x25] = 0xf4;
	text[0x40] = 0xc3;	       /* single_a: ret */
	text[0x50] = 0xc3;	       /* single_b: ret */
	memcpy(text + 0xe8, note, 20); /* .note at text + 0xe8 */
	memset(data, 0, sizeof(data));
	le64(data + 0x20, E_TEXT_VA + 0x20); /* .static_call_sites: {site, key} */
	le64(data + 0x28, 0);

	e->len = sizeof(eh) + sizeof(ph);
	eb_add(e, text, sizeof(text), E_TEXT_OFF);
	note_off = E_TEXT_OFF + 0xe8;
	eb_add(e, data, sizeof(data), E_DATA_OFF);
	scs_off = E_DATA_OFF + 0x20;

	/* symbols: index 0 null, 1 a local, then globals */
#define SYM(i, name, bind, type, shndx, value, size)                \
	sym[i] = (Elf64_Sym){ .st_name = STR(name),                 \
			      .st_info = ELF64_ST_INFO(bind, type), \
			      .st_shndx = (shndx),                  \
			      .st_value = (value),                  \
			      .st_size = (size) }
	SYM(1, "local_thing", STB_LOCAL, STT_OBJECT, SH_DATA, E_DATA_VA, 8);
	SYM(2, "pvh_start32", STB_GLOBAL, STT_FUNC, SH_TEXT, E_TEXT_VA, 0x26);
	SYM(3, "hvp_agent", STB_GLOBAL, STT_OBJECT, SH_BSS, E_AGENT_VA, sizeof(struct hvp_agent));
	SYM(4, "single_a", STB_GLOBAL, STT_FUNC, SH_TEXT, E_TEXT_VA + 0x40, 1);
	SYM(5, "single_b", STB_GLOBAL, STT_FUNC, SH_TEXT, E_TEXT_VA + 0x50, 1);
	SYM(6, "__text_start", STB_GLOBAL, STT_NOTYPE, SH_TEXT, E_TEXT_VA, 0);
	SYM(7, "__text_end", STB_GLOBAL, STT_NOTYPE, SH_TEXT, E_TEXT_VA + 0x1000, 0);
	SYM(8, "__start_static_call_sites", STB_GLOBAL, STT_NOTYPE, SH_SCS, E_DATA_VA + 0x20, 0);
	SYM(9, "__stop_static_call_sites", STB_GLOBAL, STT_NOTYPE, SH_SCS, E_DATA_VA + 0x30, 0);
#undef SYM
	if (with_shdrs) {
		sym_off = eb_add(e, sym, sizeof(sym), 8);
		str_off = eb_add(e, str, sizeof(str), 1);
		shstr_off = eb_add(e, shstr, sizeof(shstr), 1);

		sh[SH_TEXT] = (Elf64_Shdr){ 1,
					    SHT_PROGBITS,
					    SHF_ALLOC | SHF_EXECINSTR,
					    E_TEXT_VA,
					    E_TEXT_OFF,
					    0xe8,
					    0,
					    0,
					    16,
					    0 };
		sh[SH_NOTE] =
			(Elf64_Shdr){ 7, SHT_NOTE, SHF_ALLOC, E_TEXT_VA + 0xe8, note_off, 20, 0,
				      0, 4,	   0 };
		sh[SH_DATA] = (Elf64_Shdr){ 13,
					    SHT_PROGBITS,
					    SHF_ALLOC | SHF_WRITE,
					    E_DATA_VA,
					    E_DATA_OFF,
					    0x20,
					    0,
					    0,
					    8,
					    0 };
		sh[SH_SCS] = (Elf64_Shdr){
			19, SHT_PROGBITS, SHF_ALLOC, E_DATA_VA + 0x20, scs_off, 0x10, 0, 0, 8, 0
		};
		sh[SH_BSS] = (Elf64_Shdr){ 38,
					   SHT_NOBITS,
					   SHF_ALLOC | SHF_WRITE,
					   E_AGENT_VA,
					   E_DATA_OFF + 0x40,
					   sizeof(struct hvp_agent),
					   0,
					   0,
					   4096,
					   0 };
		sh[SH_SYMTAB] =
			(Elf64_Shdr){ 43,      SHT_SYMTAB,	 0,	    0,
				      sym_off, sizeof(sym),	 SH_STRTAB, 2 /* first global */,
				      8,       sizeof(Elf64_Sym) };
		sh[SH_STRTAB] =
			(Elf64_Shdr){ 51, SHT_STRTAB, 0, 0, str_off, sizeof(str), 0, 0, 1, 0 };
		sh[SH_SHSTRTAB] =
			(Elf64_Shdr){ 59, SHT_STRTAB, 0, 0, shstr_off, sizeof(shstr), 0, 0, 1, 0 };
		sh_off = eb_add(e, sh, sizeof(sh), 8);
	} else {
		sh_off = 0;
	}

	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = ET_EXEC;
	eh.e_machine = EM_X86_64;
	eh.e_version = EV_CURRENT;
	eh.e_entry = E_TEXT_VA;
	eh.e_phoff = sizeof(eh);
	eh.e_shoff = sh_off;
	eh.e_ehsize = sizeof(eh);
	eh.e_phentsize = sizeof(Elf64_Phdr);
	eh.e_phnum = 3;
	eh.e_shentsize = with_shdrs ? sizeof(Elf64_Shdr) : 0;
	eh.e_shnum = with_shdrs ? SH_NR : 0;
	eh.e_shstrndx = with_shdrs ? SH_SHSTRTAB : SHN_UNDEF;

	ph[0] = (Elf64_Phdr){ PT_LOAD,	 PF_R | PF_X, E_TEXT_OFF, E_TEXT_VA,
			      E_TEXT_VA, 0x100,	      0x100,	  0x1000 };
	ph[1] = (Elf64_Phdr){ PT_LOAD,
			      PF_R | PF_W,
			      E_DATA_OFF,
			      E_DATA_VA,
			      E_DATA_VA,
			      0x40,
			      E_AGENT_VA - E_DATA_VA + sizeof(struct hvp_agent),
			      0x1000 };
	ph[2] = (Elf64_Phdr){
		PT_NOTE, PF_R, note_off, E_TEXT_VA + 0xe8, E_TEXT_VA + 0xe8, 20, 20, 4
	};
	memcpy(e->b, &eh, sizeof(eh));
	memcpy(e->b + sizeof(eh), ph, sizeof(ph));
#undef STR
}

static void elf_seeds(void)
{
	static struct elfbuf e;
	Elf64_Phdr *ph = (Elf64_Phdr *)(e.b + sizeof(Elf64_Ehdr));
	Elf64_Ehdr *eh = (Elf64_Ehdr *)e.b;

	build_elf(&e, 1);
	put("elf", "tiny-guest", e.b, e.len);
	put("elf", "truncated-phdrs", e.b, 100);
	put("elf", "truncated-mid", e.b, e.len / 2);

	build_elf(&e, 0);
	put("elf", "no-sections", e.b, e.len);

	build_elf(&e, 1);
	ph[1].p_paddr = ph[1].p_vaddr = E_TEXT_VA + 0x80; /* overlaps text */
	put("elf", "bad-overlap", e.b, e.len);

	build_elf(&e, 1);
	ph[1].p_memsz = UINT64_MAX - 0x10; /* paddr + memsz wraps */
	put("elf", "bad-memsz-wraps", e.b, e.len);

	build_elf(&e, 1);
	ph[0].p_filesz = 0x200; /* filesz > memsz */
	put("elf", "bad-filesz", e.b, e.len);

	build_elf(&e, 1);
	ph[0].p_paddr = 0x3ff000; /* straddles the end of a 4 MiB RAM */
	ph[0].p_vaddr = 0x3ff000;
	ph[0].p_memsz = ph[0].p_filesz = 0x100;
	ph[1].p_paddr = 0x3fff80;
	put("elf", "seg-past-ram", e.b, e.len);

	build_elf(&e, 1);
	eh->e_ident[EI_CLASS] = ELFCLASS32;
	put("elf", "bad-class", e.b, e.len);

	build_elf(&e, 1);
	eh->e_shoff = e.len - 8; /* section headers run off the end */
	put("elf", "bad-shoff", e.b, e.len);

	build_elf(&e, 1);
	eh->e_phnum = 0xffff;
	put("elf", "bad-phnum", e.b, e.len);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
		return 2;
	}
	outdir = argv[1];
	if (mkdir(outdir, 0755) < 0 && errno != EEXIST) {
		perror(outdir);
		return 1;
	}
	ctl_seeds();
	agent_seeds();
	elf_seeds();
	return 0;
}
