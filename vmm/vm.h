/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A VM's patch service: boots the guest on a backend and serves the control
 * socket until `vm stop`.  One process per VM.
 */
#ifndef HVP_VM_H
#define HVP_VM_H

#include "service.h"

/*
 * The test-only hostile agent modes (--hostile), indexed by HVP_HOSTILE_*;
 * entry 0 is NULL.  By name: the mode, or -1.
 */
extern const char *const hvp_hostile_names[];
int hvp_hostile_by_name(const char *name);

/*
 * Boot the VM and serve its control socket.  Writes exactly one line to
 * ready_fd: "ok\n" once the agent reports ready, or "error: REASON\n"; then
 * closes it.  Returns the process exit status (0 after a clean `vm stop`).
 */
int hvp_vm_serve(const struct hvp_vm_opts *opts, int ready_fd);

#endif /* HVP_VM_H */
