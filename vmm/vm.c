// SPDX-License-Identifier: GPL-2.0-only
/*
 * A VM's own process: boot its patch service (service.c), then serve it on
 * the control socket until `vm stop`, with the files around it (console,
 * pid, the state file and journal of a VM that outlives us).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends.h"
#include "ctlsrv.h"
#include "hvp_ctl.h"
#include "service-int.h"
#include "service.h"
#include "util.h"
#include "vm.h"
#include "vmstate.h"

/* ---- the --hostile test modes ---- */

const char *const hvp_hostile_names[HVP_HOSTILE__COUNT + 1] = {
	[HVP_HOSTILE_MAGIC] = "magic",
	[HVP_HOSTILE_ABI] = "abi",
	[HVP_HOSTILE_SITE_OUTSIDE_RAM] = "site-outside-ram",
	[HVP_HOSTILE_SITE_IN_AGENT] = "site-in-agent",
	[HVP_HOSTILE_SITE_OVERLAP] = "overlap",
	[HVP_HOSTILE_NR_KEYS] = "nr-keys",
	[HVP_HOSTILE_NR_SITES] = "nr-sites",
	[HVP_HOSTILE_NR_TARGETS] = "nr-targets",
	[HVP_HOSTILE_FIRST_SITE] = "first-site",
	[HVP_HOSTILE_TARGET_OUTSIDE] = "target-outside",
	[HVP_HOSTILE_SITE_NOT_CALL] = "site-not-call",
	[HVP_HOSTILE_REWRITE_TABLE] = "rewrite-table",
	[HVP_HOSTILE_REWRITE_SITE] = "rewrite-site",
	[HVP_HOSTILE_SCRIBBLE_TEXT] = "scribble-text",
};

int hvp_hostile_by_name(const char *name)
{
	int i;

	for (i = 1; i < HVP_HOSTILE__COUNT; i++)
		if (hvp_hostile_names[i] && !strcmp(hvp_hostile_names[i], name))
			return i;
	return -1;
}

/* Tell the waiting CLI how the boot went: one line, once. */
static void ready_line(int *fdp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ready_line(int *fdp, const char *fmt, ...)
{
	int fd = *fdp;
	char buf[600];
	va_list ap;
	int n;

	if (fd < 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	if (write(fd, buf, (size_t)n) < 0) {
		/* the CLI went away; nothing to tell */
	}
	close(fd);
	*fdp = -1;
}

static int write_pidfile(const struct hvp_service *s, char *err, size_t errlen)
{
	char path[PATH_MAX], buf[32];
	int fd, n, r = 0;

	if (hvp_vm_path(path, sizeof(path), s->opts.rundir, s->opts.name, ".pid") < 0)
		return -ENAMETOOLONG;
	fd = hvp_runfile_open(path, HVP_RUNFILE_NEW, err, errlen);
	if (fd < 0)
		return fd;
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (write(fd, buf, (size_t)n) != n) {
		r = -errno;
		snprintf(err, errlen, "%.400s: %s", path, strerror(errno));
	}
	close(fd);
	return r;
}

/*
 * qemu, libvirt: what `vm attach` needs to take the VM over when this
 * service is gone (RUNDIR/NAME.vm.json).
 */
static void write_state(const struct hvp_service *s)
{
	char err[PATH_MAX + 128];

	if (hvp_vmstate_write(&s->opts, err, sizeof(err)) < 0)
		hvp_svc_log("state file: %s", err);
}

/* Once the VM is gone: its files, and the embedded libvirt root we made. */
static void remove_files(const struct hvp_vm_opts *o)
{
	static const char *const sfx[] = { ".pid", ".vm.json", ".journal" };
	const struct hvp_backend_kind *k = hvp_backend_kind_by_name(o->backend);
	char path[PATH_MAX];
	unsigned i;

	for (i = 0; i < HVP_ARRAY_SIZE(sfx); i++)
		if (hvp_vm_path(path, sizeof(path), o->rundir, o->name, sfx[i]) == 0)
			unlink(path);
	if (k && k->remove_files)
		k->remove_files(o->rundir, o->name, o->uri);
}

int hvp_vm_serve(const struct hvp_vm_opts *opts, int ready_fd)
{
	struct hvp_service *s;
	char err[512] = "", path[PATH_MAX];
	sigset_t set;
	bool remove = false;
	int r, status = 1;

	/* Only vCPU threads take the kick signal; block stray ones here. */
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	s = hvp_service_new(opts);
	if (!s) {
		ready_line(&ready_fd, "error: out of memory");
		return 1;
	}

	if (hvp_vm_path(path, sizeof(path), opts->rundir, opts->name, ".console") < 0)
		snprintf(err, sizeof(err), "runtime directory path too long");
	else /* attach: QEMU still appends to the file it opened */
		s->console_fd =
			hvp_runfile_open(path, opts->attach ? HVP_RUNFILE_APPEND : HVP_RUNFILE_NEW,
					 err, sizeof(err));
	if (s->console_fd < 0) {
		hvp_svc_log("console: %s", err);
		ready_line(&ready_fd, "error: console: %s", err);
		goto out;
	}
	hvp_svc_log("hvpatch service for VM %s: %u vCPUs, %u MiB, image %s", opts->name,
		    opts->vcpus, opts->mem_mib, opts->image);
	if (opts->hostile && opts->hostile < HVP_HOSTILE__COUNT)
		hvp_svc_log("test: the guest agent is hostile (%s)",
			    hvp_hostile_names[opts->hostile]);

	s->measure_units = true;
	r = hvp_service_boot(s, err, sizeof(err));
	if (r < 0) {
		hvp_svc_log("boot failed: %s", err);
		ready_line(&ready_fd, "error: %s", err);
		goto out;
	}
	if (s->kind->external) {
		char jpath[PATH_MAX];

		/* A fresh VM: an old journal of that name belongs to another. */
		if (!opts->attach &&
		    hvp_vm_path(jpath, sizeof(jpath), opts->rundir, opts->name, ".journal") == 0)
			unlink(jpath);
		if (!s->journaled && hvp_service_recover(s, err, sizeof(err)) < 0) {
			hvp_svc_log("journal: %s", err);
			ready_line(&ready_fd, "error: journal: %s", err);
			goto out;
		}
		write_state(s);
	}
	if (hvp_vm_path(s->sock_path, sizeof(s->sock_path), opts->rundir, opts->name, ".sock") <
	    0) {
		ready_line(&ready_fd, "error: runtime path too long");
		goto out;
	}
	r = hvp_ctlsrv_open(&s->srv, s->sock_path, hvp_service_handle, s, err, sizeof(err));
	if (r < 0) {
		hvp_svc_log("control socket: %s", err);
		ready_line(&ready_fd, "error: control socket: %s", err);
		goto out;
	}
	if (write_pidfile(s, err, sizeof(err)) < 0) {
		hvp_svc_log("pid file: %s", err);
		ready_line(&ready_fd, "error: pid file: %s", err);
		goto out;
	}
	hvp_svc_log("VM %s ready: %u keys, socket %s", opts->name, s->nr_keys, s->sock_path);
	ready_line(&ready_fd, "ok");

	pthread_mutex_lock(&s->lock);
	while (!s->stopping)
		pthread_cond_wait(&s->cond, &s->lock);
	pthread_mutex_unlock(&s->lock);
	hvp_svc_log("VM %s stopping", opts->name);
	status = 0;

out:
	if (status && opts->attach) {
		/* a failed attach: the VM and its files are not ours to remove */
		if (s->be && s->be->ops->detach)
			s->be->ops->detach(s->be);
	} else {
		remove = true;
	}
	/* waits for the handlers: a patch in flight is cancelled and answered */
	if (s->srv)
		hvp_ctlsrv_close(s->srv);
	if (ready_fd >= 0)
		ready_line(&ready_fd, "error: %s", err[0] ? err : "service failed");
	hvp_service_free(s);
	if (remove)
		remove_files(opts);
	return status;
}
