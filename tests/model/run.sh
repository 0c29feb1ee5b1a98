#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Model-check the patch methods with SPIN (see tests/model/README.md).
#
#   tests/model/run.sh [--tap] [--keep] [-v]
#
# Each model is checked for three properties, each in its own pan run:
#   safety      no torn instruction, no stray #BP ("not ours"), read-backs
#               hold (assertions, exhaustive search)
#   completion  after the patch returned, every execution is the new
#               instruction and no #BP handler is still to run (assertions)
#   liveness    no non-progress cycle under weak fairness (pan -l -f): the
#               patcher always gets to its progress label at completion
# then each mutant (a model with one safeguard removed) must be caught.
# Prints one line per model (and per mutant) and exits 0 only if every
# outcome is the expected one.  --tap: TAP, one test per model x property and
# per mutant (for make check).  --keep: keep the work directory.  -v: the
# state counts too.  HVP_MODEL_JOBS: pan runs at a time (default: nproc).
set -u

srcdir=$(cd "$(dirname "$0")" && pwd)
tap=0 keep=0 verbose=0
for a in "$@"; do
	case $a in
	--tap) tap=1 ;;
	--keep) keep=1 ;;
	-v) verbose=1 ;;
	-h|--help)
		sed -n '3,19p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "error: unknown argument '$a' (usage: $0 [--tap] [--keep] [-v])" >&2
		exit 2
		;;
	esac
done

if ! command -v spin >/dev/null 2>&1; then
	if [ $tap -eq 1 ]; then
		echo "1..0 # SKIP spin is not installed (Debian package spin)"
		exit 0
	fi
	echo "error: spin is not installed: apt-get install spin" >&2
	exit 1
fi
CC=${CC:-cc}
if ! command -v "$CC" >/dev/null 2>&1; then
	echo "error: no C compiler ('$CC') to build pan" >&2
	exit 1
fi

work=$(mktemp -d /tmp/hvpatch-model.XXXXXX)
cleanup() { [ $keep -eq 1 ] && echo "model-check: kept $work" >&2 || rm -rf "$work"; }
trap cleanup EXIT

# verify NAME FILE PROP DEFINES: one pan run, in its own directory.  Leaves
# there pan.out and a file "result": the error count, the states stored and
# what the error is (none, torn, stray, readback, late, completion, livelock,
# deadlock, incomplete, unknown, tool).
verify() {
	local name=$1 file=$2 prop=$3 defs=$4 dir out errors=-1 states=0 kind=tool
	dir="$work/$name-$prop"
	mkdir -p "$dir"
	cp "$srcdir"/*.pml "$dir"/
	out="$dir/pan.out"
	# shellcheck disable=SC2086
	case $prop in
	safety)
		(cd "$dir" && spin -DCHECK_SAFETY $defs -a "$file" &&
		 "$CC" -O0 -w -DSAFETY -o pan pan.c && ./pan -w20 -m200000) >"$out" 2>&1 ;;
	completion)
		(cd "$dir" && spin -DCHECK_COMPLETION $defs -a "$file" &&
		 "$CC" -O0 -w -DSAFETY -o pan pan.c && ./pan -w20 -m200000) >"$out" 2>&1 ;;
	liveness)
		(cd "$dir" && spin $defs -a "$file" &&
		 "$CC" -O0 -w -DNP -o pan pan.c && ./pan -w20 -m200000 -l -f) >"$out" 2>&1 ;;
	esac
	if ! grep -q 'errors: [0-9]' "$out"; then
		echo "$errors $states $kind" >"$dir/result"
		return 0
	fi
	errors=$(sed -n 's/.*errors: \([0-9][0-9]*\).*/\1/p' "$out" | head -n 1)
	states=$(sed -n 's/^ *\([0-9][0-9]*\) states, stored.*/\1/p' "$out" | head -n 1)
	if grep -q 'max search depth too small' "$out"; then
		kind=incomplete
	elif [ "$errors" -eq 0 ]; then
		kind=none
	elif grep -q '^pan:[0-9]*: non-progress cycle' "$out"; then
		kind=livelock
	elif grep -q '^pan:[0-9]*: invalid end state' "$out"; then
		kind=deadlock
	elif grep -q '^pan:[0-9]*: assertion violated.*late_bp' "$out"; then
		kind=late
	elif grep -q '^pan:[0-9]*: assertion violated.*returned' "$out"; then
		kind=completion
	elif grep -q '^pan:[0-9]*: assertion violated.*stray_bp' "$out"; then
		kind=stray
	elif grep -q '^pan:[0-9]*: assertion violated.*insn' "$out"; then
		kind=torn
	elif grep -q '^pan:[0-9]*: assertion violated.*tail1' "$out"; then
		kind=readback
	else
		kind=unknown
	fi
	# a counterexample, for whoever reads the log
	if [ "$errors" -gt 0 ] && [ -f "$dir/$file.trail" ]; then
		# shellcheck disable=SC2086
		(cd "$dir" && spin -t -p $([ "$prop" = safety ] && echo -DCHECK_SAFETY) \
			$([ "$prop" = completion ] && echo -DCHECK_COMPLETION) $defs "$file") \
			>"$dir/trail.txt" 2>&1
	fi
	echo "$errors $states $kind" >"$dir/result"
}

# result NAME PROP: sets $errors, $states, $kind and $out from verify's run.
result() {
	out="$work/$1-$2/pan.out"
	errors=-1 states=0 kind=tool
	[ -f "$work/$1-$2/result" ] && read -r errors states kind <"$work/$1-$2/result"
	return 0
}

describe() { # KIND
	case $1 in
	torn) echo "torn instruction" ;;
	stray) echo "stray #BP: not ours, still int3" ;;
	readback) echo "read-back mismatch" ;;
	late) echo "a #BP handler still to run after the patch returned" ;;
	completion) echo "an old or trapping execution after completion" ;;
	livelock) echo "non-progress cycle" ;;
	deadlock) echo "invalid end state" ;;
	incomplete) echo "search incomplete: max depth too small" ;;
	*) echo "spin or pan failed" ;;
	esac
}

ntests=0 nfailed=0 total_states=0
tap_line() { # OK DESC
	ntests=$((ntests + 1))
	[ "$1" -eq 1 ] || nfailed=$((nfailed + 1))
	if [ $tap -eq 1 ]; then
		if [ "$1" -eq 1 ]; then echo "ok $ntests - $2"; else echo "not ok $ntests - $2"; fi
	fi
}
diag() { # why a run did not give the expected outcome, for the log
	local trail
	trail="$(dirname "$out")/trail.txt"
	grep -E '^pan:|errors:|states, stored|error' "$out" | head -n 8 | sed 's/^/# /' >&2
	[ -f "$trail" ] && tail -n 30 "$trail" | sed 's/^/# /' >&2
	return 0
}

# name, file, -D defines, expected safety / completion / liveness kind
# (none = the property holds; bp-cancel: see README.md, "Findings")
MODELS="
stop		stop.pml	-		none none none
bp-emulate	bp_emulate.pml	-		none none none
bp-emulate-two-patches	bp_emulate.pml	-DTWO_PATCHES	none none none
bp-cancel	bp_cancel.pml	-		torn none livelock
bp-cancel-fixed	bp_cancel.pml	-DBP_CANCEL_FIXED	none none livelock
bp-cancel-fixed-two-patches	bp_cancel.pml	-DBP_CANCEL_FIXED,-DTWO_PATCHES	none none livelock
bp-cancel-coherent-fetch	bp_cancel.pml	-DFETCH_COHERENT	none none livelock
naive		naive.pml	-		torn none none
"
# name, file, defines, the property and the error it must be caught with
# (kick-ack-in-flight: the acknowledgement rule before issue 9; see
# README.md, "The in-flight window")
MUTANTS="
bp-emulate-no-tail-round	bp_emulate.pml	-DMUTANT_NO_TAIL_ROUND	safety torn
bp-emulate-ack-in-handler	bp_emulate.pml	-DMUTANT_ACK_IN_HANDLER	completion late
bp-emulate-no-last-round	bp_emulate.pml	-DMUTANT_NO_LAST_ROUND	completion late
bp-emulate-kick-ack-in-flight	bp_emulate.pml	-DMUTANT_KICK_ACK_IN_FLIGHT	completion late
bp-emulate-kick-ack-in-flight-old-handler	bp_emulate.pml	-DTWO_PATCHES,-DOLD_BP_HANDLER,-DMUTANT_KICK_ACK_IN_FLIGHT	safety stray
bp-emulate-nmi-in-flight	bp_emulate.pml	-DMUTANT_NMI_IN_FLIGHT	completion late
bp-emulate-leave-ack-first	bp_emulate.pml	-DMUTANT_LEAVE_ACK_FIRST	completion late
bp-cancel-fixed-no-cc-check	bp_cancel.pml	-DBP_CANCEL_FIXED,-DMUTANT_NO_CC_CHECK	safety torn
bp-cancel-fixed-kick-ack-in-flight	bp_cancel.pml	-DBP_CANCEL_FIXED,-DMUTANT_KICK_ACK_IN_FLIGHT	completion late
bp-cancel-fixed-kick-ack-in-flight-old-handler	bp_cancel.pml	-DBP_CANCEL_FIXED,-DTWO_PATCHES,-DOLD_BP_HANDLER,-DMUTANT_KICK_ACK_IN_FLIGHT	safety stray
stop-no-nmi-on-resume	stop.pml	-DMUTANT_NO_NMI_ON_RESUME	safety torn
"
nmodels=$(echo "$MODELS" | grep -c .)
nmutants=$(echo "$MUTANTS" | grep -c .)
[ $tap -eq 1 ] && echo "1..$((nmodels * 3 + nmutants))"

# Every pan run, $jobs at a time; the report below reads their results.
t0=$(date +%s.%N)
jobs=${HVP_MODEL_JOBS:-$(nproc 2>/dev/null || echo 2)}
running=0
spawn() {
	if [ $running -ge "$jobs" ]; then
		wait -n
		running=$((running - 1))
	fi
	verify "$@" &
	running=$((running + 1))
}
while read -r name file defs exp_s exp_c exp_l; do
	[ -n "$name" ] || continue
	[ "$defs" = - ] && defs=""
	for prop in safety completion liveness; do
		spawn "$name" "$file" "$prop" "${defs//,/ }"
	done
done <<<"$MODELS"
while read -r name file defs prop exp; do
	[ -n "$name" ] || continue
	spawn "mutant-$name" "$file" "$prop" "${defs//,/ }"
done <<<"$MUTANTS"
wait

stats=""
while read -r name file defs exp_s exp_c exp_l; do
	[ -n "$name" ] || continue
	[ "$defs" = - ] && defs=""
	defs=${defs//,/ }
	line="model $name:"
	sep=" "
	for prop in safety completion liveness; do
		case $prop in
		safety) exp=$exp_s ;;
		completion) exp=$exp_c ;;
		liveness) exp=$exp_l ;;
		esac
		result "$name" "$prop"
		total_states=$((total_states + ${states:-0}))
		stats="$stats$name $prop: $states states, errors: $errors
"
		good=0
		[ "$kind" = "$exp" ] && good=1
		if [ "$prop" = liveness ]; then
			case $kind in
			none) what="no livelock" ;;
			livelock) what="livelock found (non-progress cycle)" ;;
			*) what="liveness check FAILED ($(describe "$kind"))" ;;
			esac
		else
			case $kind in
			none) what="$prop ok" ;;
			*) what="$prop VIOLATED ($(describe "$kind"))" ;;
			esac
			if [ "$kind" != none ] && [ $good -eq 1 ]; then
				if [ "$name" = naive ]; then
					what="$prop VIOLATED as expected ($(describe "$kind"))"
				else
					what="$prop VIOLATED ($(describe "$kind"); a known finding, see tests/model/README.md)"
				fi
			fi
		fi
		if [ $good -eq 0 ]; then
			what="$what, UNEXPECTED (expected: $([ "$exp" = none ] && echo "holds" || describe "$exp"))"
			diag
		fi
		line="$line$sep$what"
		sep=", "
		tap_line $good "model $name: $what [$states states]"
	done
	[ $tap -eq 1 ] || echo "$line"
done <<<"$MODELS"

while read -r name file defs prop exp; do
	[ -n "$name" ] || continue
	defs=${defs//,/ }
	result "mutant-$name" "$prop"
	total_states=$((total_states + ${states:-0}))
	stats="${stats}mutant $name $prop: $states states, errors: $errors
"
	if [ "$kind" = "$exp" ]; then
		good=1 what="caught ($(describe "$kind"))"
	else
		good=0 what="MISSED (got: $([ "$kind" = none ] && echo "no error" || describe "$kind"), expected: $(describe "$exp"))"
		diag
	fi
	tap_line $good "mutant $name: $what [$states states]"
	[ $tap -eq 1 ] || echo "mutant $name: $what"
done <<<"$MUTANTS"
t1=$(date +%s.%N)

secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
if [ $verbose -eq 1 ]; then
	printf '%s' "$stats" | sed 's/^/  /'
fi
if [ $tap -eq 1 ]; then
	echo "# $ntests checks, $total_states states stored in all, ${secs}s"
else
	echo "model-check: $((ntests - nfailed))/$ntests outcomes as expected, $total_states states, ${secs}s"
fi
[ $nfailed -eq 0 ]
