#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# hvpatch rollout over 12 VMs, kvm and qemu mixed (every third one qemu when
# qemu-system-x86_64 is installed), 1 vCPU each at a low rate to keep them
# cheap:
#  - a gate that fails in wave 2: r07's workload does not call the key, so
#    `--gate verify` cannot prove its switch.  The canary and wave 1 stay
#    patched, wave 2 (r07 included) is reverted, wave 3 is never touched; the
#    report names r07 and the gate.  Each VM's own sites and counters are
#    read to check the report, not the report alone.
#  - a clean rollout over all 12 with --gate verify, then a rerun that skips
#    every VM as already on TARGET;
#  - bad input (unknown VM, key, target): exit 2, nothing patched;
#  - SIGINT mid-rollout: the patch in flight finishes, no new one starts, and
#    each VM is on its old or its new target, as reported.
. "${top_srcdir:-.}/tests/lib.sh"
require_kvm

qemu=false
command -v qemu-system-x86_64 >/dev/null && qemu=true
current() { "$HVPATCH" -j sites list "$1" --key single | jq -r '.keys[0].current'; }
# every VM's current target of single, in order, space separated (one jq:
# on a loaded host, starting jq is what costs)
currents() {
	local vm
	for vm in "${all[@]}"; do "$HVPATCH" -j sites list "$vm" --key single; done |
		jq -j -s '.[] | .keys[0].current + " "'
}

all=() backends=()
for i in $(seq -w 1 12); do
	vm=r$i backend=kvm keys=single
	$qemu && [ $((10#$i % 3)) -eq 0 ] && backend=qemu
	[ "$vm" = r07 ] && keys=small # it never calls single: nothing to prove
	"$HVPATCH" vm start "$vm" --backend "$backend" --vcpus 1 --mem 16 --rate 200 \
		--keys "$keys" >/dev/null 2>&1 || { echo "# vm start $vm ($backend) failed"; }
	all+=("$vm")
	backends+=("$backend")
done
list=$(IFS=,; echo "${all[*]}")
tap_is "12 VMs started ($(printf '%s\n' "${backends[@]}" | sort | uniq -c | tr -s ' \n' ' '))" 12 \
	"$("$HVPATCH" -j vm list | jq '.vms | length')"

# --- a gate fails in wave 2 ---
# canary r01; wave 1 r02-r05; wave 2 r06-r09 (r07); wave 3 r10-r12
out=$("$HVPATCH" -j rollout single single_b --vms "$list" --canary 1 --wave-size 4 \
	--max-parallel 3 --gate faults=0 --gate verify 2>&1)
rc=$?
tap_is "a failed gate: exit 1" 1 "$rc" || diag_json rollout "$out"
tap_is "the report names r07 and the gate verify" '[{"vm":"r07","gate":"verify"}]' \
	"$(jq -c '[.failed[] | {vm, gate}]' <<<"$out" 2>/dev/null)"
tap_is "it stopped at wave 2 of 4 (the canary is wave 0)" "2 4" \
	"$(jq -r '"\(.stopped_at_wave) \(.waves)"' <<<"$out" 2>/dev/null)"
tap_is "the report: canary and wave 1 patched, wave 2 reverted, wave 3 not started" \
	"$(printf 'patched false single_b\n%.0s' 1 2 3 4 5; printf 'patched true single_a\nfailed true single_a\npatched true single_a\npatched true single_a\n'; printf 'not-started false single_a\n%.0s' 1 2 3)" \
	"$(jq -r '.vms[] | "\(.result) \(.reverted) \(.now)"' <<<"$out" 2>/dev/null)"
now=$(currents)
tap_is "the VMs' own sites: r01-r05 on single_b, r06-r12 on single_a" \
	"$(printf 'single_b %.0s' 1 2 3 4 5)$(printf 'single_a %.0s' 1 2 3 4 5 6 7)" "$now"
# a VM that ran single_b was patched (and, in wave 2, reverted); wave 3 never was
ran=$(for vm in "${all[@]}"; do "$HVPATCH" -j stats "$vm"; done |
	jq -j -s '.[] | if ([.vcpus[].calls.single_b] | add) > 0 then 1 else 0 end')
tap_is "the counters: single_b ran on r01-r06, r08, r09 (r07 does not call single), not on r10-r12" \
	111111011000 "$ran"
# again, as text, with --revert all: canary r06, wave 1 r07-r10 fails
text=$("$HVPATCH" rollout single single_b --vms "$list" --gate verify --revert all 2>&1)
rc=$?
tap_is "the same rollout as text, --revert all: exit 1 again" 1 "$rc"
tap_ok "the text names the VM, the gate and why" \
	grep -q "^r07: gate verify failed: no vCPU's workload calls single" <<<"$text" ||
	printf '%s\n' "$text" | sed 's/^/# /'
tap_is "the text: r01-r05 already on single_b" 5 "$(grep -c 'already on single_b$' <<<"$text")"
now=$(currents)
tap_is "--revert all: the canary r06 reverted as well, r01-r05 (not this rollout's) stay" \
	"$(printf 'single_b %.0s' 1 2 3 4 5)$(printf 'single_a %.0s' 1 2 3 4 5 6 7)" "$now"

# --- a clean rollout over all 12, and a rerun ---
"$HVPATCH" vm stop r07 >/dev/null
tap_ok "r07 restarted calling single" \
	"$HVPATCH" vm start r07 --vcpus 1 --mem 16 --rate 200 --keys single
out=$("$HVPATCH" -j rollout single single_c --all --canary 2 --wave-size 5 --max-parallel 4 \
	--gate verify --gate faults=0 --gate stall-p99=60000 2>&1)
rc=$?
tap_is "a clean rollout of all 12 to single_c with --gate verify: exit 0" 0 "$rc" ||
	diag_json rollout "$out"
tap_is "every VM patched, its switch proven, none reverted" 12 \
	"$(jq '[.vms[] | select(.result == "patched" and .gates.verify == "pass" and
		.reverted == false and .now == "single_c")] | length' <<<"$out" 2>/dev/null)"
$qemu && tap_is "the rollout spanned both backends" '["kvm","qemu"]' \
	"$(jq -c '[.vms[].backend] | unique' <<<"$out" 2>/dev/null)"
now=$(currents)
tap_is "the VMs' own sites: all 12 on single_c" "$(printf 'single_c %.0s' $(seq 12))" "$now"
text=$("$HVPATCH" rollout single single_c --all 2>&1)
rc=$?
tap_is "a rerun: exit 0" 0 "$rc"
tap_is "a rerun skips all 12: already on single_c" 12 \
	"$(grep -c '^r[0-9]*: already on single_c$' <<<"$text")" || printf '%s\n' "$text" | sed 's/^/# /'
tap_is "... and patches none" 0 "$(grep -c ' patched ' <<<"$text")"

# --- bad input: nothing patched ---
bad() { # DESC WANTED-SUBSTRING ARGS...
	local desc=$1 want=$2 out rc
	shift 2
	out=$("$HVPATCH" rollout "$@" 2>&1)
	rc=$?
	if [ $rc -eq 2 ] && grep -qF -- "$want" <<<"$out"; then
		_tap_result 0 "$desc: exit 2, $out"
	else
		_tap_result 1 "$desc"
		printf '# exit %s: %s\n' "$rc" "$out" | head -n 3
	fi
}
bad "an unknown VM among known ones" "no VM named 'nosuch'" single single_a --vms r01,nosuch,r02
bad "a key no VM has" "VM r01: no key named 'nokey'" nokey single_a --vms r01,r02
bad "another key's target" "'small_a' is not a registered target of key single" \
	single small_a --vms r01
now=$(currents)
tap_is "after the bad input, all 12 still on single_c" "$(printf 'single_c %.0s' $(seq 12))" "$now"

# --- SIGINT mid-rollout, in one wave of 7 patched one at a time: rs1-rs3
# run 1 workload pass a second, so proving a switch there (a pass to finish,
# then two more) keeps the request in flight for 2-3 s (and a VM's sites
# wait for its patch lock, which the proof holds).  The signal is sent once
# r01 is done: while rs1, r02 or rs2 is in flight however slow the host, so
# r04 (after rs3) is never started ---
for vm in rs1 rs2 rs3; do
	"$HVPATCH" vm start "$vm" --vcpus 1 --mem 16 --rate 1 --keys single >/dev/null &&
		"$HVPATCH" patch apply "$vm" single single_c >/dev/null ||
		echo "# vm start $vm, or its patch to single_c, failed"
done
order=(r01 rs1 r02 rs2 r03 rs3 r04)
"$HVPATCH" -j rollout single single_a --vms "$(IFS=,; echo "${order[*]}")" --canary 0 \
	--wave-size 7 --max-parallel 1 --gate verify >"$HVPATCH_RUNTIME_DIR/int.json" 2>&1 &
pid=$!
for ((i = 0; i < 1000; i++)); do
	[ "$(current r01)" = single_a ] || ! kill -0 "$pid" 2>/dev/null && break
	sleep 0.01
done
kill -INT "$pid"
wait "$pid"
rc=$?
out=$(cat "$HVPATCH_RUNTIME_DIR/int.json")
res=$(jq -r '[.vms[] | "\(.name) \(.result) \(.now)" + (if .gates.verify then " \(.gates.verify)" else "" end)] | join("|")' <<<"$out" 2>/dev/null)
echo "# SIGINT: $res"
tap_is "SIGINT: exit 1, interrupted" "1 true" "$rc $(jq .interrupted <<<"$out" 2>/dev/null)" ||
	diag_json rollout "$out"
tap_ok "SIGINT: r01 and the VM in flight finished on single_a, proven; the rest, r04 among them, not started" \
	grep -Eqx 'r01 patched single_a pass(\|[a-z0-9]+ patched single_a pass)*(\|[a-z0-9]+ not-started single_c)*\|r04 not-started single_c' <<<"$res"
all=("${order[@]}")
tap_is "SIGINT: each VM is where the report says" "$(currents)" \
	"$(jq -j '.vms[] | .now + " "' <<<"$out" 2>/dev/null)"
tap_done
