#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# A service that dies during a request (issue 13, item 5): its client says
# that the VM's service died, with its pid, how it ended when that can be
# known (it is not the client's child: a zombie's status, else "unknown"),
# and where its log is - not "Connection reset by peer".
. "${top_srcdir:-.}/tests/lib.sh"
require_kvm

d=$HVPATCH_RUNTIME_DIR
tap_ok "vm start d1" "$HVPATCH" vm start d1 --vcpus 2 --keys single
pid=$(cat "$d/d1.pid")
out=$(mktemp)
"$HVPATCH" -j patch apply d1 single single_b --method bp-emulate --repeat 10000000 >"$out" 2>&1 &
cpid=$!
sleep 1
tap_ok "the soak is running" kill -0 "$cpid"
kill -9 "$pid"
wait "$cpid"
tap_is "the client exits 1" 1 "$?"
desc=$(jq -r .error.desc "$out" 2>/dev/null)
echo "# $desc"
tap_ok "it says the VM's service died during the request, with its pid" \
	grep -q "VM d1: its service (pid $pid) died during the request" <<<"$desc"
tap_ok "it says how, or that it cannot be known" \
	grep -Eq "\((killed by signal 9 \([^)]*\)|exit status unknown: it is not this command's child)\)" <<<"$desc"
tap_ok "it names the log" grep -q "see its log: $d/d1.log" <<<"$desc"
tap_is "the error class is InternalError" InternalError "$(jq -r .error.class "$out" 2>/dev/null)"
rm -f "$out"
tap_done
