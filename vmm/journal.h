/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The patch journal (RUNDIR/NAME.journal), for backends whose VM outlives the
 * service (qemu, libvirt).  Every step of a patch is appended and fsync'd
 * before it is taken, so a service that dies mid-patch leaves a record of
 * what it was doing; the next service for the VM (vm attach) finishes it.
 *
 *   begin key=KEY method=METHOD target=NAME sites=N
 *   site ADDR old=HEX new=HEX          one per site
 *   step K WHAT                         before each write phase or round
 *   end completed|not-completed|error|recovered
 *
 * HVPATCH_JOURNAL_KILL_AT=K (tests): the service SIGKILLs itself right after
 * record K is durable, i.e. just before it takes that step.
 * HVPATCH_JOURNAL_FAIL_AT=K (tests): record K fails with EIO once written, as
 * a disk whose fdatasync fails would; the patch must then stop (vmm/patch.c).
 * Both count the records since the service started.
 */
#ifndef HVP_JOURNAL_H
#define HVP_JOURNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct hvp_journal {
	int fd;
	unsigned records; /* since the service started */
	unsigned kill_at; /* 0: never */
	unsigned fail_at; /* 0: never */
};

/* Open (create 0600) for appending; a link or a file not ours is refused. */
int hvp_journal_open(struct hvp_journal *j, const char *path, char *err, size_t errlen);
void hvp_journal_close(struct hvp_journal *j);
/*
 * Append one record and fsync it (then maybe die, see above): 0, or -errno
 * when it could not be written or made durable (a full disk: -ENOSPC).
 */
int hvp_journal_add(struct hvp_journal *j, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int hvp_journal_vadd(struct hvp_journal *j, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
/* The same without the fsync: made durable by the next hvp_journal_add. */
int hvp_journal_add_nosync(struct hvp_journal *j, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Empty the journal once a patch is over (after its end record). */
void hvp_journal_reset(struct hvp_journal *j);

#include <stdint.h>
#include <stdio.h>

struct hvp_journal_patch {
	char key[64], method[64], target[64];
	unsigned nr_sites;	/* the site records read: sites=N once complete */
	unsigned steps;		/* step records after the begin: 0, the guest was not touched */
	uint64_t *addr;		/* malloc'd, nr_sites */
	uint8_t (*old_insn)[5]; /* malloc'd, nr_sites */
	uint8_t (*new_insn)[5]; /* malloc'd, nr_sites */
	unsigned line;		/* when malformed (-EINVAL): the line at fault, */
	char why[96];		/* and what is wrong with it                    */
};

/*
 * Read a journal: 1 when it holds a begin without an end (the patch is then
 * described in *out, to free with hvp_journal_patch_free), 0 when not,
 * -errno when it is unreadable, -EINVAL when malformed (out->line and
 * out->why say where and how).
 *
 * A begin with no step record after it never touched the guest (its site
 * records were written, unsynced, before the first step's fsync): 1 with
 * steps == 0, whatever its site records hold, for a record torn by the
 * crash is expected there.  Once a step follows, the begin's sites=N
 * records must all be there and well formed: a journal that would finish
 * the patch on only some sites of a key, or write bytes it cannot read, is
 * malformed.  More site records than sites=N, sites=N over 65536 and a line
 * longer than any record are malformed anywhere.
 */
int hvp_journal_pending(const char *path, struct hvp_journal_patch *out);
/* The same, from a stream (the fuzz target and the unit test). */
int hvp_journal_parse(FILE *f, struct hvp_journal_patch *out);
void hvp_journal_patch_free(struct hvp_journal_patch *jp);

/*
 * May a site hold CUR while the journaled patch from OLD to NEW is under
 * way or over?  Every method writes whole bytes, each from OLD to NEW (the
 * first byte by way of int3, 0xcc) and a cancelled attempt writes OLD back,
 * so each byte is its OLD or its NEW one, or byte 0 is 0xcc.  Anything else
 * and the journal does not describe this guest.
 */
bool hvp_journal_site_ok(const uint8_t cur[5], const uint8_t old[5], const uint8_t new_insn[5]);

#endif
