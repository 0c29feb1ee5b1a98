#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# The qemu backend: a real QEMU microvm (2 vCPUs, tight loops) patched live.
#  - every safe method with kick rounds, `stop` with an NMI on resume; the
#    breakpoint methods with NMI rounds are refused on kvm_pvm hosts (QEMU's
#    NMI path loses an int3 in flight there, see vmm/extvm.c) and must run
#    where the host allows them;
#  - counters prove each switch, 0 faults;
#  - the bytes in ram_path (QEMU's own RAM file) at the site's address decode
#    to `call` the new target;
#  - gdb, through QEMU's gdbstub, disassembles the same `call`.
. "${top_srcdir:-.}/tests/lib.sh"
[ -r /dev/kvm ] || { echo "1..0 # SKIP /dev/kvm is absent"; exit 0; }
command -v qemu-system-x86_64 >/dev/null || { echo "1..0 # SKIP qemu-system-x86_64 not installed (./quickstart installs it)"; exit 0; }

BACKEND=${HVP_TEST_BACKEND:-qemu}
BACKEND_ARGS=${HVP_TEST_BACKEND_ARGS:-}
N=${HVP_BACKEND_ROUNDS:-6}
vm=b1

patch() { "$HVPATCH" -j patch apply "$@"; }
calls() { "$HVPATCH" -j stats "$1" | jq -c "[.vcpus[] | .calls[\"$2\"]]"; }
faults() { "$HVPATCH" -j stats "$1" | jq '[.vcpus[].nr_faults] | add'; }
current() { "$HVPATCH" -j sites list "$1" | jq -r --arg k "$2" '.keys[] | select(.name==$k) | .current'; }
sym() { nm "$HVPATCH_GUEST" | awk -v s="$1" '$3 == s { print $1 }'; }

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
	python3 - "$1" "$2" <<'EOF'
import struct, sys
path, addr = sys.argv[1], int(sys.argv[2], 16)
with open(path, 'rb') as f:
    f.seek(addr)
    b = f.read(5)
rel = struct.unpack('<i', b[1:5])[0]
print('%02x %x' % (b[0], (addr + 5 + rel) & 0xffffffffffffffff))
EOF
}

# shellcheck disable=SC2086
tap_ok "vm start $vm --backend $BACKEND: 2 vCPUs, tight loops" \
	"$HVPATCH" vm start "$vm" --backend "$BACKEND" $BACKEND_ARGS --vcpus 2 --keys single,small \
	--timeout 120
info=$("$HVPATCH" -j vm info "$vm")
tap_is "vm info: backend" "$BACKEND" "$(jq -r .backend <<<"$info")"
ram=$(jq -r .ram_path <<<"$info")
tap_ok "vm info: ram_path is a file ($ram)" test -f "$ram"
tap_is "both vCPUs run the workload" '["running","running"]' \
	"$("$HVPATCH" -j stats "$vm" | jq -c '[.vcpus[].state]')"
tap_ok "sites list: 'single' has one site, 'small' 16" test \
	"$("$HVPATCH" -j sites list "$vm" | jq -c '[.keys[] | select(.name=="single" or .name=="small") | .nr_sites]')" \
	= '[1,16]'

run_matrix() { # METHOD SYNC
	local method=$1 sync=$2 results i cur new out
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
	tap_is "$method/$sync: $N requests answered" 0 \
		"$(jq -s '[.[] | select(.error)] | length' "$results")"
	if [ "$method" = bp-cancel ]; then
		tap_ok "$method/$sync: each completed or rolled back ($(jq -s '[.[] | select(.completed)] | length' "$results")/$N completed)" \
			test "$(jq -s '[.[] | .completed or (.rollbacks > 0)] | all' "$results")" = true
	else
		tap_is "$method/$sync: all $N completed" "$N" \
			"$(jq -s '[.[] | select(.completed)] | length' "$results")"
	fi
	tap_is "$method/$sync: 0 faults during the patches" 0 "$(jq -s '[.[].faults] | add' "$results")"
	now=$(current "$vm" single)
	if [ "$now" = single_a ]; then old=single_c; else old=single_a; fi
	tap_ok "$method/$sync: counters prove the switch to $now" switch_proven "$vm" single "$now" "$old"
	echo "# $method/$sync latency_ns: $(jq -s -c '[.[].latency_ns] | sort' "$results")"
	rm -f "$results"
}

for method in stop bp-emulate bp-cancel; do
	run_matrix "$method" kick
done
run_matrix stop nmi
hazard=$(patch "$vm" single single_a --method bp-emulate --sync nmi 2>&1)
if [ -e /sys/module/kvm_pvm ]; then
	tap_ok "bp-emulate/nmi is refused on this kvm_pvm host, with the reason" \
		grep -q "loses a guest int3" <<<"$hazard"
else
	run_matrix bp-emulate nmi
	run_matrix bp-cancel nmi
fi

# The bytes themselves, from QEMU's RAM file and from QEMU's gdbstub.
out=$(patch "$vm" small small_b --method bp-emulate --sync kick)
tap_is "small -> small_b completed with 0 faults" "true 0" "$(jq -r '"\(.completed) \(.faults)"' <<<"$out")"
sites=$("$HVPATCH" -j sites list "$vm" | jq -r '.keys[] | select(.name=="small") | .sites[].addr')
want="e8 $(sym small_b | sed 's/^0*//')"
bad=0
for s in $sites; do
	got=$(ram_insn "$ram" "$s")
	[ "$got" = "$want" ] || { bad=$((bad + 1)); echo "# site $s in $ram: $got, want $want"; }
done
tap_is "ram_path: all 16 sites of 'small' decode to call small_b" 0 "$bad"
site=$(head -n 1 <<<"$sites")
gdbsock=$HVPATCH_RUNTIME_DIR/$vm.gdb
if [ "$BACKEND" = qemu ] && command -v gdb >/dev/null; then
	g=$(timeout 60 gdb -batch -nx -ex 'set architecture i386:x86-64' \
		-ex "target remote $gdbsock" -ex "x/i $site" -ex detach 2>&1)
	tap_ok "gdb (QEMU gdbstub) disassembles $site as call 0x$(sym small_b | sed 's/^0*//')" \
		grep -Eq "^ *$site:[[:space:]]+call +0x$(sym small_b | sed 's/^0*//')" <<<"$g" ||
		printf '%s\n' "$g" | tail -n 5 | sed 's/^/# /'
fi
tap_is "0 guest faults after all of it" 0 "$(faults "$vm")"
tap_is "both vCPUs still running" '["running","running"]' \
	"$("$HVPATCH" -j stats "$vm" | jq -c '[.vcpus[].state]')"
tap_ok "vm stop" "$HVPATCH" vm stop "$vm"
tap_ok "the RAM file is gone after vm stop" test ! -e "$ram"
tap_done
