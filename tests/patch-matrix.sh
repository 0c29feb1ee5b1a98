#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# The patch engine's core matrix on the real /dev/kvm: each safe method x each
# sync kind, HVP_MATRIX_VCPUS vCPUs (tests/patch-matrix-2.sh, -4.sh) calling
# the key in tight loops while an NMI storm calls it too (through the
# user-mode upcall): 200 patches alternating targets, 0 faults, and the
# guest's call counters prove each switch (patch apply --repeat --verify),
# then once more through separate CLI requests and 'stats'.
. "${top_srcdir:-.}/tests/lib.sh"
[ -r /dev/kvm ] || { echo "1..0 # SKIP /dev/kvm is absent"; exit 0; }

v=${HVP_MATRIX_VCPUS:-2}
N=${HVP_PATCH_ROUNDS:-200}
. "${top_srcdir:-.}/tests/lib-patch.sh"

vm=p$v
tap_ok "vm start $vm: $v vCPUs, tight loops, NMI storm calling 'single'" \
	"$HVPATCH" vm start "$vm" --vcpus "$v" --keys single --nmi-rate 2000 --nmi-key single
for method in stop bp-emulate bp-cancel; do
	# --timeout bounds bp-cancel's retries; the others keep the default
	to=(); [ "$method" = bp-cancel ] && to=(--timeout "${HVP_PATCH_TIMEOUT_MS:-300}")
	for sync in kick nmi; do
		# N patches in one request, alternating targets; after each completed
		# one the service proves the switch from the guest's counters
		r=$(patch "$vm" single single_c --method "$method" --sync "$sync" "${to[@]}" \
			--repeat "$N" --verify 2>&1)
		summary=$(jq -c '{patches, completed, rollbacks, faults, verified, verify_failed, reason, verify_reason}' <<<"$r" 2>/dev/null)
		tap_is "$vm $method/$sync: $N patches carried out ($summary)" "$N" \
			"$(jq -r '.patches // "error"' <<<"$r" 2>/dev/null || echo "$r")"
		if [ "$method" = bp-cancel ]; then
			# a patch that did not complete timed out and rolled back
			# (an error would have stopped the run short of N)
			tap_ok "$vm $method/$sync: each completed or rolled back" \
				test "$(jq '(.completed == .patches) or (.rollbacks > 0)' <<<"$r")" = true
		else
			tap_is "$vm $method/$sync: all $N completed" "$N" "$(jq .completed <<<"$r")"
		fi
		tap_is "$vm $method/$sync: 0 faults during the patches" 0 "$(jq .faults <<<"$r")"
		# the first patch is a no-op when the key already called single_c
		tap_ok "$vm $method/$sync: the counters prove each switch ($(jq .verified <<<"$r") proven, $(jq .verify_failed <<<"$r") failed)" \
			test "$(jq '.verify_failed == 0 and .verified >= .completed - 1 and (.verified > 0 or .completed <= 1)' <<<"$r")" = true
		# and once more from outside the service: two patches through the CLI
		# (bp-cancel may time out on a hot site: the proof is about whichever
		# target is current afterwards)
		for i in 1 2; do
			cur=$(current "$vm" single)
			if [ "$cur" = single_a ]; then new=single_c; else new=single_a; fi
			patch "$vm" single "$new" --method "$method" --sync "$sync" --timeout 20000 >/dev/null
		done
		cur=$(current "$vm" single)
		if [ "$cur" = single_a ]; then old=single_c; else old=single_a; fi
		tap_ok "$vm $method/$sync: 'stats' from the CLI shows the switch too ($cur called, $old not)" \
			switch_proven "$vm" single "$cur" "$old"
	done
done
tap_is "$vm: 0 guest faults after all of it" 0 "$(faults "$vm")"
tap_ok "$vm: NMI upcalls ran" test "$("$HVPATCH" -j stats "$vm" | jq '[.vcpus[].nmi_upcalls] | add')" -gt 0
tap_ok "vm stop $vm" "$HVPATCH" vm stop "$vm"

tap_done
