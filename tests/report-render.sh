#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# hvpatch report: a committed report.json from a real (reduced) bench run
# rendered to text, CSV, JSON and HTML; the HTML is self-contained and
# Chromium draws its charts; hostile and broken reports get a clear error or
# a partial report, never a crash.
. "${top_srcdir:-.}/tests/lib.sh"

fixture="$top_srcdir/tests/fixtures/report-small"
check="$top_srcdir/tests/report-check.py"
work=$(mktemp -d /tmp/hvpatch-report.XXXXXX)
trap '_tap_cleanup; rm -rf "$work"' EXIT
cells=$(jq '.cells | length' "$fixture/report.json")
# The fixture has every group but vcpus (a --quick run): latency CDFs for
# kick and nmi, the stall boxes, 3 hit-rate and 3 NMI-rate charts, 2 batch,
# 2 vCPU (from the latency group) and the witness chart.
charts=14

for fmt in text csv json html; do
	"$HVPATCH" report $fmt "$fixture" >"$work/out.$fmt" 2>"$work/err.$fmt"
	tap_is "report $fmt of the fixture exits 0" 0 $?
done
tap_is "nothing on stderr" "" "$(cat "$work"/err.*)"

out=$(cat "$work/out.text")
for want in "which scheme when" "observations" "unit costs" "one kick sync round" \
	    "== latency" "== hitrate" "== nmi" "== batch" "bp-cancel against the hit rate" \
	    "lowest latency:" "KVM stats available" "bpf available" \
	    "the bpf program counted"; do
	case $out in
	*"$want"*) _tap_result 0 "text has '$want'" ;;
	*) _tap_result 1 "text has '$want'" ;;
	esac
done

tap_ok "csv: a header and one row per cell ($cells), RFC 4180" \
	python3 "$check" csv "$work/out.csv" "$cells"
tap_is "json: the report as loaded" "$(jq -S . "$fixture/report.json" | md5sum)" \
	"$(jq -S . "$work/out.json" | md5sum)"
tap_ok "html: self-contained, $charts charts" python3 "$check" html "$work/out.html" "$charts"
tap_is "html: a table row per cell" "$cells" "$(grep -c '<tr[^>]*title=' "$work/out.html")"

# ---- intervals and p-values (bench/stats.c) ----
# has WANT TEXT DESC: a test that TEXT contains WANT
has() {
	case $2 in
	*"$1"*) _tap_result 0 "$3" ;;
	*) _tap_result 1 "$3"; echo "# wanted '$1' in: $2" ;;
	esac
}
tap_ok "csv: every p50 has a 95% interval that contains it" python3 "$check" ci "$work/out.csv"
# The fixed seed makes the intervals known values, and a render reproducible.
has "56.2–72.7 µs" "$(grep -E '^  stop +kick +1 ' "$work/out.text")" \
	"text: stop, kick, 1 vCPU: latency p50 69.3 µs in 56.2–72.7 µs"
has "47.2–57.8 µs" "$(grep 'one kick sync round' "$work/out.text")" \
	"text: a kick round's p50 47.9 µs in 47.2–57.8 µs"
has '56.2–72.7 µs</small>' "$(cat "$work/out.html")" "html: the same interval under the p50"
tap_is "a second render is the same, byte for byte" "$(md5sum <"$work/out.text")" \
	"$("$HVPATCH" report text "$fixture" | md5sum)"
tap_is "no p50 without an interval" "" "$(grep 'no interval' "$work/out.text")"
# stop's samples are milliseconds below the next method's: significant
rec=$(grep 'lowest latency:' "$work/out.text")
has "stop (median p50 74.7 µs; next bp-emulate at 20.4 ms, p = 0.0005)" "$rec" \
	"lowest latency: stop, and bp-emulate's samples differ, p = 0.0005"
# every method with the same latency samples: no difference to find
mkdir -p "$work/same"
jq '.cells |= map(if .group == "latency" then .raw.latency_ns = [1000, 2000, 3000, 4000] |
    .latency_ns.n = 4 | .latency_ns.p50 = 3000 else . end)' \
	"$fixture/report.json" >"$work/same/report.json"
rec=$("$HVPATCH" report text "$work/same" | grep 'lowest latency:')
has ": not significant, p = 1)" "$rec" "identical samples: not significant, p = 1"
# sync rounds are counts, ten 1s against ten 3s: a p50 test would not see it, ranks do
mkdir -p "$work/rounds"
jq '.cells |= map(if .group == "batch" and .params.sites == 1024 then
    (.params.method as $m | {"stop": 1, "bp-emulate": 3, "bp-cancel": 50}[$m]) as $r |
    .raw.sync_rounds = [range(10) | $r] | .sync_rounds.n = 10 | .sync_rounds.p50 = $r
    else . end)' "$fixture/report.json" >"$work/rounds/report.json"
rec=$("$HVPATCH" report text "$work/rounds" | grep 'large keys:')
has "stop needs the fewest sync rounds at 1024 sites (1; next bp-emulate at 3, p = 0.0005)" \
	"$rec" "large keys: ten 1s against ten 3s, p = 0.0005"
# before the bench stored unit-cost samples; and a report with no raw samples at all
mkdir -p "$work/old"
jq 'del(.cells[].raw) | .unit_costs |= with_entries(if (.value | type) == "object"
    then .value |= del(.samples) else . end)' "$fixture/report.json" >"$work/old/report.json"
for fmt in text csv html; do
	"$HVPATCH" report $fmt "$work/old" >"$work/old.$fmt" 2>&1
	tap_is "a report without samples: $fmt exits 0" 0 $?
done
has "p50s have no interval" "$(cat "$work/old.text")" "  text says its p50s have no interval"
has "69.3 µs               -" "$(grep -E '^  stop +kick +1 ' "$work/old.text")" \
	"  and shows them without one"
has "no p-value: the report holds no raw samples" "$(grep 'lowest latency:' "$work/old.text")" \
	"  its claims say they have no p-value"
has "p50s have no interval" "$(cat "$work/old.html")" "  html says so too"
tap_is "  csv: its interval columns are empty" 1 \
	"$(python3 "$check" ci "$work/old.csv" >/dev/null; echo $?)"

# ---- each vCPU's stall ----
has "holds no per-vCPU stall" "$(cat "$work/out.text")" \
	"text: the fixture, older than per-vCPU stall, says it has none"
mkdir -p "$work/vcpu"
jq '.cells |= map(.max_stall_ns_by_vcpu =
    [.max_stall_ns, {"n": 4, "p50": 1000, "max": 2000}][0:.params.vcpus])' \
	"$fixture/report.json" >"$work/vcpu/report.json"
vs=$("$HVPATCH" report text "$work/vcpu" | grep -A1 '^  latency/stop/kick/v2/')
has "vCPU 0: 4.56 ms / 4.62 ms, 1: 1 µs / 2 µs" "$vs" "text: a 2-vCPU cell's stall by vCPU"
has "0: 110 µs / 113 µs</td>" "$("$HVPATCH" report html "$work/vcpu")" \
	"html: a 1-vCPU cell's stall by vCPU"

# ---- who held the slowest rounds (two fixture cells carry slowest_round) ----
sr=$(sed -n '/^== slowest sync rounds/,/^$/p' "$work/out.text")
has "kick 12.6 ms: vCPU 1 acked after 12.6 ms (CPL 0 at 0x10259a, in a guest handler, 7 kicks refused, host thread R)" \
	"$sr" "text: the slowest round names its holder, where it was and its thread"
tap_is "text: slowest round first, then the next (2 cells)" \
	"latency/bp-emulate/kick/v2/r0/nmi0/s16 latency/stop/kick/v2/r0/nmi0/s16" \
	"$(grep -E '^  latency/' <<<"$sr" | tr -d ' ' | tr '\n' ' ' | sed 's/ $//')"
has "pause 956 µs: vCPU 0 acked after 918 µs" "$("$HVPATCH" report html "$fixture")" \
	"html: the round holders' table"
mkdir -p "$work/noround"
jq 'del(.cells[].slowest_round)' "$fixture/report.json" >"$work/noround/report.json"
has "names no round holders" "$("$HVPATCH" report text "$work/noround")" \
	"text: a report without holders says so"
mkdir -p "$work/badround"
jq '.cells[5].slowest_round = {"kind": 7, "ns": "x", "held_by": {"a": 1}}' \
	"$fixture/report.json" >"$work/badround/report.json"
tap_exit "a malformed slowest_round still renders (text)" 0 "$HVPATCH" report text "$work/badround"
tap_exit "... and html" 0 "$HVPATCH" report html "$work/badround"

# ---- the performance targets, as ratios of the run's own figures ----
tg=$(sed -n '/^== performance targets/,/^$/p' "$work/out.text")
has "one kick sync round, in exit round trips                                   4.35 (3.33-5.85)     <= 3  missed" \
	"$tg" "text: a target is the ratio of two p50s with the ratio of their intervals, judged"
has "stop --sync kick, 1 vCPU, in kick rounds                                  1.45 (0.973-1.54)   <= 1.5  unclear" \
	"$tg" "text: a target whose interval straddles its bound is unclear"
has "QEMU's stop+cont over the own VMM's stop, 2 vCPUs                                         -    >= 10  not measured" \
	"$tg" "text: a target the run has no cells for is not measured"
has "<h2>Performance targets</h2>" "$("$HVPATCH" report html "$fixture")" \
	"html: the targets' table"
# a unit the bench could not measure: it writes n 0 and every figure 0 (stats_json),
# and each latency in rounds of it as 0
mkdir -p "$work/nonmi"
jq '.unit_costs.nmi_round_ns = {"n": 0, "min": 0, "p50": 0, "p90": 0, "p99": 0, "max": 0,
    "mean": 0, "sd": 0, "samples": []} | .cells |= map(if .params.sync == "nmi" then
    .latency_rounds |= with_entries(if .key == "n" then . else .value = 0 end) else . end)' \
	"$fixture/report.json" >"$work/nonmi/report.json"
"$HVPATCH" report text "$work/nonmi" >"$work/nonmi.text"
has "one NMI sync round, in exit round trips                                                   -     <= 5  not measured" \
	"$(cat "$work/nonmi.text")" "no NMI round measured: its target is not measured, not met"
tap_is "  and its unit cost is no 0 ns" "" "$(grep -E '^  one NMI sync round .* 0 ns' "$work/nonmi.text")"
has "1.63 ms   1.63 ms        -             -      1" \
	"$(grep -E '^  stop +nmi +1 ' "$work/nonmi.text")" "  nor are its cells' latencies 0 NMI rounds"
# a patch of no time at all is no measurement either, whatever its interval
mkdir -p "$work/zerolat"
jq '.cells |= map(if .id == "latency/stop/kick/v1/r0/nmi0/s16" then .raw.latency_ns = [0, 0, 0, 0] |
    .latency_ns |= (.min = 0 | .p50 = 0 | .p90 = 0 | .p99 = 0 | .max = 0) else . end)' \
	"$fixture/report.json" >"$work/zerolat/report.json"
has "stop --sync kick, 1 vCPU, in kick rounds                                                  -   <= 1.5  not measured" \
	"$("$HVPATCH" report text "$work/zerolat")" "a 0 ns stop: its target is not measured, not met"
# without samples there is no interval: a ratio's point alone is neither met nor missed
tap_is "a report without samples: no target met or missed" "" \
	"$(sed -n '/^== performance targets/,/^$/p' "$work/old.text" | grep -E ' (met|missed)$')"

# ---- the backend group names its backend in every row ----
mkdir -p "$work/backend"
jq '.cells |= [.[] | select(.group == "latency" and .params.sync == "kick" and .params.vcpus == 2)
    | . as $c | ("kvm", "qemu", "libvirt") as $b
    | $c | .group = "backend" | .params.backend = $b | .id += "/" + $b]' \
	"$fixture/report.json" >"$work/backend/report.json"
"$HVPATCH" report text "$work/backend" >"$work/backend.text"
"$HVPATCH" report html "$work/backend" >"$work/backend.html"
rows=$(sed -n '/^== backend/,/^$/p' "$work/backend.text" | grep -cE '^  (stop|bp-)')
tap_is "text: 9 rows in the backend table" 9 "$rows"
tap_is "  each names its backend" 9 "$(sed -n '/^== backend/,/^$/p' "$work/backend.text" |
	grep -cE '^  [a-z-]+ +kick (kvm|qemu|libvirt) ')"
tap_is "html: each backend row names its backend" 9 \
	"$(grep -cE '<td>kick</td><td>(kvm|qemu|libvirt)</td>' "$work/backend.html")"

# ---- a test-only method (bench run --unsafe) is shown, never recommended ----
# stop's cells again as bp-cancel-hpa: as fast as the best, and still not named
mkdir -p "$work/unsafe"
jq '.cells += [.cells[] | select(.params.method == "stop") | .params.method = "bp-cancel-hpa"
    | .params.unsafe = true | .id |= sub("/stop/"; "/bp-cancel-hpa/")]' \
	"$fixture/report.json" >"$work/unsafe/report.json"
"$HVPATCH" report text "$work/unsafe" >"$work/unsafe.text"
tap_is "text: its rows carry its whole name" 4 \
	"$(sed -n '/^== latency/,/^$/p' "$work/unsafe.text" | grep -cE '^  bp-cancel-hpa (kick|nmi) ')"
has "(test only: --unsafe)" "$(grep '^  bp-cancel-hpa: median' "$work/unsafe.text")" \
	"text: its observation says it is test only"
tap_is "  and no recommendation names it" "" \
	"$(sed -n '/^== which scheme when/,/^$/p' "$work/unsafe.text" | grep -- bp-cancel-hpa)"

# ---- Chromium draws it ----
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
	echo "ok $((_tap_n + 1)) # SKIP chromium is not installed (Debian: apt-get install chromium)"
	_tap_n=$((_tap_n + 1))
else
	# A page tall enough for the latency CDFs, the stall boxes and the hit-rate charts.
	timeout 120 "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
		--user-data-dir="$work/chromium" --window-size=1280,3600 \
		--screenshot="$work/shot.png" "file://$work/out.html" >"$work/chromium.log" 2>&1
	if [ -s "$work/shot.png" ]; then
		tap_ok "chromium: the screenshot shows the charts" python3 "$check" png "$work/shot.png"
	else
		_tap_result 1 "chromium: the screenshot shows the charts"
		tail -n 5 "$work/chromium.log" | sed 's/^/# /'
	fi
fi

# ---- hostile and partial reports ----
mkdir -p "$work/evil"
jq '.host.cpu = "<script>alert(1)</script>" |
    .cells[0].params.method = "<img src=x onerror=alert(1)>\"&" |
    .cells[1].id = "a,b\"c\nd" | .cells[2].group = "<b>new</b>" |
    .cells[3].latency_ns = "fast" | .cells[4].params = 7 | .cells[5].raw.latency_ns = ["x", null, -1] |
    .cells += [1, "two", null, [], {}]' "$fixture/report.json" >"$work/evil/report.json"
for fmt in text csv json html; do
	"$HVPATCH" report $fmt "$work/evil" >"$work/evil.$fmt" 2>&1
	tap_is "a hostile report: $fmt exits 0" 0 $?
done
tap_ok "a hostile report: html still self-contained, strings escaped" \
	python3 "$check" html "$work/evil.html" "$charts"
tap_is "a hostile report: csv has a row per object cell" 0 \
	"$(python3 "$check" csv "$work/evil.csv" $((cells + 1)) >/dev/null; echo $?)"
# a terminal's controls in a copied report's names: C0, C1 (U+009B is CSI) and a lone
# byte 0x9b (CSI to a terminal not in UTF-8) all reach the text as '?'
mkdir -p "$work/c1"
jq '.host.cpu = "A\u001b[2JB\u009b2JC LONE µ" | .cells[0].params.method = "st\u009b31mop"' \
	"$fixture/report.json" | LC_ALL=C sed "s/LONE/$(printf '\233')/" >"$work/c1/report.json"
"$HVPATCH" report text "$work/c1" >"$work/c1.text"
tap_is "text: no C0 or C1 control from the report reaches the terminal" 0 \
	"$(LC_ALL=C grep -c "$(printf '[\033\233]')" "$work/c1.text")"
has "host: A?[2JB?2JC ? µ," "$(cat "$work/c1.text")" "  each shown as '?', other UTF-8 kept"
# the html is UTF-8 too: a name cut short in a chart's legend is cut between characters,
# and a malformed byte from the report (json-c does not check) is no byte of the page
mkdir -p "$work/utf8"
jq '.cells |= map(if .params.method == "stop" then .params.method = "xé-é-é-é-é-é-é-é-é-é-é-é-é"
    else . end) | .host.cpu = "LONE"' "$fixture/report.json" |
	LC_ALL=C sed "s/LONE/$(printf 'A\351B')/" >"$work/utf8/report.json"
"$HVPATCH" report html "$work/utf8" >"$work/utf8.html"
tap_ok "html: names cut short and malformed bytes still make valid UTF-8" \
	python3 "$check" html "$work/utf8.html" "$charts"

mkdir -p "$work/partial"
jq '.cells |= map(select(.group == "latency")) | del(.unit_costs) | del(.witnesses)' \
	"$fixture/report.json" >"$work/partial/report.json"
"$HVPATCH" report html "$work/partial" >"$work/partial.html"
tap_is "a report with only the latency group renders" 0 $?
tap_ok "  and notes the missing groups" grep -q "No cells in the hitrate group" "$work/partial.html"
# 2 CDFs, the stall boxes, 2 vCPU charts, the witness chart
tap_ok "  with the charts it has data for" python3 "$check" html "$work/partial.html" 6

# numbers the report does not give (or that divide by 0) read "-" or "n/a", never "nan"
mkdir -p "$work/nonum"
jq '.duration_s = null | .host.cores = null | .host.tsc_khz = null | .cells |= map(
    .params.vcpus = null | .params.nmi_rate = null | .attempts = null | .completed = null |
    .faults = null | .witness.hvpatch_exits = 0 |
    if .params.sites == 1 then .sync_rounds.p50 = null else . end)' \
	"$fixture/report.json" >"$work/nonum/report.json"
for fmt in text html; do
	tap_is "missing numbers: $fmt says no nan or inf" "" \
		"$("$HVPATCH" report $fmt "$work/nonum" | grep -ioE '.{0,30}(nan|inf)([^a-z]|$)')"
done
has "(ratio n/a)" "$("$HVPATCH" report text "$work/nonum")" \
	"  a witness ratio over no hvpatch exits is n/a"

mkdir -p "$work/empty"
echo '{"schema_version": 1, "cells": []}' >"$work/empty/report.json"
for fmt in text csv html; do
	"$HVPATCH" report $fmt "$work/empty" >/dev/null 2>&1
	tap_is "an empty report: $fmt exits 0" 0 $?
done

# ---- errors: exit 1 and a message ----
tap_exit "a missing directory: exit 1" 1 "$HVPATCH" report html "$work/missing"
mkdir -p "$work/nojson"
tap_exit "no report.json in it: exit 1" 1 "$HVPATCH" report html "$work/nojson"
mkdir -p "$work/corrupt"
head -c 3000 "$fixture/report.json" >"$work/corrupt/report.json"
tap_exit "a truncated report.json: exit 1" 1 "$HVPATCH" report csv "$work/corrupt"
msg=$("$HVPATCH" report csv "$work/corrupt" 2>&1)
case $msg in
"error: "*"not valid JSON"*) _tap_result 0 "  says it is not valid JSON" ;;
*) _tap_result 1 "  says it is not valid JSON"; echo "# $msg" ;;
esac
mkdir -p "$work/v2"
jq '.schema_version = 2' "$fixture/report.json" >"$work/v2/report.json"
tap_exit "schema_version 2: exit 1" 1 "$HVPATCH" report html "$work/v2"
msg=$("$HVPATCH" report html "$work/v2" 2>&1)
case $msg in
*"schema_version 2 is not supported"*) _tap_result 0 "  says the schema version" ;;
*) _tap_result 1 "  says the schema version"; echo "# $msg" ;;
esac
mkdir -p "$work/nocells"
echo '{"schema_version": 1}' >"$work/nocells/report.json"
tap_exit "no cells array: exit 1" 1 "$HVPATCH" report text "$work/nocells"
tap_exit "a file, not a directory: exit 1" 1 "$HVPATCH" report text "$fixture/report.json"
tap_exit "-j: a JSON error, exit 1" 1 "$HVPATCH" -j report text "$work/missing"

tap_done
