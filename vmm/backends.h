/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The backend registry: every kind of VM the service can run, by the name
 * `vm start --backend` and `bench --backends` take.  The CLI, the service,
 * the state file and the bench ask this table what a kind is; nothing else
 * spells a backend's name.  Adding a backend is its own file and one row in
 * vmm/backends.c.
 */
#ifndef HVP_BACKENDS_H
#define HVP_BACKENDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"

/* What the service knows of the VM when it creates its backend. */
struct hvp_backend_args {
	const char *name;   /* the VM's name, for its runtime files */
	const char *rundir; /* the runtime directory                */
	const char *image;  /* the guest ELF                        */
	const char *uri;    /* takes_uri: "" or NULL for the default */
	unsigned nr_vcpus;
	unsigned mem_mib;
	uint64_t entry32;	/* PVH 32-bit entry: every vCPU starts there */
	uint64_t agent_gpa;	/* where the agent area is (from the ELF)   */
	bool attach;		/* take over a running VM: never killed     */
	bool guest_debug_sw_bp; /* ask KVM to trap int3 (doctor's probe)    */
};

struct hvp_backend_kind {
	const char *name;    /* as --backend takes it */
	const char *summary; /* one line for doctor and messages */
	/* The VM outlives its service: a state file and a journal on disk
	 * let `vm attach` take it over, and the agent starts the APs (QEMU
	 * enters only vCPU 0 at the PVH entry). */
	bool external;
	bool takes_uri;	  /* -c URI means something to it */
	bool loads_image; /* the service loads the ELF into guest RAM itself */
	/* Create the backend (vCPUs not running yet); on error a reason. */
	int (*create)(const struct hvp_backend_args *a, const struct hvp_backend_events *ev,
		      struct hvp_backend **out, char *err, size_t errlen);
	/* Once the VM is gone: the files it kept outside RUNDIR/NAME.*
	 * (NULL: none).  uri as the VM was started with, NULL: default. */
	void (*remove_files)(const char *rundir, const char *name, const char *uri);
};

extern const struct hvp_backend_kind hvp_backend_kinds[];
extern const unsigned hvp_nr_backend_kinds;

/* NULL when no backend has that name. */
const struct hvp_backend_kind *hvp_backend_kind_by_name(const char *name);
/* Index of a kind in hvp_backend_kinds[]. */
unsigned hvp_backend_kind_index(const struct hvp_backend_kind *k);
/*
 * The names for messages: "kvm, qemu, libvirt" with last ", ", "kvm, qemu
 * or libvirt" with last " or ".  Returns buf.
 */
const char *hvp_backend_kind_list(char *buf, size_t len, const char *last);

/* ---- each backend's create (its own file) ---- */
int hvp_kvm_backend_create(const struct hvp_backend_args *a, const struct hvp_backend_events *ev,
			   struct hvp_backend **out, char *err, size_t errlen);
int hvp_qemu_create(const struct hvp_backend_args *a, const struct hvp_backend_events *ev,
		    struct hvp_backend **out, char *err, size_t errlen);
/* -ENOTSUP with a clear reason when built without libvirt. */
int hvp_libvirt_create(const struct hvp_backend_args *a, const struct hvp_backend_events *ev,
		       struct hvp_backend **out, char *err, size_t errlen);
/*
 * Once the VM is gone (vm stop, the end of a bench): remove the embedded
 * driver's root <rundir>/libvirt-NAME, when the URI was the default one.
 */
void hvp_libvirt_remove_root(const char *rundir, const char *name, const char *uri);

#endif /* HVP_BACKENDS_H */
