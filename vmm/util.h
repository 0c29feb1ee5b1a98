/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef HVP_UTIL_H
#define HVP_UTIL_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "lib/hvp_base.h"

/*
 * Runtime directory: $HVPATCH_RUNTIME_DIR, else /run/hvpatch for root and
 * $XDG_RUNTIME_DIR/hvpatch for other users (/run/hvpatch if it is unset).
 */
const char *hvp_rundir(void);
/*
 * Create the runtime directory (mode 0700) if missing, then check that it is
 * a directory of the effective user's with no group or other access: 0, or
 * -errno and err says what is wrong and what to do.
 */
int hvp_rundir_ensure(const char *dir, char *err, size_t errlen);
/* The same check without creating it: -ENOENT (err untouched) when missing. */
int hvp_rundir_usable(const char *dir, char *err, size_t errlen);

enum hvp_runfile {
	HVP_RUNFILE_NEW,    /* remove what is there (never followed), create O_EXCL */
	HVP_RUNFILE_APPEND, /* append; create if missing                          */
	HVP_RUNFILE_READ,   /* read only                                          */
};
/*
 * Open a file of the runtime directory: O_NOFOLLOW, O_CLOEXEC, mode 0600;
 * it must be a regular file of the effective user's with one link (else
 * -EPERM: a planted file or link is refused, never written through).  The
 * fd, or -errno and err names the file and why.
 */
int hvp_runfile_open(const char *path, enum hvp_runfile how, char *err, size_t errlen);
/* The same as a stdio stream; NULL and errno on failure. */
FILE *hvp_runfile_fopen(const char *path, enum hvp_runfile how);
/* Remove a directory tree without following any link: 0 or -errno. */
int hvp_rmtree(const char *path);
/* A VM name is [A-Za-z0-9][A-Za-z0-9_.-]{0,31} and not "." or "..". */
#define HVP_VM_NAME_MAX 32
int hvp_name_valid(const char *name);
/* "<rundir>/<name><suffix>", e.g. suffix ".sock"; -ENAMETOOLONG on overflow. */
int hvp_vm_path(char *buf, size_t len, const char *rundir, const char *name, const char *suffix);

#endif /* HVP_UTIL_H */
