// SPDX-License-Identifier: GPL-2.0-only
/*
 * The qemu backend: the service launches
 *
 *   qemu-system-x86_64 -accel kvm -M microvm,... -cpu HVP_QEMU_CPU -smp N -m M
 *     -object memory-backend-file,id=mem,size=M,mem-path=RUNDIR/NAME.ram,share=on
 *     -kernel IMAGE -qmp unix:RUNDIR/NAME.qmp -gdb (unix socket) -S ...
 *
 * QEMU loads the PVH ELF itself (its ROM blobs reach RAM at machine reset, so
 * the agent area is in the file before `cont`), and with -S no vCPU has run:
 * the service maps the file MAP_SHARED, writes the agent's config and lets
 * it go with `cont`.  QEMU runs in its own session, so it outlives the
 * service (the patcher may die; the guest must not): `vm attach` connects to
 * it again through the QMP socket and the RAM file.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backends.h"
#include "extvm.h"
#include "kvm.h"
#include "qmp.h"
#include "util.h"

struct qemu_vm {
	struct hvp_qmp *qmp;
	pid_t pid;
	bool child; /* ours to reap */
	bool exited;
	char ram[PATH_MAX], qmp_path[PATH_MAX], gdb[PATH_MAX], pidfile[PATH_MAX];
};

static int q_exec(void *t, const char *cmd, json_object *args, json_object **ret, char *err,
		  size_t errlen)
{
	struct qemu_vm *q = t;

	return hvp_qmp_exec(q->qmp, cmd, args, ret, err, errlen);
}

static int q_stop(void *t, char *err, size_t errlen)
{
	return q_exec(t, "stop", NULL, NULL, err, errlen);
}

static int q_cont(void *t, char *err, size_t errlen)
{
	return q_exec(t, "cont", NULL, NULL, err, errlen);
}

static int q_nmi(void *t, char *err, size_t errlen)
{
	return q_exec(t, "inject-nmi", NULL, NULL, err, errlen);
}

static bool q_alive(void *t)
{
	struct qemu_vm *q = t;

	if (q->exited)
		return false;
	if (q->child) {
		if (waitpid(q->pid, NULL, WNOHANG) == q->pid)
			q->exited = true;
	} else if (kill(q->pid, 0) < 0 && errno == ESRCH) {
		q->exited = true;
	}
	return !q->exited;
}

static void q_destroy(void *t, bool leave_running)
{
	struct qemu_vm *q = t;
	char err[256];
	int i;

	if (!leave_running && q->pid > 0 && q_alive(q)) {
		if (!q->qmp || q_exec(q, "quit", NULL, NULL, err, sizeof(err)) < 0)
			kill(q->pid, SIGTERM);
		for (i = 0; i < 500 && q_alive(q); i++) {
			struct timespec ts = { 0, 10000000L };

			nanosleep(&ts, NULL);
		}
		if (q_alive(q)) {
			kill(q->pid, SIGKILL);
			if (q->child)
				waitpid(q->pid, NULL, 0);
		}
	}
	hvp_qmp_close(q->qmp);
	if (!leave_running) {
		unlink(q->ram);
		unlink(q->qmp_path);
		unlink(q->gdb);
		unlink(q->pidfile);
	}
	free(q);
}

static const struct hvp_ext_transport qemu_transport = {
	.name = "qemu",
	.stop = q_stop,
	.cont = q_cont,
	.nmi = q_nmi,
	.qmp = q_exec,
	.alive = q_alive,
	.destroy = q_destroy,
};

static int launch(struct qemu_vm *q, const struct hvp_backend_args *o, char *err, size_t errlen)
{
	char smp[16], mem[32], obj[PATH_MAX + 128], chr[PATH_MAX + 64], gdb[PATH_MAX + 64];
	char qmp[PATH_MAX + 32], con[PATH_MAX];
	const char *bin = getenv("HVPATCH_QEMU");
	const char *argv[48];
	int n = 0, fd, r;

	if (!bin || !*bin)
		bin = "qemu-system-x86_64";
	/* -accel kvm below: say why not here, not as a QMP socket reset later */
	r = hvp_kvm_usable(err, errlen);
	if (r < 0)
		return r;
	if (hvp_vm_path(con, sizeof(con), o->rundir, o->name, ".console") < 0)
		return -ENAMETOOLONG;
	snprintf(smp, sizeof(smp), "%u", o->nr_vcpus);
	snprintf(mem, sizeof(mem), "%uM", o->mem_mib);
	snprintf(obj, sizeof(obj), "memory-backend-file,id=mem,size=%uM,mem-path=%s,share=on",
		 o->mem_mib, q->ram);
	snprintf(chr, sizeof(chr), "file,id=con,path=%s,append=on", con);
	snprintf(gdb, sizeof(gdb), "socket,id=gdb0,path=%s,server=on,wait=off", q->gdb);
	snprintf(qmp, sizeof(qmp), "unix:%s,server=on,wait=off", q->qmp_path);
	/*
	 * Stale files of a previous run would be reused (RAM) or refused; QEMU
	 * opens its paths as they are, links included, so it finds only files
	 * we made: the RAM file new and ours, mode 0600 (QEMU would make it
	 * 0644 and sizes it itself), the rest created by QEMU under umask 077.
	 */
	unlink(q->qmp_path);
	unlink(q->gdb);
	unlink(q->pidfile);
	fd = hvp_runfile_open(q->ram, HVP_RUNFILE_NEW, err, errlen);
	if (fd < 0)
		return fd;
	close(fd);
	argv[n++] = bin;
	argv[n++] = "-name";
	argv[n++] = o->name;
	argv[n++] = "-accel";
	argv[n++] = "kvm";
	/* No option ROMs, no RTC: qboot boots the PVH image in ~50 ms. */
	argv[n++] = "-M";
	argv[n++] = "microvm,x-option-roms=off,rtc=off,memory-backend=mem";
	argv[n++] = "-cpu";
	argv[n++] = HVP_QEMU_CPU;
	argv[n++] = "-smp";
	argv[n++] = smp;
	argv[n++] = "-m";
	argv[n++] = mem;
	argv[n++] = "-object";
	argv[n++] = obj;
	argv[n++] = "-kernel";
	argv[n++] = o->image;
	argv[n++] = "-nodefaults";
	argv[n++] = "-display";
	argv[n++] = "none";
	argv[n++] = "-chardev";
	argv[n++] = chr;
	argv[n++] = "-serial";
	argv[n++] = "chardev:con";
	argv[n++] = "-chardev";
	argv[n++] = gdb;
	argv[n++] = "-gdb";
	argv[n++] = "chardev:gdb0";
	argv[n++] = "-qmp";
	argv[n++] = qmp;
	argv[n++] = "-pidfile";
	argv[n++] = q->pidfile;
	argv[n++] = "-no-reboot";
	argv[n++] = "-S";
	argv[n] = NULL;

	fflush(NULL);
	q->pid = fork();
	if (q->pid < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		return -errno;
	}
	if (q->pid == 0) {
		sigset_t none;

		/* Its own session: it must outlive a service killed with its group. */
		setsid();
		umask(077);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execvp(bin, (char *const *)argv);
		fprintf(stderr, "exec %s: %s\n", bin, strerror(errno));
		_exit(127);
	}
	q->child = true;
	{
		int i;

		fprintf(stderr, "launching:");
		for (i = 0; i < n; i++)
			fprintf(stderr, " %s", argv[i]);
		fputc('\n', stderr);
	}
	return 0;
}

static int read_pid(const char *path, pid_t *pid)
{
	FILE *f = hvp_runfile_fopen(path, HVP_RUNFILE_READ);
	long v = 0;
	int ok;

	if (!f)
		return -errno;
	ok = fscanf(f, "%ld", &v) == 1 && v > 0;
	fclose(f);
	if (!ok)
		return -EINVAL;
	*pid = (pid_t)v;
	return 0;
}

int hvp_qemu_create(const struct hvp_backend_args *o, const struct hvp_backend_events *ev,
		    struct hvp_backend **out, char *err, size_t errlen)
{
	struct qemu_vm *q = calloc(1, sizeof(*q));
	struct hvp_ext_opts xo;
	int r;

	if (!q)
		return -ENOMEM;
	if (hvp_vm_path(q->ram, sizeof(q->ram), o->rundir, o->name, ".ram") < 0 ||
	    hvp_vm_path(q->qmp_path, sizeof(q->qmp_path), o->rundir, o->name, ".qmp") < 0 ||
	    hvp_vm_path(q->gdb, sizeof(q->gdb), o->rundir, o->name, ".gdb") < 0 ||
	    hvp_vm_path(q->pidfile, sizeof(q->pidfile), o->rundir, o->name, ".qemu.pid") < 0) {
		snprintf(err, errlen, "runtime directory path too long");
		free(q);
		return -ENAMETOOLONG;
	}
	if (o->attach) {
		r = read_pid(q->pidfile, &q->pid);
		if (r < 0 || kill(q->pid, 0) < 0) {
			snprintf(err, errlen, "no QEMU to attach to (%s)", q->pidfile);
			free(q);
			return -ESRCH;
		}
	} else {
		r = launch(q, o, err, errlen);
		if (r < 0) {
			free(q);
			return r;
		}
	}
	r = hvp_qmp_connect(&q->qmp, q->qmp_path, 15000, err, errlen);
	if (r < 0) {
		if (q->child && !q_alive(q))
			snprintf(err, errlen, "QEMU exited at once (see the service log)");
		q_destroy(q, o->attach);
		return r;
	}
	xo = (struct hvp_ext_opts){
		.nr_vcpus = o->nr_vcpus,
		.ram_size = (uint64_t)o->mem_mib << 20,
		.agent_gpa = o->agent_gpa,
		.ram_path = q->ram,
		.attach = o->attach,
	};
	r = hvp_ext_create(out, &qemu_transport, q, &xo, ev, err, errlen);
	if (r == 0 && o->attach)
		hvp_ext_set_running(*out);
	return r;
}
