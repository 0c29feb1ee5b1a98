#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Soak: many patches across the safe methods and both sync kinds, every vCPU
# calling the key in a tight loop and an NMI storm calling it too: 0 faults.
# Then the same with `naive --unsafe`: the detector must report tears.
# HVP_SOAK_OPS sets the total (make check: 10^4; make soak: 10^6).
. "${top_srcdir:-.}/tests/lib.sh"
[ -r /dev/kvm ] || { echo "1..0 # SKIP /dev/kvm is absent"; exit 0; }

ops=${HVP_SOAK_OPS:-10000}
per=$((ops / 6))
tap_ok "vm start soak: 2 vCPUs, tight loops on 'single', NMIs at 2 kHz calling it" \
	"$HVPATCH" vm start soak --vcpus 2 --keys single --nmi-rate 2000 --nmi-key single
total=0
for method in stop bp-emulate bp-cancel; do
	for sync in kick nmi; do
		# --timeout bounds bp-cancel's retries; the others keep the default
		to=(); [ "$method" = bp-cancel ] && to=(--timeout 500)
		r=$("$HVPATCH" -j patch apply soak single single_c --method "$method" --sync "$sync" \
			"${to[@]}" --repeat "$per")
		total=$((total + $(jq .patches <<<"$r")))
		tap_is "$method/$sync: $per patches, 0 faults ($(jq -c '{completed, rollbacks, mean_latency_ns, max_stall_ns, reason}' <<<"$r"))" \
			"$per 0" "$(jq -r '"\(.patches) \(.faults)"' <<<"$r")"
	done
done
tap_is "the guest counted 0 faults in $total patches" 0 \
	"$("$HVPATCH" -j stats soak | jq '[.vcpus[].nr_faults] | add')"
tap_ok "vm stop soak" "$HVPATCH" vm stop soak

tap_ok "vm start tears: 2 vCPUs hammering 'batch'" "$HVPATCH" vm start tears --vcpus 2 --keys batch
"$HVPATCH" -j patch apply tears batch batch_c --method naive --unsafe --naive-delay-us 20 \
	--repeat 20 >/dev/null 2>&1
f=$("$HVPATCH" -j stats tears | jq '[.vcpus[].nr_faults] | add')
tap_ok "naive --unsafe in the same kind of soak: tears detected ($f faults)" test "$f" -gt 0
tap_ok "vm stop tears" "$HVPATCH" vm stop tears
tap_done
