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
# the remote's VM names, and hvp_remote_json() (tests/remote-json); `vm
# request` over ssh, and `rollout --hosts` over remote and local VMs: a
# clean one with --gate verify, one whose remote VM fails its gate, and
# unreachable hosts, hosts without hvpatch and bad names patching nothing.
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

# --- rollout --hosts: local and remote VMs in one rollout, over ssh ---
# Two VMs on the "remote" (its own runtime dir), two here, 1 vCPU each at a
# low rate; the remote's requests go through `vm request` over ssh.
for vm in h1 h2; do
	H vm start "$vm" --vcpus 1 --mem 16 --rate 200 --keys single >/dev/null 2>&1 ||
		echo "# vm start $vm over ssh failed"
done
for vm in l1 l2; do
	"$HVPATCH" vm start "$vm" --vcpus 1 --mem 16 --rate 200 --keys single >/dev/null 2>&1 ||
		echo "# vm start $vm failed"
done
# each VM's current target of single, read from its own service
here_now() { "$HVPATCH" -j sites list "$1" --key single | jq -r '.keys[0].current'; }
there_now() { H -j vm request "$1" sites '{"key":"single"}' | jq -r '.keys[0].current'; }
targets() { echo "$(there_now h1) $(there_now h2) $(here_now l1) $(here_now l2)${1:+ $(there_now "$1")}"; }

out=$(H -j vm request h1 sites '{"key":"single"}' 2>&1)
tap_is "vm request over ssh: the raw sites answer" single_a "$(jq -r '.keys[0].current' <<<"$out" 2>/dev/null)"
out=$(H -j vm request nosuch info 2>/dev/null)
tap_is "vm request over ssh: a missing VM is NotFound" NotFound "$(jq -r .error.class <<<"$out" 2>/dev/null)"
tap_exit "vm request over ssh: ARGS-JSON not an object: exit 2" 2 H vm request h1 sites '[1]'

# Unreachable, no hvpatch there, ambiguous and missing names: nothing patched.
out=$("$HVPATCH" rollout single single_b --hosts "local,ssh://127.0.0.1:$closed" --all 2>&1)
rc=$?
tap_ok "rollout --hosts with an unreachable host: exit 1, named ($out)" \
	bash -c '[ "$1" = 1 ] && grep -q "^error: cannot reach 127.0.0.1:$2 over ssh: .*; nothing was patched" <<<"$3"' _ "$rc" "$closed" "$out"
out=$(HVPATCH_REMOTE_HVPATCH=no-hvpatch "$HVPATCH" rollout single single_b --hosts "local,$uri" --all 2>&1)
rc=$?
tap_ok "rollout --hosts with a host without hvpatch: exit 1, named ($out)" \
	bash -c '[ "$1" = 1 ] && grep -q "has no hvpatch at .no-hvpatch.*nothing was patched" <<<"$2"' _ "$rc" "$out"
out=$("$HVPATCH" rollout single single_b --hosts "$uri,ssh://$(id -un)@127.0.0.1:$port" --vms h1 2>&1)
tap_ok "--vms NAME on two of the hosts: ambiguous, says where ($out)" \
	grep -q "'h1' is on more than one host ($uri, ssh://$(id -un)@127.0.0.1:$port): name it HOST/h1" <<<"$out"
tap_exit "--vms local/h1: not on that host: exit 2" 2 "$HVPATCH" rollout single single_b --hosts "$uri,local" --vms local/h1
# the remote service's error comes back as a local one does, with the host
out=$("$HVPATCH" rollout nokey single_a --hosts "$uri,local" --vms h1,l1 2>&1)
tap_is "a key the remote VM does not have: the service's error, with its host" \
	"error: VM h1 on $uri: no key named 'nokey'; nothing was patched" "$out"
tap_is "... and none of them patched anything" "single_a single_a single_a single_a" "$(targets)"

# A clean rollout, canary on the first host, then waves across both.
out=$("$HVPATCH" -j rollout single single_b --hosts "$uri,local" --all --wave-size 2 \
	--gate verify 2>&1)
rc=$?
tap_is "rollout --hosts $uri,local --all --gate verify: exit 0" 0 "$rc" || diag_json rollout "$out"
tap_is "the report: each VM with its host and wave, all patched and verified" \
	"$uri h1 0 patched pass|$uri h2 1 patched pass|local l1 1 patched pass|local l2 2 patched pass" \
	"$(jq -r '[.vms[] | "\(.host) \(.name) \(.wave) \(.result) \(.gates.verify)"] | join("|")' <<<"$out" 2>/dev/null)"
tap_is "each VM's own service: single_b everywhere" "single_b single_b single_b single_b" "$(targets)"

# A failed gate on a remote VM: h3 never calls single (--keys small), so
# --gate verify cannot prove its switch.  Canary h1, wave 1 h2 and l1,
# wave 2 h3 and l2: wave 2 goes back, the others stay.
H vm start h3 --vcpus 1 --mem 16 --rate 200 --keys small >/dev/null 2>&1 || echo "# vm start h3 failed"
H patch apply h3 single single_b >/dev/null 2>&1
out=$("$HVPATCH" rollout single single_a --hosts "$uri,local" --vms "h1,$uri/h2,h3,local/l1,l2" \
	--wave-size 2 --gate verify 2>&1)
rc=$?
tap_is "a remote VM fails the verify gate: exit 1" 1 "$rc"
tap_ok "the text names the host, the VM and the gate" \
	grep -q "^$uri/h3: gate verify failed: .*no vCPU's workload calls single" <<<"$out" ||
	printf '%s\n' "$out" | sed 's/^/# /'
tap_ok "... the table has a HOST column" grep -q "^HOST  *VM  *BACKEND" <<<"$out"
tap_is "its wave (h3 and the local l2) reverted, the canary and wave 1 stay on single_a" \
	"single_a single_a single_a single_b single_b" "$(targets h3)"
# The whole rollout run on the other host, through -H (its local VMs there).
out=$(H -j rollout single single_b --vms h1,h2 --wave-size 1 --gate verify 2>&1)
rc=$?
tap_is "-H URI rollout: the remote host's own rollout of h1, h2 (exit 0, patched and verified)" \
	"0 h1 patched pass|h2 patched pass" \
	"$rc $(jq -r '[.vms[] | "\(.name) \(.result) \(.gates.verify)"] | join("|")' <<<"$out" 2>/dev/null)"
tap_is "... each one's service says single_b" "single_b single_b" "$(there_now h1) $(there_now h2)"
for vm in h1 h2 h3; do H vm stop "$vm" >/dev/null; done
for vm in l1 l2; do "$HVPATCH" vm stop "$vm" >/dev/null; done
tap_is "no VM left on the remote" "" "$(compgen -G "$remote_run/*.sock")"
tap_done
