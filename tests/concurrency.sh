#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# The control socket under load and abuse, on one 2-vCPU VM:
#  - 100 clients at once (50 `stats`, 50 `patch apply` of every safe method):
#    every request answered (exit 0, or 1 with a well-formed error or a
#    result), the patches serialized by the per-VM patch lock (their lock
#    intervals never overlap, and in lock order each one's old target is the
#    target the one before left), the sites end where the last patch put
#    them, 0 guest faults;
#  - clients that connect and say nothing, or half a frame, are dropped by
#    the server (and logged) without holding up anyone else; an absurd length
#    is refused before anything is allocated;
#  - as root: a client of another uid (setpriv to nobody, the socket opened up
#    for it just for this test, reached through a link in a runtime directory
#    of nobody's own: the CLI refuses another user's) is refused by
#    SO_PEERCRED with a clear error, and the refusal is logged.
. "${top_srcdir:-.}/tests/lib.sh"
require_kvm

VM=cc
SOCK="$HVPATCH_RUNTIME_DIR/$VM.sock"
LOG="$HVPATCH_RUNTIME_DIR/$VM.log"
N=${HVP_CONCURRENCY_CLIENTS:-100}
out=$(mktemp -d)
nbdir=$(mktemp -d /tmp/hvpatch-nobody.XXXXXX)
trap '_tap_cleanup; rm -rf "$out" "$nbdir"' EXIT

tap_ok "vm start $VM: 2 vCPUs calling 'single'" \
	"$HVPATCH" vm start "$VM" --vcpus 2 --keys single --rate 2000

# --- 100 clients at once ---
methods=(stop bp-emulate bp-cancel)
targets=(single_a single_b single_c)
pids=()
for ((i = 0; i < N; i++)); do
	if ((i % 2)); then
		"$HVPATCH" -j stats "$VM" >"$out/$i.out" 2>"$out/$i.err" &
	else
		"$HVPATCH" -j patch apply "$VM" single "${targets[(i / 2) % 3]}" \
			--method "${methods[(i / 6) % 3]}" --sync "$( ((i % 4)) && echo nmi || echo kick)" \
			--timeout 10000 >"$out/$i.out" 2>"$out/$i.err" &
	fi
	pids[i]=$!
done
answered=0 bad=0 crashed=0 patches=0 stats_ok=0
for ((i = 0; i < N; i++)); do
	wait "${pids[i]}"
	rc=$?
	echo "$rc" >"$out/$i.rc"
	# exit 0: a result; exit 1: a result (a patch that did not take) or a
	# well-formed JSON error; anything else, or no JSON object, is a failure
	if ((rc >= 128)); then
		crashed=$((crashed + 1))
	elif { [ "$rc" -eq 0 ] || [ "$rc" -eq 1 ]; } && jq -e 'type == "object" and
	     (if has("error") then (.error.class | type) == "string" and (.error.desc | type) == "string"
	      else true end)' "$out/$i.out" >/dev/null 2>&1; then
		answered=$((answered + 1))
	else
		bad=$((bad + 1))
		printf '# client %d: exit %d: %s %s\n' "$i" "$rc" "$(head -c 300 "$out/$i.out")" \
			"$(head -c 300 "$out/$i.err")"
	fi
	if ((i % 2)); then
		jq -e '.vcpus | length == 2' "$out/$i.out" >/dev/null 2>&1 && stats_ok=$((stats_ok + 1))
	else
		jq -c 'select(has("patch_seq"))' "$out/$i.out" >>"$out/patches.jsonl" 2>/dev/null
	fi
done
tap_is "$N clients at once: none crashed" 0 "$crashed"
tap_is "$N clients at once: every request answered with a result or a well-formed error" \
	"$N" "$answered"
tap_is "every stats request returned both vCPUs" $((N / 2)) "$stats_ok"
patches=$(jq -s length "$out/patches.jsonl")
for ((i = 0; i < N; i += 2)); do jq -r '.error.desc // empty' "$out/$i.out" 2>/dev/null; done |
	sort | uniq -c | head -n 5 | sed 's/^/# patch error: /'
tap_is "every patch request ran (a result with its place in the lock order)" $((N / 2)) "$patches"
tap_is "the patch lock's order has no gaps: patch_seq 1..$patches" \
	"$(seq -s, 1 "$patches")" "$(jq -s -r 'map(.patch_seq) | sort | map(tostring) | join(",")' "$out/patches.jsonl")"
tap_is "patches were serialized: no two held the lock at overlapping times" true \
	"$(jq -s 'sort_by(.patch_seq) | [range(1; length) as $k | .[$k - 1].locked_until_ns <= .[$k].locked_from_ns] | all' \
		"$out/patches.jsonl")"
# In lock order, each patch found the key where the one before left it: its
# new target if it completed, else where it was (a timed-out bp-cancel undoes).
tap_is "in lock order, each patch's old target is the previous one's result" true \
	"$(jq -s 'sort_by(.patch_seq) | reduce .[] as $p ({ok: true, cur: null};
		.ok = (.ok and (.cur == null or .cur == $p.old_target)) |
		.cur = (if $p.completed then $p.target else $p.old_target end)) | .ok' "$out/patches.jsonl")"
last=$(jq -s -r 'sort_by(.patch_seq) | last | if .completed then .target else .old_target end' \
	"$out/patches.jsonl")
tap_is "the key ends where the last patch left it" "$last" \
	"$("$HVPATCH" -j sites list "$VM" | jq -r '.keys[] | select(.name=="single") | .current')"
tap_is "0 guest faults across all patches" 0 \
	"$(jq -s 'map(.faults) | add' "$out/patches.jsonl")" ||
	print_faults "$VM" "$(jq -s -r 'map(select(.faults > 0) | .patch_seq) | first' "$out/patches.jsonl")"
tap_is "0 faults in stats" 0 "$("$HVPATCH" -j stats "$VM" | jq '[.vcpus[].nr_faults] | add')" ||
	print_faults "$VM"
tap_is "completed patches: $(jq -s 'map(select(.completed)) | length' "$out/patches.jsonl") of $patches" \
	true "$(jq -s 'map(select(.completed)) | length > 0' "$out/patches.jsonl")"

# --- silent, half-frame and oversized clients ---
# Each holds its connection until the server hangs up and prints what it got:
# "eof" (dropped), or the server's error answer.
abuse() { # silent|half|huge
	python3 - "$SOCK" "$1" <<'EOF'
import socket, struct, sys, json
path, kind = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(path)
if kind == "half":
    s.sendall(struct.pack("<IHH", 0x43505648, 1, 1))   # 8 of 16 header bytes
elif kind == "huge":
    s.sendall(struct.pack("<IHHII", 0x43505648, 1, 1, 0xffffffff, 7))
s.settimeout(60)
data = b""
try:
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
except socket.timeout:
    print("still connected after 60 s")
    sys.exit(1)
if not data:
    print("eof")
else:
    print(json.loads(data[16:].decode())["error"]["desc"])
EOF
}
abuse silent >"$out/silent" 2>&1 &
p_silent=$!
abuse half >"$out/half" 2>&1 &
p_half=$!
sleep 0.5
tap_ok "with a silent and a half-frame client connected, stats still answers" \
	"$HVPATCH" stats "$VM"
tap_ok "and a patch still goes through" "$HVPATCH" patch apply "$VM" single single_b --method stop
wait "$p_silent"
tap_is "the silent client is dropped by the server" eof "$(cat "$out/silent")"
wait "$p_half"
tap_is "the half-frame client is dropped by the server" eof "$(cat "$out/half")"
tap_is "an absurd length is refused with a reason" "payload length 4294967295 not in 1..1048576" \
	"$(abuse huge 2>&1)"
tap_ok "the service log names the dropped clients" \
	grep -q "dropped: no complete request within" "$LOG"

# --- another uid ---
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
	# open the directory and the socket to everyone, only for this check:
	# SO_PEERCRED must be what stops nobody
	chmod 0711 "$HVPATCH_RUNTIME_DIR"
	chmod 0666 "$SOCK"
	chown 65534 "$nbdir"
	ln -s "$SOCK" "$nbdir/$VM.sock"
	# a copy nobody can run: the build tree may be private (CI's copies are)
	cp "$HVPATCH" "$nbdir/hvpatch"
	chmod 755 "$nbdir/hvpatch"
	res=$(HVPATCH_RUNTIME_DIR=$nbdir setpriv --reuid=65534 --regid=65534 --clear-groups \
		env -u ASAN_OPTIONS -u UBSAN_OPTIONS "$nbdir/hvpatch" stats "$VM" 2>&1)
	rc=$?
	chmod 0600 "$SOCK"
	chmod 0700 "$HVPATCH_RUNTIME_DIR"
	tap_is "uid 65534 is refused by SO_PEERCRED: exit 1" 1 "$rc"
	tap_ok "with a clear error: $res" grep -q "permission denied: uid 65534 may not use this socket" <<<"$res"
	tap_ok "and the refusal is logged" grep -q "refused client pid [0-9]* uid 65534" "$LOG"
	tap_ok "root still gets in" "$HVPATCH" stats "$VM"
else
	for t in 1 2 3 4; do echo "ok $((_tap_n + 1)) # SKIP peer-cred refusal needs root and setpriv"; _tap_n=$((_tap_n + 1)); done
fi

tap_is "0 faults in stats at the end" 0 "$("$HVPATCH" -j stats "$VM" | jq '[.vcpus[].nr_faults] | add')" ||
	print_faults "$VM"
tap_ok "vm stop" "$HVPATCH" vm stop "$VM"
tap_done
