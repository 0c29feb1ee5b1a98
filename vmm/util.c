// SPDX-License-Identifier: GPL-2.0-only
/* Runtime directory and VM names. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"
#include "vm.h"

const char *hvp_rundir(void)
{
	const char *d = getenv("HVPATCH_RUNTIME_DIR");

	return d && d[0] ? d : "/run/hvpatch";
}

int hvp_rundir_ensure(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	if (stat(dir, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
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
