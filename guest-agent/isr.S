/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Exception and NMI entry.  Kernel mode is emulated instruction by
 * instruction on this project's hosts (~0.6 us each), so the stubs save only
 * the caller-saved registers: hvp_trap() is C and preserves the rest.
 */
#include "guest.h"

	.text
.macro ISR_NOERR vec
	.globl isr_\vec
isr_\vec:
	pushq $0
	pushq $\vec
	jmp isr_common
.endm
.macro ISR_ERR vec
	.globl isr_\vec
isr_\vec:
	pushq $\vec
	jmp isr_common
.endm

ISR_NOERR 0
ISR_NOERR 1
ISR_NOERR 2
ISR_NOERR 3
ISR_NOERR 4
ISR_NOERR 5
ISR_NOERR 6
ISR_NOERR 7
ISR_ERR 8
ISR_NOERR 9
ISR_ERR 10
ISR_ERR 11
ISR_ERR 12
ISR_ERR 13
ISR_ERR 14
ISR_NOERR 15
ISR_NOERR 16
ISR_ERR 17
ISR_NOERR 18
ISR_NOERR 19
ISR_NOERR 20
ISR_ERR 21

isr_common:
	pushq %rax
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	movq %rsp, %rdi
	call hvp_trap
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rax
	addq $16, %rsp
	iretq			/* serializing (Intel SDM 9.3, 8.1.3) */

	.section .rodata
	.balign 8
	.globl hvp_isr_table
hvp_isr_table:
	.quad isr_0, isr_1, isr_2, isr_3, isr_4, isr_5, isr_6, isr_7
	.quad isr_8, isr_9, isr_10, isr_11, isr_12, isr_13, isr_14, isr_15
	.quad isr_16, isr_17, isr_18, isr_19, isr_20, isr_21

/*
 * NMI upcall, entered at CPL3 when the NMI handler redirected an interrupted
 * user context here, on this vCPU's upcall stack, with the interrupted RIP
 * and RSP saved in its agent slot (%gs: upcall_rip, upcall_rsp).  It calls
 * the configured key's sites, so that interrupt-context callers hit the sites
 * being patched (Andy Lutomirski's scenario), then goes back to the
 * interrupted code without another trap.  Flags and every caller-saved
 * register survive.  The interrupted stack is never written, and the NMI
 * handler does not redirect a vCPU whose RIP is in here (hvp_nmi_upcall to
 * hvp_nmi_upcall_end), so the saved RIP and RSP stay this upcall's until
 * its last instruction.
 */
	.text
	.globl hvp_nmi_upcall, hvp_nmi_upcall_end
hvp_nmi_upcall:
	pushfq
	pushq %rax
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	movl hvp_nmi_key(%rip), %eax		/* kept < NR_KEYS by do_nmi() */
	callq *hvp_key_run(, %rax, 8)
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rax
	popfq
	movq %gs:HVP_VCPU_UPCALL_RSP_OFF, %rsp
	jmpq *%gs:HVP_VCPU_UPCALL_RIP_OFF
hvp_nmi_upcall_end:

/*
 * The bench's exit probe, called from user mode.  On this project's hosts
 * `int n` raises #UD at CPL3 and `out` raises #GP whatever IOPL says, so the
 * request to the kernel is this one ud2, recognised by its address.
 */
	.text
	.globl hvp_ping, hvp_ping_ud2
hvp_ping:
hvp_ping_ud2:
	ud2
	ret
