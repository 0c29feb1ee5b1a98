#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# The core matrix of the backend tests, sourced by backend-qemu.sh and
# backend-libvirt.sh after tests/lib.sh.  backend_core VM BACKEND [ARGS...]
# boots VM on BACKEND (2 vCPUs, tight loops) and checks:
#  - every safe method with kick rounds, `stop` with an NMI on resume; the
#    breakpoint methods with NMI rounds are refused on kvm_pvm hosts (QEMU's
#    NMI path loses an int3 in flight there, see vmm/extvm.c) and must run
#    where the host allows them;
#  - counters prove each switch, 0 faults;
#  - the bytes in ram_path (QEMU's own RAM file) at each site's address
#    decode to `call` the new target.
N=${HVP_BACKEND_ROUNDS:-6}

patch() { "$HVPATCH" -j patch apply "$@"; }
calls() { "$HVPATCH" -j stats "$1" | jq -c "[.vcpus[] | .calls[\"$2\"]]"; }
faults() { "$HVPATCH" -j stats "$1" | jq '[.vcpus[].nr_faults] | add'; }
current() { "$HVPATCH" -j sites list "$1" | jq -r --arg k "$2" '.keys[] | select(.name==$k) | .current'; }
sym() { nm "$HVPATCH_GUEST" | awk -v s="$1" '$3 == s { print $1 }' | sed 's/^0*//'; }

switch_proven() { # VM KEY NEW OLD
	local o1 n1 o2 n2 i
	for i in 1 2 3 4 5; do
		o1=$(calls "$1" "$4"); n1=$(calls "$1" "$3")
		sleep 0.2
		o2=$(calls "$1" "$4"); n2=$(calls "$1" "$3")
		jq -en --argjson o1 "$o1" --argjson o2 "$o2" --argjson n1 "$n1" --argjson n2 "$n2" \
			'[range(0; $o1|length) | ($o2[.] == $o1[.]) and ($n2[.] > $n1[.])] | all' \
			>/dev/null && return 0
	done
	return 1
}

# The 5 bytes at guest-physical ADDR of the RAM file, decoded: "e8 DEST".
ram_insn() { # FILE ADDR
	python3 -c '
import struct, sys
path, addr = sys.argv[1], int(sys.argv[2], 16)
with open(path, "rb") as f:
    f.seek(addr)
    b = f.read(5)
rel = struct.unpack("<i", b[1:5])[0]
print("%02x %x" % (b[0], (addr + 5 + rel) & 0xffffffffffffffff))
' "$1" "$2"
}

run_matrix() { # VM METHOD SYNC
	local vm=$1 method=$2 sync=$3 results i cur new out now old
	results=$(mktemp)
	for ((i = 0; i < N; i++)); do
		cur=$(current "$vm" single)
		if [ "$cur" = single_a ]; then new=single_c; else new=single_a; fi
		out=$(patch "$vm" single "$new" --method "$method" --sync "$sync" --timeout 5000 2>&1)
		if jq -e 'has("completed")' <<<"$out" >/dev/null 2>&1; then
			jq -c . <<<"$out" >>"$results"
		else
			echo '{"completed":false,"faults":0,"error":true}' >>"$results"
			printf '%s\n' "$out" | head -n 5 | sed 's/^/# /'
		fi
	done
	tap_is "$vm $method/$sync: $N requests answered" 0 \
		"$(jq -s '[.[] | select(.error)] | length' "$results")"
	if [ "$method" = bp-cancel ]; then
		tap_ok "$vm $method/$sync: each completed or rolled back ($(jq -s '[.[] | select(.completed)] | length' "$results")/$N completed)" \
			test "$(jq -s '[.[] | .completed or (.rollbacks > 0)] | all' "$results")" = true
	else
		tap_is "$vm $method/$sync: all $N completed" "$N" \
			"$(jq -s '[.[] | select(.completed)] | length' "$results")"
	fi
	tap_is "$vm $method/$sync: 0 faults during the patches" 0 \
		"$(jq -s '[.[].faults] | add' "$results")"
	now=$(current "$vm" single)
	if [ "$now" = single_a ]; then old=single_c; else old=single_a; fi
	tap_ok "$vm $method/$sync: counters prove the switch to $now" switch_proven "$vm" single "$now" "$old"
	echo "# $vm $method/$sync latency_ns: $(jq -s -c '[.[].latency_ns] | sort' "$results")"
	rm -f "$results"
}

backend_core() { # VM BACKEND [vm start ARGS...]
	local vm=$1 backend=$2 info out want bad s got hazard method
	shift 2
	tap_ok "vm start $vm --backend $backend $*: 2 vCPUs, tight loops" \
		"$HVPATCH" vm start "$vm" --backend "$backend" "$@" --vcpus 2 --keys single,small \
		--timeout 120 || return 1
	info=$("$HVPATCH" -j vm info "$vm")
	tap_is "$vm: vm info gives the backend" "$backend" "$(jq -r .backend <<<"$info")"
	RAM=$(jq -r .ram_path <<<"$info")
	tap_ok "$vm: vm info's ram_path is a file ($RAM)" test -f "$RAM"
	tap_is "$vm: both vCPUs run the workload" '["running","running"]' \
		"$("$HVPATCH" -j stats "$vm" | jq -c '[.vcpus[].state]')"
	tap_is "$vm: sites list: 'single' has 1 site, 'small' 16" '[1,16]' \
		"$("$HVPATCH" -j sites list "$vm" | jq -c '[.keys[] | select(.name=="single" or .name=="small") | .nr_sites]')"
	for method in stop bp-emulate bp-cancel; do
		run_matrix "$vm" "$method" kick
	done
	run_matrix "$vm" stop nmi
	hazard=$(patch "$vm" single single_a --method bp-emulate --sync nmi 2>&1)
	if [ -e /sys/module/kvm_pvm ]; then
		tap_ok "$vm: bp-emulate/nmi is refused on this kvm_pvm host, with the reason" \
			grep -q "loses a guest int3" <<<"$hazard"
		# --unsafe is bp-cancel-hpa's own: it does not lift the backend's refusal
		hazard=$(patch "$vm" single single_a --method bp-cancel-hpa --unsafe --sync nmi 2>&1)
		tap_ok "$vm: bp-cancel-hpa --unsafe/nmi is refused too, even with --unsafe" \
			grep -q "even with --unsafe" <<<"$hazard"
	else
		run_matrix "$vm" bp-emulate nmi
		run_matrix "$vm" bp-cancel nmi
	fi
	out=$(patch "$vm" small small_b --method bp-emulate --sync kick)
	tap_is "$vm: small -> small_b completed with 0 faults" "true 0" \
		"$(jq -r '"\(.completed) \(.faults)"' <<<"$out")"
	SITES=$("$HVPATCH" -j sites list "$vm" | jq -r '.keys[] | select(.name=="small") | .sites[].addr')
	want="e8 $(sym small_b)"
	bad=0
	for s in $SITES; do
		got=$(ram_insn "$RAM" "$s")
		[ "$got" = "$want" ] || { bad=$((bad + 1)); echo "# site $s in $RAM: $got, want $want"; }
	done
	tap_is "$vm: ram_path: all 16 sites of 'small' decode to call small_b" 0 "$bad"
}
