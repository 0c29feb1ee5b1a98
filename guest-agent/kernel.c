// SPDX-License-Identifier: GPL-2.0-only
/*
 * The guest agent's kernel (CPL0): descriptor tables, the static call tables
 * in the agent area, and the #BP, NMI and fault handlers.
 *
 * On this project's hosts every instruction executed here is emulated by KVM
 * (~0.6 us each) and an `int3` executed here kills the VM, so:
 *   - nothing in this file ever executes a static call site;
 *   - the handlers are short and straight-line; the hot ones (#BP, NMI) do
 *     only what their protocol needs.
 */
#include <stddef.h>
#include <stdbool.h>
#include "guest.h"

struct idt_entry {
	uint16_t off0;
	uint16_t sel;
	uint8_t ist;
	uint8_t type; /* P | DPL | 0xe (interrupt gate) */
	uint16_t off1;
	uint32_t off2;
	uint32_t zero;
} __attribute__((packed));

struct tss {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
} __attribute__((packed));

struct desc_ptr {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

/* The agent area: the service finds it through this symbol. */
struct hvp_agent hvp_agent __attribute__((section(".agent"), used)) = {
	.magic = HVP_AGENT_MAGIC,
	.abi_version = HVP_AGENT_ABI_VERSION,
	.size = sizeof(struct hvp_agent),
};

uint64_t hvp_gdt[GDT_ENTRIES] __attribute__((aligned(16))) = {
	[0] = 0,
	[1] = 0x00af9a000000ffffull, /* kernel code, 64-bit */
	[2] = 0x00cf92000000ffffull, /* kernel data */
	[3] = 0x00cf9a000000ffffull, /* kernel code, 32-bit (unused) */
	[4] = 0x00cff2000000ffffull, /* user data, DPL 3 */
	[5] = 0x00affa000000ffffull, /* user code, 64-bit, DPL 3 */
};

static struct idt_entry idt[256] __attribute__((aligned(16)));
static struct tss tss[HVP_MAX_VCPUS] __attribute__((aligned(16)));
static uint8_t nmi_stacks[HVP_MAX_VCPUS][ISTACK_SIZE] __attribute__((aligned(16)));
static uint8_t df_stacks[HVP_MAX_VCPUS][ISTACK_SIZE] __attribute__((aligned(16)));
static uint8_t ustacks[HVP_MAX_VCPUS][USTACK_SIZE] __attribute__((aligned(16)));
/* The NMI upcall's user stacks (isr.S: flags, nine registers, two calls). */
#define UPCALL_STACK_SIZE 1024
static uint8_t upcall_stacks[HVP_MAX_VCPUS][UPCALL_STACK_SIZE] __attribute__((aligned(16)));

extern uint64_t hvp_isr_table[22];
extern const char hvp_ap_tramp[], hvp_ap_tramp_end[];
extern char hvp_ping_ud2[];
extern char kstacks[];
extern char __text_start[], __text_end[];
extern const uint64_t __start_static_call_sites[], __stop_static_call_sites[];
extern char single_a[], single_b[], single_c[], small_a[], small_b[], small_c[];
extern char medium_a[], medium_b[], medium_c[], batch_a[], batch_b[], batch_c[];
extern char tramp_a[], tramp_b[], tramp_c[];

/* Read by hvp_nmi_upcall: the key its upcall calls, always < NR_KEYS;
 * set from the config by each NMI, so the service may change it. */
uint32_t hvp_nmi_key;

/* 0 while vCPU 0 builds the shared tables, 1 once the others may proceed. */
static volatile uint32_t boot_stage;

struct key_desc {
	const char *name;
	uint32_t kind;
	uint32_t calls_per_pass; /* 0: one per site */
	const char *targets[3];
	void *addrs[3];
};

#define KEY3(n, kind, cpp)                                    \
	{                                                     \
#n, kind, cpp, { #n "_a", #n "_b", #n "_c" }, \
		{                                             \
			n##_a, n##_b, n##_c                   \
		}                                             \
	}
static const struct key_desc key_descs[NR_KEYS] = {
	[KEY_SINGLE] = KEY3(single, HVP_KEY_INLINE, 0),
	[KEY_SMALL] = KEY3(small, HVP_KEY_INLINE, 0),
	[KEY_MEDIUM] = KEY3(medium, HVP_KEY_INLINE, 0),
	[KEY_BATCH] = KEY3(batch, HVP_KEY_INLINE, 0),
	[KEY_TRAMP] = KEY3(tramp, HVP_KEY_TRAMP, 4), /* run_tramp calls it 4 times */
};

static void serial_puts(const char *s)
{
	while (*s)
		outb(HVP_PORT_SERIAL, (uint8_t)*s++);
}

static void serial_putu(unsigned v)
{
	char buf[12];
	int i = sizeof(buf) - 1;

	buf[i] = 0;
	do {
		buf[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v && i);
	serial_puts(&buf[i]);
}

static void copy_name(char *dst, const char *src)
{
	int i;

	for (i = 0; i < HVP_NAME_LEN - 1 && src[i]; i++)
		dst[i] = src[i];
	for (; i < HVP_NAME_LEN; i++)
		dst[i] = 0;
}

/*
 * One bit per byte of text, set at the first byte of every static call site:
 * is_site() for the NMI and #BP handlers, in O(1) (guest kernel mode is
 * emulated on some hosts: no table walks in a handler).  Built by vCPU 0 at
 * boot from the agent's own .static_call_sites, never from the agent area.
 */
#define SITE_MAP_SPAN (512u << 10)
static uint8_t site_map[SITE_MAP_SPAN / 8];

static bool is_site(uint64_t a)
{
	uint64_t off = a - (uint64_t)__text_start;

	return a >= (uint64_t)__text_start && off < SITE_MAP_SPAN &&
	       ((site_map[off >> 3] >> (off & 7)) & 1);
}

/* Fill keys[] and sites[] of the agent area from .static_call_sites. */
static void build_key_tables(void)
{
	const uint64_t *e;
	uint32_t n = 0;
	unsigned k, t;

	for (k = 0; k < NR_KEYS; k++) {
		struct hvp_key *key = &hvp_agent.keys[k];
		const struct key_desc *d = &key_descs[k];

		copy_name(key->name, d->name);
		key->kind = d->kind;
		key->nr_targets = 3;
		for (t = 0; t < 3; t++) {
			key->targets[t] = (uint64_t)d->addrs[t];
			copy_name(key->target_names[t], d->targets[t]);
		}
		key->first_site = n;
		for (e = __start_static_call_sites; e < __stop_static_call_sites; e += 2) {
			uint64_t off = e[0] - (uint64_t)__text_start;

			if (e[1] == k && n < HVP_MAX_SITES)
				hvp_agent.sites[n++] = e[0];
			if (e[1] == k && off < SITE_MAP_SPAN)
				site_map[off >> 3] |= (uint8_t)(1u << (off & 7));
			else if (e[1] == k)
				serial_puts("hvpatch-guest: a site beyond SITE_MAP_SPAN\n");
		}
		key->nr_sites = n - key->first_site;
		key->calls_per_pass = d->calls_per_pass ? d->calls_per_pass : key->nr_sites;
	}
	hvp_agent.nr_sites = n;
	hvp_agent.nr_keys = NR_KEYS;
	hvp_agent.text_start = (uint64_t)__text_start;
	hvp_agent.text_end = (uint64_t)__text_end;
}

static void set_gate(unsigned vec, uint64_t handler, unsigned dpl, unsigned ist)
{
	struct idt_entry *g = &idt[vec];

	g->off0 = (uint16_t)handler;
	g->sel = SEL_KCODE;
	g->ist = (uint8_t)ist;
	g->type = (uint8_t)(0x8e | dpl << 5);
	g->off1 = (uint16_t)(handler >> 16);
	g->off2 = (uint32_t)(handler >> 32);
	g->zero = 0;
}

static void build_idt(void)
{
	unsigned v;

	for (v = 0; v < 22; v++)
		set_gate(v, hvp_isr_table[v], 0, 0);
	set_gate(2, hvp_isr_table[2], 0, 1); /* NMI on IST1 */
	set_gate(3, hvp_isr_table[3], 3, 0); /* int3 allowed from CPL3 */
	set_gate(8, hvp_isr_table[8], 0, 2); /* #DF on IST2 */
}

static void wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

static void setup_cpu(unsigned cpu)
{
	struct tss *t = &tss[cpu];
	uint64_t base = (uint64_t)t;
	unsigned slot = 6 + 2 * cpu;
	struct desc_ptr gdtr = { sizeof(hvp_gdt) - 1, (uint64_t)hvp_gdt };
	struct desc_ptr idtr = { sizeof(idt) - 1, (uint64_t)idt };
	uint16_t sel = (uint16_t)(SEL_TSS0 + 16 * cpu);

	t->rsp[0] = (uint64_t)kstacks + (uint64_t)(cpu + 1) * KSTACK_SIZE;
	t->ist[0] = (uint64_t)&nmi_stacks[cpu][ISTACK_SIZE];
	t->ist[1] = (uint64_t)&df_stacks[cpu][ISTACK_SIZE];
	t->iomap_base = sizeof(*t);
	/* 64-bit available TSS descriptor, 16 bytes */
	hvp_gdt[slot] = (sizeof(*t) - 1) | (base & 0xffffff) << 16 | 0x89ull << 40 |
			((base >> 24) & 0xff) << 56;
	hvp_gdt[slot + 1] = base >> 32;

	__asm__ volatile("lgdt %0" : : "m"(gdtr));
	__asm__ volatile("lidt %0" : : "m"(idtr));
	__asm__ volatile("ltr %0" : : "r"(sel));
	wrmsr(0xc0000101, (uint64_t)&hvp_agent.vcpu[cpu]); /* GS base */
}

/* Busy-wait on the TSC (only at boot, in kernel mode, before any workload). */
static void delay_us(uint64_t us)
{
	uint64_t khz = hvp_agent.config.tsc_khz ? hvp_agent.config.tsc_khz : 3000000;
	uint64_t end = rdtsc() + us * khz / 1000;

	while (rdtsc() < end)
		cpu_relax();
}

#define LAPIC_BASE	 0xfee00000ul
#define LAPIC_SVR	 0xf0
#define LAPIC_ICR_LO	 0x300
#define LAPIC_ICR_HI	 0x310
#define ICR_ALL_BUT_SELF (3u << 18)
#define ICR_LEVEL_ASSERT (1u << 14)
#define ICR_INIT	 (5u << 8)
#define ICR_STARTUP	 (6u << 8)

static void lapic_write(unsigned reg, uint32_t v)
{
	*(volatile uint32_t *)(LAPIC_BASE + reg) = v;
}

/*
 * Start the other vCPUs the way firmware does (Intel SDM Vol. 3A 8.4.4.1):
 * INIT, 10 ms, SIPI, 200 us, SIPI, as a broadcast to all but self, so that
 * no APIC id has to be known.  A vCPU that already started ignores the
 * second SIPI.  Interrupts stay off everywhere: only INIT, SIPI and NMI are
 * ever delivered, and those ignore IF.
 */
#define LAPIC_LVT_LINT1 0x360
#define LVT_DM_NMI	(4u << 8)

/*
 * QEMU's inject-nmi reaches a vCPU through its LAPIC's LINT1 pin: only when
 * LVT LINT1 is unmasked in NMI delivery mode.  Every vCPU routes it so, as
 * firmware does on PCs.
 */
static void lapic_nmi_setup(void)
{
	lapic_write(LAPIC_SVR, 0x1ff); /* software-enable, spurious 0xff */
	lapic_write(LAPIC_LVT_LINT1, LVT_DM_NMI);
}

static void start_aps(void)
{
	const char *src = hvp_ap_tramp;
	char *dst = (char *)HVP_AP_TRAMPOLINE_PA;
	unsigned i;

	for (i = 0; src + i < hvp_ap_tramp_end; i++)
		dst[i] = src[i];
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	lapic_write(LAPIC_SVR, 0x1ff); /* software-enable, spurious 0xff */
	lapic_write(LAPIC_ICR_HI, 0);
	lapic_write(LAPIC_ICR_LO, ICR_ALL_BUT_SELF | ICR_LEVEL_ASSERT | ICR_INIT);
	delay_us(10000);
	for (i = 0; i < 2; i++) {
		lapic_write(LAPIC_ICR_LO, ICR_ALL_BUT_SELF | ICR_LEVEL_ASSERT | ICR_STARTUP |
						  (HVP_AP_TRAMPOLINE_PA >> 12));
		delay_us(200);
	}
}

static void enter_user(unsigned cpu) __attribute__((noreturn));
static void enter_user(unsigned cpu)
{
	uint64_t usp = (uint64_t)&ustacks[cpu][USTACK_SIZE] - 8;

	__asm__ volatile("movw %w0, %%ds\n\t"
			 "movw %w0, %%es\n\t"
			 "pushq %q0\n\t"  /* ss */
			 "pushq %1\n\t"	  /* rsp */
			 "pushq $0x2\n\t" /* rflags: IF clear, no interrupts used */
			 "pushq %q2\n\t"  /* cs */
			 "pushq %3\n\t"	  /* rip */
			 "iretq"
			 :
			 : "r"((uint64_t)SEL_UDATA), "r"(usp), "r"((uint64_t)SEL_UCODE),
			   "r"((uint64_t)hvp_workload_main), "D"((uint64_t)cpu)
			 : "memory");
	__builtin_unreachable();
}

void hvp_kernel_main(unsigned cpu)
{
	struct hvp_agent_config *cfg = &hvp_agent.config;
	unsigned nr = cfg->nr_vcpus;

	if (nr == 0 || nr > HVP_MAX_VCPUS)
		nr = 1;
	if (cpu >= nr) { /* more vCPUs than configured: stay parked */
		for (;;)
			__asm__ volatile("cli; hlt");
	}
	if (cpu == 0) {
		serial_puts("hvpatch guest agent: building tables\n");
		build_key_tables();
		if (cfg->hostile)
			hvp_hostile_boot(cfg->hostile); /* test only: lie */
		build_idt();
		__atomic_store_n(&boot_stage, 1, __ATOMIC_RELEASE);
		if ((cfg->flags & HVP_CFG_START_APS) && nr > 1) {
			serial_puts("hvpatch guest agent: starting APs (INIT-SIPI-SIPI)\n");
			start_aps();
		}
	} else {
		while (__atomic_load_n(&boot_stage, __ATOMIC_ACQUIRE) == 0)
			cpu_relax();
	}
	setup_cpu(cpu);
	hvp_agent.vcpu[cpu].apic_id = cpu;
	if (cfg->flags & HVP_CFG_START_APS)
		lapic_nmi_setup();
	if (cpu == 0 && (cfg->flags & HVP_CFG_PROBE_KINT3))
		__asm__ volatile("int3"); /* doctor: does kernel-mode int3 work here? */
	hvp_agent.vcpu[cpu].started_tsc = rdtsc();
	__atomic_store_n(&hvp_agent.vcpu[cpu].state, HVP_VCPU_RUNNING, __ATOMIC_RELEASE);
	if (__atomic_add_fetch(&hvp_agent.vcpus_online, 1, __ATOMIC_ACQ_REL) == nr) {
		serial_puts("hvpatch guest agent: ");
		serial_putu(nr);
		serial_puts(" vCPUs up, ");
		serial_putu(hvp_agent.nr_sites);
		serial_puts(" static call sites\n");
		__atomic_store_n(&hvp_agent.ready, 1, __ATOMIC_RELEASE);
		outl(HVP_PORT_READY, HVP_READY_MAGIC);
	}
	enter_user(cpu);
}

/* ---- traps ---- */

/* apic_id is written at boot right after the GS base: it is the index. */
static unsigned this_cpu(void)
{
	unsigned cpu = this_vcpu->apic_id;

	return cpu < HVP_MAX_VCPUS ? cpu : 0;
}

static void record_fault(struct trap_frame *f) __attribute__((noreturn));
static void record_fault(struct trap_frame *f)
{
	struct hvp_vcpu *me = &hvp_agent.vcpu[this_cpu()];
	struct hvp_fault *r = &me->faults[me->nr_faults % HVP_FAULT_LOG];
	uint64_t cr2;

	__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
	r->vector = (uint32_t)f->vector;
	r->cs = (uint32_t)f->cs;
	r->rip = f->rip;
	r->error_code = f->error_code;
	r->cr2 = f->vector == 14 ? cr2 : 0;
	__atomic_store_n(&me->nr_faults, me->nr_faults + 1, __ATOMIC_RELEASE);
	__atomic_store_n(&me->state, HVP_VCPU_DEAD, __ATOMIC_RELEASE);
	outl(HVP_PORT_FAULT, (uint32_t)(me - hvp_agent.vcpu));
	/* Stop this vCPU's workload for good; the VMM parks it on HLT. */
	for (;;)
		__asm__ volatile("cli; hlt");
}

/* Binary search of the in-flight vector the service keeps sorted by address. */
static const struct hvp_emu_site *emu_lookup(uint64_t addr)
{
	const struct hvp_patch_ctl *p = &hvp_agent.patch;
	uint32_t lo = 0, hi = __atomic_load_n(&p->nr_emu, __ATOMIC_ACQUIRE);

	if (hi > HVP_MAX_SITES)
		return NULL;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (p->emu[mid].addr == addr)
			return &p->emu[mid];
		if (p->emu[mid].addr < addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/*
 * bp-emulate (text_poke_bp style): behave as the new instruction would.
 * A call pushes the address after the 5-byte site and continues at the target.
 */
static int bp_emulate(struct trap_frame *f, uint64_t site, struct hvp_vcpu *me)
{
	const struct hvp_emu_site *e = emu_lookup(site);

	if (!e)
		return 0;
	if (e->opcode == HVP_OPC_CALL) {
		f->rsp -= 8;
		*(uint64_t *)f->rsp = site + HVP_INSN_LEN;
	}
	f->rip = e->target;
	me->bp_emulated++;
	return 1;
}

/*
 * bp-cancel (H. Peter Anvin's proposal): the #BP handler's half.
 *   state = cmpxchg(&state, 1, 4)
 *   1, 4: put the old first byte back (cancel); re-execute the site.
 *   2:    wait: re-execute (the patcher writes the tail, syncs, then the
 *         first byte; see below); bp-cancel-hpa: complete, re-execute.
 *   3:    the new instruction is in place; re-execute.
 *   0:    not ours.
 * The orderings against the patcher are in vmm/patch.c.
 */
static int bp_cancel(struct trap_frame *f, uint64_t site, struct hvp_vcpu *me, bool complete)
{
	struct hvp_patch_ctl *p = &hvp_agent.patch;
	uint32_t state = HVP_BPS_CANCELLABLE;
	uint8_t cc = HVP_OPC_INT3;
	uint8_t *text = (uint8_t *)site;
	unsigned i;

	if (__atomic_load_n(&p->write_addr, __ATOMIC_ACQUIRE) != site)
		return 0;
	__atomic_compare_exchange_n(&p->state, &state, HVP_BPS_CANCELLED, 0, __ATOMIC_ACQ_REL,
				    __ATOMIC_ACQUIRE);
	/* state now holds the value seen before the exchange */
	switch (state) {
	case HVP_BPS_CANCELLABLE:
	case HVP_BPS_CANCELLED:
		__atomic_compare_exchange_n(text, &cc, p->old_insn[0], 0, __ATOMIC_ACQ_REL,
					    __ATOMIC_RELAXED);
		me->bp_cancels++;
		break;
	case HVP_BPS_FINAL:
		if (complete) {
			/*
			 * bp-cancel-hpa (--unsafe): the proposal as written
			 * completes the patch, tail then first byte, with no
			 * sync round between: the race described below.
			 */
			for (i = 1; i < HVP_INSN_LEN; i++)
				__atomic_store_n(&text[i], p->new_insn[i], __ATOMIC_RELEASE);
			__atomic_compare_exchange_n(text, &cc, p->new_insn[0], 0, __ATOMIC_ACQ_REL,
						    __ATOMIC_RELAXED);
			me->bp_state2_waits++; /* here: completions */
			break;
		}
		/*
		 * Wait (the proposal's other choice): re-execute until the
		 * patcher's first byte lands.  Completing here would write the
		 * first byte right after the tail with no sync round between,
		 * which lets a vCPU holding stale bytes run a half-new rel32
		 * (tests/model: bp-cancel vs bp-cancel-fixed).
		 */
		me->bp_state2_waits++;
		break;
	case HVP_BPS_INSTALLED:
		me->bp_reexec++;
		break;
	default:
		return 0;
	}
	f->rip = site; /* re-execute; iretq serializes first */
	return 1;
}

/*
 * The read order is what makes a #BP handled right whenever it runs, even one
 * that a VMM let straddle a sync round (issue 9: a #BP in flight across a
 * kick): the site's first byte, then the patch state, then the byte again.
 * The service publishes a patch's state (method, vector, write_addr;
 * release) before it writes the int3 that state covers, and takes it away
 * only after a sync round that this vCPU acknowledges from user mode, that
 * is after this handler's iretq.  So:
 *   - the byte is no longer int3: the int3 we hit is gone, and what is there
 *     now is a whole instruction (old or new; tails are only written under
 *     an int3): re-execute it;
 *   - it is int3: the patch that put it there has published its state and
 *     cannot clear it before we return: handle it by that state;
 *   - int3, and no state knows the site: look once more; an int3 still
 *     there is not ours (a stray #BP: a fault, reported).
 * Reading the state first (as before) let a handler that began between two
 * patches see "no patch", then the next patch's int3: a stray #BP.
 */
static int bp_int3_gone(struct trap_frame *f, uint64_t site, struct hvp_vcpu *me)
{
	if (__atomic_load_n((uint8_t *)site, __ATOMIC_ACQUIRE) == HVP_OPC_INT3)
		return 0;
	f->rip = site;
	me->bp_reexec++;
	return 1;
}

/*
 * Acknowledge the own VMM's kick round in progress as this handler leaves.
 * A kick that finds the vCPU in guest kernel mode (in this handler) is
 * refused and retried: on a key called in a tight loop the vCPU spends most
 * of its time here, and a round used to take tens of retries (issue 10).
 * Acknowledging here is as safe as a kick that finds the vCPU in user mode
 * at f->rip: everything this handler reads of the patch (the byte, the
 * method, the vector, the state) was read above, what is left is the return
 * and its iretq, which serializes; and no #BP can be in flight, as no int3
 * has executed since this one.  The VMM checks the value against the round
 * it is waiting for, so a stale acknowledgement acknowledges nothing.
 */
static void bp_leave(struct trap_frame *f, struct hvp_vcpu *me)
{
	uint64_t gen = __atomic_load_n(&hvp_agent.patch.kick_gen, __ATOMIC_ACQUIRE);

	if (gen == __atomic_load_n(&me->kick_acked_gen, __ATOMIC_RELAXED))
		return;
	me->ack_loops = me->loops;
	me->ack_rip = f->rip;
	__atomic_store_n(&me->kick_acked_gen, gen, __ATOMIC_RELEASE);
	outl(HVP_PORT_KICK_ACK, (uint32_t)gen);
}

static void do_bp(struct trap_frame *f)
{
	struct hvp_vcpu *me = &hvp_agent.vcpu[this_cpu()];
	uint64_t site = f->rip - 1;
	int handled = 0;
	uint32_t pm;

	me->bp_traps++;
	if ((f->cs & 3) != 3)
		record_fault(f); /* never a site of ours: they run at CPL3 */
	if (f->rip == __atomic_load_n(&me->ack_rip, __ATOMIC_RELAXED) &&
	    me->loops == __atomic_load_n(&me->ack_loops, __ATOMIC_RELAXED))
		me->bp_late++; /* see protocol/hvp_agent.h */
	/*
	 * Only a site's int3 is ours.  Re-executing anything else would jump
	 * into the middle of an instruction (a #BP delivered with a frame some
	 * other handler changed): report it instead.
	 */
	if (!is_site(site))
		record_fault(f);
	if (!bp_int3_gone(f, site, me)) {
		pm = __atomic_load_n(&hvp_agent.patch.method, __ATOMIC_ACQUIRE);
		switch (pm) {
		case HVP_PM_EMULATE:
			handled = bp_emulate(f, site, me);
			break;
		case HVP_PM_CANCEL:
		case HVP_PM_CANCEL_HPA:
			handled = bp_cancel(f, site, me, pm == HVP_PM_CANCEL_HPA);
			break;
		}
		if (!handled && !bp_int3_gone(f, site, me))
			record_fault(f); /* a stray #BP: report it */
	}
	bp_leave(f, me); /* last: nothing of the patch is read after it */
}

/*
 * NMI: acknowledge a pending sync round (the iretq that ends this handler is
 * the serializing instruction the round exists for), then optionally upcall.
 * Only an NMI that interrupted user mode acknowledges: one that lands inside
 * the #BP handler must not let a round complete while that handler runs.
 * An NMI never finds a #BP in flight (int3 executed, handler not entered,
 * vmm/kvm.c): KVM injects a queued exception before an NMI, so the NMI is
 * taken at the #BP handler's first instruction, in kernel mode.  The ack is
 * recorded (ack_rip, ack_loops) so that do_bp would see it if a host ever
 * did otherwise (bp_late).
 */
/* Is the interrupted user context the NMI upcall, or something it called? */
static bool in_upcall(const struct trap_frame *f)
{
	uint64_t lo = (uint64_t)upcall_stacks[this_cpu()];

	return (f->rip >= (uint64_t)hvp_nmi_upcall && f->rip < (uint64_t)hvp_nmi_upcall_end) ||
	       (f->rsp > lo && f->rsp <= lo + UPCALL_STACK_SIZE);
}

static void do_nmi(struct trap_frame *f)
{
	struct hvp_vcpu *me = &hvp_agent.vcpu[this_cpu()];
	uint64_t gen = __atomic_load_n(&hvp_agent.patch.sync_gen, __ATOMIC_ACQUIRE);

	me->nmis++;
	if ((f->cs & 3) != 3)
		return; /* inside a handler: the VMM will send another */
	/*
	 * User mode one byte past a site: the int3 there executed and its #BP
	 * has not been delivered yet (RIP is inside a 5-byte instruction,
	 * where user code never stops otherwise).  KVM injects a queued
	 * exception before an NMI, so this should never be seen (0 in some
	 * 3 million NMIs of bp-cancel soaks under load); the guest does not
	 * rely on the host's order for it.  Leave the frame alone, so that
	 * the #BP still finds its site (an upcall would have moved RIP), and
	 * acknowledge nothing: the VMM sends another NMI for a round.
	 */
	if (is_site(f->rip - 1)) {
		me->nmi_bp_inflight++;
		return;
	}
	hvp_nmi_key = hvp_agent.config.nmi_key < NR_KEYS ? hvp_agent.config.nmi_key : 0;
	if (gen != me->nmi_acked_gen) {
		me->ack_loops = me->loops;
		me->ack_rip = f->rip;
		__atomic_store_n(&me->nmi_acked_gen, gen, __ATOMIC_RELEASE);
		outl(HVP_PORT_NMI_ACK, (uint32_t)gen);
	}
	/*
	 * The upcall runs on a stack of its own and returns through the RIP
	 * and RSP saved here (isr.S), so the interrupted stack is never
	 * written and the frame is only ever set, never adjusted: the same
	 * whatever part of this handler runs twice.  An NMI inside the upcall
	 * or what it calls (RIP in the upcall, or RSP on its stack) does not
	 * upcall again: the return slot and the stack are in use.  It used to push
	 * the return address on the interrupted stack (f->rsp -= 8), and
	 * bp-cancel/kick under an NMI upcall storm and a fork load then lost
	 * a vCPU about once in 5,000 patches: RIP at the start of the hot
	 * page, or a return to a value of the workload's own stack (issue 9).
	 */
	if (hvp_agent.config.nmi_mode == HVP_NMI_UPCALL && me->state == HVP_VCPU_RUNNING &&
	    !in_upcall(f)) {
		me->upcall_rip = f->rip;
		me->upcall_rsp = f->rsp;
		f->rsp = (uint64_t)&upcall_stacks[this_cpu()][UPCALL_STACK_SIZE];
		f->rip = (uint64_t)hvp_nmi_upcall;
		me->nmi_upcalls++;
	}
}

/*
 * The bench's exit probe: user mode cannot cause an exit on some hosts, so it
 * asks the kernel for a burst of them with the ud2 at hvp_ping_ud2.
 */
static void do_ping(struct trap_frame *f)
{
	unsigned i;

	for (i = 0; i < HVP_PING_BURST; i++)
		outl(HVP_PORT_PING, 0);
	f->rip += 2;
}

/* Every exception and the NMI, from isr_common (isr.S). */
void hvp_trap(struct trap_frame *f)
{
	switch (f->vector) {
	case 2:
		do_nmi(f);
		return;
	case 3:
		do_bp(f);
		return;
	case 6:
		if (f->rip == (uint64_t)hvp_ping_ud2 && (f->cs & 3) == 3) {
			do_ping(f);
			return;
		}
		break; /* any other #UD is a fault like the rest */
	default:
		break;
	}
	record_fault(f); /* does not return */
}
