// SPDX-License-Identifier: GPL-2.0-only
/*
 * The runtime directory, its files and VM names.
 *
 * A service that may run as root writes files by name there, so the
 * directory must be its user's alone (owner, no group or other access: what
 * tmux asks of its socket directory), and no runtime file is ever opened
 * through a symbolic link or a second hard link: a file that is to be new is
 * unlinked (a planted link is removed, never followed) and created with
 * O_EXCL; one that is reopened must already be a regular file of ours.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

/*
 * $HVPATCH_RUNTIME_DIR; else /run/hvpatch for root, $XDG_RUNTIME_DIR/hvpatch
 * for anyone else (as libvirt's session mode and tmux do), or /run/hvpatch
 * when XDG_RUNTIME_DIR is unset (the check then tells them what to set).
 */
const char *hvp_rundir(void)
{
	static char xdg[PATH_MAX];
	const char *d = getenv("HVPATCH_RUNTIME_DIR"), *x;

	if (d && d[0])
		return d;
	x = getenv("XDG_RUNTIME_DIR");
	if (geteuid() != 0 && x && x[0] == '/' &&
	    (size_t)snprintf(xdg, sizeof(xdg), "%s/hvpatch", x) < sizeof(xdg))
		return xdg;
	return "/run/hvpatch";
}

/* Where the user can choose another directory, when the default is not usable. */
static const char *rundir_hint(void)
{
	const char *d = getenv("HVPATCH_RUNTIME_DIR");

	if (d && d[0])
		return "";
	if (geteuid() != 0 && !getenv("XDG_RUNTIME_DIR"))
		return " (as a user other than root, set XDG_RUNTIME_DIR or HVPATCH_RUNTIME_DIR "
		       "to a directory of your own)";
	return " (HVPATCH_RUNTIME_DIR chooses another directory)";
}

static int rundir_check(const char *dir, int r, char *err, size_t errlen)
{
	struct stat st;

	if (r == 0 && stat(dir, &st) < 0)
		r = -errno;
	if (r < 0) {
		snprintf(err, errlen, "runtime directory %s: %s%s", dir, strerror(-r),
			 rundir_hint());
		return r;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "runtime directory %s is not a directory%s", dir,
			 rundir_hint());
		return -ENOTDIR;
	}
	if (st.st_uid != geteuid()) {
		snprintf(err, errlen,
			 "runtime directory %s belongs to uid %u, not to you (uid %u): "
			 "hvpatch keeps sockets, journals and logs only in a directory of your own%s",
			 dir, (unsigned)st.st_uid, (unsigned)geteuid(), rundir_hint());
		return -EPERM;
	}
	if (st.st_mode & 077) {
		snprintf(err, errlen,
			 "runtime directory %s has mode %04o: group and others must "
			 "have no access (chmod 700 %s)",
			 dir, (unsigned)(st.st_mode & 07777), dir);
		return -EPERM;
	}
	return 0;
}

int hvp_rundir_ensure(const char *dir, char *err, size_t errlen)
{
	return rundir_check(dir, mkdir(dir, 0700) < 0 && errno != EEXIST ? -errno : 0, err, errlen);
}

int hvp_rundir_usable(const char *dir, char *err, size_t errlen)
{
	struct stat st;

	if (stat(dir, &st) < 0 && errno == ENOENT)
		return -ENOENT;
	return rundir_check(dir, 0, err, errlen);
}

int hvp_runfile_open(const char *path, enum hvp_runfile how, char *err, size_t errlen)
{
	int flags = O_CLOEXEC | O_NOFOLLOW, fd;
	struct stat st;

	switch (how) {
	case HVP_RUNFILE_NEW:
		if (unlink(path) < 0 && errno != ENOENT) {
			snprintf(err, errlen, "%s: cannot remove the old one: %s", path,
				 strerror(errno));
			return -errno;
		}
		flags |= O_RDWR | O_CREAT | O_EXCL;
		break;
	case HVP_RUNFILE_APPEND:
		flags |= O_WRONLY | O_CREAT | O_APPEND;
		break;
	case HVP_RUNFILE_READ:
	default:
		flags |= O_RDONLY;
		break;
	}
	fd = open(path, flags, 0600);
	if (fd < 0) {
		int e = errno;

		if (e == ELOOP)
			snprintf(err, errlen,
				 "%s is a symbolic link: refusing to follow it "
				 "(remove it)",
				 path);
		else
			snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    st.st_nlink != 1) {
		snprintf(err, errlen,
			 "%s is not a regular file of yours with one link: refusing "
			 "to use it (remove it)",
			 path);
		close(fd);
		return -EPERM;
	}
	/* an old file of ours may predate the rule */
	if (how != HVP_RUNFILE_READ && (st.st_mode & 07777) != 0600 && fchmod(fd, 0600) < 0) {
		snprintf(err, errlen, "chmod %s: %s", path, strerror(errno));
		close(fd);
		return -EPERM;
	}
	return fd;
}

FILE *hvp_runfile_fopen(const char *path, enum hvp_runfile how)
{
	char err[8];
	int fd = hvp_runfile_open(path, how, err, sizeof(err));
	FILE *f;

	if (fd < 0) {
		errno = -fd;
		return NULL;
	}
	f = fdopen(fd, how == HVP_RUNFILE_READ ? "r" : how == HVP_RUNFILE_NEW ? "w" : "a");
	if (!f)
		close(fd);
	return f;
}

/* Remove dir (a descriptor of it) and everything in it; never follows a link. */
static int rmtree_at(int parent, const char *name)
{
	int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), r = 0;
	struct dirent *de;
	DIR *d;

	if (fd < 0)
		return errno == ENOTDIR || errno == ELOOP ?
			       (unlinkat(parent, name, 0) < 0 ? -errno : 0) :
			       -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) < 0) {
			int e = errno == EISDIR || errno == EPERM ?
					rmtree_at(dirfd(d), de->d_name) :
					-errno;

			if (e < 0 && e != -ENOENT && !r)
				r = e;
		}
	}
	closedir(d);
	if (unlinkat(parent, name, AT_REMOVEDIR) < 0 && !r)
		r = -errno;
	return r;
}

int hvp_rmtree(const char *path)
{
	return rmtree_at(AT_FDCWD, path);
}

int hvp_name_valid(const char *name)
{
	size_t i, n = strlen(name);

	if (n == 0 || n > HVP_VM_NAME_MAX || !strcmp(name, ".") || !strcmp(name, ".."))
		return 0;
	for (i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      (i > 0 && (c == '_' || c == '.' || c == '-'))))
			return 0;
	}
	return 1;
}

int hvp_vm_path(char *buf, size_t len, const char *rundir, const char *name, const char *suffix)
{
	int n = snprintf(buf, len, "%s/%s%s", rundir, name, suffix);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}
