// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target: the patch journal's reader (vmm/journal.c).
 *
 * The input is a whole journal file (RUNDIR/NAME.journal), as a crash, a
 * full disk or a flipped bit may leave it; the service that attaches to the
 * VM next reads it and may write what it says into the guest's text.
 * hvp_journal_parse() must answer 0, 1, -EINVAL or -ENOMEM.  Properties
 * asserted (abort() on violation):
 *  - 1: key, method and target are NUL-terminated; at most 65536 sites, and
 *    every address and both instructions of each are readable (ASan checks
 *    the arrays' bounds); with a step taken, each site's new instruction
 *    read back passes hvp_journal_site_ok() against itself and its old one;
 *  - -EINVAL: a line number within the input's lines and a reason;
 *  - whatever the answer, hvp_journal_patch_free() leaves nothing behind
 *    (LeakSanitizer) and a second free is harmless.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "journal.h"

#define FUZZ_NAME "fuzz-journal"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hvp_journal_patch jp;
	unsigned lines = 1, i;
	uint64_t sum = 0;
	FILE *f;
	int r;

	if (size == 0)
		return 0; /* fmemopen refuses an empty buffer; the reader sees EOF */
	for (i = 0; i < size; i++)
		lines += data[i] == '\n';
	f = fmemopen((void *)data, size, "r");
	CHECK(f != NULL);
	r = hvp_journal_parse(f, &jp);
	fclose(f);
	CHECK(r == 0 || r == 1 || r == -EINVAL || r == -ENOMEM);
	if (r == 1) {
		CHECK(memchr(jp.key, 0, sizeof(jp.key)) &&
		      memchr(jp.method, 0, sizeof(jp.method)) &&
		      memchr(jp.target, 0, sizeof(jp.target)));
		CHECK(jp.nr_sites <= 65536);
		for (i = 0; i < jp.nr_sites; i++) {
			sum += jp.addr[i] + jp.old_insn[i][4] + jp.new_insn[i][4];
			if (jp.steps)
				CHECK(hvp_journal_site_ok(jp.new_insn[i], jp.old_insn[i],
							  jp.new_insn[i]) &&
				      hvp_journal_site_ok(jp.old_insn[i], jp.old_insn[i],
							  jp.new_insn[i]));
		}
		say("pending: %s %s -> %s, %u sites, %u steps (%llx)\n", jp.method, jp.key,
		    jp.target, jp.nr_sites, jp.steps, (unsigned long long)sum);
	} else if (r == -EINVAL) {
		CHECK(jp.line >= 1 && jp.line <= lines && jp.why[0] &&
		      memchr(jp.why, 0, sizeof(jp.why)));
		say("malformed: line %u: %s\n", jp.line, jp.why);
	} else {
		say("%s\n", r == 0 ? "nothing pending" : "out of memory");
	}
	hvp_journal_patch_free(&jp);
	hvp_journal_patch_free(&jp);
	return 0;
}
