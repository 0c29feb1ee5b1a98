/* SPDX-License-Identifier: GPL-2.0-only */
/* Guest agent internals shared by its C and assembly files. */
#ifndef HVP_GUEST_H
#define HVP_GUEST_H

#include "hvp_agent.h"

#define SEL_KCODE   0x08
#define SEL_KDATA   0x10
#define SEL_KCODE32 0x18 /* flat 32-bit code: the AP trampoline's jump */
#define SEL_UDATA   0x23 /* GDT entry 4, RPL 3 */
#define SEL_UCODE   0x2b /* GDT entry 5, RPL 3 */
#define SEL_TSS0    0x30 /* GDT entries 6.., 16 bytes per vCPU */
#define GDT_ENTRIES (6 + 2 * 64)

#define KSTACK_SIZE 8192
#define ISTACK_SIZE 4096 /* NMI and #DF each get one (IST1, IST2) */
#define USTACK_SIZE 16384

/* Key ids: the order of keys[] in kernel.c and of the run functions. */
#define KEY_SINGLE 0
#define KEY_SMALL  1
#define KEY_MEDIUM 2
#define KEY_BATCH  3
#define KEY_TRAMP  4
#define NR_KEYS	   5

#ifndef __ASSEMBLER__
#include <stdint.h>

struct trap_frame {
	uint64_t r11, r10, r9, r8, rdi, rsi, rdx, rcx, rax;
	uint64_t vector, error_code;
	uint64_t rip, cs, rflags, rsp, ss; /* pushed by the CPU */
};

extern struct hvp_agent hvp_agent;
extern void (*const hvp_key_run[NR_KEYS])(void);
extern char hvp_nmi_upcall[], hvp_nmi_upcall_end[];
void hvp_ping(void);

void hvp_kernel_main(unsigned cpu);
void hvp_trap(struct trap_frame *f);
void hvp_workload_main(unsigned cpu) __attribute__((noreturn));
/* hostile.c: config.hostile, test only */
void hvp_hostile_boot(uint32_t mode);
void hvp_hostile_tick(uint32_t mode, uint64_t n);

/* This vCPU's counters, through %gs (set to &hvp_agent.vcpu[cpu] at boot). */
#define this_vcpu ((struct hvp_vcpu __seg_gs *)0)

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port) : "memory");
}

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port) : "memory");
}

static inline void cpu_relax(void)
{
	__asm__ volatile("pause" ::: "memory");
}
#endif

#endif
