#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# vm stop while a patch runs (issue 13, item 4): the patch is cancelled and
# what it wrote undone, its client is told "VM is stopping: patch cancelled"
# (not a reset connection), and vm stop returns within a few seconds (the
# bound is generous: the host is shared).
#  - kvm: a bp-cancel patch of the 1024-site key under tight loops with a
#    10-minute --timeout (3 rounds a site at the least: seconds);
#  - qemu (journaled): a bp-emulate soak (--repeat) of the 1-site key.
. "${top_srcdir:-.}/tests/lib.sh"
require_kvm
LIMIT_MS=5000

# stop_during VM DESC PATCH-ARGS...: start the patch, stop the VM under it.
stop_during() {
	local vm=$1 desc=$2 out t0 t1 ms rc cpid
	shift 2
	out=$(mktemp)
	"$HVPATCH" -j patch apply "$vm" "$@" >"$out" 2>&1 &
	cpid=$!
	sleep 1.5
	if ! kill -0 "$cpid" 2>/dev/null; then
		echo "# the patch ended before the stop: $(head -c 300 "$out")"
		echo "ok $((_tap_n + 1)) # SKIP $desc: the patch was over before vm stop"
		_tap_n=$((_tap_n + 1))
		"$HVPATCH" vm stop "$vm" >/dev/null 2>&1
		rm -f "$out"
		return
	fi
	t0=$(date +%s%N)
	"$HVPATCH" vm stop "$vm" >/dev/null 2>&1
	rc=$?
	t1=$(date +%s%N)
	ms=$(((t1 - t0) / 1000000))
	tap_is "$desc: vm stop succeeds" 0 "$rc"
	tap_ok "$desc: vm stop returned within $LIMIT_MS ms (took $ms ms)" test "$ms" -lt "$LIMIT_MS"
	wait "$cpid"
	rc=$?
	tap_is "$desc: the patch's client exits 1" 1 "$rc"
	tap_ok "$desc: and is told the VM is stopping and the patch was cancelled" \
		jq -e '.error.desc | test("VM is stopping: patch cancelled, (nothing written|what it wrote was undone)")' "$out" ||
		echo "# $(head -c 300 "$out")"
	rm -f "$out"
}

tap_ok "vm start s1: 2 vCPUs, tight loops" "$HVPATCH" vm start s1 --vcpus 2
stop_during s1 "kvm, bp-cancel of 1024 sites" batch batch_b --method bp-cancel --timeout 600000

if command -v qemu-system-x86_64 >/dev/null; then
	tap_ok "vm start s2 --backend qemu: 2 vCPUs, tight loops" \
		"$HVPATCH" vm start s2 --backend qemu --vcpus 2 --keys single --timeout 120
	stop_during s2 "qemu, a bp-emulate soak" single single_b --method bp-emulate --repeat 10000000
	tap_ok "s2: QEMU is gone" test ! -e "$HVPATCH_RUNTIME_DIR/s2.ram"
else
	echo "# qemu-system-x86_64 not installed: the qemu part is skipped"
fi
tap_done
