#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Patch engine on the real /dev/kvm, beyond the core matrix
# (tests/patch-matrix.sh):
#  - the 1024-site key under tight loops: bp-emulate in exactly 3 rounds,
#    stop in one pause;
#  - bp-cancel on the hot batch times out with rollbacks and every old byte
#    back, or completes; at a low hit rate it completes;
#  - naive --unsafe tears, and the tears are reported;
#  - bp-cancel-hpa (the proposal as written) needs --unsafe, and then runs;
#  - bad requests are refused and write nothing.
. "${top_srcdir:-.}/tests/lib.sh"
require_kvm

. "${top_srcdir:-.}/tests/lib-patch.sh"

vm=pb
tap_ok "vm start $vm: 2 vCPUs, tight loops on 'single' and 'batch', NMI storm" \
	"$HVPATCH" vm start "$vm" --vcpus 2 --keys single,batch --nmi-rate 2000 --nmi-key single
# --- the 1024-site batch ---
r=$(patch "$vm" batch batch_c --method bp-emulate --sync kick)
tap_ok "batch bp-emulate: 1024 sites in exactly 3 sync rounds" \
	test "$(jq '.completed and .sites == 1024 and .sync_rounds == 3' <<<"$r")" = true
# who held the slowest round (issue 10): each vCPU, the last to ack first,
# none after the round ended; each vCPU's own longest stall
tap_ok "the slowest kick round names both vCPUs, the last to acknowledge first ($(jq -c .slowest_round <<<"$r"))" \
	test "$(jq '.slowest_round | .kind == "kick" and (.held_by | length) == 2 and
		(.held_by | map(.vcpu) | sort) == [0, 1] and
		.held_by[0].wait_ns >= .held_by[1].wait_ns and
		all(.held_by[]; .acked and .wait_ns <= $r.slowest_round.ns and
		    (.cpl == 3 or .acked_by_handler))' \
		--argjson r "$r" <<<"$r")" = true
tap_ok "stall_ns_by_vcpu: one per vCPU, its maximum is max_stall_ns" \
	test "$(jq '(.stall_ns_by_vcpu | length) == 2 and (.stall_ns_by_vcpu | max) == .max_stall_ns' <<<"$r")" = true
r=$(patch "$vm" batch batch_a --method stop --sync nmi)
tap_ok "batch stop: 1024 sites in one pause" \
	test "$(jq '.completed and .sites == 1024 and .sync_rounds == 1' <<<"$r")" = true
tap_ok "batch now calls batch_a" switch_proven "$vm" batch batch_a batch_c
# --- bp-cancel on a hot 1024-site key, short timeout ---
r=$(patch "$vm" batch batch_c --method bp-cancel --sync nmi --timeout 200)
if [ "$(jq .completed <<<"$r")" = true ]; then
	tap_ok "bp-cancel on the hot batch completed" true
else
	tap_ok "bp-cancel on the hot batch timed out with rollbacks ($(jq -c '{rollbacks, reverted_sites, reason}' <<<"$r"))" \
		test "$(jq '.rollbacks > 0' <<<"$r")" = true
	tap_is "... and every site is back on batch_a" batch_a "$(current "$vm" batch)"
fi
tap_ok "... and no int3 is left on any batch site" test \
	"$(site_bytes "$vm" batch | jq '[.[] | startswith("cc")] | any')" = false
tap_is "... with 0 faults" 0 "$(faults "$vm")" || print_faults "$vm" "$(jq .patch_seq <<<"$r")"
# --- refusals write nothing ---
before=$(site_bytes "$vm" single)
"$HVPATCH" patch apply "$vm" nokey single_a >/dev/null 2>&1
tap_is "unknown key: exit 1" 1 $?
"$HVPATCH" -j patch apply "$vm" single batch_a > "$HVPATCH_RUNTIME_DIR/err.json" 2>/dev/null
tap_is "unregistered target: exit 1" 1 $?
tap_is "... class NotFound" NotFound "$(jq -r .error.class "$HVPATCH_RUNTIME_DIR/err.json")"
"$HVPATCH" patch apply "$vm" single single_b --method naive >/dev/null 2>&1
tap_is "naive without --unsafe: exit 1" 1 $?
"$HVPATCH" patch apply "$vm" single single_b --method warp >/dev/null 2>&1
tap_is "unknown method: exit 2" 2 $?
"$HVPATCH" patch apply "$vm" single single_b --method bp-cancel-hpa 2>"$HVPATCH_RUNTIME_DIR/err"
tap_is "bp-cancel-hpa without --unsafe: exit 1" 1 $?
tap_ok "... saying it needs --unsafe ($(cat "$HVPATCH_RUNTIME_DIR/err"))" \
	grep -q 'bp-cancel-hpa.*only with --unsafe' "$HVPATCH_RUNTIME_DIR/err"
tap_is "refused requests wrote nothing" "$before" "$(site_bytes "$vm" single)"
# --- bp-cancel-hpa (--unsafe): the proposal as written runs ---
# Its faults are rare (the bench's business, not asserted here); its shape is
# not: one round per attempt and one in state 3, never bp-cancel's extra
# round between tail and first byte.  (Its state 2 is too short a window for
# a #BP to land in it reliably: the guest's completion is not asserted.)
tap_ok "patch methods: bp-cancel-hpa is unsafe" \
	test "$("$HVPATCH" -j patch methods | jq '.[] | select(.name == "bp-cancel-hpa") | .unsafe')" = true
r=$(patch "$vm" single single_b --method bp-cancel-hpa --unsafe --timeout 2000)
tap_is "bp-cancel-hpa --unsafe runs ($(jq -c '{completed, sync_rounds, retries, rollbacks, reason}' <<<"$r"))" \
	bp-cancel-hpa "$(jq -r .method <<<"$r")"
if [ "$(jq .completed <<<"$r")" = true ]; then
	tap_ok "... in one round per attempt plus one (bp-cancel: plus two)" \
		test "$(jq '.sync_rounds == .retries + 2' <<<"$r")" = true
else
	echo "ok $((_tap_n + 1)) # SKIP it timed out: $(jq -r .reason <<<"$r")"
	_tap_n=$((_tap_n + 1))
fi
r=$(patch "$vm" single single_c --method bp-cancel-hpa --unsafe --timeout 1000 --repeat 10)
tap_is "... ten more in a soak ($(jq -c '{completed, rollbacks, faults}' <<<"$r"))" 10 \
	"$(jq .patches <<<"$r")"
tap_ok "... and the site is clean: no int3 left" sites_clean "$vm" single
tap_ok "vm stop $vm" "$HVPATCH" vm stop "$vm"

# --- bp-cancel at a low hit rate completes ---
tap_ok "vm start slow: 100 loop passes/s" "$HVPATCH" vm start slow --vcpus 2 --rate 100 --keys single,batch
ok=0 seq=
for t in batch_c batch_a single_c single_a; do
	k=${t%_*}
	# batch is 1024 sites at 3 sync rounds each, one at a time: on a loaded
	# host that alone can take over 20 s (a round every ~10 ms) without a
	# single #BP in the way, and slow rounds are not what this is about
	r=$(patch slow "$k" "$t" --method bp-cancel --sync kick --timeout 60000 2>&1)
	if [ "$(jq '.completed and .faults == 0' <<<"$r" 2>/dev/null)" = true ]; then
		ok=$((ok + 1))
	else
		diag_json "$k -> $t" "$r"
		seq=$(jq .patch_seq <<<"$r" 2>/dev/null)
	fi
done
tap_is "bp-cancel completes at a low hit rate, 0 faults (4 of 4)" 4 "$ok" || print_faults slow "$seq"

# --- unexpected old bytes: a torn site is refused, naming it ---
# 'medium' is not called by this VM's workload, so a half-written site is
# only data here: naive with --naive-bytes 2 leaves the first site torn.
patch slow medium medium_c --method naive --unsafe --naive-bytes 2 >/dev/null
out=$("$HVPATCH" patch apply slow medium medium_a --method stop 2>&1)
tap_is "a site with unexpected bytes: the patch is refused (exit 1)" 1 $?
tap_ok "... naming the site ($out)" grep -q "site 0x" <<<"$out"
tap_ok "vm stop slow" "$HVPATCH" vm stop slow

# --- naive tears, and the tears are seen ---
tap_ok "vm start tear: 2 vCPUs hammering 'batch'" "$HVPATCH" vm start tear --vcpus 2 --keys batch
# Usually the first patch tears; on a host busy with other tests (the ASan
# run, two at a time) the vCPUs may hardly run during one: up to 24 tries.
f=0
for i in $(seq 24); do
	if [ $((i % 2)) = 1 ]; then t=batch_c; else t=batch_a; fi
	patch tear batch "$t" --method naive --unsafe --naive-delay-us 20 >/dev/null || true
	f=$(faults tear)
	[ "$f" -gt 0 ] && break
done
tap_ok "naive --unsafe byte by byte under load: tears reported as faults ($f)" test "$f" -gt 0
tap_ok "vm stop tear" "$HVPATCH" vm stop tear

tap_done
