/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Other hosts over SSH: a command for host H runs as `hvpatch ARGS` on H
 * through the ssh client, the way `virsh -c qemu+ssh://` and
 * DOCKER_HOST=ssh:// reach theirs.  No daemon and no protocol of our own:
 * the remote hvpatch is the server, its exit status and its -j answers the
 * protocol.  One connection per host is kept open for 60 s after its last
 * use (ssh's ControlMaster, its socket in the runtime directory), so a
 * second command to the host costs a channel, not a handshake.
 */
#ifndef HVP_REMOTE_H
#define HVP_REMOTE_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

/* The error class of a host that ssh could not reach (or lost). */
#define HVP_ERR_UNREACHABLE "Unreachable"

/* ssh://[user@]host[:port], parsed */
struct hvp_host {
	char user[33];	 /* "" when the URI names none: ssh's default */
	char host[256];	 /* a name, an IPv4 address, or an IPv6 one without [] */
	unsigned port;	 /* 0 when the URI names none */
	char label[300]; /* [user@]host[:port], for messages */
};

/*
 * Parse uri as ssh://[user@]host[:port][/].  Host names and users are
 * letters, digits, '.', '-', '_' (never a leading '-', which ssh would read
 * as an option), an IPv6 address in brackets.  0, or -EINVAL and err says
 * what is wrong.
 */
int hvp_host_parse(const char *uri, struct hvp_host *h, char *err, size_t errlen);

/*
 * Run `hvpatch [-j] ARGV` on h (ARGV NULL-terminated).  out_fd < 0: the
 * command's stdout and stderr are ours (the remote's output streams through
 * as it comes); else its stdout goes to out_fd.  Its stdin is /dev/null.
 * Returns the remote command's exit status (0, 1, 2), or -1 when it did not
 * run or did not finish: *cls (an HVP_ERR_* class or HVP_ERR_UNREACHABLE)
 * and err say why: ssh could not reach the host or lost it, the host has no
 * hvpatch where we looked, ssh died.
 *
 * Environment: HVPATCH_SSH, the ssh client to run (default "ssh");
 * HVPATCH_REMOTE_HVPATCH, the hvpatch to run there (default "hvpatch" on
 * the remote PATH).  It touches no signal disposition (safe from threads
 * run side by side); ssh itself gets ^C with the default action.
 */
int hvp_remote_run(const struct hvp_host *h, bool json, char *const argv[], int out_fd,
		   const char **cls, char *err, size_t errlen);

/*
 * For commands that drive many hosts (rollout --hosts): run `hvpatch -j
 * ARGV` on the host of uri and parse its answer (its stderr is ours:
 * warnings only, -j puts errors in the answer).  Returns the remote exit
 * status: 0 and *out the answer (the caller's to put); 1 or 2 and *cls,
 * err the remote's {"error":{"class","desc"}} (an HVP_ERR_* class); or -1,
 * *cls and err as for hvp_remote_run(), also when the URI is malformed
 * (HVP_ERR_USAGE) or the answer is not JSON (HVP_ERR_PROTOCOL).
 */
int hvp_remote_json(const char *uri, char *const argv[], json_object **out, const char **cls,
		    char *err, size_t errlen);

#endif /* HVP_REMOTE_H */
