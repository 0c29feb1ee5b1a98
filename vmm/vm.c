// SPDX-License-Identifier: GPL-2.0-only
/*
 * A VM's patch service: load the guest image, boot it on a backend, wait for
 * the agent, then answer control-socket requests until `vm stop`.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "backends.h"
#include "ctlsrv.h"
#include "elf.h"
#include "hvp_ctl.h"
#include "journal.h"
#include "patch.h"
#include "service.h"
#include "util.h"
#include "vm.h"
#include "vmstate.h"

#define BOOT_TIMEOUT_MS 30000

static void svc_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void svc_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
}

/* ---- backend events (called from vCPU threads) ---- */

static void ev_serial(void *ctx, const char *buf, unsigned len)
{
	struct hvp_service *s = ctx;

	if (s->console_fd >= 0 && write(s->console_fd, buf, len) < 0) {
		/* the console is best effort; the guest must not stall on it */
	}
}

static void ev_ready(void *ctx)
{
	struct hvp_service *s = ctx;

	pthread_mutex_lock(&s->lock);
	s->guest_ready = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

static void ev_fault(void *ctx, unsigned vcpu)
{
	struct hvp_service *s = ctx;
	struct hvp_vcpu snap;
	struct hvp_fault *f;
	unsigned slot;
	uint64_t seq = __atomic_load_n(&s->patch_seq, __ATOMIC_RELAXED);

	if (vcpu >= HVP_MAX_VCPUS)
		return;
	memcpy(&snap, &s->agent->vcpu[vcpu], sizeof(snap));
	slot = (unsigned)((snap.nr_faults ? snap.nr_faults - 1 : 0) % HVP_FAULT_LOG);
	f = &snap.faults[slot];
	svc_log("vcpu %u: guest fault: vector %u (%s) at rip 0x%llx cpl %u error 0x%llx, patch_seq %llu",
		vcpu, f->vector, hvp_vector_name(f->vector), (unsigned long long)f->rip, f->cs & 3,
		(unsigned long long)f->error_code, (unsigned long long)seq);
	pthread_mutex_lock(&s->lock);
	s->fault_patch_seq[vcpu][slot] = seq;
	s->faults_seen++;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

static void ev_vcpu_dead(void *ctx, unsigned vcpu, const char *why)
{
	struct hvp_service *s = ctx;

	svc_log("vcpu %u stopped: %s", vcpu, why);
	pthread_mutex_lock(&s->lock);
	if (!s->dead_reason[0])
		snprintf(s->dead_reason, sizeof(s->dead_reason), "vcpu %u: %s", vcpu, why);
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

/* ---- boot ---- */

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

static int find_text(const struct hvp_elf *elf, uint64_t *lo, uint64_t *hi)
{
	const struct hvp_elf_seg *seg = hvp_elf_text_seg(elf);

	if (!seg)
		return -ENOENT;
	*lo = seg->paddr;
	*hi = seg->paddr + seg->memsz;
	return 0;
}

/* Resolve the comma list of key names into a mask over the agent's keys. */
static int resolve_keys(struct hvp_service *s, const char *list, uint32_t *mask, char *err,
			size_t errlen)
{
	char buf[sizeof(s->opts.keys)], *save = NULL, *tok;
	unsigned i;

	*mask = 0;
	if (!list[0]) {
		*mask = (1u << s->nr_keys) - 1;
		return 0;
	}
	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		const struct hvp_key_info *k = hvp_service_key(s, tok);

		if (!k) {
			int n = snprintf(err, errlen, "unknown key '%s' (keys:", tok);

			for (i = 0; i < s->nr_keys && n > 0 && (size_t)n < errlen; i++)
				n += snprintf(err + n, errlen - (size_t)n, " %s", s->keys[i].name);
			if (n > 0 && (size_t)n < errlen)
				snprintf(err + n, errlen - (size_t)n, ")");
			return -ENOENT;
		}
		*mask |= 1u << k->index;
	}
	return 0;
}

static int wait_ready(struct hvp_service *s, char *err, size_t errlen)
{
	struct timespec ts;
	int r = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += BOOT_TIMEOUT_MS / 1000;
	pthread_mutex_lock(&s->lock);
	/*
	 * A fault before ready fails the boot, except the one --fault-test
	 * asked for: that vCPU may reach it before vCPU 0's ready exit lands.
	 */
	while (!s->guest_ready && !s->dead_reason[0] && (!s->faults_seen || s->opts.fault_test) &&
	       r != ETIMEDOUT)
		r = pthread_cond_timedwait(&s->cond, &s->lock, &ts);
	if (s->dead_reason[0])
		snprintf(err, errlen, "guest died while booting: %s", s->dead_reason);
	else if (s->faults_seen && !s->guest_ready && !s->opts.fault_test)
		snprintf(err, errlen, "guest faulted while booting (see the service log)");
	else if (!s->guest_ready)
		snprintf(err, errlen, "guest agent not ready after %d s", BOOT_TIMEOUT_MS / 1000);
	r = s->guest_ready ? 0 : -EIO;
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* Every validated site, sorted: the only bytes of text a patch may change. */
static int collect_sites(struct hvp_service *s)
{
	unsigned i, n = 0;

	for (i = 0; i < s->nr_keys; i++)
		n += s->keys[i].nr_sites;
	s->all_sites = calloc(n ? n : 1, sizeof(uint64_t));
	if (!s->all_sites)
		return -ENOMEM;
	for (i = 0, n = 0; i < s->nr_keys; i++) {
		memcpy(s->all_sites + n, s->keys[i].sites, sizeof(uint64_t) * s->keys[i].nr_sites);
		n += s->keys[i].nr_sites;
	}
	qsort(s->all_sites, n, sizeof(uint64_t), hvp_cmp_u64);
	s->nr_all_sites = n;
	/* the kick rule's list of possible int3s, and its witness (vmm/kvm.c) */
	s->be->nr_trap_sites = n;
	s->be->agent = s->agent;
	__atomic_store_n(&s->be->trap_sites, s->all_sites, __ATOMIC_RELEASE);
	return 0;
}

static int recover(struct hvp_service *s, char *err, size_t errlen);

int hvp_service_boot(struct hvp_service *s, char *err, size_t errlen)
{
	const struct hvp_vm_opts *o = &s->opts;
	struct hvp_backend_events ev = {
		.ctx = s,
		.serial = ev_serial,
		.ready = ev_ready,
		.fault = ev_fault,
		.vcpu_dead = ev_vcpu_dead,
	};
	struct hvp_backend_args args;
	struct hvp_agent_config *cfg;
	const struct hvp_key_info *nk = NULL;
	uint64_t agent_gpa, agent_size;
	uint32_t mask;
	int r;

	r = hvp_elf_load_file(&s->elf, o->image, err, errlen);
	if (r < 0)
		return r;
	if (hvp_elf_symbol(&s->elf, "hvp_agent", &agent_gpa, &agent_size) < 0) {
		snprintf(err, errlen, "%s: no hvp_agent symbol (not an hvpatch guest image)",
			 o->image);
		return -EINVAL;
	}
	if (find_text(&s->elf, &s->bounds.text_start, &s->bounds.text_end) < 0) {
		snprintf(err, errlen, "%s: no executable segment", o->image);
		return -EINVAL;
	}
	if (!s->elf.pvh_entry) {
		snprintf(err, errlen, "%s: no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)", o->image);
		return -EINVAL;
	}
	s->bounds.ram_size = (uint64_t)o->mem_mib << 20;
	s->bounds.agent_gpa = agent_gpa;

	if (!s->kind) {
		char list[64];

		snprintf(err, errlen, "unknown backend '%s' (%s)", o->backend,
			 hvp_backend_kind_list(list, sizeof(list), " or "));
		return -ENOTSUP;
	}
	args = (struct hvp_backend_args){
		.name = o->name,
		.rundir = o->rundir,
		.image = o->image,
		.uri = o->uri,
		.nr_vcpus = o->vcpus,
		.mem_mib = o->mem_mib,
		.entry32 = s->elf.pvh_entry,
		.agent_gpa = agent_gpa,
		.attach = o->attach,
		.guest_debug_sw_bp = o->guest_debug_sw_bp,
	};
	r = s->kind->create(&args, &ev, &s->be, err, errlen);
	if (r < 0)
		return r;
	/* The others (QEMU: -kernel) load the image themselves; we only check it. */
	if (s->kind->loads_image) {
		r = hvp_elf_load_into(&s->elf, s->be->ram, s->be->ram_size, err, errlen);
		if (r < 0)
			return r;
	}
	r = hvp_agent_check_header(s->be->ram, &s->bounds, err, errlen);
	if (r < 0)
		return r;
	s->agent = (struct hvp_agent *)(s->be->ram + agent_gpa);
	cfg = &s->agent->config;

	if (o->attach) {
		/* The guest runs already, configured by the service that died:
		 * nothing is written, the workload keys are the ones it runs. */
		r = s->be->ops->start(s->be);
		if (r < 0) {
			snprintf(err, errlen, "cannot watch the VM: %s", strerror(-r));
			return r;
		}
		r = wait_ready(s, err, errlen);
		if (r < 0)
			return r;
		r = recover(s, err, errlen);
		if (r < 0)
			return r;
		r = hvp_agent_read_keys(s->be->ram, &s->bounds, &s->keys, &s->nr_keys, err, errlen);
		if (r < 0)
			return r;
		s->key_mask = __atomic_load_n(&cfg->key_mask, __ATOMIC_ACQUIRE) &
			      ((1u << s->nr_keys) - 1);
		return 0;
	}

	/* Config goes in before any vCPU runs; keys are chosen after boot,
	 * once the agent has told us their names. */
	cfg->nr_vcpus = o->vcpus;
	cfg->key_mask = 0;
	cfg->rate = o->rate;
	cfg->tsc_khz = s->be->tsc_khz;
	cfg->ram_size = s->bounds.ram_size;
	cfg->flags = (o->fault_test ? HVP_CFG_FAULT_TEST : 0) | o->probe_flags;
	/* QEMU enters only vCPU 0 at the PVH entry; the agent starts the rest. */
	if (s->kind->external)
		cfg->flags |= HVP_CFG_START_APS;
	cfg->fault_vcpu = o->fault_vcpu;
	cfg->nmi_mode = HVP_NMI_NONE;
	cfg->hostile = o->hostile;

	r = s->be->ops->start(s->be);
	if (r < 0) {
		snprintf(err, errlen, "cannot start vCPU threads: %s", strerror(-r));
		return r;
	}
	r = wait_ready(s, err, errlen);
	if (r < 0)
		return r;
	r = hvp_agent_read_keys(s->be->ram, &s->bounds, &s->keys, &s->nr_keys, err, errlen);
	if (r < 0)
		return r;
	s->tables_hash = hvp_service_tables_hash(s);
	r = collect_sites(s);
	if (r < 0) {
		snprintf(err, errlen, "out of memory");
		return r;
	}
	r = resolve_keys(s, o->keys, &mask, err, errlen);
	if (r < 0)
		return r;
	if (o->nmi_key[0]) {
		nk = hvp_service_key(s, o->nmi_key);
		if (!nk) {
			snprintf(err, errlen, "unknown --nmi-key '%s'", o->nmi_key);
			return -ENOENT;
		}
	}
	__atomic_store_n(&cfg->key_mask, mask, __ATOMIC_RELEASE);
	s->key_mask = mask;
	if (o->nmi_rate || nk) {
		r = hvp_service_set_nmi(s, o->nmi_rate, nk);
		if (r < 0) {
			snprintf(err, errlen, "cannot start the NMI thread");
			return r;
		}
	}
	return 0;
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
		svc_log("state file: %s", err);
}

/*
 * A journal with a begin and no end: the previous service died mid-patch.
 * Finish it from the journal alone (roll forward to the new instruction of
 * every journaled site) before the key tables are read and checked - a site
 * may hold an int3 now - and before anyone else may patch.
 */
static int recover(struct hvp_service *s, char *err, size_t errlen)
{
	struct hvp_patch_ctx ctx = { .be = s->be, .agent = s->agent };
	struct hvp_journal_patch jp;
	char jpath[PATH_MAX];
	unsigned fixed, i;
	bool recovered = false;
	int r;

	if (hvp_vm_path(jpath, sizeof(jpath), s->opts.rundir, s->opts.name, ".journal") < 0)
		return -ENAMETOOLONG;
	r = hvp_journal_pending(jpath, &jp);
	if (r < 0) {
		snprintf(err, errlen, "journal %s unreadable: %s", jpath, strerror(-r));
		return r;
	}
	if (r == 0)
		goto open;
	for (i = 0; i < jp.nr_sites; i++)
		if (jp.addr[i] < s->bounds.text_start ||
		    jp.addr[i] + HVP_INSN_LEN > s->bounds.text_end) {
			snprintf(err, errlen, "journaled site 0x%llx outside the image's text",
				 (unsigned long long)jp.addr[i]);
			hvp_journal_patch_free(&jp);
			return -EINVAL;
		}
	svc_log("journal: an interrupted %s patch of %s to %s (%u sites): finishing it", jp.method,
		jp.key, jp.target, jp.nr_sites);
	r = hvp_patch_recover(&ctx, jp.addr, (const uint8_t(*)[HVP_INSN_LEN])jp.new_insn,
			      jp.nr_sites, &fixed, err, errlen);
	if (r == 0)
		svc_log("journal: recovered, %u of %u sites needed writing", fixed, jp.nr_sites);
	recovered = r == 0;
	hvp_journal_patch_free(&jp);
	if (r < 0)
		return r;
open:
	r = hvp_journal_open(&s->journal, jpath, err, errlen);
	if (r < 0)
		return r;
	s->journaled = true;
	if (recovered) {
		unsigned kill_at = s->journal.kill_at, fail_at = s->journal.fail_at;

		/* the test hooks count patch steps */
		s->journal.kill_at = s->journal.fail_at = 0;
		hvp_journal_add(&s->journal, "end recovered");
		s->journal.kill_at = kill_at;
		s->journal.fail_at = fail_at;
		s->journal.records = 0;
	}
	hvp_journal_reset(&s->journal);
	return 0;
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
		svc_log("console: %s", err);
		ready_line(&ready_fd, "error: console: %s", err);
		goto out;
	}
	svc_log("hvpatch service for VM %s: %u vCPUs, %u MiB, image %s", opts->name, opts->vcpus,
		opts->mem_mib, opts->image);
	if (opts->hostile && opts->hostile < HVP_HOSTILE__COUNT)
		svc_log("test: the guest agent is hostile (%s)", hvp_hostile_names[opts->hostile]);

	r = hvp_service_boot(s, err, sizeof(err));
	if (r < 0) {
		svc_log("boot failed: %s", err);
		ready_line(&ready_fd, "error: %s", err);
		goto out;
	}
	if (s->kind->external) {
		char jpath[PATH_MAX];

		/* A fresh VM: an old journal of that name belongs to another. */
		if (!opts->attach &&
		    hvp_vm_path(jpath, sizeof(jpath), opts->rundir, opts->name, ".journal") == 0)
			unlink(jpath);
		if (!s->journaled && recover(s, err, sizeof(err)) < 0) {
			svc_log("journal: %s", err);
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
		svc_log("control socket: %s", err);
		ready_line(&ready_fd, "error: control socket: %s", err);
		goto out;
	}
	if (write_pidfile(s, err, sizeof(err)) < 0) {
		svc_log("pid file: %s", err);
		ready_line(&ready_fd, "error: pid file: %s", err);
		goto out;
	}
	svc_log("VM %s ready: %u keys, socket %s", opts->name, s->nr_keys, s->sock_path);
	ready_line(&ready_fd, "ok");

	pthread_mutex_lock(&s->lock);
	while (!s->stopping)
		pthread_cond_wait(&s->cond, &s->lock);
	pthread_mutex_unlock(&s->lock);
	svc_log("VM %s stopping", opts->name);
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
