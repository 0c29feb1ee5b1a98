#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# hvpatch bench run, reduced to a few cells: it writes report.json, .csv and
# .html; every method and sync kind is there side by side, with the auto
# column (never bp-cancel on these tight loops, its comparison with the best
# method in every renderer); the unit costs
# were measured; the witnesses are there or say why not, and the bpf
# witness, when built, counts the same exits to user space as hvpatch.
. "${top_srcdir:-.}/tests/lib.sh"

require_kvm
out=$(mktemp -d /tmp/hvpatch-bench.XXXXXX)
trap '_tap_cleanup; rm -rf "$out"' EXIT

tap_ok "bench run (1 vCPU, 2 samples a cell) exits 0" \
	"$HVPATCH" bench run --quick --repeat 2 --vcpus 1 --rates 0 --nmi-rates 0 --sites 1 \
	--backends kvm --out "$out/r" --image "$HVPATCH_GUEST"
for f in report.json report.csv report.html; do
	tap_ok "it wrote $f" test -s "$out/r/$f"
done
j="$out/r/report.json"
# latency: 2 sync kinds x 1 vCPU count; hitrate, nmi, batch, backend (kvm): one point
# each; 3 methods and auto
tap_is "24 cells" 24 "$(jq '.cells | length' "$j")"
tap_is "every method and auto, side by side" "auto bp-cancel bp-emulate stop" \
	"$(jq -r '[.cells[].params.method] | unique | join(" ")' "$j")"
tap_is "both sync kinds" "kick nmi" "$(jq -r '[.cells[].params.sync] | unique | join(" ")' "$j")"
tap_is "every unit cost measured" 0 \
	"$(jq '[.unit_costs | to_entries[] | select(.value | type == "object") | select(.value.n < 1)] | length' "$j")"
tap_is "and its samples, for the report's intervals" 0 \
	"$(jq '[.unit_costs | to_entries[] | select(.value | type == "object") |
	  select((.value.samples | length) != .value.n)] | length' "$j")"
tap_is "each cell has its samples" 0 \
	"$(jq '[.cells[] | select(.attempts != 2 or (.raw.latency_ns | length) != 2)] | length' "$j")"
tap_is "each cell has each vCPU's stall, the worst of them its max_stall_ns" 0 \
	"$(jq '[.cells[] | select((.max_stall_ns_by_vcpu | length) != .params.vcpus or
	  ([.max_stall_ns_by_vcpu[].max] | max) != .max_stall_ns.max)] | length' "$j")"
tap_is "no guest faults" 0 "$(jq '[.cells[].faults] | add' "$j")"
tap_is "the CSV has a row per cell" 25 "$(wc -l <"$out/r/report.csv")"
tap_ok "every auto cell says its choice, why, and how it compares ($(jq -c '[.cells[] | select(.params.method == "auto") | .auto | [.choice, .best_method, .within_target]]' "$j"))" \
	test "$(jq '[.cells[] | select(.params.method == "auto") | .auto |
		(.choice | type) == "string" and (.why | length) > 0 and
		(.within_target | type) == "boolean" and (.best_p50_ns | type) == "number"] |
		length == 6 and all' "$j")" = true
tap_ok "... never bp-cancel on a tight loop" \
	test "$(jq '[.cells[] | select(.params.method == "auto") | .auto.choice != "bp-cancel"] | all' "$j")" = true
tap_ok "the text report compares auto with the best method per point" \
	grep -q '^== auto against the best method' <<<"$("$HVPATCH" report text "$out/r")"
tap_ok "... and the HTML too" grep -q '<h3>Auto against the best method</h3>' "$out/r/report.html"
tap_ok "... and the CSV's auto columns are filled for auto cells only" \
	test "$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "auto_within_target") c = i; next }
		$3 == "auto" { a += ($c == "true" || $c == "false") } $3 != "auto" { o += ($c != "") }
		END { print a "/" o }' "$out/r/report.csv")" = 6/0
bpf=$(jq -r '.witnesses.bpf' "$j")
case $bpf in
available)
	_tap_result 0 "the bpf witness is available"
	hv=$(jq '[.cells[] | select(.params.backend == "kvm") | .witness.hvpatch_exits] | add' "$j")
	bp=$(jq '[.cells[] | select(.params.backend == "kvm") | .witness.bpf_userspace_exits] | add' "$j")
	# the two are read one after the other while the vCPUs run: allow a few
	if [ "$bp" -gt 0 ] && [ "$bp" -ge $((hv * 9 / 10)) ] && [ "$bp" -le $((hv * 11 / 10 + 5)) ]; then
		_tap_result 0 "the bpf witness counts hvpatch's exits ($bp vs $hv)"
	else
		_tap_result 1 "the bpf witness counts hvpatch's exits ($bp vs $hv)"
	fi
	;;
"absent: "?*)
	_tap_result 0 "the bpf witness says why it is absent"
	tap_is "  and reports no bpf counts" 0 \
		"$(jq '[.cells[].witness | select(.bpf_userspace_exits != null)] | length' "$j")"
	;;
*)
	_tap_result 1 "the bpf witness: '$bpf'"
	;;
esac
tap_ok "report text of it exits 0" "$HVPATCH" report text "$out/r"

tap_done
