#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# The patcher may die; the guest must not.  A qemu VM (and a libvirt one on
# the embedded driver) runs tight loops on 2 vCPUs while its service is
# SIGKILLed at every journaled step of every method
# (HVPATCH_JOURNAL_KILL_AT=K: the service kills itself once record K is
# durable, just before taking that step).  After each kill the next service
# (`vm attach`, or any command) finishes the patch from the journal, and then:
# 0 guest faults, both vCPUs running, every site holds the old or the new
# instruction (the old one when it died before its first step, else the new
# one: recovery rolls forward), and the counters prove the key calls it.
# hvp-test-timeout: 1500
. "${top_srcdir:-.}/tests/lib.sh"
. "${top_srcdir:-.}/tests/backend-lib.sh"
require_kvm
command -v qemu-system-x86_64 >/dev/null ||
	{ echo "1..0 # SKIP qemu-system-x86_64 not installed (./quickstart installs it)"; exit 0; }

# Every method on qemu; stop and bp-emulate on libvirt (bp-cancel there too
# with HVP_RECOVERY_FULL=1: it passed, but its livelocking retries make ~30
# kills and the test would outgrow make check's 10 minutes on a loaded host).
MAXK=${HVP_RECOVERY_MAXK:-40}

svc_pid() { cat "$HVPATCH_RUNTIME_DIR/$1.pid" 2>/dev/null; }

# Kill an idle service (nothing in flight) so that the next one gets our env.
kill_idle() {
	local pid
	pid=$(svc_pid "$1")
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
	for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
}

# After a recovery: 0 faults, vCPUs running, sites of KEY all OLD or NEW.
check_state() { # VM KEY OLD NEW
	local bad
	bad=$("$HVPATCH" -j sites list "$1" | jq --arg k "$2" --arg o "$3" --arg n "$4" \
		'[.keys[] | select(.name==$k) | .sites[] | select(.target != $o and .target != $n)] | length')
	[ "$bad" = 0 ] || { echo "# $bad sites of $2 hold neither $3 nor $4"; return 1; }
	[ "$(faults "$1")" = 0 ] || { echo "# guest faults: $(faults "$1")"; return 1; }
	[ "$("$HVPATCH" -j stats "$1" | jq -c '[.vcpus[].state]')" = '["running","running"]' ] ||
		{ echo "# vCPUs not all running"; return 1; }
}

recovery_matrix() { # VM METHODS...
	local vm=$1 method k cur new now other out kills ok done_k
	shift
	for method in "$@"; do
		kills=0 ok=0 done_k=0
		for ((k = 1; k <= MAXK; k++)); do
			kill_idle "$vm"
			HVPATCH_JOURNAL_KILL_AT=$k "$HVPATCH" vm attach "$vm" >/dev/null 2>&1 ||
				{ echo "# attach before step $k failed"; break; }
			cur=$(current "$vm" single)
			if [ "$cur" = single_a ]; then new=single_c; else new=single_a; fi
			out=$("$HVPATCH" -j patch apply "$vm" single "$new" --method "$method" \
				--sync kick --timeout 2000 2>&1)
			if jq -e 'has("completed")' <<<"$out" >/dev/null 2>&1; then
				done_k=$k	# ran to its end: every step before it was tried
				break
			fi
			kills=$((kills + 1))
			# the next command takes the VM over and replays the journal
			now=$(current "$vm" single)
			if [ "$now" = "$new" ]; then other=$cur; else other=$new; fi
			if check_state "$vm" single "$cur" "$new" &&
			   { [ "$now" = "$new" ] || [ "$now" = "$cur" ]; } &&
			   switch_proven "$vm" single "$now" "$other"; then
				ok=$((ok + 1))
			else
				echo "# $method: after the kill before record $k"
			fi
		done
		if [ "$method" = bp-cancel ] && [ "$done_k" = 0 ] && [ "$kills" = "$MAXK" ]; then
			# each cancelled attempt journals more steps: on a hot site
			# the patch can retry past MAXK records (the livelock this
			# project measures); every kill was still recovered (below)
			tap_ok "$vm $method: the service was killed at each of its first $MAXK journal records (the patch was still retrying: cancelled attempts)" true
		else
			tap_ok "$vm $method: the service was killed at each of its $kills journal records, then ran to the end" \
				test "$done_k" -gt 1 -a "$kills" = $((done_k - 1))
		fi
		tap_is "$vm $method: after each of the $kills kills: 0 faults, sites old or new, the switch proven" \
			"$kills" "$ok"
	done
	kill_idle "$vm"
	tap_ok "$vm: attach after all of it" "$HVPATCH" vm attach "$vm"
	tap_is "$vm: 0 guest faults after all of it" 0 "$(faults "$vm")"
	tap_ok "$vm: vm stop" "$HVPATCH" vm stop "$vm"
}

tap_ok "vm start r1 --backend qemu: 2 vCPUs, tight loops" \
	"$HVPATCH" vm start r1 --backend qemu --vcpus 2 --keys single --timeout 120
recovery_matrix r1 stop bp-emulate bp-cancel
if grep -q "define HVP_HAVE_LIBVIRT 1" "$top_builddir/config.h" && [ -z "${HVP_RECOVERY_QEMU_ONLY:-}" ]; then
	tap_ok "vm start r2 --backend libvirt (embedded): 2 vCPUs, tight loops" \
		"$HVPATCH" vm start r2 --backend libvirt --vcpus 2 --keys single --timeout 120 &&
		recovery_matrix r2 stop bp-emulate ${HVP_RECOVERY_FULL:+bp-cancel}
fi
tap_done
