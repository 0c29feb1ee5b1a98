// SPDX-License-Identifier: GPL-2.0-only
/*
 * The libvirt backend: the guest runs as a libvirt domain (QEMU microvm,
 * direct kernel boot of the agent's PVH image, RAM in a shared file), reached
 * through the libvirt C API with any URI virsh would take.  The default URI
 * is libvirt's embedded QEMU driver, qemu:///embed?root=RUNDIR/libvirt-NAME:
 * the driver runs inside this service process (it needs an event loop: one
 * thread runs virEventRunDefaultImpl), no daemon needed.
 *
 *   pause/resume    virDomainSuspend / virDomainResume (QMP stop/cont)
 *   NMI             virDomainInjectNMI (QMP inject-nmi: every vCPU)
 *   anything else   virDomainQemuMonitorCommand (libvirt-qemu): qom-get of
 *                   the TSC rate and of the RAM file, query-stats
 *
 * The domain is created transient and paused (VIR_DOMAIN_START_PAUSED), so
 * the agent's config is written before any vCPU runs, as with -S.  libvirt
 * starts QEMU as a daemon: it outlives this process, and `vm attach` finds it
 * again by name.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "backends.h"
#include "extvm.h"
#include "kvm.h"
#include "util.h"

/* The embedded driver's root: "" when the user chose a URI. */
static int embed_root(char *buf, size_t len, const char *rundir, const char *name, const char *uri)
{
	if (uri && uri[0])
		return -ENOENT;
	return hvp_vm_path(buf, len, rundir, "libvirt-", name);
}

void hvp_libvirt_remove_root(const char *rundir, const char *name, const char *uri)
{
	char root[PATH_MAX];
	int r;

	if (embed_root(root, sizeof(root), rundir, name, uri) < 0)
		return;
	r = hvp_rmtree(root);
	if (r < 0 && r != -ENOENT)
		fprintf(stderr, "libvirt: cannot remove %s: %s\n", root, strerror(-r));
}

#ifndef HVP_HAVE_LIBVIRT
int hvp_libvirt_create(const struct hvp_backend_args *o, const struct hvp_backend_events *ev,
		       struct hvp_backend **out, char *err, size_t errlen)
{
	(void)out;
	(void)o;
	(void)ev;
	snprintf(err, errlen,
		 "the libvirt backend is not built: install libvirt-dev "
		 "(./quickstart does) and re-run ./configure");
	return -ENOTSUP;
}
#else

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/libvirt-qemu.h>
#include <libvirt/virterror.h>

struct lv_vm {
	virConnectPtr conn;
	virDomainPtr dom;
	char ram[PATH_MAX];
};

static pthread_once_t event_once = PTHREAD_ONCE_INIT;
static int event_status;

static void *event_thread(void *arg)
{
	(void)arg;
	for (;;)
		if (virEventRunDefaultImpl() < 0)
			break;
	return NULL;
}

/* libvirt's event loop, once per process, on a thread of its own. */
static void event_init(void)
{
	pthread_t t;

	event_status = virEventRegisterDefaultImpl();
	if (event_status == 0 && pthread_create(&t, NULL, event_thread, NULL) == 0)
		pthread_detach(t);
	else
		event_status = -1;
}

static void lv_error(char *err, size_t errlen, const char *what)
{
	const virError *e = virGetLastError();

	snprintf(err, errlen, "%s: %s", what, e && e->message ? e->message : "libvirt error");
}

/*
 * libvirt logs, through its own log outputs (stderr by default), internal
 * errors it then ignores: with the embedded settings below "At least one
 * cgroup controller is required" and "No access manager registered" at every
 * domain start.  In a VM's service stderr is the VM's log, but a bench runs
 * its VMs inside the CLI, where stderr is the user's terminal.  So libvirt
 * logs into the VM's log file whoever the caller; the errors that matter
 * reach the caller through err (lv_error, lv_quiet).  libvirt reads this once,
 * at its first call in the process: a bench's VMs all have one name
 * (bench<pid>), so one log.  A LIBVIRT_LOG_OUTPUTS of the user's wins.
 */
static void log_to_vm_log(const struct hvp_backend_args *o)
{
	char path[PATH_MAX], spec[PATH_MAX + 16], err[256];
	int fd;

	/* created here, mode 0600 and never through a link, before libvirt appends */
	if (hvp_vm_path(path, sizeof(path), o->rundir, o->name, ".log") < 0 ||
	    (fd = hvp_runfile_open(path, HVP_RUNFILE_APPEND, err, sizeof(err))) < 0) {
		setenv("LIBVIRT_LOG_OUTPUTS", "4:stderr", 0);
		return;
	}
	close(fd);
	snprintf(spec, sizeof(spec), "4:file:%s", path);
	setenv("LIBVIRT_LOG_OUTPUTS", spec, 0);
}

/* hvpatch's own notes about the domain go to the same log, for the same reason. */
static void lv_note(const struct hvp_backend_args *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void lv_note(const struct hvp_backend_args *o, const char *fmt, ...)
{
	char path[PATH_MAX];
	FILE *f = NULL;
	va_list ap;

	if (hvp_vm_path(path, sizeof(path), o->rundir, o->name, ".log") == 0)
		f = hvp_runfile_fopen(path, HVP_RUNFILE_APPEND);
	fflush(stderr);
	va_start(ap, fmt);
	vfprintf(f ? f : stderr, fmt, ap);
	va_end(ap);
	fputc('\n', f ? f : stderr);
	if (f)
		fclose(f);
}

/* Errors are reported to the caller; libvirt must not print them itself. */
static void lv_quiet(void *ud, virErrorPtr e)
{
	(void)ud;
	(void)e;
}

static int lv_stop(void *t, char *err, size_t errlen)
{
	struct lv_vm *l = t;

	if (virDomainSuspend(l->dom) < 0) {
		lv_error(err, errlen, "virDomainSuspend");
		return -EIO;
	}
	return 0;
}

static int lv_cont(void *t, char *err, size_t errlen)
{
	struct lv_vm *l = t;

	if (virDomainResume(l->dom) < 0) {
		lv_error(err, errlen, "virDomainResume");
		return -EIO;
	}
	return 0;
}

static int lv_nmi(void *t, char *err, size_t errlen)
{
	struct lv_vm *l = t;

	if (virDomainInjectNMI(l->dom, 0) < 0) {
		lv_error(err, errlen, "virDomainInjectNMI");
		return -EIO;
	}
	return 0;
}

static int lv_qmp(void *t, const char *cmd, json_object *args, json_object **ret, char *err,
		  size_t errlen)
{
	struct lv_vm *l = t;
	json_object *req = json_object_new_object(), *reply, *v;
	char *out = NULL;
	int r;

	if (ret)
		*ret = NULL;
	json_object_object_add(req, "execute", json_object_new_string(cmd));
	if (args)
		json_object_object_add(req, "arguments", args);
	r = virDomainQemuMonitorCommand(l->dom,
					json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN),
					&out, 0);
	json_object_put(req);
	if (r < 0) {
		lv_error(err, errlen, cmd);
		return -EIO;
	}
	reply = json_tokener_parse(out);
	free(out);
	if (!reply || !json_object_object_get_ex(reply, "return", &v)) {
		snprintf(err, errlen, "%s: no return in the monitor's reply", cmd);
		json_object_put(reply);
		return -EIO;
	}
	if (ret)
		*ret = json_object_get(v);
	json_object_put(reply);
	return 0;
}

static bool lv_alive(void *t)
{
	struct lv_vm *l = t;

	return virDomainIsActive(l->dom) == 1;
}

static void lv_destroy(void *t, bool leave_running)
{
	struct lv_vm *l = t;

	if (l->dom) {
		if (!leave_running && virDomainIsActive(l->dom) == 1)
			virDomainDestroy(l->dom);
		virDomainFree(l->dom);
	}
	if (l->conn)
		virConnectClose(l->conn);
	free(l);
}

static const struct hvp_ext_transport libvirt_transport = {
	.name = "libvirt",
	.stop = lv_stop,
	.cont = lv_cont,
	.nmi = lv_nmi,
	.qmp = lv_qmp,
	.alive = lv_alive,
	.destroy = lv_destroy,
};

/* Append s to the buffer, XML-escaped. */
static void xml_esc(char *buf, size_t len, const char *s)
{
	size_t n = strlen(buf);

	for (; *s && n + 7 < len; s++) {
		const char *e = NULL;

		switch (*s) {
		case '&':
			e = "&amp;";
			break;
		case '<':
			e = "&lt;";
			break;
		case '>':
			e = "&gt;";
			break;
		case '\'':
			e = "&apos;";
			break;
		case '"':
			e = "&quot;";
			break;
		}
		if (e) {
			memcpy(buf + n, e, strlen(e));
			n += strlen(e);
		} else {
			buf[n++] = *s;
		}
	}
	buf[n] = 0;
}

static void xml_cat(char *buf, size_t len, const char *s)
{
	size_t n = strlen(buf);

	snprintf(buf + n, len - n, "%s", s);
}

static void domain_xml(char *x, size_t len, const struct hvp_backend_args *o, const char *dname,
		       const char *console)
{
	char num[64];

	x[0] = 0;
	xml_cat(x, len, "<domain type='kvm'>\n  <name>");
	xml_esc(x, len, dname);
	xml_cat(x, len, "</name>\n");
	snprintf(num, sizeof(num), "  <memory unit='MiB'>%u</memory>\n", o->mem_mib);
	xml_cat(x, len, num);
	snprintf(num, sizeof(num), "  <vcpu>%u</vcpu>\n", o->nr_vcpus);
	xml_cat(x, len, num);
	/* Guest RAM in a file QEMU maps shared: this service maps it too. */
	xml_cat(x, len,
		"  <memoryBacking><source type='file'/><access mode='shared'/>"
		"</memoryBacking>\n");
	xml_cat(x, len, "  <os><type arch='x86_64' machine='microvm'>hvm</type><kernel>");
	xml_esc(x, len, o->image);
	xml_cat(x, len, "</kernel></os>\n");
	/* The qemu backend's model (HVP_QEMU_CPU): the host's, without
	 * arch-capabilities, whose MSR this project's nested KVM refuses. */
	xml_cat(x, len,
		"  <cpu mode='host-passthrough' check='none' migratable='off'>"
		"<feature policy='disable' name='arch-capabilities'/></cpu>\n");
	xml_cat(x, len,
		"  <on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot>"
		"<on_crash>destroy</on_crash>\n  <devices>\n");
	/* microvm has neither USB nor a balloon; libvirt adds both unless told. */
	xml_cat(x, len,
		"    <controller type='usb' model='none'/>\n"
		"    <memballoon model='none'/>\n");
	xml_cat(x, len, "    <serial type='file'><source path='");
	xml_esc(x, len, console);
	xml_cat(x, len, "' append='on'/><target type='isa-serial' port='0'/></serial>\n");
	xml_cat(x, len, "  </devices>\n</domain>\n");
}

/* Settings the embedded driver needs here (see shared/PLATFORM.md). */
static int write_embed_conf(const char *root, char *err, size_t errlen)
{
	static const char conf[] = "# written by hvpatch for its embedded libvirt QEMU driver\n"
				   "user = \"root\"\ngroup = \"root\"\ndynamic_ownership = 0\n"
				   "security_driver = \"none\"\nstdio_handler = \"file\"\n"
				   "cgroup_controllers = [ ]\n";
	static const char *const dirs[] = { "", "/etc" };
	static const char *const files[] = { "/etc/qemu.conf" };
	char path[PATH_MAX + 32];
	unsigned i;

	for (i = 0; i < HVP_ARRAY_SIZE(dirs); i++) {
		struct stat st;

		snprintf(path, sizeof(path), "%s%s", root, dirs[i]);
		if (mkdir(path, 0700) < 0 && errno != EEXIST) {
			snprintf(err, errlen, "mkdir %s: %s", path, strerror(errno));
			return -errno;
		}
		/* an old one must be ours: never a link to somewhere else */
		if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid()) {
			snprintf(err, errlen,
				 "%s is not a directory of yours: refusing to use it "
				 "(remove it)",
				 path);
			return -EPERM;
		}
	}
	for (i = 0; i < HVP_ARRAY_SIZE(files); i++) {
		ssize_t n;
		int fd;

		snprintf(path, sizeof(path), "%s%s", root, files[i]);
		fd = hvp_runfile_open(path, HVP_RUNFILE_NEW, err, errlen);
		if (fd < 0)
			return fd;
		n = write(fd, conf, sizeof(conf) - 1);
		close(fd);
		if (n != (ssize_t)sizeof(conf) - 1) {
			snprintf(err, errlen, "%s: short write", path);
			return -EIO;
		}
	}
	return 0;
}

/* The file behind guest RAM: the memory-backend-file object's mem-path. */
static int find_ram_file(struct lv_vm *l, char *err, size_t errlen)
{
	json_object *args = json_object_new_object(), *ret = NULL;
	size_t i;
	int r;

	json_object_object_add(args, "path", json_object_new_string("/objects"));
	r = lv_qmp(l, "qom-list", args, &ret, err, errlen);
	if (r < 0)
		return r;
	r = -ENOENT;
	for (i = 0; json_object_is_type(ret, json_type_array) && i < json_object_array_length(ret);
	     i++) {
		json_object *e = json_object_array_get_idx(ret, i), *n, *ty, *a2, *p = NULL;
		char path[256];

		if (!json_object_object_get_ex(e, "name", &n) ||
		    !json_object_object_get_ex(e, "type", &ty) ||
		    strcmp(json_object_get_string(ty), "child<memory-backend-file>"))
			continue;
		snprintf(path, sizeof(path), "/objects/%s", json_object_get_string(n));
		a2 = json_object_new_object();
		json_object_object_add(a2, "path", json_object_new_string(path));
		json_object_object_add(a2, "property", json_object_new_string("mem-path"));
		if (lv_qmp(l, "qom-get", a2, &p, err, errlen) == 0 &&
		    json_object_is_type(p, json_type_string)) {
			struct stat st;

			snprintf(l->ram, sizeof(l->ram), "%s", json_object_get_string(p));
			if (stat(l->ram, &st) == 0 && S_ISREG(st.st_mode))
				r = 0;
			else
				snprintf(err, errlen,
					 "the domain's RAM (%s) is not a file we can map", l->ram);
		}
		json_object_put(p);
		if (r == 0)
			break;
	}
	json_object_put(ret);
	if (r == -ENOENT && !err[0])
		snprintf(err, errlen, "the domain has no memory-backend-file object");
	return r;
}

int hvp_libvirt_create(const struct hvp_backend_args *o, const struct hvp_backend_events *ev,
		       struct hvp_backend **out, char *err, size_t errlen)
{
	char uri[PATH_MAX + 64], root[PATH_MAX], dname[64], console[PATH_MAX];
	struct lv_vm *l;
	struct hvp_ext_opts xo;
	char *xml;
	int r;

	log_to_vm_log(o);
	pthread_once(&event_once, event_init);
	if (event_status < 0) {
		snprintf(err, errlen, "cannot start libvirt's event loop");
		return -EIO;
	}
	virSetErrorFunc(NULL, lv_quiet);
	r = embed_root(root, sizeof(root), o->rundir, o->name, o->uri);
	if (r == -ENOENT) {
		snprintf(uri, sizeof(uri), "%s", o->uri);
	} else if (r < 0) {
		snprintf(err, errlen, "runtime directory path too long");
		return r;
	} else {
		/* the embedded driver's domain is type 'kvm' on this host */
		r = hvp_kvm_usable(err, errlen);
		if (r < 0)
			return r;
		r = write_embed_conf(root, err, errlen);
		if (r < 0)
			return r;
		snprintf(uri, sizeof(uri), "qemu:///embed?root=%s", root);
	}
	snprintf(dname, sizeof(dname), "hvpatch-%s", o->name);
	if (hvp_vm_path(console, sizeof(console), o->rundir, o->name, ".console") < 0)
		return -ENAMETOOLONG;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->conn = virConnectOpen(uri);
	if (!l->conn) {
		lv_error(err, errlen, uri);
		free(l);
		return -EIO;
	}
	lv_note(o, "libvirt: connected to %s", uri);
	if (o->attach) {
		l->dom = virDomainLookupByName(l->conn, dname);
		if (!l->dom) {
			lv_error(err, errlen, dname);
			lv_destroy(l, true);
			return -ESRCH;
		}
	} else {
		/* A domain of that name left by a dead service: gone first. */
		l->dom = virDomainLookupByName(l->conn, dname);
		if (l->dom) {
			virDomainDestroy(l->dom);
			virDomainFree(l->dom);
			l->dom = NULL;
		}
		xml = malloc(16384);
		if (!xml) {
			lv_destroy(l, true);
			return -ENOMEM;
		}
		domain_xml(xml, 16384, o, dname, console);
		l->dom = virDomainCreateXML(l->conn, xml, VIR_DOMAIN_START_PAUSED);
		free(xml);
		if (!l->dom) {
			lv_error(err, errlen, "virDomainCreateXML");
			lv_destroy(l, true);
			return -EIO;
		}
	}
	err[0] = 0;
	r = find_ram_file(l, err, errlen);
	if (r < 0) {
		lv_destroy(l, o->attach);
		return r;
	}
	/* libvirt's QEMU makes it 0644; in our own root it is ours alone */
	if (embed_root(root, sizeof(root), o->rundir, o->name, o->uri) == 0 &&
	    chmod(l->ram, 0600) < 0)
		lv_note(o, "libvirt: chmod %s: %s", l->ram, strerror(errno));
	lv_note(o, "libvirt: domain %s, RAM file %s", dname, l->ram);
	xo = (struct hvp_ext_opts){
		.nr_vcpus = o->nr_vcpus,
		.ram_size = (uint64_t)o->mem_mib << 20,
		.agent_gpa = o->agent_gpa,
		.ram_path = l->ram,
		.attach = o->attach,
	};
	r = hvp_ext_create(out, &libvirt_transport, l, &xo, ev, err, errlen);
	if (r == 0 && o->attach)
		hvp_ext_set_running(*out);
	return r;
}
#endif
