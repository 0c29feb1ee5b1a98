#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# A patch whose journal record cannot be written and synced does not take
# that step (issue 13, item 3).  On a qemu VM (its journal is what a dead
# service is recovered from), 2 vCPUs in tight loops:
#  - HVPATCH_JOURNAL_FAIL_AT=K (test only: record K fails with EIO): the
#    first synced record of a patch fails, and the service refuses it with
#    "nothing written: journal: ..."; a record after the first write fails,
#    for stop, bp-emulate (after the int3s, after the tails) and bp-cancel,
#    and what the patch wrote is undone and the answer says so.  Each time
#    the key still calls its old target, with 0 guest faults.
#  - a small tmpfs this test mounts as the runtime directory, filled up
#    after the VM started: bp-emulate answers "nothing written: journal: No
#    space left on device" (it used to complete with a 0-byte journal); the
#    guest runs on, unpatched; once there is room again the patch completes.
. "${top_srcdir:-.}/tests/lib.sh"
. "${top_srcdir:-.}/tests/backend-lib.sh"
require_kvm
command -v qemu-system-x86_64 >/dev/null ||
	{ echo "1..0 # SKIP qemu-system-x86_64 not installed (./quickstart installs it)"; exit 0; }
[ "$(id -u)" = 0 ] || { echo "1..0 # SKIP needs root (it mounts a tmpfs)"; exit 0; }

running() { [ "$("$HVPATCH" -j stats "$1" | jq -c '[.vcpus[].state]')" = '["running","running"]' ]; }

# A new service for VM with HVPATCH_JOURNAL_FAIL_AT=K (the idle one killed).
with_fail_at() { # VM K
	local pid
	pid=$(cat "$HVPATCH_RUNTIME_DIR/$1.pid")
	kill -9 "$pid"
	for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
	HVPATCH_JOURNAL_FAIL_AT=$2 "$HVPATCH" vm attach "$1" >/dev/null
}

# fail_case VM KEY OLD NEW METHOD K WANT: record K fails; the answer matches WANT.
fail_case() {
	local vm=$1 key=$2 old=$3 new=$4 method=$5 k=$6 want=$7 out
	with_fail_at "$vm" "$k" || { tap_ok "attach with HVPATCH_JOURNAL_FAIL_AT=$k" false; return; }
	out=$("$HVPATCH" -j patch apply "$vm" "$key" "$new" --method "$method" --timeout 20000 2>&1)
	tap_ok "$method, record $k fails: $want" \
		jq -e --arg w "$want" '(.completed != true) and (.error.desc | test($w))' <<<"$out" ||
		echo "# $out"
	tap_is "$method, record $k fails: $key still calls $old, 0 faults, vCPUs running" \
		"$old 0 ok" "$(current "$vm" "$key") $(faults "$vm") $(running "$vm" && echo ok)"
}

undone="journal: Input/output error: patch cancelled, what it wrote was undone"
tap_ok "vm start j1 --backend qemu: 2 vCPUs, tight loops" \
	"$HVPATCH" vm start j1 --backend qemu --vcpus 2 --keys single,small --timeout 120
# single (1 site), bp-emulate: 1 begin, 2 site, 3 vector, 4 int3s, 5 round,
# 6 tails, 7 round, 8 first bytes, ...
fail_case j1 single single_a single_c bp-emulate 3 "nothing written: journal: Input/output error"
fail_case j1 single single_a single_c bp-emulate 6 "$undone"
fail_case j1 single single_a single_c bp-emulate 8 "$undone"
# small (16 sites), stop: 1 begin, 2-17 sites, 18 pause, 19 site 0, 20 site 1, 21 site 2
fail_case j1 small small_a small_c stop 21 "$undone"
# bp-cancel: 18 is site 0's first int3; 25 comes after at least one write
fail_case j1 small small_a small_c bp-cancel 25 "$undone"
with_fail_at j1 0
out=$("$HVPATCH" -j patch apply j1 single single_c --method bp-emulate)
tap_is "with a journal that works again the patch completes" "true single_c" \
	"$(jq -r .completed <<<"$out") $(current j1 single)"
tap_ok "vm stop j1" "$HVPATCH" vm stop j1

# --- a full disk ---
mnt=$(mktemp -d /tmp/hvpatch-tmpfs.XXXXXX)
trap '_tap_cleanup; umount "$mnt" 2>/dev/null; rmdir "$mnt"' EXIT
if ! mount -t tmpfs -o size=40m,mode=0700 tmpfs "$mnt"; then
	echo "# cannot mount a tmpfs here: the full-disk part is skipped"
	tap_done
fi
full_vm() { HVPATCH_RUNTIME_DIR=$mnt "$HVPATCH" "$@"; }
on_full() { HVPATCH_RUNTIME_DIR=$mnt "$@"; }	# for the helpers of backend-lib.sh
tap_ok "vm start j2 --backend qemu on a 40 MiB tmpfs" \
	full_vm vm start j2 --backend qemu --vcpus 2 --mem 16 --keys single --timeout 120
# the guest's RAM file must not need a page once the disk is full
fallocate -l 16MiB "$mnt/j2.ram"
dd if=/dev/zero of="$mnt/filler" bs=64k 2>/dev/null
tap_is "the runtime directory's filesystem is full" 0 "$(df --output=avail "$mnt" | tail -n 1 | tr -d ' ')"
out=$(full_vm -j patch apply j2 single single_c --method bp-emulate 2>&1)
tap_ok "bp-emulate: nothing written: journal: No space left on device" \
	jq -e '(.completed != true) and (.error.desc == "nothing written: journal: No space left on device")' <<<"$out" ||
	echo "# $out"
tap_is "the guest runs on unpatched: single calls single_a, 0 faults, vCPUs running" \
	"single_a 0 ok" \
	"$(on_full current j2 single) $(on_full faults j2) $(on_full running j2 && echo ok)"
tap_ok "its workload goes on calling single_a, never single_c" \
	on_full switch_proven j2 single single_a single_c
rm -f "$mnt/filler"
out=$(full_vm -j patch apply j2 single single_c --method bp-emulate 2>&1)
tap_is "with room again the patch completes" "true" "$(jq -r .completed <<<"$out")"
tap_ok "vm stop j2" full_vm vm stop j2
tap_done
