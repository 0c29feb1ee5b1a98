#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Other hosts over SSH (hvpatch -H ssh://...): a real OpenSSH server on
# 127.0.0.1, on a free high port, run as this user with a host key and a
# client key made here, plays the other host.  Its sessions get their own
# runtime directory (sshd_config's SetEnv), so a VM started through it is
# not one of this test's local ones: `vm list` here does not show it, `-H
# ... vm list` does.  The client side is an ssh_config of ours, through
# HVPATCH_SSH.  Covered: vm start/list/sites list/patch apply/vm stop on a
# kvm guest over ssh, -j passed through, HVPATCH_HOST, the exit status
# passed through, a name with blanks and quotes arriving whole, an
# unreachable host, a key the host refuses, a host without hvpatch,
# malformed URIs, the ssh command line (a stand-in ssh), the completion of
# the remote's VM names, and hvp_remote_json() (tests/remote-json).
. "${top_srcdir:-.}/tests/lib.sh"

sshd=$(PATH=$PATH:/usr/sbin:/sbin command -v sshd)
if [ -z "$sshd" ] || ! command -v ssh >/dev/null || ! command -v ssh-keygen >/dev/null; then
	echo "1..0 # SKIP no OpenSSH server or client (Debian packages openssh-server, openssh-client)"
	exit 0
fi
bin=$(cd "$top_builddir" && pwd)/hvpatch
rjson=$(cd "$top_builddir" && pwd)/tests/remote-json
t=$(mktemp -d /tmp/hvpatch-sshd.XXXXXX)
remote_run=$t/run
mkdir -m 700 "$remote_run" "$t/bin"
ln -s "$bin" "$t/bin/hvpatch" # the remote's PATH has hvpatch
sshd_pid=

_ssh_cleanup() {
	local s
	# the remote's VMs, then the shared connections, then the server
	for s in "$remote_run"/*.sock; do
		[ -e "$s" ] || continue
		HVPATCH_RUNTIME_DIR=$remote_run "$HVPATCH" vm stop "$(basename "$s" .sock)" >/dev/null 2>&1
	done
	for s in "$remote_run"/*.pid; do
		[ -e "$s" ] && kill -9 "$(cat "$s")" 2>/dev/null
	done
	for s in "$HVPATCH_RUNTIME_DIR"/ssh-*; do
		[ -S "$s" ] && ssh -o ControlPath="$s" -O exit 127.0.0.1 >/dev/null 2>&1
	done
	[ -n "$sshd_pid" ] && kill "$sshd_pid" 2>/dev/null && wait "$sshd_pid" 2>/dev/null
	rm -rf "$t"
	_tap_cleanup
}
trap _ssh_cleanup EXIT

# privilege separation: sshd run by root wants its empty directory
[ "$(id -u)" -ne 0 ] || [ -d /run/sshd ] || mkdir -m 755 /run/sshd
if ! ssh-keygen -q -t ed25519 -N '' -C hvpatch-test-host -f "$t/host_key" ||
	! ssh-keygen -q -t ed25519 -N '' -C hvpatch-test-client -f "$t/client_key"; then
	echo "1..0 # SKIP ssh-keygen failed"
	exit 0
fi
cp "$t/client_key.pub" "$t/authorized_keys"
chmod 600 "$t/authorized_keys"

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# A sanitizer build's settings (CI) reach the "remote" hvpatch as well.
san_env=
for v in ASAN_OPTIONS UBSAN_OPTIONS; do
	[ -n "${!v:-}" ] && san_env="$san_env $v=${!v}"
done

# Start sshd on a free port; another process may take the port between the
# look and the bind, so up to 5 tries.
for _ in 1 2 3 4 5; do
	port=$(free_port)
	cat >"$t/sshd_config" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $t/host_key
AuthorizedKeysFile $t/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile none
SetEnv PATH=$t/bin:/usr/local/bin:/usr/bin:/bin HVPATCH_RUNTIME_DIR=$remote_run $san_env
EOF
	: >"$t/sshd.log"
	"$sshd" -D -e -f "$t/sshd_config" 2>"$t/sshd.log" &
	sshd_pid=$!
	for _ in $(seq 100); do
		grep -q "Server listening" "$t/sshd.log" && break
		kill -0 "$sshd_pid" 2>/dev/null || break
		sleep 0.1
	done
	grep -q "Server listening" "$t/sshd.log" && break
	kill "$sshd_pid" 2>/dev/null
	wait "$sshd_pid" 2>/dev/null
	sshd_pid=
done
if [ -z "$sshd_pid" ]; then
	echo "1..0 # SKIP sshd did not start: $(tail -n 1 "$t/sshd.log")"
	exit 0
fi

# The client: our key, and the server's key known in advance (no prompt,
# and a strict check, as a real fleet's known_hosts would be).
echo "[127.0.0.1]:$port $(cat "$t/host_key.pub")" >"$t/known_hosts"
cat >"$t/ssh_config" <<EOF
Host *
  IdentityFile $t/client_key
  IdentitiesOnly yes
  UserKnownHostsFile $t/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
EOF
printf '#!/bin/sh\nexec ssh -F %s/ssh_config "$@"\n' "$t" >"$t/ssh-client"
chmod +x "$t/ssh-client"
export HVPATCH_SSH=$t/ssh-client
uri=ssh://127.0.0.1:$port
H() { "$HVPATCH" -H "$uri" "$@"; }
# the files a command injected into the remote shell would have made
pwned() {
	local f
	for f in "$t"/pwned*; do
		[ -e "$f" ] && echo "$f"
	done
}

tap_ok "vm list over ssh ($uri)" H vm list
tap_ok "the connection is kept for the next command: a ControlMaster socket in the runtime dir" \
	bash -c "ls -d '$HVPATCH_RUNTIME_DIR'/ssh-* >/dev/null && test -S \"\$(ls -d '$HVPATCH_RUNTIME_DIR'/ssh-* | head -n 1)\""
tap_exit "a remote usage error keeps its exit status 2" 2 H vm start
out=$(H -j vm info missing 2>/dev/null)
rc=$?
tap_is "-j: the remote's JSON error comes through (exit 1, NotFound)" "1 NotFound" \
	"$rc $(jq -r .error.class <<<"$out" 2>/dev/null)"

# Quoting: a name with blanks, quotes and shell syntax reaches the remote
# hvpatch as one argument, unchanged, and nothing runs on the way.
# (With a user in the URI, the same as without: ssh -l.)
name="a b'c\"d \$(touch $t/pwned1); touch $t/pwned2 \`touch $t/pwned3\`"
out=$("$HVPATCH" -H "ssh://$(id -un)@127.0.0.1:$port" vm info "$name" 2>&1)
tap_is "ssh://$(id -un)@...: a name with blanks, quotes and \$() arrives whole (the error quotes 64 characters)" \
	"error: '${name:0:64}' is not a valid VM name" "$out"
# balanced, so that without the quoting the remote shell would run it
out=$(H -j vm info "" "x\$(touch $t/pwned5);touch $t/pwned6" 2>/dev/null)
tap_is "... and no shell ran any of it" "" "$(pwned)"
tap_ok "an empty argument stays an argument (the missing name is '') ($out)" \
	grep -q "unexpected argument 'x\$(touch" <<<"$out"

# An unreachable host: a port nobody listens on.
closed=$(free_port)
out=$("$HVPATCH" -H "ssh://127.0.0.1:$closed" vm list 2>&1)
rc=$?
tap_is "an unreachable host: exit 1" 1 "$rc"
tap_ok "... says it cannot reach it, with ssh's reason ($out)" \
	grep -q "^error: cannot reach 127.0.0.1:$closed over ssh: .*Connection refused" <<<"$out"
out=$("$HVPATCH" -j -H "ssh://127.0.0.1:$closed" vm list 2>/dev/null)
tap_is "... with -j, a JSON error of class Unreachable on stdout" Unreachable \
	"$(jq -r .error.class <<<"$out" 2>/dev/null)"
# A key the server does not take: ssh exits 255 too.  (Another runtime
# directory: the shared connection of the right key would let it in.)
ssh-keygen -q -t ed25519 -N '' -f "$t/other_key"
sed "s|^  IdentityFile .*|  IdentityFile $t/other_key|" "$t/ssh_config" >"$t/ssh_config.other"
printf '#!/bin/sh\nexec ssh -F %s/ssh_config.other "$@"\n' "$t" >"$t/ssh-other"
chmod +x "$t/ssh-other"
out=$(HVPATCH_SSH=$t/ssh-other HVPATCH_RUNTIME_DIR=$t/run-other "$HVPATCH" -H "$uri" vm list 2>&1)
rc=$?
tap_is "a key the host refuses: exit 1" 1 "$rc"
tap_ok "... 'cannot reach', with ssh's reason ($out)" \
	grep -q "^error: cannot reach 127.0.0.1:$port over ssh: .*Permission denied" <<<"$out"

# A host without hvpatch where we look.
out=$(HVPATCH_REMOTE_HVPATCH=$t/bin/no-hvpatch "$HVPATCH" -H "$uri" vm list 2>&1)
rc=$?
tap_is "a host without hvpatch: exit 1, named" \
	"1 error: 127.0.0.1:$port has no hvpatch at '$t/bin/no-hvpatch' (HVPATCH_REMOTE_HVPATCH names it)" \
	"$rc $out"
out=$(HVPATCH_REMOTE_HVPATCH=no-hvpatch "$HVPATCH" -j -H "$uri" vm list 2>&1)
tap_is "... with -j, class NotFound and nothing on stderr" NotFound \
	"$(jq -r .error.class <<<"$out" 2>/dev/null)"

# Malformed URIs: usage errors, and ssh is never run.
for bad in "" ssh:// http://127.0.0.1 "ssh://127.0.0.1:0" "ssh://127.0.0.1:65536" \
	"ssh://127.0.0.1:" "ssh://127.0.0.1:22x" "ssh://-oProxyCommand=touch\ $t/pwned4" \
	"ssh://-x@127.0.0.1" "ssh://a b" "ssh://127.0.0.1/path" "ssh://127.0.0.1?hvpatch=x" \
	"ssh://[::1" "ssh://u;id@127.0.0.1"; do
	tap_exit "-H '$bad': exit 2" 2 env HVPATCH_SSH=/nonexistent "$HVPATCH" -H "$bad" vm list
done
tap_exit "HVPATCH_HOST=http://x: exit 2" 2 env HVPATCH_HOST=http://x "$HVPATCH" vm list
tap_is "... and no ssh ran any of them" "" "$(pwned)"

# The ssh command line, seen by a stand-in for ssh that writes its
# arguments down, puts a line in ssh's log (-E FILE) and fails as ssh does.
cat >"$t/argv-ssh" <<EOF
#!/bin/sh
printf '%s\n' "\$@" >"$t/argv"
[ "\$1" = -E ] && echo "stand-in: no route to host" >>"\$2"
exit 255
EOF
chmod +x "$t/argv-ssh"
out=$(HVPATCH_SSH=$t/argv-ssh "$HVPATCH" -H "ssh://alice@[fe80::1]:2222/" vm info 'x y' 2>&1)
tap_is "ssh://alice@[fe80::1]:2222/: the error names the host and ssh's last line" \
	"error: cannot reach alice@[fe80::1]:2222 over ssh: stand-in: no route to host" "$out"
tap_is "... ssh gets -p 2222 -l alice -- fe80::1, then one quoted command" \
	"-p 2222 -l alice -- fe80::1 command -v 'hvpatch' >/dev/null 2>&1 || exit 127; exec 'hvpatch' 'vm' 'info' 'x y'" \
	"$(sed -n '/^-p$/,$p' "$t/argv" | tr '\n' ' ' | sed 's/ $//')"
tap_ok "... with BatchMode and a shared connection" \
	bash -c "grep -qx BatchMode=yes '$t/argv' && grep -qx ControlMaster=auto '$t/argv'"

# The C interface rollout uses.
out=$("$rjson" "$uri" vm list)
tap_is "hvp_remote_json: vm list" '0 - {"vms":[]}' "$out"
out=$("$rjson" "$uri" vm info missing)
tap_ok "hvp_remote_json: a remote error: status 1, its class ($out)" grep -q "^1 NotFound 127.0.0.1:$port: no VM named 'missing'" <<<"$out"
out=$("$rjson" "ssh://127.0.0.1:$closed" vm list)
tap_ok "hvp_remote_json: unreachable ($out)" grep -q "^-1 Unreachable cannot reach" <<<"$out"
out=$("$rjson" "ssh:/x" vm list)
tap_ok "hvp_remote_json: a malformed URI ($out)" grep -q "^-1 UsageError 'ssh:/x' is not an" <<<"$out"

if ! have_kvm; then
	echo "# no /dev/kvm: the VM part over ssh is not run"
	tap_done
	exit $?
fi

# A VM's life over ssh.  `vm start` must return although the service it
# starts lives on: the service must hold nothing of the ssh session open.
tap_ok "vm start r1 over ssh returns" timeout 60 "$HVPATCH" -H "$uri" vm start r1 --vcpus 2 --rate 1000
tap_is "the VM is the remote's: local vm list does not show it" 0 \
	"$("$HVPATCH" -j vm list | jq '.vms | length')"
tap_is "HVPATCH_HOST does what -H does: -j vm list shows it" r1 \
	"$(HVPATCH_HOST=$uri "$HVPATCH" -j vm list | jq -r '.vms[].name')"
tap_is "HVPATCH_HOST= (empty) is this host" 0 \
	"$(HVPATCH_HOST='' "$HVPATCH" -j vm list | jq '.vms | length')"
# bash completion after -H URI offers the remote's VMs
comp_out=$(bash --norc --noprofile -c 'source "$1" || exit 1
	COMP_WORDS=("$2" -H "$3" vm stop ""); COMP_CWORD=5
	_hvpatch "$2" "" stop; echo "${COMPREPLY[*]}"' comp "$top_srcdir/completion/hvpatch" "$HVPATCH" "$uri" 2>&1)
tap_is "completion: vm stop <TAB> after -H URI offers the remote's VM" r1 "$comp_out"
tap_ok "sites list over ssh names the key single" \
	bash -c "'$HVPATCH' -H '$uri' sites list r1 --key single | grep -q '^single '"
r=$(H -j patch apply r1 single single_b --method bp-emulate 2>&1)
tap_ok "patch apply over ssh, -j: completed ($(jq -c '{completed, sites, method}' <<<"$r" 2>/dev/null))" \
	test "$(jq '.completed' <<<"$r" 2>/dev/null)" = true
out=$("$rjson" "$uri" patch apply r1 single single_a)
tap_ok "hvp_remote_json: patch apply, the result parsed" \
	test "$(cut -d' ' -f3- <<<"$out" | jq '.completed' 2>/dev/null)" = true || echo "# $out"
tap_is "stats over ssh: no guest fault" 0 "$(H -j stats r1 | jq '[.vcpus[].nr_faults] | add')" ||
	print_faults r1
tap_ok "vm stop r1 over ssh" H vm stop r1
tap_is "no VM left on the remote" "" "$(compgen -G "$remote_run/*.sock")"
tap_done
