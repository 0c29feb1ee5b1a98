#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Foundation: boot with 1, 2 and 4 vCPUs on the real /dev/kvm; every vCPU's
# counters advance; the sites listed match the guest ELF byte for byte; a
# deliberately faulting workload is reported, not hung; bad input leaves a
# running VM serving.
. "${top_srcdir:-.}/tests/lib.sh"

elf="${top_builddir:-.}/guest-agent/hvpatch-guest.elf"
require_kvm

# sum of a JSON number over vcpus: stat NAME FIELD -> "v0 v1 ..."
per_vcpu() { "$HVPATCH" -j stats "$1" | jq -r "[.vcpus[] | $2] | map(tostring) | join(\" \")"; }

for n in 1 2 4; do
	tap_ok "vm start with $n vCPU(s)" "$HVPATCH" vm start "b$n" --vcpus "$n"
	a=($(per_vcpu "b$n" .loops)); ca=($(per_vcpu "b$n" .total_calls))
	# Four vCPU threads share two host cores with whatever else runs (the
	# suite runs two tests at a time, one may be tests/safety-load.sh's
	# fork load): a vCPU may wait seconds for a core.  Look for up to 20 s.
	for ((t = 0; t < 100; t++)); do
		sleep 0.2
		b=($(per_vcpu "b$n" .loops)); cb=($(per_vcpu "b$n" .total_calls))
		ok=1
		for ((i = 0; i < n; i++)); do
			[ "${b[$i]:-0}" -gt "${a[$i]:-0}" ] && [ "${cb[$i]:-0}" -gt "${ca[$i]:-0}" ] || ok=0
		done
		[ "$ok" = 1 ] && break
	done
	tap_is "$n vCPU(s) report counters" "$n" "${#b[@]}"
	tap_is "every one of $n vCPU(s) loops and calls" 1 "$ok"
	if [ "$n" -ne 2 ]; then
		tap_ok "vm stop b$n" "$HVPATCH" vm stop "b$n"
	fi
done

# --- the sites listed match the guest ELF ---
sites_json=$("$HVPATCH" -j sites list b2)
tap_is "five keys" 5 "$(jq '.keys | length' <<<"$sites_json")"
tap_is "the batch key has 1024 sites" 1024 "$(jq '.keys[] | select(.name=="batch") | .nr_sites' <<<"$sites_json")"
tap_is "the trampoline key is a trampoline" trampoline "$(jq -r '.keys[] | select(.name=="tramp") | .kind' <<<"$sites_json")"
tap_ok "every key has at least 3 targets" test "$(jq '[.keys[] | .targets | length >= 3] | all' <<<"$sites_json")" = true

# ELF: .static_call_sites holds {site, key} pairs; compare the address sets.
elf_sites=$(objdump -s -j .static_call_sites "$elf" | awk '/^ [0-9a-f]+ /{print $2 $3 $4 $5}' |
	tr -d '\n' | fold -w 32 | sed '$a\' | while read -r pair; do
		a=${pair:0:16}
		# little-endian quad -> hex
		printf '0x%s\n' "$(echo "$a" | sed 's/../& /g' | awk '{for(i=8;i>=1;i--) printf "%s",$i}' | sed 's/^0*//')"
	done | sort)
listed=$(jq -r '.keys[].sites[].addr' <<<"$sites_json" | sort)
tap_is "the sites listed are the ELF's .static_call_sites" "$elf_sites" "$listed"

# Each site holds e8/e9 with the displacement of its current target.
declare -A sym
while read -r addr _ name; do sym[$name]=$((16#$addr)); done < <(nm "$elf")
bad=0
while IFS=$'\t' read -r addr bytes target; do
	op=${bytes:0:2}
	le=${bytes:2:8}
	rel=$((16#${le:6:2}${le:4:2}${le:2:2}${le:0:2}))
	((rel >= 2147483648)) && rel=$((rel - 4294967296))
	dest=$((addr + 5 + rel))
	if [ "$op" != e8 ] && [ "$op" != e9 ]; then bad=$((bad + 1)); continue; fi
	[ "$dest" -eq "${sym[$target]:-0}" ] || bad=$((bad + 1))
done < <(jq -r '.keys[].sites[] | [.addr, .bytes, .target] | @tsv' <<<"$sites_json")
tap_is "every site's bytes call its current target's ELF symbol" 0 "$bad"

# --- a deliberately faulting workload is reported, not hung ---
tap_ok "vm start with a faulting vCPU 1" "$HVPATCH" vm start f1 --vcpus 2 --fault-test=1
sleep 0.3
st=$("$HVPATCH" -j stats f1)
tap_is "vCPU 1 is reported dead" dead "$(jq -r '.vcpus[1].state' <<<"$st")"
tap_is "its one fault is #UD (vector 6, the workload's ud2) at CPL3" "1 6 #UD 3" \
	"$(jq -r '.vcpus[1] | "\(.nr_faults) \(.faults[0].vector) \(.faults[0].name) \(.faults[0].cpl)"' <<<"$st")"
# --fault-test makes hvp_workload_main execute a ud2 (guest-agent/workload.c):
# the RIP must lie in that function's text, [hvp_workload_main, next symbol),
# and hold the ud2 itself (0f 0b) in the guest ELF
rip=$(jq -r '.vcpus[1].faults[0].rip' <<<"$st")
wl=($(nm -n "$elf" | awk '$3 == "hvp_workload_main" { f = 1; a = $1; next }
	f && $1 != a { print a, $1; exit }'))
wl_lo=$((16#${wl[0]:-0})) wl_hi=$((16#${wl[1]:-0}))
tap_ok "the fault RIP $rip is in hvp_workload_main [$(printf '0x%x, 0x%x' "$wl_lo" "$wl_hi"))" \
	test $((rip)) -ge "$wl_lo" -a $((rip)) -lt "$wl_hi"
tap_ok "the instruction at $rip is the workload's ud2" grep -qE "^ *${rip#0x}:[[:space:]]+0f 0b[[:space:]]+ud2" \
	<(objdump -d --start-address=$((rip)) --stop-address=$((rip + 2)) "$elf")
a=$(jq '.vcpus[0].loops' <<<"$st"); sleep 0.3
b=$("$HVPATCH" -j stats f1 | jq '.vcpus[0].loops')
tap_ok "vCPU 0 keeps running" test "$b" -gt "$a"
tap_ok "vm stop f1" "$HVPATCH" vm stop f1

# --- bad input leaves the running VM serving ---
"$HVPATCH" vm start b2 --vcpus 2 >/dev/null 2>&1; tap_is "a name in use is refused (exit 1)" 1 $?
"$HVPATCH" vm start ../x >/dev/null 2>&1; tap_is "a bad name is refused (exit 2)" 2 $?
"$HVPATCH" vm start zz --vcpus 0 >/dev/null 2>&1; tap_is "--vcpus 0 is refused (exit 2)" 2 $?
"$HVPATCH" vm start zz --keys nosuchkey >/dev/null 2>&1; tap_is "an unknown key is refused at start (exit 1)" 1 $?
"$HVPATCH" stats nosuchvm >/dev/null 2>&1; tap_is "stats of a missing VM exits 1" 1 $?
printf 'garbage\n' | socat - "UNIX-CONNECT:$HVPATCH_RUNTIME_DIR/b2.sock" >/dev/null 2>&1 || true
tap_ok "after all that, b2 still answers" "$HVPATCH" stats b2
tap_ok "vm info b2 names the socket" bash -c "'$HVPATCH' -j vm info b2 | jq -e '.socket and .pid and .vcpus == 2 and .backend == \"kvm\"'"
tap_ok "vm list shows b2" bash -c "'$HVPATCH' -j vm list | jq -e '.vms[] | select(.name == \"b2\")'"
tap_ok "the console has the agent's boot line" grep -q "static call sites" "$HVPATCH_RUNTIME_DIR/b2.console"
tap_ok "vm stop b2" "$HVPATCH" vm stop b2
"$HVPATCH" stats b2 >/dev/null 2>&1; tap_is "a stopped VM is gone" 1 $?

tap_done
