// SPDX-License-Identifier: GPL-2.0-only
/*
 * A VM's life from outside its service: spawn it, watch it, and the state
 * file a qemu/libvirt VM leaves for `vm attach`.  Runs in the CLI, except
 * hvp_vmstate_write(), which the service calls once its VM is booted.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "backends.h"
#include "hvp_ctl.h"
#include "util.h"
#include "vmstate.h"

/* ---- the state file ---- */

int hvp_vmstate_write(const struct hvp_vm_opts *o, char *err, size_t errlen)
{
	json_object *j = json_object_new_object();
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	int fd, r = 0;

	json_object_object_add(j, "name", json_object_new_string(o->name));
	json_object_object_add(j, "backend", json_object_new_string(o->backend));
	json_object_object_add(j, "uri", json_object_new_string(o->uri));
	json_object_object_add(j, "vcpus", json_object_new_int((int)o->vcpus));
	json_object_object_add(j, "mem_mib", json_object_new_int((int)o->mem_mib));
	json_object_object_add(j, "image", json_object_new_string(o->image));
	json_object_object_add(j, "keys", json_object_new_string(o->keys));
	if (hvp_vm_path(path, sizeof(path), o->rundir, o->name, ".vm.json") < 0)
		goto out;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = hvp_runfile_open(tmp, HVP_RUNFILE_NEW, err, errlen);
	if (fd < 0) {
		r = fd;
		goto out;
	}
	if (json_object_to_fd(fd, j, JSON_C_TO_STRING_PLAIN) == 0 && fsync(fd) == 0)
		rename(tmp, path); /* replaces a link, never follows it */
	close(fd);
out:
	json_object_put(j);
	return r;
}

int hvp_vmstate_read(const char *rundir, const char *name, struct hvp_vm_opts *o)
{
	static const struct {
		const char *key;
		size_t off, len;
	} strs[] = {
#define STR(f) { #f, offsetof(struct hvp_vm_opts, f), sizeof(((struct hvp_vm_opts *)0)->f) }
		STR(backend),
		STR(uri),
		STR(image),
		STR(keys),
#undef STR
	};
	char path[PATH_MAX], err[PATH_MAX + 128];
	const struct hvp_backend_kind *k;
	json_object *j, *v;
	unsigned i;
	int ok = 1, fd;

	memset(o, 0, sizeof(*o));
	if (hvp_vm_path(path, sizeof(path), rundir, name, ".vm.json") < 0)
		return -ENOENT;
	fd = hvp_runfile_open(path, HVP_RUNFILE_READ, err, sizeof(err));
	if (fd < 0)
		return fd == -ENOENT ? -ENOENT : -EINVAL;
	j = json_object_from_fd(fd);
	close(fd);
	if (!j)
		return -EINVAL;
	for (i = 0; i < HVP_ARRAY_SIZE(strs); i++) {
		if (json_object_object_get_ex(j, strs[i].key, &v) &&
		    json_object_is_type(v, json_type_string))
			snprintf((char *)o + strs[i].off, strs[i].len, "%s",
				 json_object_get_string(v));
		else
			ok = 0;
	}
	if (json_object_object_get_ex(j, "vcpus", &v))
		o->vcpus = (unsigned)json_object_get_int(v);
	if (json_object_object_get_ex(j, "mem_mib", &v))
		o->mem_mib = (unsigned)json_object_get_int(v);
	json_object_put(j);
	/* only a VM that outlives its service leaves a state file */
	k = hvp_backend_kind_by_name(o->backend);
	if (!ok || !k || !k->external || o->vcpus < HVP_VM_MIN_VCPUS ||
	    o->vcpus > HVP_VM_MAX_VCPUS || o->mem_mib < HVP_VM_MIN_MEM_MIB ||
	    o->mem_mib > HVP_VM_MAX_MEM_MIB)
		return -EINVAL;
	snprintf(o->name, sizeof(o->name), "%s", name);
	snprintf(o->rundir, sizeof(o->rundir), "%s", rundir);
	o->attach = 1;
	return 0;
}

bool hvp_vmstate_exists(const char *rundir, const char *name)
{
	char path[PATH_MAX];

	return hvp_vm_path(path, sizeof(path), rundir, name, ".vm.json") == 0 &&
	       access(path, F_OK) == 0;
}

void hvp_vmstate_remove(const char *rundir, const char *name)
{
	char path[PATH_MAX];

	if (hvp_vm_path(path, sizeof(path), rundir, name, ".vm.json") == 0)
		unlink(path);
}

/* ---- the service process ---- */

static int read_line_timeout(int fd, char *buf, size_t len, int timeout_ms)
{
	size_t got = 0;
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (got + 1 < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int left, r;
		ssize_t n;

		clock_gettime(CLOCK_MONOTONIC, &t1);
		left = timeout_ms -
		       (int)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0)
			return -ETIMEDOUT;
		r = poll(&p, 1, left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -ETIMEDOUT;
		n = read(fd, buf + got, len - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		if (memchr(buf, '\n', got))
			break;
	}
	buf[got] = 0;
	buf[strcspn(buf, "\n")] = 0;
	return got ? 0 : -ECONNRESET;
}

static int spawn_fail(const char **cls, const char *c, char *err, size_t errlen, const char *fmt,
		      ...) __attribute__((format(printf, 5, 6)));
static int spawn_fail(const char **cls, const char *c, char *err, size_t errlen, const char *fmt,
		      ...)
{
	va_list ap;

	*cls = c;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

int hvp_vmstate_spawn(const struct hvp_vm_opts *po, hvp_serve_fn serve, int timeout_s,
		      const char **cls, char *err, size_t errlen)
{
	struct hvp_vm_opts o = *po;
	char line[600], log[PATH_MAX], lerr[PATH_MAX + 128], how[96];
	int c, r, p[2], logfd, status;
	pid_t pid;

	if (hvp_vm_path(log, sizeof(log), o.rundir, o.name, ".log") < 0)
		return spawn_fail(cls, HVP_ERR_USAGE, err, errlen,
				  "runtime directory path too long");
	logfd = hvp_runfile_open(log, HVP_RUNFILE_APPEND, lerr, sizeof(lerr));
	if (logfd < 0)
		return spawn_fail(cls, HVP_ERR_REFUSED, err, errlen, "VM %s: log: %s", o.name,
				  lerr);
	if (pipe2(p, O_CLOEXEC) < 0) {
		close(logfd);
		return spawn_fail(cls, HVP_ERR_INTERNAL, err, errlen, "pipe: %s", strerror(errno));
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		close(logfd);
		return spawn_fail(cls, HVP_ERR_INTERNAL, err, errlen, "fork: %s", strerror(errno));
	}
	if (pid == 0) {
		close(p[0]);
		setsid();
		/* every file the service and its QEMU create is theirs alone */
		umask(077);
		dup2(logfd, STDOUT_FILENO);
		dup2(logfd, STDERR_FILENO);
		c = open("/dev/null", O_RDONLY);
		if (c >= 0)
			dup2(c, STDIN_FILENO);
		signal(SIGINT, SIG_IGN);
		/* exit, not _exit: buffers were flushed before the fork, and a
		 * sanitizer build checks the service for leaks at exit */
		exit(serve(&o, p[1]));
	}
	close(p[1]);
	close(logfd);
	r = read_line_timeout(p[0], line, sizeof(line), timeout_s * 1000);
	close(p[0]);
	if (r == -ETIMEDOUT) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return spawn_fail(cls, HVP_ERR_GUEST, err, errlen,
				  "VM %s: the agent was not ready within %llu s (log: %s)", o.name,
				  (unsigned long long)timeout_s, log);
	}
	if (r < 0) {
		waitpid(pid, &status, 0);
		hvp_proc_describe_status(how, sizeof(how), status);
		return spawn_fail(cls, HVP_ERR_INTERNAL, err, errlen,
				  "VM %s: its service (pid %ld) died while starting (%s); see its log: %s",
				  o.name, (long)pid, how, log);
	}
	if (strcmp(line, "ok")) {
		waitpid(pid, NULL, 0);
		return spawn_fail(cls, HVP_ERR_GUEST, err, errlen, "VM %s: %s", o.name,
				  strncmp(line, "error: ", 7) ? line : line + 7);
	}
	return 0;
}

bool hvp_vmstate_alive(const char *rundir, const char *name)
{
	static const char *const sfx[] = { ".sock", ".pid" };
	char path[PATH_MAX];
	json_object *resp = NULL;
	unsigned i;

	if (hvp_vm_path(path, sizeof(path), rundir, name, ".sock") < 0)
		return false;
	if (access(path, F_OK) < 0)
		return false;
	if (hvp_ctl_call(path, "info", NULL, 2000, &resp) == 0) {
		json_object_put(resp);
		return true;
	}
	for (i = 0; i < HVP_ARRAY_SIZE(sfx); i++)
		if (hvp_vm_path(path, sizeof(path), rundir, name, sfx[i]) == 0)
			unlink(path);
	return false;
}

pid_t hvp_vmstate_service_pid(const char *rundir, const char *name)
{
	char path[PATH_MAX];
	long v = 0;
	FILE *f;

	if (hvp_vm_path(path, sizeof(path), rundir, name, ".pid") < 0)
		return 0;
	f = hvp_runfile_fopen(path, HVP_RUNFILE_READ);
	if (!f)
		return 0;
	if (fscanf(f, "%ld", &v) != 1 || v <= 0)
		v = 0;
	fclose(f);
	return (pid_t)v;
}

/* ---- any process ---- */

int hvp_proc_zombie_status(pid_t pid, int *status)
{
	char path[64], buf[1024], *p;
	unsigned field;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')'); /* the command name may hold anything */
	if (!p || p[1] != ' ' || p[2] != 'Z')
		return -1;
	/* the exit status is field 52 */
	for (field = 2; p && field < 52; field++)
		p = strchr(p + 1, ' ');
	if (!p)
		return -1;
	*status = atoi(p + 1);
	return 0;
}

bool hvp_proc_gone(pid_t pid)
{
	int status;

	return kill(pid, 0) < 0 || hvp_proc_zombie_status(pid, &status) == 0;
}

void hvp_proc_describe_status(char *buf, size_t len, int status)
{
	if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else if (WIFEXITED(status))
		snprintf(buf, len, "exit status %d", WEXITSTATUS(status));
	else
		snprintf(buf, len, "wait status 0x%x", (unsigned)status);
}
