#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# The qemu backend: a real QEMU microvm launched by the service, patched live
# (the core matrix of tests/backend-lib.sh), then read by a client we did not
# write: gdb, through QEMU's gdbstub, disassembles a patched site as `call`
# to the new target.
. "${top_srcdir:-.}/tests/lib.sh"
. "${top_srcdir:-.}/tests/backend-lib.sh"
require_kvm
command -v qemu-system-x86_64 >/dev/null ||
	{ echo "1..0 # SKIP qemu-system-x86_64 not installed (./quickstart installs it)"; exit 0; }

vm=q1
backend_core "$vm" qemu
site=$(head -n 1 <<<"$SITES")
target=$(sym small_b)
# gdb marks the line with "=>" when a vCPU's PC is that very address
g=$(timeout 60 gdb -batch -nx -ex 'set architecture i386:x86-64' \
	-ex "target remote $HVPATCH_RUNTIME_DIR/$vm.gdb" -ex "x/i $site" -ex detach 2>&1)
tap_ok "gdb (QEMU's gdbstub) disassembles $site as call 0x$target" \
	grep -Eq "^(=>)? *$site:[[:space:]]+call +0x$target" <<<"$g" ||
	printf '%s\n' "$g" | tail -n 5 | sed 's/^/# /'
tap_is "$vm: 0 guest faults after all of it" 0 "$(faults "$vm")"
tap_is "$vm: both vCPUs still running" '["running","running"]' \
	"$("$HVPATCH" -j stats "$vm" | jq -c '[.vcpus[].state]')"
qpid=$(cat "$HVPATCH_RUNTIME_DIR/$vm.qemu.pid")
tap_ok "vm stop" "$HVPATCH" vm stop "$vm"
tap_ok "QEMU (pid $qpid) and its RAM file are gone after vm stop" \
	test ! -e "$RAM" -a ! -e "/proc/$qpid"
tap_done
