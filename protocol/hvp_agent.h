/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The agent area: the one contract between the guest agent and the patch
 * service.  It lives in guest RAM at the ELF symbol `hvp_agent` (the host
 * finds it through the symbol table, never through a constant kept twice).
 *
 * Who writes what:
 *   - config:        the service, before any vCPU runs; the guest only reads.
 *   - keys, sites:   the guest at boot (from its .static_call_sites section);
 *                    the service only reads, and treats every value as hostile.
 *   - vcpu[]:        the guest (each vCPU its own slot, through %gs at CPL3);
 *                    the service only reads.
 *   - patch:         the service writes the request fields; the guest's #BP
 *                    and NMI handlers read them and write the state word and
 *                    acknowledgements.
 *
 * Every field is fixed-width and naturally aligned.  BUMP HVP_AGENT_ABI_VERSION
 * IF ANY LAYOUT IN THIS FILE CHANGES.  Both the guest image and the service
 * are built from this one header, so a mismatch means a stale image.
 *
 * This header is included by freestanding guest code: no libc, no host types.
 */
#ifndef HVP_AGENT_H
#define HVP_AGENT_H

#define HVP_AGENT_MAGIC	      0x31544e4741505648ULL /* "HVPAGNT1" */
#define HVP_AGENT_ABI_VERSION 4			    /* 4: ports 0x503, 0x504 retired */

#define HVP_MAX_VCPUS	 64
#define HVP_MAX_KEYS	 8
#define HVP_MAX_TARGETS	 4
#define HVP_MAX_SITES	 2048 /* all keys together */
#define HVP_NAME_LEN	 32
#define HVP_HIST_BUCKETS 48 /* log2 buckets of loop gaps, in TSC ticks */
#define HVP_FAULT_LOG	 4  /* most recent faults kept per vCPU */

/* I/O ports the guest writes (32-bit `out`), each is one VM exit. */
#define HVP_PORT_SERIAL	  0x3f8	 /* byte: console output (COM1 data)     */
#define HVP_PORT_READY	  0x0500 /* value: HVP_READY_MAGIC, from vCPU 0   */
#define HVP_PORT_FAULT	  0x0501 /* value: vCPU id that recorded a fault */
#define HVP_PORT_NMI_ACK  0x0502 /* value: low 32 bits of sync_gen seen  */
/*	0x0503	retired in ABI 4 (HVP_PORT_BP: never written)             */
/*	0x0504	retired in ABI 4 (HVP_PORT_PANIC: never written)          */
#define HVP_PORT_PING	  0x0505      /* ignored: one exit round trip (bench) */
#define HVP_PORT_KICK_ACK 0x0506      /* value: low 32 bits of kick_gen seen  */
#define HVP_READY_MAGIC	  0x52454459u /* "REDY" */

/* Static call key kinds. */
#define HVP_KEY_INLINE 1 /* sites are `call rel32` (e8) inline    */
#define HVP_KEY_TRAMP \
	2 /* sites call a trampoline whose `jmp
					 * rel32` (e9) is what gets patched     */

#define HVP_OPC_CALL 0xe8
#define HVP_OPC_JMP  0xe9
#define HVP_OPC_INT3 0xcc
#define HVP_INSN_LEN 5

/* config.flags */
#define HVP_CFG_FAULT_TEST  (1u << 0) /* vCPU fault_vcpu executes ud2 */
#define HVP_CFG_PROBE_KINT3 (1u << 1) /* doctor: vCPU 0 runs int3 at CPL0  */
#define HVP_CFG_PROBE_UINT3 (1u << 2) /* doctor: vCPU 0 runs int3 at CPL3  */
#define HVP_CFG_PING \
	(1u << 3) /* bench: every loop pass asks the
						 * kernel for HVP_PING_BURST exits  */
#define HVP_PING_BURST 64
#define HVP_CFG_START_APS \
	(1u << 4) /* only vCPU 0 entered at the PVH entry
						 * (QEMU, libvirt): it starts the others
						 * with INIT-SIPI-SIPI through its LAPIC */

/* Where vCPU 0 copies the real-mode AP trampoline (below 1 MiB, page-aligned). */
#define HVP_AP_TRAMPOLINE_PA 0x8000

/*
 * config.hostile: a test switch that makes the agent attack the service
 * through its own agent area (tests/hostile.sh).  Formerly reserved and zero,
 * and zero still means a well-behaved agent, so the ABI version is unchanged.
 * Modes up to HVP_HOSTILE__BOOT_LAST corrupt the tables once, before the agent
 * reports ready; the later ones keep rewriting them from a workload loop.
 */
#define HVP_HOSTILE_NONE	     0
#define HVP_HOSTILE_MAGIC	     1	/* header: bad magic                  */
#define HVP_HOSTILE_ABI		     2	/* header: bad ABI version            */
#define HVP_HOSTILE_SITE_OUTSIDE_RAM 3	/* a site address beyond guest RAM    */
#define HVP_HOSTILE_SITE_IN_AGENT    4	/* a site inside the agent area       */
#define HVP_HOSTILE_SITE_OVERLAP     5	/* two sites 2 bytes apart            */
#define HVP_HOSTILE_NR_KEYS	     6	/* nr_keys absurd                     */
#define HVP_HOSTILE_NR_SITES	     7	/* nr_sites absurd                    */
#define HVP_HOSTILE_NR_TARGETS	     8	/* a key with absurd nr_targets       */
#define HVP_HOSTILE_FIRST_SITE	     9	/* first_site + nr_sites wraps        */
#define HVP_HOSTILE_TARGET_OUTSIDE   10 /* a target outside the image's text  */
#define HVP_HOSTILE_SITE_NOT_CALL    11 /* a "site" that holds no call        */
#define HVP_HOSTILE__BOOT_LAST	     11
#define HVP_HOSTILE_REWRITE_TABLE \
	12 /* after ready: keep rewriting site
						 * addresses, counts and the header  */
#define HVP_HOSTILE_REWRITE_SITE \
	13 /* after ready: keep rewriting the
						 * bytes of key small's first site;
						 * workloads call small from its
						 * second site on                    */
#define HVP_HOSTILE_SCRIBBLE_TEXT \
	14 /* after ready: write one byte of its
						 * own text padding (not a site): the
						 * service's text witness must see it */
#define HVP_HOSTILE__COUNT 15

/* config.nmi_mode: what the guest's NMI path does with nmi_key. */
#define HVP_NMI_NONE 0 /* acknowledge only                      */
#define HVP_NMI_UPCALL \
	1 /* redirect interrupted CPL3 code to an
					 * upcall that calls a site of nmi_key  */

/* hvp_vcpu.state */
#define HVP_VCPU_OFFLINE 0
#define HVP_VCPU_RUNNING 1 /* workload running at CPL3              */
#define HVP_VCPU_DEAD	 2 /* workload stopped after a fault        */

/* Offsets of the per-vCPU fields the guest's assembly touches through %gs. */
#define HVP_VCPU_CALLS_OFF	0
#define HVP_VCPU_ITERS_OFF	256
#define HVP_VCPU_UPCALL_RIP_OFF 984
#define HVP_VCPU_UPCALL_RSP_OFF 992

#define HVP_PM_NONE    0
#define HVP_PM_CANCEL  1 /* bp-cancel in flight                 */
#define HVP_PM_EMULATE 2 /* bp-emulate in flight                */

/*
 * bp-cancel-hpa in flight: bp-cancel whose #BP handler completes the patch in
 * state 2 instead of waiting.  A new value of an existing field, no layout
 * change, so the ABI version stays: an image older than it takes such a #BP
 * as stray and reports a fault, and the method runs only with --unsafe.
 */
#define HVP_PM_CANCEL_HPA 3

/* The cancellable scheme's state word (H. Peter Anvin, LKML, Jan 2019). */
#define HVP_BPS_NORMAL	    0
#define HVP_BPS_CANCELLABLE 1 /* writing 0xcc, can be cancelled       */
#define HVP_BPS_FINAL	    2 /* 0xcc synced; writing the final insn  */
#define HVP_BPS_INSTALLED   3 /* installed, maybe not yet synced      */
#define HVP_BPS_CANCELLED   4 /* a #BP hit in state 1 cancelled it    */

#ifndef __ASSEMBLER__
#include <stdint.h>

struct hvp_agent_config {
	uint32_t nr_vcpus;
	uint32_t key_mask;   /* bit k: workloads call key k            */
	uint64_t rate;	     /* loop iterations per second, 0 = tight  */
	uint64_t tsc_khz;    /* guest TSC frequency, for pacing        */
	uint64_t ram_size;   /* bytes of guest RAM                     */
	uint32_t flags;	     /* HVP_CFG_*                              */
	uint32_t fault_vcpu; /* with HVP_CFG_FAULT_TEST                */
	uint32_t nmi_mode;   /* HVP_NMI_*                              */
	uint32_t nmi_key;    /* key called from the NMI upcall         */
	uint32_t hostile;    /* HVP_HOSTILE_*: test only, 0 = behave   */
	uint32_t reserved32;
	uint64_t reserved[3];
};
_Static_assert(sizeof(struct hvp_agent_config) == 80, "config layout");

struct hvp_key {
	char name[HVP_NAME_LEN];
	uint32_t kind; /* HVP_KEY_*                              */
	uint32_t nr_targets;
	uint32_t first_site; /* index into hvp_agent.sites[]           */
	uint32_t nr_sites;
	uint32_t calls_per_pass; /* target calls one workload pass makes */
	uint32_t reserved;
	uint64_t targets[HVP_MAX_TARGETS]; /* guest addresses  */
	char target_names[HVP_MAX_TARGETS][HVP_NAME_LEN];
};
_Static_assert(sizeof(struct hvp_key) == 216, "key layout");

struct hvp_fault {
	uint32_t vector;
	uint32_t cs; /* CS at the fault: low 2 bits are the CPL */
	uint64_t rip;
	uint64_t error_code;
	uint64_t cr2;
};
_Static_assert(sizeof(struct hvp_fault) == 32, "fault layout");

/*
 * Per-vCPU counters.  At CPL3 a vCPU reaches its own slot through %gs, so the
 * offsets of the fields touched from assembly are fixed by asserts below.
 */
struct hvp_vcpu {
	uint64_t calls[HVP_MAX_KEYS][HVP_MAX_TARGETS]; /* by every target */
	uint64_t iters[HVP_MAX_KEYS];		       /* workload passes over each key     */
	uint64_t loops;				       /* workload loop iterations          */
	uint64_t max_gap;			       /* TSC ticks                         */
	uint64_t gap_hist[HVP_HIST_BUCKETS];	       /* bucket b: gap in [2^b, 2^(b+1)) */
	uint64_t bp_traps;			       /* every #BP taken                   */
	uint64_t bp_emulated;			       /* bp-emulate: calls emulated        */
	uint64_t bp_cancels;			       /* bp-cancel: state 1/4 rollbacks    */
	uint64_t bp_state2_waits;		       /* state 2 waits (hpa: completions)   */
	uint64_t bp_reexec;			       /* bp-cancel: state 3 re-executions  */
	uint64_t nmis;				       /* NMIs taken                        */
	uint64_t nmi_upcalls;			       /* NMIs that called nmi_key at CPL3  */
	uint64_t nmi_acked_gen;			       /* last sync generation acknowledged */
	uint64_t nr_faults;
	struct hvp_fault faults[HVP_FAULT_LOG]; /* ring, nr_faults % LOG */
	uint32_t state;				/* HVP_VCPU_*                        */
	uint32_t apic_id;
	uint64_t started_tsc;
	uint64_t window_max_gap; /* like max_gap; the service zeroes it
					 * when a patch starts                */
	uint64_t retired0;	 /* was in_trap (ABI 2): not written   */
	/* The witness of issue 9.  Each time this vCPU acknowledges a sync
	 * round, where it stopped and its loop count are written here: by the
	 * own VMM at a kick, by the guest's NMI handler at an NMI.  A #BP
	 * handler that finds its own int3's RIP here with the loop count
	 * unchanged ran after a round completed over its int3: bp_late. */
	uint64_t ack_rip;
	uint64_t ack_loops;
	uint64_t bp_late; /* #BP handlers a round completed over */
	/* NMIs that found a #BP in flight: they interrupted user mode one
	 * byte past a site's int3, before its #BP handler ran; they neither
	 * acknowledged a round nor upcalled (guest-agent/kernel.c, do_nmi).
	 * 0 from an agent that predates it. */
	uint64_t nmi_bp_inflight;
	/* Where an NMI upcall returns to (guest-agent/isr.S): the interrupted
	 * user RIP and RSP, saved by the NMI handler, which runs the upcall on
	 * a stack of its own and never writes the interrupted one. */
	uint64_t upcall_rip;
	uint64_t upcall_rsp;
	/* The last kick round this vCPU acknowledged (patch.kick_gen): written
	 * by the own VMM when a kick acknowledges, by the #BP handler when it
	 * acknowledges as it leaves (guest-agent/kernel.c, bp_leave). */
	uint64_t kick_acked_gen;
	uint64_t reserved[2];
};
_Static_assert(__builtin_offsetof(struct hvp_vcpu, calls) == HVP_VCPU_CALLS_OFF, "calls");
_Static_assert(__builtin_offsetof(struct hvp_vcpu, iters) == HVP_VCPU_ITERS_OFF, "iters");
_Static_assert(__builtin_offsetof(struct hvp_vcpu, upcall_rip) == HVP_VCPU_UPCALL_RIP_OFF,
	       "upcall_rip");
_Static_assert(__builtin_offsetof(struct hvp_vcpu, upcall_rsp) == HVP_VCPU_UPCALL_RSP_OFF,
	       "upcall_rsp");
_Static_assert(sizeof(struct hvp_vcpu) == 1024, "vcpu layout");

/*
 * Patch control block.  Written by the service; read by the guest's #BP and
 * NMI handlers.  The exact orderings are documented in vmm/patch.c.
 */

struct hvp_emu_site {
	uint64_t addr;	 /* site address (where the int3 is)       */
	uint64_t target; /* call/jmp destination to emulate         */
	uint8_t opcode;	 /* HVP_OPC_CALL or HVP_OPC_JMP              */
	uint8_t pad[7];
};
_Static_assert(sizeof(struct hvp_emu_site) == 24, "emu site layout");

struct hvp_patch_ctl {
	uint32_t method;     /* HVP_PM_*: which #BP behaviour applies    */
	uint32_t state;	     /* HVP_BPS_*, cmpxchg'd by both sides        */
	uint64_t write_addr; /* bp-cancel: the one global write address  */
	uint8_t old_insn[8]; /* bp-cancel: bytes to restore on cancel     */
	uint8_t new_insn[8]; /* bp-cancel: bytes to complete in state 2   */
	uint64_t sync_gen;   /* generation of the NMI sync round          */
	uint32_t nr_emu;     /* bp-emulate: entries valid in emu[]        */
	uint32_t reserved0;
	/* The own VMM's kick round in progress (0: none ever): a #BP handler
	 * that finds it unacknowledged in its vCPU's slot acknowledges it as
	 * it leaves, through HVP_PORT_KICK_ACK (vmm/kvm.c).  Other backends
	 * never write it; an agent that predates it ignores it. */
	uint64_t kick_gen;
	uint64_t reserved[3];
	struct hvp_emu_site emu[HVP_MAX_SITES]; /* sorted by addr        */
};

struct hvp_agent {
	/* --- header: written by the guest at build time / boot --- */
	uint64_t magic;	      /* HVP_AGENT_MAGIC                    */
	uint32_t abi_version; /* HVP_AGENT_ABI_VERSION              */
	uint32_t size;	      /* sizeof(struct hvp_agent)           */
	uint32_t ready;	      /* 1 once keys, sites, vCPUs are up   */
	uint32_t nr_keys;
	uint32_t nr_sites;
	uint32_t vcpus_online;
	uint64_t text_start, text_end; /* guest's executable range           */
	uint64_t reserved_hdr[8];

	/* --- written by the service before the guest runs --- */
	struct hvp_agent_config config;

	/* --- written by the guest at boot, read (untrusted) by the service --- */
	struct hvp_key keys[HVP_MAX_KEYS];
	uint64_t sites[HVP_MAX_SITES]; /* site addresses, grouped by key     */

	/* --- patch control: written by the service --- */
	struct hvp_patch_ctl patch __attribute__((aligned(64)));

	/* --- per vCPU, written by the guest --- */
	struct hvp_vcpu vcpu[HVP_MAX_VCPUS] __attribute__((aligned(4096)));
} __attribute__((aligned(4096)));
_Static_assert(sizeof(struct hvp_agent) == 4096 * 17 + 1024 * HVP_MAX_VCPUS, "agent layout");

#endif /* !__ASSEMBLER__ */
#endif /* HVP_AGENT_H */
