#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# ./quickstart demo: boot a 2-vCPU VM whose workloads call every static call
# key in tight loops, show its sites and live counters, then patch the
# 1024-site key and the single-site key with each method and print the
# results side by side; end with a short bench run and its report.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
hv="$top/hvpatch"
vm=demo$$
export HVPATCH_RUNTIME_DIR=${HVPATCH_RUNTIME_DIR:-/tmp/hvpatch-demo}
report=${HVPATCH_DEMO_REPORT:-/tmp/hvpatch-demo-report}

cleanup() { "$hv" vm stop "$vm" >/dev/null 2>&1 || true; }
trap cleanup EXIT

echo "== hvpatch demo: VM $vm, 2 vCPUs, every key called in tight loops, NMIs at 1 kHz"
"$hv" vm start "$vm" --vcpus 2 --nmi-rate 1000 --nmi-key single
echo
echo "== static call keys (hvpatch sites list $vm)"
"$hv" sites list "$vm"
echo
sleep 1
echo "== live counters (hvpatch stats $vm)"
"$hv" stats "$vm"
echo

printf '== patching live, every vCPU calling the sites\n\n'
printf '%-10s %-5s %-7s %5s %6s %10s %7s %8s %9s %9s %12s %7s\n' \
	method sync key sites done latency_ms rounds retries rollbacks bp_traps max_stall_us faults
for key in batch single; do
	for sync in kick nmi; do
		for method in stop bp-emulate bp-cancel; do
			cur=$("$hv" -j sites list "$vm" | jq -r --arg k "$key" '.keys[] | select(.name==$k) | .current')
			if [ "$cur" = "${key}_a" ]; then tgt=${key}_c; else tgt=${key}_a; fi
			"$hv" -j patch apply "$vm" "$key" "$tgt" --method "$method" --sync "$sync" --timeout 3000 |
			jq -r '[.method, .sync, .key, .sites, (if .completed then "yes" else "NO" end),
				(.latency_ns/1e6*100|round/100), .sync_rounds, .retries, .rollbacks,
				.bp_traps, (.max_stall_ns/1e3|round), .faults] | @tsv' |
			awk -F'\t' '{ printf "%-10s %-5s %-7s %5s %6s %10s %7s %8s %9s %9s %12s %7s\n", $1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12 }'
		done
	done
done
echo
echo "== after the patches: every vCPU still running, faults counted by the guest"
"$hv" stats "$vm"
echo
echo "Read the columns: latency is the patch's wall time; rounds are sync rounds"
echo "(stop counts its one pause); retries/rollbacks are bp-cancel's cancelled"
echo "attempts; bp_traps are #BP hits handled by the guest; max_stall is the longest"
echo "gap any vCPU's workload loop saw during the patch; faults must be 0."

# The bench boots its own VMs: stop this one first, the host has two cores.
cleanup
echo
echo "== a short bench: every method side by side, 5 samples a cell (about a minute)"
echo "   hvpatch bench run --quick --repeat 5 --backends kvm --out $report"
echo "   (add --backends kvm,qemu,libvirt to compare the backends too)"
"$hv" bench run --quick --repeat 5 --backends kvm --out "$report"
echo
"$hv" report text "$report" | sed -n '/^== which scheme when/,/^== observations/p' | sed '$d'
echo "The report: $report/report.html (open it in a browser; self-contained),"
echo "$report/report.csv (a row per cell), $report/report.json (every sample);"
echo "'hvpatch report text $report' prints it all.  README.md, \"Reading a report\"."
