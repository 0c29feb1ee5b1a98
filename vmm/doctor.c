// SPDX-License-Identifier: GPL-2.0-only
/*
 * `hvpatch doctor`: the KVM flavour, its capabilities, and probes that boot
 * the real guest agent to see what this host really does: whether an int3 at
 * guest CPL0 works, and whether KVM_SET_GUEST_DEBUG traps a guest #BP.  Also
 * QEMU, libvirt, BPF and tracefs, which later parts of hvpatch use.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "backends.h"
#include "doctor.h"
#include "kvm.h"
#include "service.h"
#include "util.h"

int hvp_guest_image_find(char *buf, size_t len)
{
	static const char *const rel[] = {
		"/guest-agent/hvpatch-guest.elf",
		"/../lib/hvpatch/hvpatch-guest.elf",
	};
	const char *env = getenv("HVPATCH_GUEST");
	char exe[PATH_MAX], *slash;
	ssize_t n;
	unsigned i;

	if (env && env[0]) {
		snprintf(buf, len, "%s", env);
		return access(buf, R_OK) ? -ENOENT : 0;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = 0;
		slash = strrchr(exe, '/');
		if (slash)
			*slash = 0;
		for (i = 0; i < HVP_ARRAY_SIZE(rel); i++) {
			if ((size_t)snprintf(buf, len, "%s%s", exe, rel[i]) < len &&
			    access(buf, R_OK) == 0)
				return 0;
		}
	}
#ifdef HVP_PKGLIBDIR
	snprintf(buf, len, "%s/hvpatch-guest.elf", HVP_PKGLIBDIR);
	if (access(buf, R_OK) == 0)
		return 0;
#endif
	return -ENOENT;
}

static void add_str(json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

static const char *kvm_module(void)
{
	static const char *const mods[] = { "kvm_intel", "kvm_amd", "kvm_pvm" };
	char path[64];
	unsigned i;

	for (i = 0; i < HVP_ARRAY_SIZE(mods); i++) {
		snprintf(path, sizeof(path), "/sys/module/%s", mods[i]);
		if (access(path, F_OK) == 0)
			return mods[i];
	}
	return "none";
}

static json_object *kvm_caps(int *api)
{
	static const struct {
		int cap;
		const char *name;
	} caps[] = {
		{ KVM_CAP_NR_VCPUS, "NR_VCPUS" },
		{ KVM_CAP_MAX_VCPUS, "MAX_VCPUS" },
		{ KVM_CAP_IMMEDIATE_EXIT, "IMMEDIATE_EXIT" },
		{ KVM_CAP_IRQCHIP, "IRQCHIP" },
		{ KVM_CAP_SET_GUEST_DEBUG, "SET_GUEST_DEBUG" },
		{ KVM_CAP_USER_NMI, "USER_NMI" },
		{ KVM_CAP_EXT_CPUID, "EXT_CPUID" },
		{ KVM_CAP_GET_TSC_KHZ, "GET_TSC_KHZ" },
		{ KVM_CAP_BINARY_STATS_FD, "BINARY_STATS_FD" },
	};
	json_object *o = json_object_new_object();
	unsigned i;
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	*api = -1;
	if (fd < 0) {
		add_str(o, "error", strerror(errno));
		return o;
	}
	*api = ioctl(fd, KVM_GET_API_VERSION, 0);
	for (i = 0; i < HVP_ARRAY_SIZE(caps); i++)
		json_object_object_add(o, caps[i].name,
				       json_object_new_int(
					       ioctl(fd, KVM_CHECK_EXTENSION, caps[i].cap)));
	close(fd);
	return o;
}

/*
 * Boot the agent with one probe flag and report what happened: the boot
 * error (a dead vCPU, a recorded fault) is the answer.
 */
static void probe(json_object *out, const char *key, const char *image, uint32_t flags,
		  int guest_debug)
{
	struct hvp_vm_opts o = { 0 };
	struct hvp_service *s;
	char err[512] = "", dead[256];
	const char *verdict;
	unsigned faults;
	int r, vector;

	snprintf(o.name, sizeof(o.name), "doctor");
	/* the own VMM: the probes ask KVM itself */
	snprintf(o.backend, sizeof(o.backend), "%s", hvp_backend_kinds[0].name);
	snprintf(o.image, sizeof(o.image), "%s", image);
	o.vcpus = 1;
	o.mem_mib = 32;
	o.probe_flags = flags;
	o.guest_debug_sw_bp = guest_debug;
	s = hvp_service_new(&o);
	if (!s) {
		add_str(out, key, "probe failed: out of memory");
		return;
	}
	r = hvp_service_boot(s, err, sizeof(err));
	if (r == 0 && (flags & HVP_CFG_PROBE_UINT3)) {
		/* the user-mode int3 runs once the workload starts */
		struct timespec ts = { 0, 20000000 };
		int i;

		for (i = 0; i < 100; i++) {
			r = hvp_service_probe_result(s, dead, sizeof(dead), &vector) || dead[0];
			if (r)
				break;
			nanosleep(&ts, NULL);
		}
	}
	faults = hvp_service_probe_result(s, dead, sizeof(dead), &vector);
	if (strstr(dead, "KVM_EXIT_DEBUG"))
		verdict = "trapped by KVM (KVM_EXIT_DEBUG): a VMM-side #BP handler works";
	else if (strstr(dead, "emulation"))
		verdict = "kills the VM (KVM_EXIT_INTERNAL_ERROR, emulation)";
	else if (faults && vector == 3)
		verdict = guest_debug ? "accepted but ignored: the #BP went to the guest's IDT" :
					"works: delivered to the guest's IDT";
	else if (dead[0])
		verdict = dead;
	else
		verdict = err[0] ? err : "no answer";
	add_str(out, key, verdict);
	hvp_service_free(s);
}

/*
 * The probe VMs fail on purpose (an int3 at CPL0 kills the VM, one at CPL3 is
 * a recorded guest fault), and their service logs that on stderr exactly as
 * it would for a real VM.  Those lines are not errors here: keep them off the
 * terminal; each probe's verdict says what happened.  Returns the saved
 * stderr for stderr_restore(), or -1 if it could not be redirected.
 */
static int stderr_silence(void)
{
	int saved, null;

	fflush(stderr);
	saved = dup(STDERR_FILENO);
	null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (saved < 0 || null < 0 || dup2(null, STDERR_FILENO) < 0) {
		if (saved >= 0)
			close(saved);
		saved = -1;
	}
	if (null >= 0)
		close(null);
	return saved;
}

/* After hvp_service_free(): no probe thread is left to write to stderr. */
static void stderr_restore(int saved)
{
	if (saved < 0)
		return;
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
}

static int run_cmd(const char *cmd, char *buf, size_t len)
{
	FILE *f = popen(cmd, "r");

	buf[0] = 0;
	if (!f)
		return -1;
	if (!fgets(buf, (int)len, f))
		buf[0] = 0;
	buf[strcspn(buf, "\n")] = 0;
	return pclose(f) == 0 && buf[0] ? 0 : -1;
}

static const char *bpf_state(void)
{
	union bpf_attr attr;
	int fd;

	memset(&attr, 0, sizeof(attr));
	attr.map_type = BPF_MAP_TYPE_ARRAY;
	attr.key_size = 4;
	attr.value_size = 8;
	attr.max_entries = 1;
	fd = (int)syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof(attr));
	if (fd < 0)
		return errno == EPERM ? "present, not permitted" : "unavailable";
	close(fd);
	return "works";
}

#ifdef HVP_HAVE_LIBVIRT
/* Append "name" to a comma list in buf. */
static void list_add(char *buf, size_t len, const char *name)
{
	size_t n = strlen(buf);

	snprintf(buf + n, len - n, "%s%s", n ? "," : "", name);
}

/*
 * What libvirt has for cgroups here.  Its embedded driver, as hvpatch
 * configures it (vmm/libvirt.c), asks for no controller: libvirt then logs
 * "At least one cgroup controller is required" into the VM's log at every
 * domain start and runs the domain outside any cgroup of its own.  Say so,
 * and what the host offers (cgroup v1 hierarchies from /proc/cgroups, the v2
 * controllers of the unified mount), for a user who points -c at a
 * libvirtd that wants them.
 */
static void libvirt_cgroups(char *buf, size_t len)
{
	char v1[256] = "", v2[256] = "", line[512], name[64], path[PATH_MAX];
	unsigned hier, nr, enabled;
	FILE *f;

	f = fopen("/proc/cgroups", "re");
	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%63s %u %u %u", name, &hier, &nr, &enabled) == 4 &&
		    name[0] != '#' && hier && enabled)
			list_add(v1, sizeof(v1), name);
	}
	if (f)
		fclose(f);
	f = fopen("/proc/self/mounts", "re");
	while (f && fgets(line, sizeof(line), f)) {
		char mnt[PATH_MAX / 2], type[32];

		if (sscanf(line, "%*s %2047s %31s", mnt, type) == 2 && !strcmp(type, "cgroup2")) {
			FILE *c;

			snprintf(path, sizeof(path), "%s/cgroup.controllers", mnt);
			c = fopen(path, "re");
			if (c && fgets(v2, sizeof(v2), c)) {
				v2[strcspn(v2, "\n")] = 0;
				for (char *p = v2; *p; p++)
					if (*p == ' ')
						*p = ',';
			}
			if (c)
				fclose(c);
			break;
		}
	}
	if (f)
		fclose(f);
	snprintf(buf, len,
		 "none: hvpatch's embedded driver asks for none (cgroup_controllers = [ ]), so "
		 "libvirt logs 'At least one cgroup controller is required' into the VM's log and "
		 "runs the domain outside a cgroup; the host has v1 %s, v2 %s",
		 v1[0] ? v1 : "none", v2[0] ? v2 : "none");
}
#endif

int hvp_doctor_run(json_object **out)
{
	json_object *o = json_object_new_object(), *host = json_object_new_object();
	json_object *probes = json_object_new_object(), *tools = json_object_new_object();
	char image[PATH_MAX], line[256], why[512];
	struct utsname u;
	bool usable;
	int api;

	if (uname(&u) == 0)
		add_str(host, "kernel", u.release);
	json_object_object_add(host, "cores",
			       json_object_new_int((int)sysconf(_SC_NPROCESSORS_ONLN)));
	if (run_cmd("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'", line,
		    sizeof(line)) == 0)
		add_str(host, "cpu", line);
	json_object_object_add(o, "host", host);
	add_str(o, "kvm_module", kvm_module());
	json_object_object_add(o, "kvm_caps", kvm_caps(&api));
	json_object_object_add(o, "kvm_api_version", json_object_new_int(api));

	usable = hvp_kvm_usable(why, sizeof(why)) == 0;
	add_str(o, "kvm_device",
		!usable ? why :
		api < 0 ? "opens, but KVM_GET_API_VERSION failed" :
			  "/dev/kvm opens read-write");
	if (!usable || api < 0) {
		add_str(probes, "skipped", "no usable /dev/kvm (see kvm_device)");
	} else if (hvp_guest_image_find(image, sizeof(image)) < 0) {
		add_str(probes, "skipped",
			"guest image not found (build it, or set HVPATCH_GUEST)");
	} else {
		int saved = stderr_silence();

		probe(probes, "int3_kernel_mode", image, HVP_CFG_PROBE_KINT3, 0);
		probe(probes, "int3_user_mode", image, HVP_CFG_PROBE_UINT3, 0);
		probe(probes, "guest_debug_sw_bp", image, HVP_CFG_PROBE_UINT3, 1);
		stderr_restore(saved);
	}
	json_object_object_add(o, "probes", probes);
	add_str(o, "nmi_path", "user-mode upcall (guest kernel mode never executes a site)");

	add_str(tools, "qemu",
		run_cmd("qemu-system-x86_64 --version 2>/dev/null", line, sizeof(line)) == 0 ?
			line :
			"not installed");
	add_str(tools, "libvirt",
		run_cmd("virsh --version 2>/dev/null", line, sizeof(line)) == 0 ? line :
										  "not installed");
#ifdef HVP_HAVE_LIBVIRT
	{
		char cg[1024];

		libvirt_cgroups(cg, sizeof(cg));
		add_str(tools, "libvirt_cgroups", cg);
	}
#endif
	add_str(tools, "bpf", bpf_state());
	add_str(tools, "tracefs_kvm_events",
		access("/sys/kernel/tracing/events/kvm", F_OK) == 0 ?
			"mounted" :
		access("/sys/kernel/tracing", F_OK) == 0 ?
			"mountable (mount -t tracefs nodev /sys/kernel/tracing)" :
			"absent");
	json_object_object_add(o, "tools", tools);
	*out = o;
	return 0;
}
