// SPDX-License-Identifier: GPL-2.0-only
/*
 * The patch journal's reader (vmm/journal.c), on journals written here: what
 * the writer leaves at each point a service can die (a begin alone, site
 * records without a step, a torn last record, a step taken, an end), what
 * corruption can make of it (more site records than sites=N, a missing or
 * unreadable site before a step, a begin that cannot be read with steps
 * after it, sites=N too large, an overlong line), and the rule for the
 * bytes a site may hold while a patch is under way.  More site records than
 * sites=N overflowed the reader's arrays before (ASan: heap-buffer-overflow),
 * and a begin with some of its sites and no step was "finished" on those
 * sites alone.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "journal.h"
#include "tap.h"

#define BEGIN	"begin key=single method=bp-emulate target=single_c sites=%u\n"
#define SITE(a) "site 0x" a " old=e8aabbccdd new=e811223344\n"

static int parse(const char *text, struct hvp_journal_patch *jp)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	int r;

	if (!f)
		return -errno;
	r = hvp_journal_parse(f, jp);
	fclose(f);
	return r;
}

/* Parse TEXT and check the result, the sites and steps read, and (when malformed) the line. */
static void expect(const char *what, const char *text, int want, unsigned sites, unsigned steps,
		   unsigned line)
{
	struct hvp_journal_patch jp;
	int r = parse(text, &jp);

	if (want == -EINVAL)
		tap_ok(r == -EINVAL && jp.line == line,
		       "%s: malformed at line %u (%d, line %u: %s)", what, line, r, jp.line,
		       jp.why);
	else
		tap_ok(r == want && (r != 1 || (jp.nr_sites == sites && jp.steps == steps)),
		       "%s: %d, %u sites, %u steps (got %d, %u, %u)", what, want, sites, steps, r,
		       jp.nr_sites, jp.steps);
	hvp_journal_patch_free(&jp);
}

int main(void)
{
	char buf[4096], *big;
	struct hvp_journal_patch jp;
	int r;
	unsigned i;
	static const uint8_t old[5] = { 0xe8, 0xaa, 0xbb, 0xcc, 0xdd };
	static const uint8_t new_insn[5] = { 0xe8, 0x11, 0x22, 0x33, 0x44 };

	expect("empty", "", 0, 0, 0, 0);
	snprintf(buf, sizeof(buf), BEGIN SITE("1000") "step pause\nend completed\n", 1u);
	expect("a patch that ended", buf, 0, 0, 0, 0);
	snprintf(buf, sizeof(buf), BEGIN SITE("1000") SITE("1005") "step int3 on 2 sites\n", 2u);
	expect("died after a step", buf, 1, 2, 1, 0);
	r = parse(buf, &jp);
	tap_ok(r == 1 && !strcmp(jp.key, "single") && !strcmp(jp.method, "bp-emulate") &&
		       !strcmp(jp.target, "single_c") && jp.addr[0] == 0x1000 &&
		       jp.addr[1] == 0x1005 && !memcmp(jp.old_insn[1], old, 5) &&
		       !memcmp(jp.new_insn[1], new_insn, 5),
	       "its key, method, target, addresses and both instructions are read back");
	hvp_journal_patch_free(&jp);

	snprintf(buf, sizeof(buf), BEGIN, 2u);
	expect("died after the begin", buf, 1, 0, 0, 0);
	snprintf(buf, sizeof(buf), BEGIN SITE("1000"), 2u);
	expect("died between site records: no step, nothing was written", buf, 1, 1, 0, 0);
	snprintf(buf, sizeof(buf), BEGIN SITE("1000") "site 0x1005 old=e8aab", 2u);
	expect("a torn last site record, no step", buf, 1, 1, 0, 0);
	expect("a torn begin, nothing after it", "begin key=single meth", 0, 0, 0, 0);

	/* corruption */
	snprintf(buf, sizeof(buf), BEGIN SITE("1000") SITE("1005") SITE("100a") "step x\n", 1u);
	expect("more site records than sites=1 (overflowed the arrays before)", buf, -EINVAL, 0, 0,
	       3);
	snprintf(buf, sizeof(buf), BEGIN SITE("1000") "step x\n", 2u);
	expect("one site record of sites=2, and a step", buf, -EINVAL, 0, 0, 3);
	snprintf(buf, sizeof(buf),
		 BEGIN "site 0x1000 old=e8aabbccdd new=e8112233zz\n" SITE("1005") "step x\n", 2u);
	expect("a site whose new bytes are not hex, then a step", buf, -EINVAL, 0, 0, 2);
	snprintf(buf, sizeof(buf),
		 BEGIN "site 0x1000 old=e8aabbccdd new=e8112233\n" SITE("1005") "step x\n", 2u);
	expect("a site with 4 new bytes, then a step", buf, -EINVAL, 0, 0, 2);
	expect("a begin that cannot be read, then a step", "begin key=single\nstep pause\n",
	       -EINVAL, 0, 0, 1);
	snprintf(buf, sizeof(buf), BEGIN, 65537u);
	expect("sites=65537", buf, -EINVAL, 0, 0, 1);

	big = malloc(2048);
	memset(big, 'x', 2047);
	big[2047] = 0;
	memcpy(big, "step ", 5);
	snprintf(buf, sizeof(buf), BEGIN SITE("1000") "%s\n", 1u, big);
	expect("a line longer than any record", buf, -EINVAL, 0, 0, 3);
	free(big);

	/* a later begin replaces an earlier one left open (its end record failed) */
	snprintf(buf, sizeof(buf),
		 BEGIN SITE("1000") "step x\n"
				    "begin key=batch method=stop target=batch_a sites=1\n" SITE(
					    "2000") "step pause\n",
		 2u);
	r = parse(buf, &jp);
	tap_ok(r == 1 && !strcmp(jp.key, "batch") && jp.nr_sites == 1 && jp.addr[0] == 0x2000 &&
		       jp.steps == 1,
	       "a second begin replaces a first one left open (%d, %s)", r, jp.key);
	hvp_journal_patch_free(&jp);

	/* the bytes a site may hold */
	{
		static const struct {
			uint8_t cur[5];
			bool ok;
			const char *what;
		} c[] = {
			{ { 0xe8, 0xaa, 0xbb, 0xcc, 0xdd }, true, "the old instruction" },
			{ { 0xe8, 0x11, 0x22, 0x33, 0x44 }, true, "the new instruction" },
			{ { 0xcc, 0xaa, 0xbb, 0xcc, 0xdd }, true, "int3 and the old tail" },
			{ { 0xcc, 0x11, 0x22, 0x33, 0x44 }, true, "int3 and the new tail" },
			{ { 0xe8, 0x11, 0x22, 0xcc, 0xdd }, true, "naive's torn mix" },
			{ { 0x90, 0xaa, 0xbb, 0xcc, 0xdd }, false, "another first byte" },
			{ { 0xe8, 0xaa, 0xbb, 0xcc, 0x00 }, false, "a tail byte of neither" },
			{ { 0xe8, 0xcc, 0xbb, 0xcc, 0xdd }, false, "0xcc past the first byte" },
		};

		for (i = 0; i < sizeof(c) / sizeof(c[0]); i++)
			tap_ok(hvp_journal_site_ok(c[i].cur, old, new_insn) == c[i].ok,
			       "a site holding %s is %s", c[i].what,
			       c[i].ok ? "consistent" : "not the journal's");
	}
	return tap_done();
}
