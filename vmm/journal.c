// SPDX-License-Identifier: GPL-2.0-only
/* The patch journal: see journal.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "journal.h"
#include "util.h"

static unsigned env_record(const char *name)
{
	const char *k = getenv(name);

	return k && *k ? (unsigned)strtoul(k, NULL, 10) : 0;
}

int hvp_journal_open(struct hvp_journal *j, const char *path, char *err, size_t errlen)
{
	j->records = 0;
	j->kill_at = env_record("HVPATCH_JOURNAL_KILL_AT");
	j->fail_at = env_record("HVPATCH_JOURNAL_FAIL_AT");
	j->fd = hvp_runfile_open(path, HVP_RUNFILE_APPEND, err, errlen);
	return j->fd < 0 ? j->fd : 0;
}

void hvp_journal_close(struct hvp_journal *j)
{
	if (j->fd >= 0)
		close(j->fd);
	j->fd = -1;
}

static int journal_addv(struct hvp_journal *j, bool sync, const char *fmt, va_list ap)
{
	char buf[512];
	ssize_t w;
	int n, r = 0;

	if (!j || j->fd < 0)
		return -EBADF;
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n > sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	w = write(j->fd, buf, (size_t)n);
	if (w != n)
		r = w < 0 ? -errno : -ENOSPC; /* a short write: the disk is full */
	else if (sync && fdatasync(j->fd) < 0)
		r = -errno;
	if (r == 0 && j->records + 1 == j->fail_at)
		r = -EIO; /* the test hook: as a failing disk */
	if (r < 0)
		fprintf(stderr, "journal: record %u: %s\n", j->records + 1, strerror(-r));
	if (++j->records == j->kill_at) {
		fprintf(stderr, "journal: HVPATCH_JOURNAL_KILL_AT=%u: dying before: %.*s",
			j->kill_at, n, buf);
		fflush(stderr);
		kill(getpid(), SIGKILL);
	}
	return r;
}

int hvp_journal_add(struct hvp_journal *j, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = journal_addv(j, true, fmt, ap);
	va_end(ap);
	return r;
}

int hvp_journal_add_nosync(struct hvp_journal *j, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = journal_addv(j, false, fmt, ap);
	va_end(ap);
	return r;
}

int hvp_journal_vadd(struct hvp_journal *j, const char *fmt, va_list ap)
{
	return journal_addv(j, true, fmt, ap);
}

void hvp_journal_reset(struct hvp_journal *j)
{
	if (j && j->fd >= 0 && (ftruncate(j->fd, 0) < 0 || fdatasync(j->fd) < 0))
		fprintf(stderr, "journal: cannot empty it: %s\n", strerror(errno));
}

void hvp_journal_patch_free(struct hvp_journal_patch *jp)
{
	free(jp->addr);
	free(jp->old_insn);
	free(jp->new_insn);
	memset(jp, 0, sizeof(*jp));
}

/* Exactly ten hex digits, as the writer prints them: 0, or -1. */
static int hexbytes(const char *s, uint8_t out[5])
{
	unsigned i;

	if (strlen(s) != 10 || strspn(s, "0123456789abcdefABCDEF") != 10)
		return -1;
	for (i = 0; i < 5; i++) {
		char d[3] = { s[2 * i], s[2 * i + 1], 0 };

		out[i] = (uint8_t)strtoul(d, NULL, 16);
	}
	return 0;
}

__attribute__((format(printf, 3, 4))) static int malformed(struct hvp_journal_patch *jp,
							   unsigned line, const char *fmt, ...)
{
	va_list ap;

	hvp_journal_patch_free(jp);
	jp->line = line;
	va_start(ap, fmt);
	vsnprintf(jp->why, sizeof(jp->why), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int hvp_journal_parse(FILE *f, struct hvp_journal_patch *jp)
{
	char line[512], k[64], m[64], t[64], oldh[16], newh[16];
	unsigned long long addr;
	unsigned n = 0, lineno = 0, bad = 0, torn_begin = 0;
	bool open = false;

	memset(jp, 0, sizeof(*jp));
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		if (!strchr(line, '\n') && !feof(f))
			return malformed(jp, lineno, "longer than any record");
		if (!strncmp(line, "begin ", 6)) {
			hvp_journal_patch_free(jp);
			open = false;
			bad = torn_begin = 0;
			if (sscanf(line, "begin key=%63s method=%63s target=%63s sites=%u", k, m, t,
				   &n) != 4) {
				torn_begin = lineno; /* opens nothing, unless a step follows */
				continue;
			}
			if (n > 65536)
				return malformed(jp, lineno, "sites=%u: more than 65536", n);
			snprintf(jp->key, sizeof(jp->key), "%s", k);
			snprintf(jp->method, sizeof(jp->method), "%s", m);
			snprintf(jp->target, sizeof(jp->target), "%s", t);
			jp->addr = calloc(n ? n : 1, sizeof(*jp->addr));
			jp->old_insn = calloc(n ? n : 1, sizeof(*jp->old_insn));
			jp->new_insn = calloc(n ? n : 1, sizeof(*jp->new_insn));
			if (!jp->addr || !jp->old_insn || !jp->new_insn) {
				hvp_journal_patch_free(jp);
				return -ENOMEM;
			}
			open = true;
		} else if (!open) {
			if (torn_begin && !strncmp(line, "step ", 5))
				return malformed(jp, torn_begin,
						 "a begin that cannot be read, "
						 "and a step taken");
			if (!strncmp(line, "end ", 4))
				torn_begin = 0;
			continue; /* an ended patch's records */
		} else if (!strncmp(line, "site ", 5)) {
			if (jp->nr_sites >= n)
				return malformed(jp, lineno, "more site records than sites=%u", n);
			if (jp->steps ||
			    sscanf(line, "site 0x%llx old=%15s new=%15s", &addr, oldh, newh) != 3 ||
			    hexbytes(oldh, jp->old_insn[jp->nr_sites]) < 0 ||
			    hexbytes(newh, jp->new_insn[jp->nr_sites]) < 0) {
				if (!bad)
					bad = lineno;
				continue;
			}
			jp->addr[jp->nr_sites++] = addr;
		} else if (!strncmp(line, "step ", 5)) {
			jp->steps++;
		} else if (!strncmp(line, "end ", 4)) {
			open = false;
		}
	}
	if (ferror(f))
		return malformed(jp, lineno, "read error");
	if (!open) {
		hvp_journal_patch_free(jp);
		return 0;
	}
	if (jp->steps && bad)
		return malformed(jp, bad, "a site record that cannot be read, or one after a step");
	if (jp->steps && jp->nr_sites != n)
		return malformed(jp, lineno, "%u site records of sites=%u, and a step taken",
				 jp->nr_sites, n);
	return 1;
}

int hvp_journal_pending(const char *path, struct hvp_journal_patch *jp)
{
	FILE *f = hvp_runfile_fopen(path, HVP_RUNFILE_READ);
	int r;

	memset(jp, 0, sizeof(*jp));
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	r = hvp_journal_parse(f, jp);
	fclose(f);
	return r;
}

bool hvp_journal_site_ok(const uint8_t cur[5], const uint8_t old[5], const uint8_t new_insn[5])
{
	unsigned i;

	for (i = 0; i < 5; i++)
		if (cur[i] != old[i] && cur[i] != new_insn[i] && !(i == 0 && cur[i] == 0xcc))
			return false;
	return true;
}
