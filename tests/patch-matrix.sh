#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# The patch engine's core matrix on the real /dev/kvm: each safe method x each
# sync kind, HVP_MATRIX_VCPUS vCPUs (tests/patch-matrix-2.sh, -4.sh) calling
# the key in tight loops while an NMI storm calls it too (through the
# user-mode upcall): 200 patches alternating targets, 0 faults, every stop
# and bp-emulate patch completed and some bp-cancel ones (none is its
# livelock, a TODO, with a clean rollback), and the guest's call counters
# prove each switch (patch apply --repeat --verify), then once more through
# separate CLI requests and 'stats'.
. "${top_srcdir:-.}/tests/lib.sh"
require_kvm

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
		cur0=$(current "$vm" single) c0=$(calls "$vm" single_c)
		r=$(patch "$vm" single single_c --method "$method" --sync "$sync" "${to[@]}" \
			--repeat "$N" --verify 2>&1)
		summary=$(jq -c '{patches, completed, rollbacks, faults, verified, verify_failed, reason, verify_reason}' <<<"$r" 2>/dev/null)
		ok=1
		tap_is "$vm $method/$sync: $N patches carried out ($summary)" "$N" \
			"$(jq -r '.patches // "error"' <<<"$r" 2>/dev/null || echo "$r")" || ok=0
		if [ "$method" = bp-cancel ]; then
			# Every case here is a tight loop plus a 2 kHz NMI storm
			# calling the key: the worst hit rate, where bp-cancel may
			# livelock (Andy Lutomirski's objection: a vCPU hits the int3
			# in state 1 on every attempt, each attempt is cancelled, the
			# patch times out and rolls back).  Some complete all the
			# same (on a 2-core host at load 10-18: 80-99% with 2 vCPUs,
			# 7-10% with 4), so none completing is the livelock, a
			# known failure (TODO), and what must hold then is a clean
			# rollback.
			if [ "$(jq '.completed > 0' <<<"$r" 2>/dev/null)" = true ]; then
				# a patch that did not complete timed out and rolled
				# back (an error would have stopped the run short of N)
				tap_ok "$vm $method/$sync: $(jq .completed <<<"$r") of $N completed, the others timed out and rolled back" \
					test "$(jq '(.completed == .patches) or (.rollbacks > 0)' <<<"$r")" = true || ok=0
			else
				tap_todo "$vm $method/$sync: none of $N completed" \
					"livelock: $v vCPUs in tight loops and an NMI storm hit the int3 in state 1 on every attempt for ${HVP_PATCH_TIMEOUT_MS:-300} ms"
				ok=0
				# (none completed, so the key called something else
				# than single_c at the start, and single_c never ran)
				tap_is "$vm $method/$sync: livelocked, the rollbacks were clean: the key still calls $cur0, single_c never ran" \
					"$cur0 $c0" "$(current "$vm" single) $(calls "$vm" single_c)"
			fi
			tap_ok "$vm $method/$sync: no int3 left, the site calls the key's current target" \
				sites_clean "$vm" single || ok=0
		else
			tap_is "$vm $method/$sync: all $N completed" "$N" "$(jq .completed <<<"$r")" || ok=0
		fi
		tap_is "$vm $method/$sync: 0 faults during the patches" 0 "$(jq .faults <<<"$r")" || {
			ok=0
			print_faults "$vm"
		}
		# the first patch is a no-op when the key already called single_c
		tap_ok "$vm $method/$sync: the counters prove each switch ($(jq .verified <<<"$r") proven, $(jq .verify_failed <<<"$r") failed)" \
			test "$(jq '.verify_failed == 0 and .verified >= .completed - 1 and (.verified > 0 or .completed <= 1)' <<<"$r")" = true || ok=0
		[ "$ok" = 1 ] || diag_json result "$r"
		# and once more from outside the service: two patches through the CLI
		# (bp-cancel may time out on a hot site, even in 20 s: one of the two
		# must complete, unless the run above livelocked; the proof is about
		# whichever target is current afterwards)
		done_cli=0 faults_cli=0 seq_cli= out=
		for i in 1 2; do
			cur=$(current "$vm" single)
			if [ "$cur" = single_a ]; then new=single_c; else new=single_a; fi
			out=$(patch "$vm" single "$new" --method "$method" --sync "$sync" --timeout 20000 2>&1)
			[ "$(jq .completed <<<"$out" 2>/dev/null)" = true ] && done_cli=$((done_cli + 1))
			f=$(jq '.faults // 0' <<<"$out" 2>/dev/null) || f=0
			[ "$f" -gt 0 ] && { faults_cli=$((faults_cli + f)); seq_cli=$(jq .patch_seq <<<"$out"); }
			[ "$(jq .completed <<<"$out" 2>/dev/null)" = true ] ||
				diag_json "CLI patch $cur -> $new" "$out"
		done
		want_cli=2
		[ "$method" = bp-cancel ] && want_cli=1
		[ "$method" = bp-cancel ] && [ "$(jq '.completed > 0' <<<"$r" 2>/dev/null)" != true ] && want_cli=0
		tap_ok "$vm $method/$sync: CLI patches: $done_cli of 2 completed (at least $want_cli), 0 faults" \
			test "$done_cli" -ge "$want_cli" -a "$faults_cli" = 0 ||
			{ [ "$faults_cli" = 0 ] || print_faults "$vm" "$seq_cli"; }
		cur=$(current "$vm" single)
		if [ "$cur" = single_a ]; then old=single_c; else old=single_a; fi
		tap_ok "$vm $method/$sync: 'stats' from the CLI shows the switch too ($cur called, $old not)" \
			switch_proven "$vm" single "$cur" "$old"
	done
done
tap_is "$vm: 0 guest faults after all of it" 0 "$(faults "$vm")" || print_faults "$vm"
tap_ok "$vm: NMI upcalls ran" test "$("$HVPATCH" -j stats "$vm" | jq '[.vcpus[].nmi_upcalls] | add')" -gt 0
tap_ok "vm stop $vm" "$HVPATCH" vm stop "$vm"

tap_done
