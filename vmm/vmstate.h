/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A VM's life as seen from outside its service: starting the service in the
 * background, asking whether it runs or how it died, and the state file
 * (RUNDIR/NAME.vm.json) that lets a new service take over a qemu/libvirt VM
 * whose service is gone.  The service writes the state file, `vm attach` and
 * the CLI read it: both ends are here.
 */
#ifndef HVP_VMSTATE_H
#define HVP_VMSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "service.h"

/*
 * Write RUNDIR/NAME.vm.json from o (atomically: a temporary file renamed
 * over it).  0, or -errno and err says why the file could not be created.
 */
int hvp_vmstate_write(const struct hvp_vm_opts *o, char *err, size_t errlen);
/*
 * The options NAME's qemu/libvirt VM was started with, ready to attach
 * (o->attach set): 0, -ENOENT when there is no state file, -EINVAL when it
 * is unreadable or malformed.
 */
int hvp_vmstate_read(const char *rundir, const char *name, struct hvp_vm_opts *o);
bool hvp_vmstate_exists(const char *rundir, const char *name);
void hvp_vmstate_remove(const char *rundir, const char *name);

/*
 * Fork o's service (a new session, output appended to NAME.log), which runs
 * serve (hvp_vm_serve: passed in, so that this file stays below vm.c), and
 * wait up to timeout_s for its one line: 0 once the agent is ready, else -1
 * and the error's class (HVP_ERR_*) and description.
 */
typedef int (*hvp_serve_fn)(const struct hvp_vm_opts *opts, int ready_fd);
int hvp_vmstate_spawn(const struct hvp_vm_opts *o, hvp_serve_fn serve, int timeout_s,
		      const char **cls, char *err, size_t errlen);
/* Does someone answer on NAME's socket?  Stale socket and pid files are removed. */
bool hvp_vmstate_alive(const char *rundir, const char *name);
/* NAME's service pid from NAME.pid, or 0. */
pid_t hvp_vmstate_service_pid(const char *rundir, const char *name);

/* Has pid exited?  A zombie has: its parent may be slow to reap it. */
bool hvp_proc_gone(pid_t pid);
/*
 * The wait status of a dead process that is not our child, known only while
 * it is a zombie: 0 and *status, or -1.
 */
int hvp_proc_zombie_status(pid_t pid, int *status);
/* How a process ended, from its wait status: "exit status 1", "killed by ...". */
void hvp_proc_describe_status(char *buf, size_t len, int status);

#endif /* HVP_VMSTATE_H */
