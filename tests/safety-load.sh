#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# hvp-test-timeout: 900
# The safe methods stay safe under the host load that breaks them most easily.
#
# What it guards (issue 9): a kick round must not complete while a guest #BP
# is in flight.  On this project's kvm_pvm hosts a user-mode int3 can be
# stopped by a kick after it executed and before its handler ran (RIP one
# byte past the int3, CPL 3, the #BP queued in KVM: vmm/kvm.c).  The rule
# before the fix ("stopped in user mode") acknowledged such a vCPU; the
# handler then ran after the round, and bp-emulate took a stray #BP about
# once in 1,500 patches under a fork-heavy load (the issue's figure; here,
# with other work on the host, 0 in 6,000 pre-fix patches: the fault alone
# is too rare to size a test on).
#
# So the test asserts the property itself, which the guest witnesses: each
# time the own VMM acknowledges a kick it writes where the vCPU stopped into
# the vCPU's agent slot, and a #BP handler that finds its own int3's RIP
# there, with the loop count unchanged, ran after a round completed over its
# int3 (bp_late).  With the old rule re-enabled (HVP_TEST_KICK_ACK=cpl3, test
# only) 200 bp-emulate/kick patches under this load gave bp_late = 97 (and
# 47-50 per vCPU): at even a twentieth of that rate, P(bp_late = 0 in 200
# patches) = e^-4.85 < 1 %, so the old rule fails this test with probability
# >= 99 %; the test runs that old rule every time and requires it to be seen,
# which also proves the load exposed the window (kick_bp_inflight > 0).
#
# Then every safe method x sync kind, PER patches each, on 2 vCPUs calling the
# key in a tight loop, with the load: every patch completes (bp-cancel: those
# that complete within its --timeout leave no trace; the rest roll back),
# 0 guest faults, bp_late = 0.  Every fault is printed (vCPU, vector, RIP,
# patch_seq).
. "${top_srcdir:-.}/tests/lib.sh"
require_kvm

per=${HVP_SAFETY_PATCHES:-300}
pvm=false
[ -d /sys/module/kvm_pvm ] && pvm=true

sum_vmm() { # VM FIELD
	"$HVPATCH" -j stats "$1" | jq "[.vcpus[].vmm.$2] | add"
}

host_load_start 800
tap_ok "vm start safe: 2 vCPUs, tight loops on 'single'" \
	"$HVPATCH" vm start safe --vcpus 2 --keys single
tap_ok "vm start oldrule: the same, kicks acknowledged by the rule before issue 9" \
	env HVP_TEST_KICK_ACK=cpl3 "$HVPATCH" vm start oldrule --vcpus 2 --keys single

# The old rule, so that the check below is known to see it.
r=$("$HVPATCH" -j patch apply oldrule single single_c --method bp-emulate --sync kick \
	--repeat 200)
late=$(jq .bp_late <<<"$r")
if $pvm; then
	tap_ok "the old kick rule lets rounds complete over a #BP in flight: bp_late $late in 200 patches" \
		test "${late:-0}" -gt 0
else
	echo "ok - # SKIP not a kvm_pvm host: a #BP is delivered with its int3 (bp_late $late)"
fi
tap_ok "vm stop oldrule" "$HVPATCH" vm stop oldrule

for sync in kick nmi; do
	for method in bp-emulate bp-cancel stop; do
		to=()
		[ "$method" = bp-cancel ] && to=(--timeout 500)
		r=$("$HVPATCH" -j patch apply safe single single_c --method "$method" --sync "$sync" \
			"${to[@]}" --repeat "$per")
		got=$(jq -r '"\(.patches) \(.faults) \(.bp_late)"' <<<"$r")
		tap_is "$method/$sync under load: $per patches, 0 faults, 0 late handlers ($(jq -c '{completed, rollbacks, mean_latency_ns, max_stall_ns, guest_idle_between, fault_patch_seqs, reason}' <<<"$r"))" \
			"$per 0 0" "$got"
		[ "$got" = "$per 0 0" ] || print_faults safe
		c=$(jq .completed <<<"$r")
		if [ "$method" = bp-cancel ]; then
			# A tight loop hits the single site in most state-1 windows
			# (Andy Lutomirski's livelock): some patches time out and
			# roll back; a rollback leaves the old target everywhere.
			tap_ok "$method/$sync: $c of $per completed, the rest rolled back" \
				test "${c:-0}" -gt 0
		else
			tap_is "$method/$sync: every patch completed" "$per" "$c"
		fi
	done
done
inflight=$(sum_vmm safe kick_bp_inflight)
if $pvm; then
	tap_ok "the load put a #BP in flight across a kick ($inflight kicks refused)" \
		test "${inflight:-0}" -gt 0
fi
# The #BP handlers acknowledge kick rounds as they leave (bp_leave): the
# path the safe runs above took, not only the VMM's kicks.
gacks=$(sum_vmm safe kick_guest_acks)
tap_ok "#BP handlers acknowledged $gacks kick rounds as they left" test "${gacks:-0}" -gt 0
nf=$("$HVPATCH" -j stats safe | jq '[.vcpus[].nr_faults] | add')
tap_is "the guest counted 0 faults" 0 "$nf"
[ "$nf" = 0 ] || print_faults safe
tap_ok "vm stop safe" "$HVPATCH" vm stop safe
host_load_stop
tap_done
