#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Build and run hvpatch's libFuzzer targets (tests/fuzz/fuzz-*.c).
#
#   tests/fuzz/run.sh [OPTIONS] [BUILDDIR]
#
#   (default)     build, then fuzz each target for HVP_FUZZ_SECONDS (60) on a
#                 copy of its corpus (corpus/<t>/ plus regress/<t>/); exit 1
#                 and print the reproducer's path if anything crashed, leaked,
#                 timed out or ran out of memory
#   --regress     build, then run every file of corpus/*/ and regress/*/ once
#                 (a few seconds; what `make check` runs)
#   --tap         with --regress: speak TAP (for automake's tap-driver)
#   --merge       after fuzzing, add the inputs that found new coverage to the
#                 committed corpus (tests/fuzz/corpus/<t>/); never otherwise
#   --coverage    build with clang's source coverage, run each target over its
#                 corpus (plus what the last fuzzing run in BUILDDIR found)
#                 and print llvm-cov's report for the parser it targets
#   --targets L   comma-separated subset of: ctl,agent,elf,journal (default: all)
#   --seconds N   fuzzing time per target (overrides HVP_FUZZ_SECONDS)
#
# BUILDDIR (default: a temporary directory, removed at exit) receives the
# binaries, a work corpus per target (work-<t>/corpus), the crash artifacts
# (work-<t>/artifacts) and the logs (work-<t>/fuzz.log).
#
# Environment:
#   HVP_FUZZ_SECONDS     seconds per target (60)
#   HVP_FUZZ_TARGETS     default for --targets
#   HVP_FUZZ_CC          the compiler (clang); it needs libFuzzer, on Debian
#                        12 from libclang-rt-14-dev
#   HVP_FUZZ_CFLAGS      extra compiler flags
#   HVP_FUZZ_CONFIG_DIR  a directory holding configure's config.h (else a
#                        minimal one is written into BUILDDIR)
#   HVP_FUZZ_ARGS        extra libFuzzer flags for the fuzzing run
#   HVP_FUZZ_ELF_IMAGE   a guest image to add to fuzz-elf's work corpus
#                        (default: guest-agent/hvpatch-guest.elf if built)
#
# Exit: 0 clean; 1 crash or failure; 2 usage or build error; 77 libFuzzer is
# not available (with --tap: a TAP skip and 0).
set -u
# One compound command: bash reads it whole before running any of it, so an
# edit to this file cannot derail a run in progress.
{
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)

mode=fuzz
tap=no
merge=no
targets=${HVP_FUZZ_TARGETS:-ctl,agent,elf,journal}
seconds=${HVP_FUZZ_SECONDS:-60}
build=

usage() { sed -n '3,/^set -u/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 2; }

while [ $# -gt 0 ]; do
	case $1 in
	--regress) mode=regress ;;
	--coverage) mode=coverage ;;
	--tap) tap=yes ;;
	--merge) merge=yes ;;
	--targets) targets=${2:?--targets needs a list}; shift ;;
	--targets=*) targets=${1#*=} ;;
	--seconds) seconds=${2:?--seconds needs a number}; shift ;;
	--seconds=*) seconds=${1#*=} ;;
	-h|--help) usage ;;
	-*) echo "run.sh: unknown option $1" >&2; usage ;;
	*) [ -z "$build" ] || usage; build=$1 ;;
	esac
	shift
done
case $seconds in ''|*[!0-9]*) echo "run.sh: bad time '$seconds'" >&2; exit 2 ;; esac
targets=${targets//,/ }
for t in $targets; do
	case $t in ctl|agent|elf|journal) ;; *) echo "run.sh: unknown target '$t'" >&2; exit 2 ;; esac
done

cc=${HVP_FUZZ_CC:-clang}
if [ -z "$build" ]; then
	build=$(mktemp -d "${TMPDIR:-/tmp}/hvp-fuzz.XXXXXX") || exit 2
	trap 'rm -rf "$build"' EXIT
	keep=no
else
	mkdir -p "$build" || exit 2
	build=$(cd "$build" && pwd)
	keep=yes
fi

# ---- TAP helpers (only used with --regress --tap) --------------------------
n_tap=0
say() { if [ "$tap" = yes ]; then echo "# $*"; else echo "$*"; fi; }
result() {	# result OK|FAIL description
	n_tap=$((n_tap + 1))
	if [ "$tap" = yes ]; then
		if [ "$1" = OK ]; then echo "ok $n_tap - $2"; else echo "not ok $n_tap - $2"; fi
	else
		echo "$1: $2"
	fi
}
skip_all() {
	if [ "$tap" = yes ]; then echo "1..0 # SKIP $*"; exit 0; fi
	echo "run.sh: SKIP: $*" >&2
	exit 77
}

# ---- Is libFuzzer there? ---------------------------------------------------
if ! command -v "$cc" >/dev/null 2>&1; then
	skip_all "$cc not found (Debian: apt-get install clang libclang-rt-14-dev)"
fi
cat >"$build/probe.c" <<'EOF'
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return (int)(n && d[0] == 1) * 0; }
EOF
if ! "$cc" -fsanitize=fuzzer,address,undefined -o "$build/probe" "$build/probe.c" \
	>"$build/probe.log" 2>&1; then
	sed 's/^/  /' "$build/probe.log" >&2
	skip_all "$cc cannot link -fsanitize=fuzzer,address,undefined" \
		"(Debian: apt-get install libclang-rt-14-dev)"
fi
rm -f "$build/probe" "$build/probe.c" "$build/probe.log"

# ---- Build -----------------------------------------------------------------
if [ -n "${HVP_FUZZ_CONFIG_DIR:-}" ] && [ -f "$HVP_FUZZ_CONFIG_DIR/config.h" ]; then
	cfgdir=$HVP_FUZZ_CONFIG_DIR
else
	cfgdir=$build/cfg
	mkdir -p "$cfgdir"
	printf '/* written by tests/fuzz/run.sh */\n#define _GNU_SOURCE 1\n' >"$cfgdir/config.h"
fi
jsonc_cflags=$(pkg-config --cflags json-c 2>/dev/null || echo "-I/usr/include/json-c")
jsonc_libs=$(pkg-config --libs json-c 2>/dev/null || echo "-ljson-c")

declare -A srcs libs parser maxlen
srcs[ctl]="$here/fuzz-ctl.c $top/protocol/hvp_ctl.c"
srcs[agent]="$here/fuzz-agent.c $top/vmm/agent.c"
srcs[elf]="$here/fuzz-elf.c $top/vmm/elf.c"
srcs[journal]="$here/fuzz-journal.c $top/vmm/journal.c $top/vmm/util.c"
libs[ctl]=$jsonc_libs
libs[agent]=
libs[elf]=
libs[journal]=$jsonc_libs
parser[ctl]=$top/protocol/hvp_ctl.c
parser[agent]=$top/vmm/agent.c
parser[elf]=$top/vmm/elf.c
parser[journal]=$top/vmm/journal.c
# Longest input worth mutating: a header plus a payload with room to nest;
# the guest-written part of the agent area plus some text; a small image;
# a journal of a few dozen records.
maxlen[ctl]=4096
maxlen[agent]=32768
maxlen[elf]=65536
maxlen[journal]=4096

build_one() {	# build_one TARGET OUT EXTRA-FLAGS...
	local t=$1 out=$2 s
	shift 2
	for s in ${srcs[$t]}; do
		if [ ! -f "$s" ]; then
			echo "run.sh: $t: missing source $s" >&2
			return 1
		fi
	done
	# -iquote, not -I: the project's vmm/elf.h must not stand in for the
	# system's <elf.h> (vmm/elf.c includes both).
	# shellcheck disable=SC2086
	"$cc" -std=gnu11 -g -O1 -Wall -Wextra -Wno-unused-parameter "$@" -DHAVE_CONFIG_H \
		-D_GNU_SOURCE -iquote "$cfgdir" -iquote "$top" -iquote "$top/protocol" \
		-iquote "$top/vmm" $jsonc_cflags ${HVP_FUZZ_CFLAGS:-} \
		-o "$out" ${srcs[$t]} ${libs[$t]} >"$out.build.log" 2>&1
	local r=$?
	if [ $r -ne 0 ] || grep -q 'warning:' "$out.build.log"; then
		cat "$out.build.log" >&2
	fi
	return $r
}

# shellcheck disable=SC2054
san_flags=(-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
built=
for t in $targets; do
	if [ "$mode" = coverage ]; then
		build_one "$t" "$build/cov-$t" -fsanitize=fuzzer -fprofile-instr-generate \
			-fcoverage-mapping || { echo "run.sh: build of cov-$t failed" >&2; exit 2; }
	elif build_one "$t" "$build/fuzz-$t" "${san_flags[@]}"; then
		built="$built $t"
	elif [ "$mode" = regress ]; then
		result FAIL "$t: build"
	else
		echo "run.sh: build of fuzz-$t failed" >&2
		exit 2
	fi
done

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
common="-timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 -error_exitcode=1 -timeout_exitcode=1"

inputs_of() {	# every committed input of a target, one path a line
	local d
	for d in "$here/corpus/$1" "$here/regress/$1"; do
		[ -d "$d" ] && find "$d" -maxdepth 1 -type f ! -name '.*' ! -name README\* | LC_ALL=C sort
	done
}

# ---- --regress: every committed input once ----------------------------------
if [ "$mode" = regress ]; then
	fail=0
	for t in $targets; do
		case " $built " in *" $t "*) ;; *) fail=1; continue ;; esac
		mapfile -t files < <(inputs_of "$t")
		if [ ${#files[@]} -eq 0 ]; then
			result FAIL "$t: no inputs in corpus/$t or regress/$t"
			fail=1
			continue
		fi
		log=$build/regress-$t.log
		# shellcheck disable=SC2086
		if "$build/fuzz-$t" $common -runs=1 "${files[@]}" >"$log" 2>&1; then
			result OK "$t: ${#files[@]} inputs run once"
		else
			bad=$(grep '^Running: ' "$log" | tail -n 1 | sed 's/^Running: //')
			result FAIL "$t: ${bad:-?} (log: $log)"
			grep -v -E '^(INFO|Executed|Running)|fuzzer::|libc|_start|sanitizer_print|^ *$' \
				"$log" | tail -n 30 | sed 's/^/# /'
			echo "# replay: $build/fuzz-$t $bad"
			fail=1
		fi
	done
	[ "$tap" = yes ] && echo "1..$n_tap"
	if [ $fail -ne 0 ] && [ "$keep" = no ]; then
		trap - EXIT	# keep the logs for a look
		say "build directory kept: $build"
	fi
	exit $fail
fi

# ---- --coverage: source coverage of the parser over the corpus ---------------
if [ "$mode" = coverage ]; then
	for t in $targets; do
		dirs=()
		for d in "$here/corpus/$t" "$here/regress/$t" "$build/work-$t/corpus"; do
			[ -d "$d" ] && dirs+=("$d")
		done
		rm -f "$build/cov-$t".*.profraw
		LLVM_PROFILE_FILE="$build/cov-$t.%p.profraw" "$build/cov-$t" -runs=0 \
			"${dirs[@]}" >"$build/cov-$t.log" 2>&1
		llvm-profdata merge -sparse -o "$build/cov-$t.profdata" "$build/cov-$t".*.profraw &&
			llvm-cov report "$build/cov-$t" -instr-profile="$build/cov-$t.profdata" "${parser[$t]}" |
			sed "s|$top/||"
		llvm-cov show "$build/cov-$t" -instr-profile="$build/cov-$t.profdata" \
			"${parser[$t]}" >"$build/cov-$t.txt" 2>/dev/null
		echo "($t: annotated source in $build/cov-$t.txt, from ${dirs[*]})"
	done
	exit 0
fi

# ---- Fuzzing ------------------------------------------------------------------
status=0
summary=
for t in $targets; do
	work=$build/work-$t
	rm -rf "$work/artifacts"
	mkdir -p "$work/corpus" "$work/artifacts"
	rm -f "$work/corpus/guest-image"
	# A copy: libFuzzer writes new inputs into the first corpus directory.
	# An input that still crashes (a known bug not fixed yet) is reported
	# and left out, so that it does not stop the search for new ones.
	while IFS= read -r f; do
		# shellcheck disable=SC2086
		if "$build/fuzz-$t" $common -runs=1 "$f" >"$work/replay.log" 2>&1; then
			cp -p "$f" "$work/corpus/"
		else
			status=1
			rm -f "$work/corpus/$(basename "$f")"	# a copy from an earlier run
			echo "!! fuzz-$t: still fails: ${f#"$top"/} (replay: $build/fuzz-$t $f)" >&2
			grep -E '^(==[0-9]+==ERROR|SUMMARY|fuzz-[a-z]+: property)|runtime error' \
				"$work/replay.log" | head -n 3 | sed 's/^/   /' >&2
		fi
	done < <(inputs_of "$t")
	len=${maxlen[$t]}
	if [ "$t" = elf ]; then
		# The real guest image: too big to commit, a good seed all the same.
		for img in "${HVP_FUZZ_ELF_IMAGE:-}" "${top_builddir:-$top}/guest-agent/hvpatch-guest.elf" \
			"$top/guest-agent/hvpatch-guest.elf"; do
			if [ -z "$img" ] || [ ! -f "$img" ]; then
				continue
			fi
			cp "$img" "$work/corpus/guest-image"
			sz=$(wc -c <"$img")
			[ "$sz" -gt "$len" ] && len=$sz
			say "   + seed $img ($sz bytes)"
			break
		done
	fi
	dict=
	[ -f "$here/$t.dict" ] && dict="-dict=$here/$t.dict"
	say "== fuzz-$t: ${seconds}s, -max_len=$len, corpus $work/corpus"
	# shellcheck disable=SC2086
	"$build/fuzz-$t" $common -max_len="$len" -max_total_time="$seconds" \
		-print_final_stats=1 -artifact_prefix="$work/artifacts/" $dict \
		${HVP_FUZZ_ARGS:-} "$work/corpus" >"$work/fuzz.log" 2>&1
	rc=$?
	last=$(grep -E '^#[0-9]+' "$work/fuzz.log" | tail -n 1)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz.log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/fuzz.log")
	say "   $last"
	say "   runs ${execs:-?}, ${rate:-?} exec/s, corpus $(find "$work/corpus" -type f | wc -l) files"
	cov=$(echo "$last" | grep -o 'cov: [0-9]*' | grep -o '[0-9]*')
	ft=$(echo "$last" | grep -o 'ft: [0-9]*' | grep -o '[0-9]*')
	summary="$summary
  fuzz-$t: ${execs:-?} runs, ${rate:-?} exec/s, ${cov:-?} edges, ${ft:-?} features"
	found=$(find "$work/artifacts" -type f \( -name 'crash-*' -o -name 'leak-*' \
		-o -name 'timeout-*' -o -name 'oom-*' \) | LC_ALL=C sort)
	if [ $rc -ne 0 ] || [ -n "$found" ]; then
		status=1
		echo "!! fuzz-$t FAILED (libFuzzer exit $rc); log: $work/fuzz.log" >&2
		grep -E '^(==[0-9]+==ERROR|SUMMARY|fuzz-[a-z]+: property)|runtime error' \
			"$work/fuzz.log" | head -n 5 | sed 's/^/   /' >&2
		for f in $found; do
			echo "   reproducer: $f" >&2
			echo "   reproduce:  $build/fuzz-$t $f" >&2
			echo "   keep it:    cp $f $here/regress/$t/" >&2
		done
	fi
	if [ "$merge" = yes ]; then
		mkdir -p "$here/corpus/$t"
		before=$(find "$here/corpus/$t" -type f | wc -l)
		# shellcheck disable=SC2086
		"$build/fuzz-$t" $common -max_len="${maxlen[$t]}" -merge=1 "$here/corpus/$t" \
			"$work/corpus" >"$work/merge.log" 2>&1 ||
			{ echo "run.sh: merge into corpus/$t failed, see $work/merge.log" >&2; status=1; }
		find "$here/corpus/$t" -type f -size +64k -print -delete |
			sed 's/^/   dropped (over 64 KiB): /'
		after=$(find "$here/corpus/$t" -type f | wc -l)
		say "   merged: corpus/$t $before -> $after files"
	fi
done
say "summary:$summary"
if [ $status -ne 0 ] && [ "$keep" = no ]; then
	trap - EXIT	# the reproducers live there
	echo "build directory kept: $build" >&2
fi
exit $status
}
