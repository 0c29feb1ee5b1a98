/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The patch service's control-socket server: one accept thread, one thread
 * per client, messages framed and checked by protocol/hvp_ctl.h.
 *
 * struct ucred needs _GNU_SOURCE (config.h) before the first system header.
 */
#ifndef HVP_CTLSRV_H
#define HVP_CTLSRV_H

#include <stddef.h>
#include <sys/socket.h> /* struct ucred */
#include <json-c/json.h>

struct hvp_ctlsrv;

/*
 * Handler: returns a response object built with hvp_ctl_ok_new() or
 * hvp_ctl_error_new(); never NULL.  `args` is always an object, borrowed for
 * the call; `peer` is the client's SO_PEERCRED, already known to be uid 0 or
 * the server's euid.  Called from several client threads at once: the
 * handler does its own locking.
 */
typedef json_object *(*hvp_ctlsrv_fn)(void *ctx, const char *cmd, json_object *args,
				      const struct ucred *peer);

/*
 * Bind `path` (unlinking a stale socket only if nobody accepts on it;
 * -EADDRINUSE if a live server does), chmod 0600 (umask 077 around bind so
 * there is no window), listen, start an accept thread.  Returns 0 or -errno
 * with a reason in err.
 */
int hvp_ctlsrv_open(struct hvp_ctlsrv **out, const char *path, hvp_ctlsrv_fn fn, void *ctx,
		    char *err, size_t errlen);

/*
 * Stop accepting, wake and join every client thread, unlink the socket, free.
 * Idle clients are hung up on at once.  A handler still running is waited
 * for, and its answer still reaches the client if it is sent within a grace
 * period of 2 s (so a `stop` request that makes the service close gets its
 * reply).  Requests not yet started are dropped.  Safe to call from any
 * thread except a handler.  NULL is a no-op.
 */
void hvp_ctlsrv_close(struct hvp_ctlsrv *s);

#endif /* HVP_CTLSRV_H */
