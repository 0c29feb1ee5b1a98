/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Boot: every vCPU enters at pvh_start32 in 32-bit protected mode with paging
 * off, as the PVH boot protocol (Xen's XEN_ELFNOTE_PHYS32_ENTRY) defines for
 * the boot CPU.  The own VMM starts all vCPUs there; each takes a unique index
 * from a counter, so no register convention with the VMM is needed.
 *
 * QEMU (microvm) and libvirt enter only the boot vCPU there; the others wait
 * for INIT-SIPI.  With HVP_CFG_START_APS vCPU 0 copies hvp_ap_tramp to
 * HVP_AP_TRAMPOLINE_PA and starts them (kernel.c): each wakes in real mode at
 * that page, loads hvp_gdt, turns on protection and jumps to pvh_start32 in
 * the same state the PVH protocol gives the boot vCPU.
 */
#include "guest.h"

	.section .note.pvh, "a", @note
	.balign 4
	.long 4			/* namesz: "Xen\0" */
	.long 4			/* descsz */
	.long 18		/* XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.balign 4
	.long pvh_start32
	.balign 4

	.section .text.boot, "ax"
	.code32
	.globl pvh_start32
pvh_start32:
	cli
	movl $1, %esi
	lock xaddl %esi, hvp_cpu_counter	/* esi = this vCPU's index */
	cmpl $HVP_MAX_VCPUS, %esi
	jae 9f

	movl %cr4, %eax
	orl $0x20, %eax			/* PAE */
	movl %eax, %cr4
	movl $boot_pml4, %eax
	movl %eax, %cr3
	movl $0xc0000080, %ecx		/* EFER */
	rdmsr
	orl $0x100, %eax		/* LME */
	wrmsr
	movl %cr0, %eax
	orl $0x80000001, %eax		/* PG | PE */
	movl %eax, %cr0
	lgdt gdt_desc32
	ljmp $SEL_KCODE, $start64
9:	hlt
	jmp 9b

	.code64
start64:
	movl $SEL_KDATA, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	xorl %eax, %eax
	movl %eax, %fs
	movl %eax, %gs
	/* rsp = kstacks + (index + 1) * KSTACK_SIZE */
	movl %esi, %eax
	incl %eax
	imull $KSTACK_SIZE, %eax
	leaq kstacks(%rax), %rsp
	movl %esi, %edi
	call hvp_kernel_main
1:	hlt
	jmp 1b

/*
 * The AP trampoline: position independent in its page (CS base = the page,
 * IP = 0 after SIPI), copied there by vCPU 0.  Data, never executed in place.
 */
	.section .rodata
	.balign 16
	.globl hvp_ap_tramp, hvp_ap_tramp_end
	.code16
hvp_ap_tramp:
	cli
	lgdtl %cs:(tramp_gdt_desc - hvp_ap_tramp)
	movl %cr0, %eax
	orl $1, %eax			/* PE */
	movl %eax, %cr0
	movw $SEL_KDATA, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	ljmpl $SEL_KCODE32, $pvh_start32
	.balign 8
tramp_gdt_desc:
	.word GDT_ENTRIES * 8 - 1
	.long hvp_gdt
hvp_ap_tramp_end:
	.code64

	.data
	.balign 4
	.globl hvp_cpu_counter
hvp_cpu_counter:
	.long 0

	.balign 8
gdt_desc32:
	.word GDT_ENTRIES * 8 - 1
	.long hvp_gdt

/*
 * Boot page tables: the first 4 GiB identity-mapped with 2 MiB pages, user
 * accessible and writable (the agent is a test harness, not an OS: its
 * workloads at CPL3 read the agent area and its #BP handler writes text).
 */
	.section .data.pagetables, "aw"
	.balign 4096
	.globl boot_pml4
boot_pml4:
	.quad boot_pdpt + 0x7
	.fill 511, 8, 0
boot_pdpt:
	.quad boot_pd + 0x0000 + 0x7
	.quad boot_pd + 0x1000 + 0x7
	.quad boot_pd + 0x2000 + 0x7
	.quad boot_pd + 0x3000 + 0x7
	.fill 508, 8, 0
boot_pd:
	.set addr, 0
	.rept 2048
	.quad addr + 0x87		/* P | RW | US | PS */
	.set addr, addr + 0x200000
	.endr

	.bss
	.balign 4096
	.globl kstacks
kstacks:
	.skip KSTACK_SIZE * HVP_MAX_VCPUS
