// SPDX-License-Identifier: GPL-2.0-only
/*
 * A VM's patch service as an object (new, boot, free, the NMI storm, what
 * the bench and doctor read), and its control-socket requests: info,
 * sites, stats, patch, stop.  Handlers run on the control server's client threads, concurrently.
 * Everything read from the agent area is guest-written: counters are only
 * reported, addresses are only ever formatted, never followed.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hvp_ctl.h"
#include "methods.h"
#include "patch.h"
#include "service-int.h"
#include "service.h"
#include "util.h"

/* ---- the service object ---- */

struct hvp_service *hvp_service_new(const struct hvp_vm_opts *opts)
{
	struct hvp_service *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->opts = *opts;
	s->kind = hvp_backend_kind_by_name(opts->backend);
	s->console_fd = -1;
	s->start_ns = hvp_now_ns();
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->patch_lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	return s;
}

unsigned hvp_service_probe_result(struct hvp_service *s, char *dead, size_t len, int *first_vector)
{
	unsigned faults;

	pthread_mutex_lock(&s->lock);
	faults = s->faults_seen;
	snprintf(dead, len, "%s", s->dead_reason);
	*first_vector = faults && s->agent && s->agent->vcpu[0].nr_faults ?
				(int)s->agent->vcpu[0].faults[0].vector :
				-1;
	pthread_mutex_unlock(&s->lock);
	return faults;
}

void hvp_service_free(struct hvp_service *s)
{
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	if (s->nmi_started)
		pthread_join(s->nmi_tid, NULL);
	if (s->be)
		s->be->ops->destroy(s->be);
	hvp_agent_keys_free(s->keys, s->nr_keys);
	free(s->all_sites);
	hvp_elf_free(&s->elf);
	if (s->console_fd >= 0)
		close(s->console_fd);
	if (s->journaled)
		hvp_journal_close(&s->journal);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->patch_lock);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

struct hvp_backend *hvp_service_backend(const struct hvp_service *s)
{
	return s->be;
}

struct hvp_agent *hvp_service_agent(const struct hvp_service *s)
{
	return s->agent;
}

const struct hvp_key_info *hvp_service_keys(const struct hvp_service *s, unsigned *nr)
{
	*nr = s->nr_keys;
	return s->keys;
}

/* ---- NMI storm: --nmi-rate, changeable at run time (bench) ---- */

static void *nmi_thread(void *arg)
{
	struct hvp_service *s = arg;
	struct timespec next;
	unsigned i;

	clock_gettime(CLOCK_MONOTONIC, &next);
	pthread_mutex_lock(&s->lock);
	while (!s->stopping) {
		uint64_t hz = s->nmi_hz, period_ns;

		if (!hz) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&s->cond, &s->lock, &ts);
			clock_gettime(CLOCK_MONOTONIC, &next);
			continue;
		}
		pthread_mutex_unlock(&s->lock);
		for (i = 0; i < s->be->nr_vcpus; i++)
			s->be->ops->inject_nmi(s->be, i);
		__atomic_add_fetch(&s->nmis_sent, s->be->nr_vcpus, __ATOMIC_RELAXED);
		period_ns = 1000000000ull / hz;
		next.tv_nsec += (long)period_ns;
		while (next.tv_nsec >= 1000000000L) {
			next.tv_nsec -= 1000000000L;
			next.tv_sec++;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

int hvp_service_set_nmi(struct hvp_service *s, uint64_t hz, const struct hvp_key_info *key)
{
	struct hvp_agent_config *cfg = &s->agent->config;

	if (key) {
		__atomic_store_n(&cfg->nmi_key, key->index, __ATOMIC_RELAXED);
		__atomic_store_n(&cfg->nmi_mode, HVP_NMI_UPCALL, __ATOMIC_RELEASE);
	} else {
		__atomic_store_n(&cfg->nmi_mode, HVP_NMI_NONE, __ATOMIC_RELEASE);
	}
	pthread_mutex_lock(&s->lock);
	s->nmi_hz = hz;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	if (hz && !s->nmi_started) {
		if (pthread_create(&s->nmi_tid, NULL, nmi_thread, s))
			return -EAGAIN;
		s->nmi_started = true;
	}
	return 0;
}

/* ---- control-socket requests ---- */

const struct hvp_key_info *hvp_service_key(const struct hvp_service *s, const char *name)
{
	unsigned i;

	for (i = 0; i < s->nr_keys; i++)
		if (!strcmp(s->keys[i].name, name))
			return &s->keys[i];
	return NULL;
}

const char *hvp_vector_name(unsigned vector)
{
	static const char *const names[] = {
		"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "-",   "#TS",
		"#NP", "#SS", "#GP", "#PF", "-",   "#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
	};

	return vector < HVP_ARRAY_SIZE(names) ? names[vector] : "?";
}

static json_object *hex(uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "0x%" PRIx64, v);
	return json_object_new_string(buf);
}

static uint64_t ticks_to_ns(const struct hvp_service *s, uint64_t ticks)
{
	uint64_t khz = s->be->tsc_khz ? s->be->tsc_khz : 1000000;

	return (uint64_t)((unsigned __int128)ticks * 1000000u / khz);
}

/* The current destination of a site, read from guest RAM now. */
static const char *site_target(const struct hvp_service *s, const struct hvp_key_info *k,
			       uint64_t addr, uint8_t insn[HVP_INSN_LEN])
{
	uint64_t dest;
	int t;

	memcpy(insn, s->be->ram + addr, HVP_INSN_LEN);
	if (hvp_agent_decode(insn, addr, k->opcode, &dest) < 0)
		return NULL;
	t = hvp_key_target_index(k, dest);
	return t < 0 ? NULL : k->target_names[t];
}

static json_object *do_info(struct hvp_service *s)
{
	json_object *o = json_object_new_object(), *keys = json_object_new_array();
	unsigned i;

	json_object_object_add(o, "name", json_object_new_string(s->opts.name));
	json_object_object_add(o, "backend", json_object_new_string(s->be->ops->name));
	json_object_object_add(o, "pid", json_object_new_int64(getpid()));
	json_object_object_add(o, "vcpus", json_object_new_int(s->opts.vcpus));
	json_object_object_add(o, "mem_mib", json_object_new_int(s->opts.mem_mib));
	json_object_object_add(o, "socket", json_object_new_string(s->sock_path));
	if (s->be->ram_path)
		json_object_object_add(o, "ram_path", json_object_new_string(s->be->ram_path));
	if (s->opts.uri[0])
		json_object_object_add(o, "uri", json_object_new_string(s->opts.uri));
	{
		char path[PATH_MAX];

		if (hvp_vm_path(path, sizeof(path), s->opts.rundir, s->opts.name, ".console") == 0)
			json_object_object_add(o, "console", json_object_new_string(path));
		if (hvp_vm_path(path, sizeof(path), s->opts.rundir, s->opts.name, ".log") == 0)
			json_object_object_add(o, "log", json_object_new_string(path));
	}
	pthread_mutex_lock(&s->lock);
	json_object_object_add(o, "state",
			       json_object_new_string(s->dead_reason[0] ? "degraded" : "running"));
	if (s->dead_reason[0])
		json_object_object_add(o, "problem", json_object_new_string(s->dead_reason));
	pthread_mutex_unlock(&s->lock);
	json_object_object_add(o, "uptime_s",
			       json_object_new_double((double)(hvp_now_ns() - s->start_ns) / 1e9));
	json_object_object_add(o, "image", json_object_new_string(s->opts.image));
	for (i = 0; i < s->nr_keys; i++)
		if (s->key_mask & (1u << i))
			json_object_array_add(keys, json_object_new_string(s->keys[i].name));
	json_object_object_add(o, "workload_keys", keys);
	json_object_object_add(o, "rate",
			       s->opts.rate ? json_object_new_int64((int64_t)s->opts.rate) :
					      json_object_new_string("max"));
	json_object_object_add(o, "nmi_rate", json_object_new_int64((int64_t)s->opts.nmi_rate));
	json_object_object_add(o, "tsc_khz", json_object_new_int64((int64_t)s->be->tsc_khz));
	return hvp_ctl_ok_new(o);
}

static uint64_t fnv1a(uint64_t h, const volatile uint8_t *p, size_t len)
{
	while (len--) {
		h ^= *p++;
		h *= 0x100000001b3ull;
	}
	return h;
}

uint64_t hvp_service_tables_hash(const struct hvp_service *s)
{
	const volatile uint8_t *a = (const volatile uint8_t *)s->agent;
	uint64_t h = 0xcbf29ce484222325ull;

	h = fnv1a(h, a, offsetof(struct hvp_agent, reserved_hdr));
	h = fnv1a(h, a + offsetof(struct hvp_agent, keys),
		  offsetof(struct hvp_agent, patch) - offsetof(struct hvp_agent, keys));
	return h;
}

/*
 * Compare the image's text in guest RAM with the ELF file, outside the
 * validated sites: the witness that no patch ever wrote anywhere else (a
 * guest that rewrites its own text shows up here too).
 */
static json_object *text_check(const struct hvp_service *s)
{
	json_object *o = json_object_new_object();
	uint64_t changed = 0, first = 0, len = 0, lo = 0, a;
	const struct hvp_elf_seg *seg = hvp_elf_text_seg(&s->elf);
	unsigned j = 0;

	/* hvp_elf_load_into() checked that the segment fits in RAM and the file */
	if (seg) {
		lo = seg->paddr;
		len = seg->filesz;
	}
	for (a = lo; a < lo + len; a++) {
		while (j < s->nr_all_sites && s->all_sites[j] + HVP_INSN_LEN <= a)
			j++;
		if (j < s->nr_all_sites && a >= s->all_sites[j])
			continue; /* inside a site */
		if (__atomic_load_n(&s->be->ram[a], __ATOMIC_RELAXED) !=
		    s->elf.data[seg->offset + (a - lo)]) {
			if (!changed++)
				first = a;
		}
	}
	json_object_object_add(o, "start", hex(lo));
	json_object_object_add(o, "bytes", json_object_new_int64((int64_t)len));
	json_object_object_add(o, "site_bytes",
			       json_object_new_int64((int64_t)s->nr_all_sites * HVP_INSN_LEN));
	json_object_object_add(o, "changed_outside_sites", json_object_new_int64((int64_t)changed));
	json_object_object_add(o, "first_changed", changed ? hex(first) : NULL);
	return o;
}

static json_object *do_sites(struct hvp_service *s, json_object *args)
{
	json_object *o = json_object_new_object(), *keys = json_object_new_array();
	json_object *jk;
	const char *only = NULL;
	unsigned i, j, t;

	if (json_object_object_get_ex(args, "key", &jk))
		only = json_object_get_string(jk);
	if (only && !hvp_service_key(s, only)) {
		json_object_put(o);
		json_object_put(keys);
		return hvp_ctl_error_new(HVP_ERR_NOT_FOUND, "no key named '%s'", only);
	}
	for (i = 0; i < s->nr_keys; i++) {
		const struct hvp_key_info *k = &s->keys[i];
		json_object *jo = json_object_new_object(), *tg = json_object_new_array();
		json_object *sites = json_object_new_array();
		const char *current = NULL;
		bool mixed = false;

		if (only && strcmp(only, k->name)) {
			json_object_put(jo);
			json_object_put(tg);
			json_object_put(sites);
			continue;
		}
		json_object_object_add(jo, "name", json_object_new_string(k->name));
		json_object_object_add(jo, "kind",
				       json_object_new_string(k->kind == HVP_KEY_INLINE ?
								      "inline" :
								      "trampoline"));
		for (t = 0; t < k->nr_targets; t++)
			json_object_array_add(tg, json_object_new_string(k->target_names[t]));
		json_object_object_add(jo, "targets", tg);
		for (j = 0; j < k->nr_sites; j++) {
			json_object *js = json_object_new_object();
			uint8_t insn[HVP_INSN_LEN];
			const char *tn = site_target(s, k, k->sites[j], insn);
			char bytes[16];

			snprintf(bytes, sizeof(bytes), "%02x%02x%02x%02x%02x", insn[0], insn[1],
				 insn[2], insn[3], insn[4]);
			json_object_object_add(js, "addr", hex(k->sites[j]));
			json_object_object_add(js, "target",
					       tn ? json_object_new_string(tn) : NULL);
			json_object_object_add(js, "bytes", json_object_new_string(bytes));
			json_object_array_add(sites, js);
			if (!tn || (current && strcmp(current, tn)))
				mixed = true;
			if (!current)
				current = tn;
		}
		json_object_object_add(jo, "current",
				       mixed || !current ? NULL : json_object_new_string(current));
		json_object_object_add(jo, "nr_sites", json_object_new_int((int)k->nr_sites));
		json_object_object_add(jo, "sites", sites);
		json_object_array_add(keys, jo);
	}
	json_object_object_add(o, "keys", keys);
	json_object_object_add(o, "text", text_check(s));
	/* the guest's tables are never used after boot; say if it changed them */
	json_object_object_add(o, "agent_tables_changed",
			       json_object_new_boolean(hvp_service_tables_hash(s) !=
						       s->tables_hash));
	return hvp_ctl_ok_new(o);
}

static const char *vcpu_state_name(uint32_t st)
{
	switch (st) {
	case HVP_VCPU_OFFLINE:
		return "offline";
	case HVP_VCPU_RUNNING:
		return "running";
	case HVP_VCPU_DEAD:
		return "dead";
	default:
		return "invalid";
	}
}

static json_object *vcpu_stats(struct hvp_service *s, unsigned id)
{
	json_object *o = json_object_new_object(), *calls = json_object_new_object();
	json_object *iters = json_object_new_object(), *faults = json_object_new_array();
	json_object *hist = json_object_new_array();
	struct hvp_vcpu_exits ex;
	struct hvp_vcpu v;
	uint64_t nf, n, total = 0;
	unsigned k, t, b;

	memcpy(&v, &s->agent->vcpu[id], sizeof(v)); /* one snapshot, then trust nothing */
	json_object_object_add(o, "id", json_object_new_int((int)id));
	json_object_object_add(o, "state",
			       json_object_new_string(!s->be->ops->vcpu_alive(s->be, id) &&
								      v.state == HVP_VCPU_RUNNING ?
							      "stopped" :
							      vcpu_state_name(v.state)));
	json_object_object_add(o, "loops", json_object_new_int64((int64_t)v.loops));
	for (k = 0; k < s->nr_keys && k < HVP_MAX_KEYS; k++) {
		const struct hvp_key_info *key = &s->keys[k];

		json_object_object_add(iters, key->name,
				       json_object_new_int64((int64_t)v.iters[k]));
		for (t = 0; t < key->nr_targets; t++) {
			json_object_object_add(calls, key->target_names[t],
					       json_object_new_int64((int64_t)v.calls[k][t]));
			total += v.calls[k][t];
		}
	}
	json_object_object_add(o, "calls", calls);
	json_object_object_add(o, "total_calls", json_object_new_int64((int64_t)total));
	json_object_object_add(o, "iters", iters);
	json_object_object_add(o, "bp_traps", json_object_new_int64((int64_t)v.bp_traps));
	json_object_object_add(o, "bp_emulated", json_object_new_int64((int64_t)v.bp_emulated));
	json_object_object_add(o, "bp_cancels", json_object_new_int64((int64_t)v.bp_cancels));
	json_object_object_add(o, "bp_state2_waits",
			       json_object_new_int64((int64_t)v.bp_state2_waits));
	/* its name before agent ABI 4, kept so that readers of the old key work */
	json_object_object_add(o, "bp_completes",
			       json_object_new_int64((int64_t)v.bp_state2_waits));
	json_object_object_add(o, "bp_reexec", json_object_new_int64((int64_t)v.bp_reexec));
	json_object_object_add(o, "bp_late", json_object_new_int64((int64_t)v.bp_late));
	json_object_object_add(o, "nmi_bp_inflight",
			       json_object_new_int64((int64_t)v.nmi_bp_inflight));
	json_object_object_add(o, "nmis", json_object_new_int64((int64_t)v.nmis));
	json_object_object_add(o, "nmi_upcalls", json_object_new_int64((int64_t)v.nmi_upcalls));
	nf = v.nr_faults;
	json_object_object_add(o, "nr_faults", json_object_new_int64((int64_t)nf));
	n = nf < HVP_FAULT_LOG ? nf : HVP_FAULT_LOG;
	for (; n; n--) {
		const struct hvp_fault *f = &v.faults[(nf - n) % HVP_FAULT_LOG];
		json_object *jf = json_object_new_object();

		json_object_object_add(jf, "vector", json_object_new_int((int)f->vector));
		json_object_object_add(jf, "name",
				       json_object_new_string(hvp_vector_name(f->vector)));
		json_object_object_add(jf, "rip", hex(f->rip));
		json_object_object_add(jf, "cs", hex(f->cs));
		json_object_object_add(jf, "cpl", json_object_new_int((int)(f->cs & 3)));
		json_object_object_add(jf, "error_code", hex(f->error_code));
		json_object_object_add(jf, "cr2", hex(f->cr2));
		pthread_mutex_lock(&s->lock);
		json_object_object_add(jf, "patch_seq",
				       json_object_new_int64(
					       (int64_t)s->fault_patch_seq[id][(nf - n) %
									       HVP_FAULT_LOG]));
		pthread_mutex_unlock(&s->lock);
		json_object_array_add(faults, jf);
	}
	json_object_object_add(o, "faults", faults);
	json_object_object_add(o, "max_gap_ns",
			       json_object_new_int64((int64_t)ticks_to_ns(s, v.max_gap)));
	for (b = 0; b < HVP_HIST_BUCKETS; b++) {
		json_object *jb;

		if (!v.gap_hist[b])
			continue;
		jb = json_object_new_object();
		json_object_object_add(jb, "ge_ns",
				       json_object_new_int64(
					       (int64_t)ticks_to_ns(s, b ? 1ull << b : 0)));
		json_object_object_add(jb, "count", json_object_new_int64((int64_t)v.gap_hist[b]));
		json_object_array_add(hist, jb);
	}
	json_object_object_add(o, "gap_hist", hist);
	if (s->be->ops->get_exits(s->be, id, &ex) == 0) {
		json_object *je = json_object_new_object();

		json_object_object_add(je, "exits", json_object_new_int64((int64_t)ex.exits));
		json_object_object_add(je, "io_exits", json_object_new_int64((int64_t)ex.io_exits));
		json_object_object_add(je, "kicks", json_object_new_int64((int64_t)ex.kicks));
		json_object_object_add(je, "nmis_injected",
				       json_object_new_int64((int64_t)ex.nmis_injected));
		json_object_object_add(je, "nmi_acks", json_object_new_int64((int64_t)ex.nmi_acks));
		json_object_object_add(je, "kick_bp_inflight",
				       json_object_new_int64((int64_t)ex.kick_bp_inflight));
		json_object_object_add(je, "kick_guest_acks",
				       json_object_new_int64((int64_t)ex.kick_guest_acks));
		json_object_object_add(o, "vmm", je);
	}
	{
		struct hvp_kvm_witness w;

		if (s->be->ops->witness && s->be->ops->witness(s->be, id, &w) == 0) {
			json_object *jw = json_object_new_object();

			json_object_object_add(jw, "exits",
					       json_object_new_int64((int64_t)w.exits));
			json_object_object_add(jw, "io_exits",
					       json_object_new_int64((int64_t)w.io_exits));
			json_object_object_add(jw, "signal_exits",
					       json_object_new_int64((int64_t)w.signal_exits));
			json_object_object_add(jw, "nmi_injections",
					       json_object_new_int64((int64_t)w.nmi_injections));
			json_object_object_add(jw, "insn_emulation",
					       json_object_new_int64((int64_t)w.insn_emulation));
			json_object_object_add(o, "kvm_stats", jw);
		}
	}
	return o;
}

static json_object *do_stats(struct hvp_service *s)
{
	json_object *o = json_object_new_object(), *arr = json_object_new_array();
	unsigned i;

	json_object_object_add(o, "tsc_khz", json_object_new_int64((int64_t)s->be->tsc_khz));
	for (i = 0; i < s->be->nr_vcpus; i++)
		json_object_array_add(arr, vcpu_stats(s, i));
	json_object_object_add(o, "vcpus", arr);
	json_object_object_add(o, "nmis_sent", json_object_new_int64((int64_t)s->nmis_sent));
	return hvp_ctl_ok_new(o);
}

static json_object *do_stop(struct hvp_service *s)
{
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	return hvp_ctl_ok_new(NULL);
}

static const char *arg_str(json_object *args, const char *name)
{
	json_object *v;

	if (!json_object_object_get_ex(args, name, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* An integer argument in [lo, hi]; absent gives def; -1 when malformed. */
static int arg_int(json_object *args, const char *name, int64_t lo, int64_t hi, int64_t def,
		   int64_t *out)
{
	json_object *v;

	*out = def;
	if (!json_object_object_get_ex(args, name, &v))
		return 0;
	if (!json_object_is_type(v, json_type_int))
		return -1;
	*out = json_object_get_int64(v);
	return *out < lo || *out > hi ? -1 : 0;
}

/* When a patch held the patch lock, and its place in the VM's order. */
struct patch_slot {
	uint64_t seq, start_ns, end_ns;
};

/* hvp_patch_apply() with s->patch_lock held by the caller. */
static int apply_held(struct hvp_service *s, struct hvp_patch_ctx *ctx,
		      const struct hvp_patch_req *rq, struct hvp_patch_result *res,
		      struct patch_slot *slot)
{
	int r;

	/* atomic: ev_fault reads it from a vCPU thread */
	slot->seq = __atomic_add_fetch(&s->patch_seq, 1, __ATOMIC_RELAXED);
	slot->start_ns = hvp_now_ns();
	r = hvp_patch_apply(ctx, rq, res);
	slot->end_ns = hvp_now_ns();
	return r;
}

/* Each vCPU's longest workload gap, in vCPU order. */
static json_object *stall_json(const uint64_t *ns, unsigned n)
{
	json_object *a = json_object_new_array();
	unsigned i;

	for (i = 0; i < n && i < HVP_MAX_VCPUS; i++)
		json_object_array_add(a, json_object_new_int64((int64_t)ns[i]));
	return a;
}

/* A round and the vCPUs that held it (backend.h, struct hvp_round_info). */
json_object *hvp_round_json(const struct hvp_round_info *ri)
{
	json_object *o = json_object_new_object(), *a = json_object_new_array();
	unsigned i;

	json_object_object_add(o, "kind", json_object_new_string(ri->what));
	json_object_object_add(o, "ns", json_object_new_int64((int64_t)ri->ns));
	for (i = 0; i < ri->nr; i++) {
		const struct hvp_round_holder *h = &ri->hold[i];
		json_object *v = json_object_new_object();
		char rip[24], th[2] = { h->thread ? h->thread : '?', 0 };

		snprintf(rip, sizeof(rip), "0x%" PRIx64, h->rip);
		json_object_object_add(v, "vcpu", json_object_new_int((int)h->vcpu));
		json_object_object_add(v, "acked", json_object_new_boolean(h->acked));
		json_object_object_add(v, "wait_ns", json_object_new_int64((int64_t)h->wait_ns));
		json_object_object_add(v, "cpl", json_object_new_int(h->cpl));
		json_object_object_add(v, "rip", h->cpl >= 0 ? json_object_new_string(rip) : NULL);
		json_object_object_add(v, "in_handler", json_object_new_boolean(h->cpl == 0));
		json_object_object_add(v, "kicks_refused", json_object_new_int((int)h->refusals));
		json_object_object_add(v, "bp_in_flight", json_object_new_int((int)h->bp_inflight));
		json_object_object_add(v, "acked_by_handler",
				       json_object_new_boolean(h->handler_ack));
		json_object_object_add(v, "host_thread", json_object_new_string(th));
		json_object_array_add(a, v);
	}
	json_object_object_add(o, "held_by", a);
	/* the last acknowledgement to the waiter seeing it: the service
	 * thread's own wait for a core (host scheduling), not a vCPU's */
	if (ri->nr && ri->hold[0].acked)
		json_object_object_add(o, "waiter_late_ns",
				       json_object_new_int64(
					       (int64_t)(ri->ns - ri->hold[0].wait_ns)));
	return o;
}

static json_object *patch_result_json(const struct hvp_service *s, const struct hvp_patch_req *rq,
				      const struct hvp_patch_result *res,
				      const struct patch_slot *slot)
{
	json_object *o = json_object_new_object();
	const struct hvp_key_info *k = rq->key;

	json_object_object_add(o, "completed", json_object_new_boolean(res->completed));
	json_object_object_add(o, "method", json_object_new_string(hvp_methods[rq->method].name));
	json_object_object_add(o, "sync", json_object_new_string(hvp_sync_name(rq->sync)));
	json_object_object_add(o, "key", json_object_new_string(k->name));
	json_object_object_add(o, "target", json_object_new_string(k->target_names[rq->target]));
	json_object_object_add(o, "old_target",
			       json_object_new_string(k->target_names[res->old_target]));
	json_object_object_add(o, "sites", json_object_new_int((int)res->sites));
	json_object_object_add(o, "vcpus", json_object_new_int((int)s->be->nr_vcpus));
	json_object_object_add(o, "latency_ns", json_object_new_int64((int64_t)res->latency_ns));
	json_object_object_add(o, "paused_ns", json_object_new_int64((int64_t)res->paused_ns));
	json_object_object_add(o, "sync_rounds", json_object_new_int((int)res->sync_rounds));
	json_object_object_add(o, "retries", json_object_new_int((int)res->retries));
	json_object_object_add(o, "rollbacks", json_object_new_int((int)res->rollbacks));
	json_object_object_add(o, "reverted_sites", json_object_new_int((int)res->reverted));
	json_object_object_add(o, "bp_traps", json_object_new_int64((int64_t)res->bp_traps));
	json_object_object_add(o, "bp_emulated", json_object_new_int64((int64_t)res->bp_emulated));
	json_object_object_add(o, "bp_cancels", json_object_new_int64((int64_t)res->bp_cancels));
	json_object_object_add(o, "bp_state2_waits",
			       json_object_new_int64((int64_t)res->bp_state2_waits));
	/* its name before agent ABI 4, kept so that readers of the old key work */
	json_object_object_add(o, "bp_completes",
			       json_object_new_int64((int64_t)res->bp_state2_waits));
	json_object_object_add(o, "bp_reexec", json_object_new_int64((int64_t)res->bp_reexec));
	json_object_object_add(o, "bp_late", json_object_new_int64((int64_t)res->bp_late));
	json_object_object_add(o, "faults", json_object_new_int64((int64_t)res->faults));
	json_object_object_add(o, "max_stall_ns",
			       json_object_new_int64((int64_t)res->max_stall_ns));
	json_object_object_add(o, "max_stall_vcpu", json_object_new_int((int)res->max_stall_vcpu));
	json_object_object_add(o, "stall_ns_by_vcpu", stall_json(res->stall_ns, s->be->nr_vcpus));
	if (res->slowest.what)
		json_object_object_add(o, "slowest_round", hvp_round_json(&res->slowest));
	json_object_object_add(o, "control_sched",
			       json_object_new_string(res->boosted ? "fifo" : "default"));
	json_object_object_add(o, "nmi_path",
			       json_object_new_string(s->opts.nmi_key[0] ? "user-mode upcall" :
									   "none"));
	if (res->reason[0])
		json_object_object_add(o, "reason", json_object_new_string(res->reason));
	/* the patch lock's order: seq counts this VM's patches, the times are
	 * CLOCK_MONOTONIC while this one held the lock */
	json_object_object_add(o, "patch_seq", json_object_new_int64((int64_t)slot->seq));
	json_object_object_add(o, "locked_from_ns", json_object_new_int64((int64_t)slot->start_ns));
	json_object_object_add(o, "locked_until_ns", json_object_new_int64((int64_t)slot->end_ns));
	return o;
}

/*
 * Prove one switch from the guest's own counters, after a completed patch of
 * KEY from target OLD to NEW.  A call issued before the patch completed may
 * still be inside OLD's body, not yet counted (a sync round acks at any user
 * instruction), so first every live vCPU finishes the workload pass it was
 * in; from then on, over two more passes, NEW must gain calls on every vCPU
 * and OLD none.  1 (nothing proven, not counted) when the workload does not
 * call KEY; 0; or -1 with why.
 */
#define VERIFY_WAIT_MS 10000

/* Wait until every live vCPU has made `passes` passes past loops0[] and,
 * with `calls`, gained on calls[] past calls0[]. */
static int verify_wait(struct hvp_service *s, const uint64_t *loops0, uint64_t passes,
		       const uint64_t *calls0, unsigned key, unsigned target, char *why,
		       size_t whylen)
{
	struct hvp_vcpu *vc = s->agent->vcpu;
	unsigned v = 0, waited = 0;

	while (v < s->be->nr_vcpus) {
		if (!s->be->ops->vcpu_alive(s->be, v) ||
		    (__atomic_load_n(&vc[v].loops, __ATOMIC_ACQUIRE) >= loops0[v] + passes &&
		     (!calls0 ||
		      __atomic_load_n(&vc[v].calls[key][target], __ATOMIC_ACQUIRE) > calls0[v]))) {
			v++;
			continue;
		}
		if (waited >= VERIFY_WAIT_MS) {
			snprintf(why, whylen, "vCPU %u: no %s in %u ms after the patch", v,
				 calls0 ? "call to the new target" : "workload progress", waited);
			return -1;
		}
		usleep(1000);
		waited++;
	}
	return 0;
}

static int verify_switch(struct hvp_service *s, const struct hvp_key_info *k, unsigned old,
			 unsigned new, char *why, size_t whylen)
{
	uint64_t old0[HVP_MAX_VCPUS] = { 0 }, new0[HVP_MAX_VCPUS] = { 0 },
		 loops0[HVP_MAX_VCPUS] = { 0 };
	unsigned n = s->be->nr_vcpus, v;
	struct hvp_vcpu *vc = s->agent->vcpu;

	if (!(s->key_mask & (1u << k->index)))
		return 1;
	for (v = 0; v < n; v++)
		loops0[v] = __atomic_load_n(&vc[v].loops, __ATOMIC_ACQUIRE);
	if (verify_wait(s, loops0, 1, NULL, 0, 0, why, whylen) < 0)
		return -1;
	for (v = 0; v < n; v++) {
		old0[v] = __atomic_load_n(&vc[v].calls[k->index][old], __ATOMIC_ACQUIRE);
		new0[v] = __atomic_load_n(&vc[v].calls[k->index][new], __ATOMIC_ACQUIRE);
		loops0[v] = __atomic_load_n(&vc[v].loops, __ATOMIC_ACQUIRE);
	}
	if (verify_wait(s, loops0, 2, new0, k->index, new, why, whylen) < 0)
		return -1;
	for (v = 0; v < n; v++) {
		uint64_t now = __atomic_load_n(&vc[v].calls[k->index][old], __ATOMIC_ACQUIRE);

		if (now != old0[v]) {
			snprintf(why, whylen,
				 "vCPU %u: %s gained %" PRIu64 " calls after the patch", v,
				 k->target_names[old], now - old0[v]);
			return -1;
		}
	}
	return 0;
}

/*
 * One patch under the patch lock.  With `verify` (why non-NULL), a completed
 * patch that switched the key is proven while the lock is still held, so that
 * no other patch can switch it meanwhile: *verified is 1 when proven, 0 when
 * not (why says why: the proof failed, or no workload calls the key).
 */
static int locked_apply(struct hvp_service *s, struct hvp_patch_ctx *ctx,
			const struct hvp_patch_req *rq, struct hvp_patch_result *res,
			struct patch_slot *slot, int *verified, char *why, size_t whylen)
{
	int r;

	pthread_mutex_lock(&s->patch_lock);
	r = apply_held(s, ctx, rq, res, slot);
	*verified = -1;
	if (why && r == 0 && res->completed && res->old_target != rq->target) {
		int vr = verify_switch(s, rq->key, res->old_target, rq->target, why, whylen);

		if (vr == 1)
			snprintf(why, whylen, "no vCPU's workload calls %s: nothing to prove",
				 rq->key->name);
		*verified = vr == 0;
	}
	pthread_mutex_unlock(&s->patch_lock);
	return r;
}

/*
 * Between two patches of a soak, let the guest run: wait (up to
 * GUEST_RUN_WAIT_NS) until every live vCPU's workload loop has moved past
 * `since` (its count when the last patch ended).  On a loaded host the
 * service otherwise starts the next patch before the vCPU threads got a core:
 * a `stop` then finds them still parked from the last pause, and a run of
 * patches is tested against a guest that never ran (seen: 300 stop/nmi
 * patches with max_stall_ns 0).  Returns whether they all moved.
 */
#define GUEST_RUN_WAIT_NS 100000000ull

static bool guest_ran(struct hvp_service *s, const uint64_t *since)
{
	uint64_t deadline = hvp_now_ns() + GUEST_RUN_WAIT_NS;
	unsigned v, moved;

	for (;;) {
		for (v = 0, moved = 0; v < s->be->nr_vcpus && v < HVP_MAX_VCPUS; v++)
			moved += !s->be->ops->vcpu_alive(s->be, v) ||
				 __atomic_load_n(&s->agent->vcpu[v].loops, __ATOMIC_RELAXED) !=
					 since[v];
		if (moved == s->be->nr_vcpus || s->stopping)
			return moved == s->be->nr_vcpus;
		if (hvp_now_ns() >= deadline)
			return false;
		hvp_sleep_ns(50000);
	}
}

/*
 * A soak: `repeat` patches, alternating between the requested target and the
 * one the key called before (or its next target, when TARGET was current),
 * under the patch lock one at a time (other requests interleave between
 * them), the guest running between them (guest_ran).  Stops at the first
 * error.
 */
static json_object *do_patch_repeat(struct hvp_service *s, struct hvp_patch_req *rq,
				    uint64_t repeat, bool verify)
{
	uint64_t verified = 0, verify_failed = 0;
	char verify_why[256] = "";
	struct hvp_patch_ctx ctx = { .be = s->be,
				     .agent = s->agent,
				     .journal = s->journaled ? &s->journal : NULL,
				     .stop = &s->stopping };
	uint64_t i, completed = 0, faults = 0, rounds = 0, rollbacks = 0, traps = 0, late = 0;
	json_object *fault_seqs = json_object_new_array();
	uint64_t lat_sum = 0, lat_max = 0, stall_max = 0, t0 = hvp_now_ns();
	uint64_t stall_by_vcpu[HVP_MAX_VCPUS] = { 0 };
	struct hvp_round_info slowest = { 0 };
	unsigned v;
	uint64_t loops[HVP_MAX_VCPUS], idle = 0;
	unsigned targets[2] = { rq->target, rq->target };
	json_object *o;
	char reason[300] = "";
	int r = 0;

	for (i = 0; i < repeat; i++) {
		struct hvp_patch_result res;
		struct patch_slot slot;

		if (i > 0 && !guest_ran(s, loops))
			idle++;
		pthread_mutex_lock(&s->patch_lock);
		r = apply_held(s, &ctx, rq, &res, &slot);
		/* under the lock: no other patch may switch the key meanwhile */
		if (r == 0 && res.completed && verify && res.old_target != rq->target) {
			char why[200];

			int vr = verify_switch(s, rq->key, res.old_target, rq->target, why,
					       sizeof(why));

			if (vr == 0) {
				verified++;
			} else if (vr < 0) {
				if (!verify_failed)
					snprintf(verify_why, sizeof(verify_why),
						 "patch %" PRIu64 ": %s", i + 1, why);
				verify_failed++;
			}
		}
		for (v = 0; v < s->be->nr_vcpus && v < HVP_MAX_VCPUS; v++)
			loops[v] = __atomic_load_n(&s->agent->vcpu[v].loops, __ATOMIC_RELAXED);
		pthread_mutex_unlock(&s->patch_lock);
		/* the other target: the old one, or the next when TARGET was current */
		if (i == 0)
			targets[1] = res.old_target != rq->target ?
					     res.old_target :
					     (rq->target + 1) % rq->key->nr_targets;
		if (r == -ECANCELED) {
			/* vm stop, or the journal failed: the soak ends with an error */
			json_object_put(fault_seqs);
			return hvp_ctl_error_new(HVP_ERR_REFUSED,
						 "patch %" PRIu64 " of the soak: %s "
						 "(%" PRIu64 " patches before it, %" PRIu64
						 " completed)",
						 i + 1, res.reason, i, completed);
		}
		if (r < 0) {
			snprintf(reason, sizeof(reason), "patch %" PRIu64 ": %s", i + 1,
				 res.reason);
			break;
		}
		completed += res.completed;
		faults += res.faults;
		late += res.bp_late;
		/* which patches saw a fault (the first 16), to find them in the log */
		if (res.faults && json_object_array_length(fault_seqs) < 16)
			json_object_array_add(fault_seqs, json_object_new_int64((int64_t)slot.seq));
		rounds += res.sync_rounds;
		rollbacks += res.rollbacks;
		traps += res.bp_traps;
		lat_sum += res.latency_ns;
		if (res.latency_ns > lat_max)
			lat_max = res.latency_ns;
		if (res.max_stall_ns > stall_max)
			stall_max = res.max_stall_ns;
		for (v = 0; v < s->be->nr_vcpus && v < HVP_MAX_VCPUS; v++)
			if (res.stall_ns[v] > stall_by_vcpu[v])
				stall_by_vcpu[v] = res.stall_ns[v];
		if (res.slowest.what && res.slowest.ns > slowest.ns)
			slowest = res.slowest;
		/* next time, the other target (when this one took) */
		if (res.completed && targets[0] != targets[1])
			rq->target = rq->target == targets[0] ? targets[1] : targets[0];
	}
	if (r < 0 && i == 0) {
		json_object_put(fault_seqs);
		return hvp_ctl_error_new(r == -EPERM || r == -EILSEQ ? HVP_ERR_REFUSED :
								       HVP_ERR_INTERNAL,
					 "%s", reason);
	}
	o = json_object_new_object();
	json_object_object_add(o, "method", json_object_new_string(hvp_methods[rq->method].name));
	json_object_object_add(o, "sync", json_object_new_string(hvp_sync_name(rq->sync)));
	json_object_object_add(o, "key", json_object_new_string(rq->key->name));
	json_object_object_add(o, "patches", json_object_new_int64((int64_t)i));
	/* patches that began before every vCPU had run since the last one */
	json_object_object_add(o, "guest_idle_between", json_object_new_int64((int64_t)idle));
	json_object_object_add(o, "completed", json_object_new_int64((int64_t)completed));
	json_object_object_add(o, "faults", json_object_new_int64((int64_t)faults));
	json_object_object_add(o, "sync_rounds", json_object_new_int64((int64_t)rounds));
	json_object_object_add(o, "rollbacks", json_object_new_int64((int64_t)rollbacks));
	json_object_object_add(o, "bp_traps", json_object_new_int64((int64_t)traps));
	json_object_object_add(o, "bp_late", json_object_new_int64((int64_t)late));
	json_object_object_add(o, "fault_patch_seqs", fault_seqs);
	json_object_object_add(o, "mean_latency_ns",
			       json_object_new_int64((int64_t)(i ? lat_sum / i : 0)));
	json_object_object_add(o, "max_latency_ns", json_object_new_int64((int64_t)lat_max));
	json_object_object_add(o, "max_stall_ns", json_object_new_int64((int64_t)stall_max));
	json_object_object_add(o, "stall_ns_by_vcpu", stall_json(stall_by_vcpu, s->be->nr_vcpus));
	if (slowest.what)
		json_object_object_add(o, "slowest_round", hvp_round_json(&slowest));
	json_object_object_add(o, "elapsed_ns",
			       json_object_new_int64((int64_t)(hvp_now_ns() - t0)));
	if (verify) {
		json_object_object_add(o, "verified", json_object_new_int64((int64_t)verified));
		json_object_object_add(o, "verify_failed",
				       json_object_new_int64((int64_t)verify_failed));
		if (verify_why[0])
			json_object_object_add(o, "verify_reason",
					       json_object_new_string(verify_why));
	}
	if (reason[0])
		json_object_object_add(o, "reason", json_object_new_string(reason));
	return hvp_ctl_ok_new(o);
}

/* What --method auto decided, for the result. */
struct auto_plan {
	struct hvp_units units;
	struct hvp_cost_input in;
	struct hvp_cost_plan plan;
};

/*
 * --method auto (and patch plan): the sync kind given (rq->sync) or both,
 * the objective of "prefer", rq->timeout_ms; sets rq->method and rq->sync
 * to the choice.  0, or -1 with *err the error response (nothing is
 * predicted to complete: pl->plan still holds the table).
 */
static int plan_auto(struct hvp_service *s, json_object *args, struct hvp_patch_req *rq,
		     bool sync_given, struct auto_plan *pl, json_object **err)
{
	const char *prefer = arg_str(args, "prefer");
	int p = prefer ? hvp_prefer_by_name(prefer) : HVP_PREFER_STALL;
	int64_t timeout;
	json_object *v;

	memset(pl, 0, sizeof(*pl));
	if (p < 0 || (json_object_object_get_ex(args, "prefer", &v) && !prefer)) {
		*err = hvp_ctl_error_new(HVP_ERR_USAGE, "unknown objective '%s' (stall or latency)",
					 prefer ? prefer : "?");
		return -1;
	}
	if (arg_int(args, "timeout_ms", 1, 600000, 5000, &timeout) < 0) {
		*err = hvp_ctl_error_new(HVP_ERR_USAGE, "timeout_ms out of range");
		return -1;
	}
	if (sync_given) {
		const char *sync = arg_str(args, "sync");

		if (!sync || (strcmp(sync, "kick") && strcmp(sync, "nmi"))) {
			*err = hvp_ctl_error_new(HVP_ERR_USAGE,
						 "unknown sync kind '%s' (kick or nmi)",
						 sync ? sync : "?");
			return -1;
		}
		rq->sync = strcmp(sync, "kick") ? HVP_SYNC_NMI : HVP_SYNC_KICK;
	}
	hvp_service_plan(s, rq->key, (int)timeout, (enum hvp_prefer)p,
			 sync_given ? 1u << rq->sync : 3u, &pl->in, &pl->plan);
	pl->units = s->units;
	if (pl->plan.chosen < 0) {
		*err = hvp_ctl_error_new(HVP_ERR_REFUSED, "--method auto: %s; nothing patched",
					 pl->plan.why);
		return -1;
	}
	rq->method = pl->plan.row[pl->plan.chosen].method;
	rq->sync = pl->plan.row[pl->plan.chosen].sync;
	return 0;
}

/* The result of an auto patch says who chose, why, and what was predicted. */
static json_object *auto_said(const struct auto_plan *pl, json_object *resp)
{
	json_object *res, *pred, *all;

	if (!pl || !json_object_object_get_ex(resp, "result", &res))
		return resp;
	pred = hvp_cost_row_json(&pl->plan.row[pl->plan.chosen]);
	all = hvp_cost_plan_json(&pl->units, &pl->in, &pl->plan);
	json_object_object_add(pred, "units",
			       json_object_get(json_object_object_get(all, "units")));
	json_object_object_add(pred, "observed",
			       json_object_get(json_object_object_get(all, "observed")));
	json_object_object_add(pred, "predictions",
			       json_object_get(json_object_object_get(all, "predictions")));
	json_object_put(all);
	json_object_object_add(res, "chosen_by", json_object_new_string("auto"));
	json_object_object_add(res, "why", json_object_new_string(pl->plan.why));
	json_object_object_add(res, "predicted", pred);
	return resp;
}

static json_object *do_patch(struct hvp_service *s, json_object *args)
{
	const char *key = arg_str(args, "key"), *target = arg_str(args, "target");
	const char *method = arg_str(args, "method"), *sync = arg_str(args, "sync");
	const char *hazard; /* the backend's reason to refuse this method, or NULL */
	struct hvp_patch_ctx ctx = { .be = s->be,
				     .agent = s->agent,
				     .journal = s->journaled ? &s->journal : NULL,
				     .stop = &s->stopping };
	struct hvp_patch_req rq = { 0 };
	struct hvp_patch_result res;
	struct patch_slot slot;
	struct auto_plan plan;
	int64_t timeout, delay, nbytes, repeat;
	json_object *v, *o, *resp;
	int m, t, r, verified;
	char why[200];
	bool verify, is_auto;

	if (!key || !target)
		return hvp_ctl_error_new(HVP_ERR_USAGE, "patch needs a key and a target");
	rq.key = hvp_service_key(s, key);
	if (!rq.key)
		return hvp_ctl_error_new(HVP_ERR_NOT_FOUND, "no key named '%s'", key);
	t = hvp_key_target_by_name(rq.key, target);
	if (t < 0)
		return hvp_ctl_error_new(HVP_ERR_NOT_FOUND,
					 "'%s' is not a registered target of key %s", target, key);
	rq.target = (unsigned)t;
	is_auto = method && !strcmp(method, "auto");
	m = is_auto ? HVP_METHOD_BP_EMULATE : hvp_method_by_name(method ? method : "bp-emulate");
	if (m < 0)
		return hvp_ctl_error_new(HVP_ERR_USAGE, "unknown method '%s' (see 'patch methods')",
					 method);
	rq.method = (enum hvp_method)m;
	if (!sync || !strcmp(sync, "kick"))
		rq.sync = HVP_SYNC_KICK;
	else if (!strcmp(sync, "nmi"))
		rq.sync = HVP_SYNC_NMI;
	else
		return hvp_ctl_error_new(HVP_ERR_USAGE, "unknown sync kind '%s' (kick or nmi)",
					 sync);
	if (arg_int(args, "timeout_ms", 1, 600000, 5000, &timeout) < 0 ||
	    arg_int(args, "naive_delay_us", 0, 1000000, 0, &delay) < 0 ||
	    arg_int(args, "naive_bytes", 0, 5 * HVP_MAX_SITES, 0, &nbytes) < 0)
		return hvp_ctl_error_new(HVP_ERR_USAGE,
					 "timeout_ms, naive_delay_us or naive_bytes out of range");
	rq.timeout_ms = (int)timeout;
	rq.naive_delay_us = (unsigned)delay;
	rq.naive_max_bytes = (unsigned)nbytes;
	rq.unsafe = json_object_object_get_ex(args, "unsafe", &v) && json_object_get_boolean(v);
	if (is_auto && (r = plan_auto(s, args, &rq, sync != NULL, &plan, &resp)) < 0)
		return resp;

	/*
	 * bp-cancel-hpa's --unsafe is for the method itself: the backend's
	 * hazard stays refused, or its faults would be the backend's and not
	 * the proposal's.
	 */
	hazard = s->be->nmi_int3_hazard;
	if (hazard && rq.method == HVP_METHOD_BP_CANCEL_HPA)
		hazard = "refused on this backend even with --unsafe, which this method needs "
			 "for itself: here QEMU's NMI injection loses a guest int3 in flight, and "
			 "the faults would be the backend's, not the proposal's";
	else if (rq.unsafe ||
		 (rq.method != HVP_METHOD_BP_CANCEL && rq.method != HVP_METHOD_BP_EMULATE))
		hazard = NULL;
	if (hazard) {
		uint64_t hz;

		if (rq.sync == HVP_SYNC_NMI)
			return hvp_ctl_error_new(HVP_ERR_REFUSED,
						 "%s --sync nmi on the %s backend: %s",
						 hvp_methods[rq.method].name, s->be->ops->name,
						 hazard);
		pthread_mutex_lock(&s->lock);
		hz = s->nmi_hz;
		pthread_mutex_unlock(&s->lock);
		if (hz)
			return hvp_ctl_error_new(HVP_ERR_REFUSED,
						 "%s while an NMI storm runs (--nmi-rate) on the %s "
						 "backend: %s",
						 hvp_methods[rq.method].name, s->be->ops->name,
						 hazard);
	}
	if (arg_int(args, "repeat", 1, 10000000, 1, &repeat) < 0)
		return hvp_ctl_error_new(HVP_ERR_USAGE, "repeat out of range (1..10000000)");
	if (repeat > 1)
		return auto_said(is_auto ? &plan : NULL,
				 do_patch_repeat(s, &rq, (uint64_t)repeat,
						 json_object_object_get_ex(args, "verify", &v) &&
							 json_object_get_boolean(v)));

	/* One patch at a time: the equivalent of Linux's text_mutex. */
	verify = json_object_object_get_ex(args, "verify", &v) && json_object_get_boolean(v);
	r = locked_apply(s, &ctx, &rq, &res, &slot, &verified, verify ? why : NULL, sizeof(why));
	if (r == -EPERM)
		return hvp_ctl_error_new(HVP_ERR_REFUSED, "%s", res.reason);
	if (r == -ECANCELED) {
		/* the reason says why and what became of what it wrote */
		fprintf(stderr, "patch %s -> %s (%s): %s\n", rq.key->name, target,
			hvp_methods[rq.method].name, res.reason);
		return hvp_ctl_error_new(HVP_ERR_REFUSED, "%s", res.reason);
	}
	if (r == -EILSEQ && res.written) {
		fprintf(stderr, "patch %s -> %s (%s): refused: %s\n", rq.key->name, target,
			hvp_methods[rq.method].name, res.reason);
		return hvp_ctl_error_new(HVP_ERR_REFUSED, "%s; what this patch wrote was undone",
					 res.reason);
	}
	if (r < 0 && !res.written)
		return hvp_ctl_error_new(r == -EILSEQ ? HVP_ERR_REFUSED : HVP_ERR_INTERNAL,
					 "nothing written: %s", res.reason);
	if (r < 0)
		fprintf(stderr, "patch %s -> %s (%s): %s\n", rq.key->name, target,
			hvp_methods[rq.method].name, res.reason);
	o = patch_result_json(s, &rq, &res, &slot);
	/* --verify: whether the switch was proven (absent: nothing switched) */
	if (verified >= 0) {
		json_object_object_add(o, "verified", json_object_new_boolean(verified));
		if (!verified)
			json_object_object_add(o, "verify_reason", json_object_new_string(why));
	}
	return auto_said(is_auto ? &plan : NULL, hvp_ctl_ok_new(o));
}

/* patch plan: the prediction table, nothing patched */
static json_object *do_plan(struct hvp_service *s, json_object *args)
{
	const char *key = arg_str(args, "key"), *target = arg_str(args, "target");
	struct hvp_patch_req rq = { 0 };
	struct auto_plan plan;
	json_object *resp, *o;

	if (!key || !target)
		return hvp_ctl_error_new(HVP_ERR_USAGE, "plan needs a key and a target");
	rq.key = hvp_service_key(s, key);
	if (!rq.key)
		return hvp_ctl_error_new(HVP_ERR_NOT_FOUND, "no key named '%s'", key);
	if (hvp_key_target_by_name(rq.key, target) < 0)
		return hvp_ctl_error_new(HVP_ERR_NOT_FOUND,
					 "'%s' is not a registered target of key %s", target, key);
	if (plan_auto(s, args, &rq, arg_str(args, "sync") != NULL, &plan, &resp) < 0) {
		if (plan.plan.nr == 0)
			return resp;   /* bad arguments */
		json_object_put(resp); /* nothing completes: the table says so */
	}
	o = hvp_cost_plan_json(&plan.units, &plan.in, &plan.plan);
	json_object_object_add(o, "key", json_object_new_string(key));
	json_object_object_add(o, "target", json_object_new_string(target));
	return hvp_ctl_ok_new(o);
}

json_object *hvp_service_handle(void *ctx, const char *cmd, json_object *args,
				const struct ucred *peer)
{
	struct hvp_service *s = ctx;

	(void)peer;
	if (!strcmp(cmd, "info"))
		return do_info(s);
	if (!strcmp(cmd, "sites"))
		return do_sites(s, args);
	if (!strcmp(cmd, "stats"))
		return do_stats(s);
	if (!strcmp(cmd, "stop"))
		return do_stop(s);
	if (!strcmp(cmd, "patch"))
		return do_patch(s, args);
	if (!strcmp(cmd, "plan"))
		return do_plan(s, args);
	if (!strcmp(cmd, "methods"))
		return hvp_ctl_ok_new(hvp_methods_json());
	return hvp_ctl_error_new(HVP_ERR_USAGE, "unknown command '%s'", cmd);
}

/* ---- the service log ---- */

void hvp_svc_log(const char *fmt, ...)
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
	hvp_svc_log("vcpu %u: guest fault: vector %u (%s) at rip 0x%llx cpl %u error 0x%llx, patch_seq %llu",
		    vcpu, f->vector, hvp_vector_name(f->vector), (unsigned long long)f->rip,
		    f->cs & 3, (unsigned long long)f->error_code, (unsigned long long)seq);
	pthread_mutex_lock(&s->lock);
	s->fault_patch_seq[vcpu][slot] = seq;
	s->faults_seen++;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

static void ev_vcpu_dead(void *ctx, unsigned vcpu, const char *why)
{
	struct hvp_service *s = ctx;

	hvp_svc_log("vcpu %u stopped: %s", vcpu, why);
	pthread_mutex_lock(&s->lock);
	if (!s->dead_reason[0])
		snprintf(s->dead_reason, sizeof(s->dead_reason), "vcpu %u: %s", vcpu, why);
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

/* ---- boot (the VM process's own service, doctor's probes, the bench) ---- */

#define BOOT_TIMEOUT_MS 30000

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
		r = hvp_service_recover(s, err, errlen);
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
	hvp_service_units_boot(s);
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

/*
 * A journal with a begin and no end: the previous service died mid-patch.
 * Finish it from the journal alone (roll forward to the new instruction of
 * every journaled site) before the key tables are read and checked - a site
 * may hold an int3 now - and before anyone else may patch.
 */
int hvp_service_recover(struct hvp_service *s, char *err, size_t errlen)
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
	if (r == -EINVAL) {
		snprintf(err, errlen,
			 "journal %s, line %u: %s; the patch it records is not finished: remove "
			 "the file to attach without finishing it",
			 jpath, jp.line, jp.why);
		return r;
	}
	if (r < 0) {
		snprintf(err, errlen, "journal %s unreadable: %s", jpath, strerror(-r));
		return r;
	}
	if (r == 0)
		goto open;
	if (jp.steps == 0) {
		/* its site records, unsynced, came before the first step's fsync */
		hvp_svc_log("journal: a %s patch of %s to %s had taken no step: nothing to finish",
			    jp.method, jp.key, jp.target);
		hvp_journal_patch_free(&jp);
		goto open;
	}
	for (i = 0; i < jp.nr_sites; i++) {
		uint64_t a = jp.addr[i], dest;
		const char *bad = NULL;

		if (a < s->bounds.text_start || a > s->bounds.text_end ||
		    s->bounds.text_end - a < HVP_INSN_LEN)
			bad = "outside the image's text";
		else if ((jp.new_insn[i][0] != HVP_OPC_CALL && jp.new_insn[i][0] != HVP_OPC_JMP) ||
			 hvp_agent_decode(jp.new_insn[i], a, jp.new_insn[i][0], &dest) < 0 ||
			 dest < s->bounds.text_start || dest >= s->bounds.text_end)
			bad = "with a new instruction that is no call or jmp into the text";
		else if (!hvp_journal_site_ok(s->be->ram + a, jp.old_insn[i], jp.new_insn[i]))
			bad = "holding bytes that are neither the journal's old nor its new ones "
			      "(the journal is not this VM's)";
		if (bad) {
			snprintf(err, errlen, "journaled site 0x%llx %s", (unsigned long long)a,
				 bad);
			hvp_journal_patch_free(&jp);
			return -EINVAL;
		}
	}
	hvp_svc_log("journal: an interrupted %s patch of %s to %s (%u sites): finishing it",
		    jp.method, jp.key, jp.target, jp.nr_sites);
	r = hvp_patch_recover(&ctx, jp.addr, (const uint8_t(*)[HVP_INSN_LEN])jp.new_insn,
			      jp.nr_sites, &fixed, err, errlen);
	if (r == 0)
		hvp_svc_log("journal: recovered, %u of %u sites needed writing", fixed,
			    jp.nr_sites);
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
