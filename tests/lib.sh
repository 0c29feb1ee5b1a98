#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Shared helpers for the shell tests: TAP output, the binary under test, a
# private runtime directory, and a cleanup that stops every VM a test started.
top_builddir=${top_builddir:-.}
top_srcdir=${top_srcdir:-.}
HVPATCH="$top_builddir/hvpatch"
HVPATCH_RUNTIME_DIR=$(mktemp -d /tmp/hvpatch-test.XXXXXX)
export HVPATCH_RUNTIME_DIR
export HVPATCH_GUEST="$top_builddir/guest-agent/hvpatch-guest.elf"
_tap_n=0
_tap_failed=0

# have_kvm: can this user open /dev/kvm (read and write, as the VMM does)?
# require_kvm: the whole test is a TAP skip without it.
have_kvm() {
	[ -r /dev/kvm ] && [ -w /dev/kvm ]
}
require_kvm() {
	have_kvm || { echo "1..0 # SKIP /dev/kvm is absent or not read-write for us"; exit 0; }
}

# host_load_start SECONDS: the host load that puts a guest #BP in flight
# across a kick most often (issue 9, shared/PLATFORM.md): two shells forking
# /bin/true as fast as they can, for at most SECONDS; host_load_stop, or the
# test's exit, ends it.  Plain busy loops or another VM did not expose it.
_host_load_pids=
host_load_start() {
	local i
	for i in 1 2; do
		(end=$((SECONDS + $1)); while [ $SECONDS -lt "$end" ]; do /bin/true; done) &
		_host_load_pids="$_host_load_pids $!"
	done
}
host_load_stop() {
	[ -n "$_host_load_pids" ] || return 0
	# shellcheck disable=SC2086
	kill $_host_load_pids 2>/dev/null
	# shellcheck disable=SC2086
	wait $_host_load_pids 2>/dev/null
	_host_load_pids=
}

_tap_cleanup() {
	local s pid
	host_load_stop
	for s in "$HVPATCH_RUNTIME_DIR"/*.sock; do
		[ -e "$s" ] || continue
		"$HVPATCH" vm stop "$(basename "$s" .sock)" >/dev/null 2>&1
	done
	for pid in "$HVPATCH_RUNTIME_DIR"/*.pid; do
		[ -e "$pid" ] && kill -9 "$(cat "$pid")" 2>/dev/null
	done
	rm -rf "$HVPATCH_RUNTIME_DIR"
}
trap _tap_cleanup EXIT

_tap_result() { # STATUS DESC
	_tap_n=$((_tap_n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $_tap_n - $2"
	else
		_tap_failed=$((_tap_failed + 1))
		echo "not ok $_tap_n - $2"
	fi
}

# tap_ok DESC CMD ARGS...: passes when CMD exits 0; its output is kept as diagnostics.
tap_ok() {
	local desc=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	_tap_result $rc "$desc"
	[ $rc -eq 0 ] || printf '%s\n' "$out" | head -n 20 | sed 's/^/# /'
	return $rc
}

# tap_is DESC EXPECTED ACTUAL: returns 1 when they differ (tap_is ... || print_faults VM)
tap_is() {
	if [ "$2" = "$3" ]; then
		_tap_result 0 "$1"
	else
		_tap_result 1 "$1"
		printf '# expected: %s\n#      got: %s\n' "$2" "$3" | head -n 10
		return 1
	fi
}

# tap_todo DESC REASON: a known failure, the TAP way ("# TODO" is XFAIL under
# automake's tap-driver; an "ok ... # TODO" would be XPASS, an error, so only
# call this on the failing path).
tap_todo() {
	_tap_n=$((_tap_n + 1))
	echo "not ok $_tap_n - $1 # TODO $2"
}

# diag_json LABEL TEXT: TEXT (a JSON result, or whatever came instead) on one
# diagnostic line, at most 2000 characters
diag_json() {
	printf '# %s: %s\n' "$1" "$( (jq -c . <<<"$2" 2>/dev/null || printf '%s' "$2") | tr -s '\n' ' ' | sed 's/ *$//' | head -c 2000)"
}

# print_faults NAME [PATCH_SEQ]: every guest fault the VM's vCPUs logged (the
# agent keeps the last 4 per vCPU), as TAP diagnostics; with PATCH_SEQ, the
# patch_seq of the caller's last patch result, to place them.  For a test
# that asserted 0 faults and failed.
print_faults() {
	local st
	st=$("$HVPATCH" -j stats "$1" 2>&1) || { printf '# fault: stats %s failed: %s\n' "$1" "$st"; return 0; }
	jq -r --arg seq "${2:-}" '.vcpus[] | . as $v |
		(.faults[] | "# fault: vcpu \($v.id) vector \(.vector) (\(.name)) rip \(.rip) cpl \(.cpl)" +
			(if .vector == 14 then " cr2 \(.cr2) error \(.error_code)" else "" end) +
			" patch_seq \(.patch_seq // "?")" +
			(if $seq != "" then " (last patch_seq \($seq))" else "" end)),
		(select(.nr_faults > (.faults | length)) |
			"# fault: vcpu \($v.id): \(.nr_faults - (.faults | length)) older faults not kept")' \
		<<<"$st" 2>&1 | head -n 40
}

# tap_exit DESC EXPECTED_STATUS CMD ARGS...: the exit status, and a message on stderr or stdout
tap_exit() {
	local desc=$1 want=$2 out rc
	shift 2
	out=$("$@" 2>&1)
	rc=$?
	if [ "$rc" = "$want" ] && [ -n "$out" ]; then
		_tap_result 0 "$desc"
	else
		_tap_result 1 "$desc"
		printf '# exit %s (wanted %s), output: %s\n' "$rc" "$want" "$out" | head -n 5
	fi
}

tap_done() {
	echo "1..$_tap_n"
	[ "$_tap_failed" -eq 0 ]
	exit $?
}
