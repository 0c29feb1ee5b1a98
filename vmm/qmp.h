/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A small client for QEMU's machine protocol (QMP) over a UNIX socket: one
 * command at a time (a mutex serializes callers), events skipped.
 */
#ifndef HVP_QMP_H
#define HVP_QMP_H

#include <stddef.h>
#include <json-c/json.h>

struct hvp_qmp;

/*
 * Connect to path, retrying until timeout_ms (QEMU creates the socket a
 * little after it starts), read the greeting and negotiate capabilities.
 * Returns 0 or -errno with a reason in err.
 */
int hvp_qmp_connect(struct hvp_qmp **out, const char *path, int timeout_ms, char *err,
		    size_t errlen);
/*
 * Run cmd with args (taken; may be NULL).  On success *ret (may be NULL when
 * not wanted) is the "return" value, owned by the caller.  On a QMP error
 * returns -EIO with its description in err; -ETIMEDOUT, -ECONNRESET when the
 * peer went away.
 */
int hvp_qmp_exec(struct hvp_qmp *q, const char *cmd, json_object *args, json_object **ret,
		 char *err, size_t errlen);
/* The HMP command line cmdline through human-monitor-command; *out malloc'd. */
int hvp_qmp_hmp(struct hvp_qmp *q, const char *cmdline, char **out, char *err, size_t errlen);
void hvp_qmp_close(struct hvp_qmp *q);

#endif
