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
	free(jp->new_insn);
	memset(jp, 0, sizeof(*jp));
}

static int hexbytes(const char *s, uint8_t out[5])
{
	unsigned i, v;

	for (i = 0; i < 5; i++) {
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	return 0;
}

int hvp_journal_pending(const char *path, struct hvp_journal_patch *jp)
{
	FILE *f = hvp_runfile_fopen(path, HVP_RUNFILE_READ);
	char line[512], k[64], m[64], t[64], oldh[16], newh[16];
	unsigned long long addr;
	unsigned n;
	int open = 0;

	memset(jp, 0, sizeof(*jp));
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "begin key=%63s method=%63s target=%63s sites=%u", k, m, t, &n) ==
		    4) {
			hvp_journal_patch_free(jp);
			if (n > 65536)
				break;
			snprintf(jp->key, sizeof(jp->key), "%s", k);
			snprintf(jp->method, sizeof(jp->method), "%s", m);
			snprintf(jp->target, sizeof(jp->target), "%s", t);
			jp->addr = calloc(n ? n : 1, sizeof(*jp->addr));
			jp->new_insn = calloc(n ? n : 1, sizeof(*jp->new_insn));
			if (!jp->addr || !jp->new_insn) {
				fclose(f);
				hvp_journal_patch_free(jp);
				return -ENOMEM;
			}
			open = 1;
		} else if (open &&
			   sscanf(line, "site 0x%llx old=%15s new=%15s", &addr, oldh, newh) == 3) {
			if (jp->nr_sites < 65536 && jp->addr &&
			    hexbytes(newh, jp->new_insn[jp->nr_sites]) == 0)
				jp->addr[jp->nr_sites++] = addr;
		} else if (!strncmp(line, "end ", 4)) {
			open = 0;
		}
	}
	fclose(f);
	if (!open)
		hvp_journal_patch_free(jp);
	return open;
}
