#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# The CLI's promises that need no VM: usage errors exit 2 with a message,
# failures exit 1, --help at every level exits 0 and names every option.
# Every malformed argument form (bad or out-of-range numbers, unknown options,
# missing or extra arguments, bad method and sync names, overlong, empty,
# non-ASCII names, names with '/') exits 1 or 2 with an "error:" line and
# never crashes; with /dev/kvm, the service's answers to malformed names too.
. "${top_srcdir:-.}/tests/lib.sh"

tap_exit "no command: exit 2" 2 "$HVPATCH"
tap_exit "unknown command: exit 2" 2 "$HVPATCH" frobnicate
tap_exit "unknown subcommand: exit 2" 2 "$HVPATCH" vm frobnicate
tap_exit "vm without a subcommand: exit 2" 2 "$HVPATCH" vm
tap_exit "vm start without a name: exit 2" 2 "$HVPATCH" vm start
tap_exit "--vcpus 0: exit 2" 2 "$HVPATCH" vm start x --vcpus 0
tap_exit "--vcpus 65: exit 2" 2 "$HVPATCH" vm start x --vcpus 65
tap_exit "--vcpus abc: exit 2" 2 "$HVPATCH" vm start x --vcpus abc
tap_exit "--vcpus 2x: exit 2" 2 "$HVPATCH" vm start x --vcpus 2x
tap_exit "--vcpus '': exit 2" 2 "$HVPATCH" vm start x --vcpus ''
tap_exit "--vcpus 99999999999999999999999: exit 2" 2 "$HVPATCH" vm start x --vcpus 99999999999999999999999
tap_exit "--mem 1: exit 2" 2 "$HVPATCH" vm start x --mem 1
tap_exit "--rate -5: exit 2" 2 "$HVPATCH" vm start x --rate -5
tap_exit "--nmi-rate 1000001: exit 2" 2 "$HVPATCH" vm start x --nmi-rate 1000001
tap_exit "--keys 'a;b': exit 2" 2 "$HVPATCH" vm start x --keys 'a;b'
tap_exit "--fault-test beyond the vCPUs: exit 2" 2 "$HVPATCH" vm start x --vcpus 2 --fault-test=5
tap_exit "bad name ../x: exit 2" 2 "$HVPATCH" vm start ../x
tap_exit "a name of 40 characters: exit 2" 2 "$HVPATCH" vm start aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
tap_exit "two names: exit 2" 2 "$HVPATCH" vm start a b
tap_exit "--backend nosuch: not a backend, exit 2" 2 "$HVPATCH" vm start x --backend nosuch
tap_exit "-c URI without --backend libvirt: exit 2" 2 "$HVPATCH" vm start x -c qemu:///system
tap_exit "a missing image: exit 1" 1 "$HVPATCH" vm start x --image /nonexistent
tap_exit "vm info of a missing VM: exit 1" 1 "$HVPATCH" vm info missing
tap_exit "vm attach of a missing VM: exit 1" 1 "$HVPATCH" vm attach missing
tap_exit "vm attach without a name: exit 2" 2 "$HVPATCH" vm attach
tap_exit "stats of a missing VM: exit 1" 1 "$HVPATCH" stats missing
tap_exit "vm stop of a missing VM: exit 1" 1 "$HVPATCH" vm stop missing
tap_exit "vm console of a missing VM: exit 1" 1 "$HVPATCH" vm console missing
tap_exit "patch apply with two arguments: exit 2" 2 "$HVPATCH" patch apply x single
tap_exit "patch apply --method warp: exit 2" 2 "$HVPATCH" patch apply x single single_a --method warp
tap_exit "patch apply --sync irq: exit 2" 2 "$HVPATCH" patch apply x single single_a --sync irq
tap_exit "patch apply --timeout 0: exit 2" 2 "$HVPATCH" patch apply x single single_a --timeout 0
tap_exit "bench run --sites 7: exit 2" 2 "$HVPATCH" bench run --sites 7
tap_exit "bench run --methods naive: exit 2" 2 "$HVPATCH" bench run --methods naive
tap_exit "bench run --methods bp-cancel-hpa without --unsafe: exit 2" 2 \
	"$HVPATCH" bench run --methods bp-cancel,bp-cancel-hpa
tap_exit "report in an unknown format: exit 2" 2 "$HVPATCH" report pdf /tmp
# -H: a malformed URI is a usage error before ssh runs (tests/ssh.sh has the rest)
tap_exit "-H without a URI: exit 2" 2 "$HVPATCH" -H
tap_exit "-H URI without a command: exit 2" 2 "$HVPATCH" -H ssh://h
tap_exit "-H '': exit 2" 2 env HVPATCH_SSH=/nonexistent "$HVPATCH" -H '' vm list
tap_exit "-H http://h: exit 2" 2 env HVPATCH_SSH=/nonexistent "$HVPATCH" -H http://h vm list
tap_exit "-H ssh://h:99999: exit 2" 2 env HVPATCH_SSH=/nonexistent "$HVPATCH" -H ssh://h:99999 vm list
tap_exit "-H ssh://-oProxyCommand=x: exit 2" 2 env HVPATCH_SSH=/nonexistent "$HVPATCH" -H ssh://-oProxyCommand=x vm list
tap_exit "HVPATCH_HOST=ssh:/h: exit 2" 2 env HVPATCH_HOST=ssh:/h HVPATCH_SSH=/nonexistent "$HVPATCH" vm list
tap_is "-j -H with a bad URI prints class UsageError" UsageError \
	"$("$HVPATCH" -j -H ssh://h/x vm list 2>/dev/null | jq -r .error.class)"
tap_is "-H with no ssh client: exit 1, class NotFound" "1 NotFound" \
	"$(HVPATCH_SSH=/nonexistent/ssh "$HVPATCH" -j -H ssh://h vm list >/dev/null 2>&1; echo $?) $(HVPATCH_SSH=/nonexistent/ssh "$HVPATCH" -j -H ssh://h vm list 2>/dev/null | jq -r .error.class)"
out=$("$HVPATCH" -j vm info missing 2>/dev/null); rc=$?
tap_is "-j vm info missing exits 1" 1 "$rc"
tap_is "... and prints a JSON error of class NotFound on stdout" NotFound \
	"$(jq -r .error.class <<<"$out" 2>/dev/null)"
tap_is "-j with a usage error prints class UsageError" UsageError \
	"$("$HVPATCH" -j vm start x --vcpus 0 2>/dev/null | jq -r .error.class)"
tap_ok "vm list with an empty runtime dir exits 0" "$HVPATCH" vm list
tap_is "-j vm list with no VMs gives an empty list" 0 "$("$HVPATCH" -j vm list | jq '.vms | length')"

# --- every malformed form: exit 1 or 2 with an "error:" line (with -j a JSON
# error), never a crash ---
# tap_bad WANT DESC CMD...: WANT is the exit status, or "12" for either.
tap_bad() {
	local want=$1 desc=$2 out rc
	shift 2
	out=$("$@" 2>&1 </dev/null)
	rc=$?
	if { [ "$rc" = "$want" ] || { [ "$want" = 12 ] && { [ $rc -eq 1 ] || [ $rc -eq 2 ]; }; }; } &&
	   grep -q -e '^error: ..*' -e '^{"error":{"class":' <<<"$out"; then
		_tap_result 0 "$desc: exit $rc"
	else
		_tap_result 1 "$desc"
		printf '# exit %s (wanted %s; >= 128 is a crash), output: %.300s\n' "$rc" "$want" "$out"
	fi
}
long=$(printf 'a%.0s' {1..5000})
utf8=$(printf '\xc3\xa9%.0s' {1..700})
H=$HVPATCH
tap_bad 2 "--vcpus ' 2' (blank)" $H vm start x --vcpus ' 2'
tap_bad 2 "--vcpus +2" $H vm start x --vcpus +2
tap_bad 2 "--vcpus 0x10" $H vm start x --vcpus 0x10
tap_bad 2 "--vcpus 2.5" $H vm start x --vcpus 2.5
tap_bad 2 "--vcpus -1" $H vm start x --vcpus -1
tap_bad 2 "--vcpus 2^64" $H vm start x --vcpus 18446744073709551616
tap_bad 2 "--mem 4097" $H vm start x --mem 4097
tap_bad 2 "--mem 15" $H vm start x --mem 15
tap_bad 2 "--mem without a value" $H vm start x --mem
tap_bad 2 "--mem 64M" $H vm start x --mem 64M
tap_bad 2 "--rate 0" $H vm start x --rate 0
tap_bad 2 "--rate max2" $H vm start x --rate max2
tap_bad 2 "--rate 1000000001" $H vm start x --rate 1000000001
tap_bad 2 "--nmi-rate -1" $H vm start x --nmi-rate -1
tap_bad 2 "--nmi-rate 100001" $H vm start x --nmi-rate 100001
tap_bad 2 "--nmi-key ''" $H vm start x --nmi-key ''
tap_bad 2 "--nmi-key with capitals" $H vm start x --nmi-key Single
tap_bad 2 "--nmi-key of 5000 characters" $H vm start x --nmi-key "$long"
tap_bad 2 "--keys ''" $H vm start x --keys ''
tap_bad 2 "--keys ',,,'" $H vm start x --keys ',,,'
tap_bad 2 "--keys 'single,'" $H vm start x --keys 'single,'
tap_bad 2 "--keys 'single,,small'" $H vm start x --keys 'single,,small'
tap_bad 2 "--keys of 5000 characters" $H vm start x --keys "$long"
tap_bad 2 "--keys 'a/b'" $H vm start x --keys 'a/b'
tap_bad 2 "--fault-test=-1" $H vm start x --fault-test=-1
tap_bad 2 "--fault-test=abc" $H vm start x --fault-test=abc
tap_bad 2 "--fault-test=64" $H vm start x --fault-test=64
tap_bad 2 "--hostile ''" $H vm start x --hostile ''
tap_bad 2 "--hostile nonsense" $H vm start x --hostile nonsense
tap_bad 2 "--timeout 0" $H vm start x --timeout 0
tap_bad 2 "--timeout 3601" $H vm start x --timeout 3601
tap_bad 2 "--backend ''" $H vm start x --backend ''
tap_bad 2 "vm start --bogus" $H vm start x --bogus
tap_bad 2 "vm start -x" $H vm start -x
tap_bad 2 "vm start ''" $H vm start ''
tap_bad 2 "vm start a/b" $H vm start a/b
tap_bad 2 "vm start .x" $H vm start .x
tap_bad 2 "vm start 'a b'" $H vm start 'a b'
tap_bad 2 "vm start with a name of 5000 characters" $H vm start "$long"
tap_bad 2 "vm start with a non-ASCII name" $H vm start "$utf8"
tap_bad 1 "vm start --image ''" $H vm start x --image ''
tap_bad 1 "vm start --image /dev/null" $H vm start x --image /dev/null
for cmd in "vm info" "vm stop" "vm console" "sites list" stats; do
	tap_bad 2 "$cmd without a name" $H $cmd
	tap_bad 2 "$cmd ''" $H $cmd ''
	tap_bad 2 "$cmd a/b" $H $cmd a/b
	tap_bad 2 "$cmd ../../etc/passwd" $H $cmd ../../etc/passwd
	tap_bad 2 "$cmd with a name of 5000 characters" $H $cmd "$long"
	tap_bad 2 "$cmd with two names" $H $cmd a b
	tap_bad 1 "$cmd of a VM that does not exist" $H $cmd nosuchvm
done
tap_bad 2 "vm console --bogus" $H vm console x --bogus
tap_bad 2 "vm request without arguments" $H vm request
tap_bad 2 "vm request without a CMD" $H vm request x
tap_bad 2 "vm request a/b info" $H vm request a/b info
tap_bad 2 "vm request with a CMD 'IN FO'" $H vm request x 'IN FO'
tap_bad 2 "vm request with a CMD of 5000 characters" $H vm request x "$long"
tap_bad 2 "vm request ARGS-JSON not JSON" $H vm request x info '{'
tap_bad 2 "vm request ARGS-JSON followed by more" $H vm request x info '{} {}'
tap_bad 2 "vm request ARGS-JSON an array" $H vm request x info '[]'
tap_bad 2 "vm request ARGS-JSON a string" $H vm request x info '"x"'
tap_bad 2 "vm request ARGS-JSON empty" $H vm request x info ''
tap_bad 2 "vm request ARGS-JSON of 70000 characters" $H vm request x info "{\"k\":\"$(printf 'a%.0s' {1..70000})\"}"
tap_bad 2 "vm request with a fourth operand" $H vm request x info '{}' extra
tap_bad 2 "vm request --timeout 0" $H vm request x info --timeout 0
tap_bad 1 "vm request of a VM that does not exist" $H vm request nosuchvm info '{}'
tap_bad 2 "vm list extra" $H vm list extra
tap_bad 2 "sites list --key without a value" $H sites list x --key
tap_bad 2 "sites list --key a/b" $H sites list x --key a/b
tap_bad 2 "sites list --key of 5000 characters" $H sites list x --key "$long"
tap_bad 2 "sites list --bogus" $H sites list x --bogus
tap_bad 2 "sites without a subcommand" $H sites
tap_bad 2 "patch without a subcommand" $H patch
tap_bad 2 "patch frob" $H patch frob
tap_bad 2 "patch apply without arguments" $H patch apply
tap_bad 2 "patch apply with four arguments" $H patch apply x k t extra
tap_bad 2 "patch apply with a key a/b" $H patch apply x a/b single_a
tap_bad 2 "patch apply with a key of 5000 characters" $H patch apply x "$long" single_a
tap_bad 2 "patch apply with a non-ASCII target" $H patch apply x single "x$utf8"
tap_bad 2 "patch apply with a target holding a newline" $H patch apply x single $'single_a\nx'
tap_bad 2 "patch apply with an empty key" $H patch apply x '' single_a
tap_bad 2 "patch apply with a bad VM name" $H patch apply a/b single single_a
tap_bad 2 "patch apply --timeout 600001" $H patch apply x single single_a --timeout 600001
tap_bad 2 "patch apply --timeout abc" $H patch apply x single single_a --timeout abc
tap_bad 2 "patch apply --repeat 0" $H patch apply x single single_a --repeat 0
tap_bad 2 "patch apply --repeat 10000001" $H patch apply x single single_a --repeat 10000001
tap_bad 2 "patch apply --naive-delay-us 1000001" $H patch apply x single single_a --naive-delay-us 1000001
tap_bad 2 "patch apply --naive-bytes -1" $H patch apply x single single_a --naive-bytes -1
tap_bad 2 "patch apply --naive-bytes 10241" $H patch apply x single single_a --naive-bytes 10241
tap_bad 2 "patch apply --method ''" $H patch apply x single single_a --method ''
tap_bad 2 "patch apply --method of 5000 characters" $H patch apply x single single_a --method "$long"
tap_bad 2 "patch apply --sync ''" $H patch apply x single single_a --sync ''
tap_bad 2 "patch apply --sync KICK" $H patch apply x single single_a --sync KICK
tap_bad 2 "patch apply --unsafe=1" $H patch apply x single single_a --unsafe=1
tap_bad 1 "patch apply to a VM that does not exist" $H patch apply nosuchvm single single_a
tap_bad 2 "patch apply --prefer bogus" $H patch apply x single single_a --method auto --prefer bogus
tap_bad 2 "patch apply --prefer ''" $H patch apply x single single_a --method auto --prefer ''
tap_bad 2 "patch apply --method AUTO" $H patch apply x single single_a --method AUTO
tap_bad 2 "patch plan without arguments" $H patch plan
tap_bad 2 "patch plan with two arguments" $H patch plan x single
tap_bad 2 "patch plan with four arguments" $H patch plan x single single_a extra
tap_bad 2 "patch plan with a key a/b" $H patch plan x a/b single_a
tap_bad 2 "patch plan --prefer bogus" $H patch plan x single single_a --prefer bogus
tap_bad 2 "patch plan --sync irq" $H patch plan x single single_a --sync irq
tap_bad 2 "patch plan --timeout 0" $H patch plan x single single_a --timeout 0
tap_bad 2 "patch plan --method stop (not an option of plan)" $H patch plan x single single_a --method stop
tap_bad 1 "patch plan of a VM that does not exist" $H patch plan nosuchvm single single_a
tap_bad 2 "patch methods extra" $H patch methods extra
tap_bad 2 "rollout without arguments" $H rollout
tap_bad 2 "rollout with one argument" $H rollout single
tap_bad 2 "rollout with three arguments" $H rollout single single_b extra --all
tap_bad 2 "rollout with neither --vms nor --all" $H rollout single single_b
tap_bad 2 "rollout with both --vms and --all" $H rollout single single_b --vms a --all
tap_bad 2 "rollout with a key a/b" $H rollout a/b single_b --vms a
tap_bad 2 "rollout with a non-ASCII target" $H rollout single "x$utf8" --vms a
tap_bad 2 "rollout --vms ''" $H rollout single single_b --vms ''
tap_bad 2 "rollout --vms a,,b" $H rollout single single_b --vms a,,b
tap_bad 2 "rollout --vms a," $H rollout single single_b --vms a,
tap_bad 2 "rollout --vms a/b" $H rollout single single_b --vms a/b
tap_bad 2 "rollout --vms a,a (named twice)" $H rollout single single_b --vms a,a
tap_bad 2 "rollout --vms of 5000 characters" $H rollout single single_b --vms "$long"
tap_bad 2 "rollout --vms with a non-ASCII name" $H rollout single single_b --vms "$utf8"
tap_bad 2 "rollout --gate ''" $H rollout single single_b --vms a --gate ''
tap_bad 2 "rollout --gate nonsense" $H rollout single single_b --vms a --gate nonsense
tap_bad 2 "rollout --gate faults" $H rollout single single_b --vms a --gate faults
tap_bad 2 "rollout --gate faults=" $H rollout single single_b --vms a --gate faults=
tap_bad 2 "rollout --gate faults=-1" $H rollout single single_b --vms a --gate faults=-1
tap_bad 2 "rollout --gate faults=1x" $H rollout single single_b --vms a --gate faults=1x
tap_bad 2 "rollout --gate stall-p99=abc" $H rollout single single_b --vms a --gate stall-p99=abc
tap_bad 2 "rollout --gate stall-p99=600001" $H rollout single single_b --vms a --gate stall-p99=600001
tap_bad 2 "rollout --gate verify=1" $H rollout single single_b --vms a --gate verify=1
tap_bad 2 "rollout --gate of 5000 characters" $H rollout single single_b --vms a --gate "$long"
tap_bad 2 "rollout --hosts http://x" $H rollout single single_b --all --hosts http://x
tap_bad 2 "rollout --hosts 'ssh://a b'" $H rollout single single_b --all --hosts 'ssh://a b'
tap_bad 2 "rollout --hosts local,local" $H rollout single single_b --all --hosts local,local
tap_bad 2 "rollout --hosts local, (empty: local again)" $H rollout single single_b --all --hosts local,
tap_bad 2 "rollout --hosts ssh://h,ssh://h/ (the same host)" $H rollout single single_b --all --hosts ssh://h,ssh://h/
tap_bad 2 "rollout --hosts local --vms other/x (not one of --hosts)" $H rollout single single_b --hosts local --vms other/x
tap_bad 2 "rollout --hosts local --vms local/a/b" $H rollout single single_b --hosts local --vms local/a/b
tap_bad 2 "rollout --hosts local --vms local/" $H rollout single single_b --hosts local --vms local/
tap_bad 2 "rollout --hosts local --vms of a missing VM" $H rollout single single_b --hosts local --vms nosuchvm
tap_bad 2 "rollout --hosts local --all without a VM" $H rollout single single_b --hosts local --all
tap_bad 2 "rollout --revert some" $H rollout single single_b --vms a --revert some
tap_bad 2 "rollout --canary -1" $H rollout single single_b --vms a --canary -1
tap_bad 2 "rollout --canary 4097" $H rollout single single_b --vms a --canary 4097
tap_bad 2 "rollout --wave-size 0" $H rollout single single_b --vms a --wave-size 0
tap_bad 2 "rollout --wave-size abc" $H rollout single single_b --vms a --wave-size abc
tap_bad 2 "rollout --max-parallel 0" $H rollout single single_b --vms a --max-parallel 0
tap_bad 2 "rollout --max-parallel 65" $H rollout single single_b --vms a --max-parallel 65
tap_bad 2 "rollout --timeout 0" $H rollout single single_b --vms a --timeout 0
tap_bad 2 "rollout --method ''" $H rollout single single_b --vms a --method ''
tap_bad 2 "rollout --method of 5000 characters" $H rollout single single_b --vms a --method "$long"
tap_bad 2 "rollout --sync irq" $H rollout single single_b --vms a --sync irq
tap_bad 2 "rollout --bogus" $H rollout single single_b --vms a --bogus
tap_bad 2 "rollout of a VM that does not exist" $H rollout single single_b --vms nosuchvm
tap_bad 2 "rollout --all with no VM running" $H rollout single single_b --all
tap_bad 2 "bench without a subcommand" $H bench
tap_bad 2 "bench run --vcpus 0" $H bench run --vcpus 0
tap_bad 2 "bench run --vcpus 65" $H bench run --vcpus 65
tap_bad 2 "bench run --vcpus ''" $H bench run --vcpus ''
tap_bad 2 "bench run --vcpus ,,," $H bench run --vcpus ,,,
tap_bad 2 "bench run --vcpus 1,abc" $H bench run --vcpus 1,abc
tap_bad 2 "bench run --vcpus with 5000 characters" $H bench run --vcpus "$long"
tap_bad 2 "bench run --methods ''" $H bench run --methods ''
tap_bad 2 "bench run --methods ,," $H bench run --methods ,,
tap_bad 2 "bench run --methods with 5000 characters" $H bench run --methods "$long"
tap_bad 2 "bench run --sync ''" $H bench run --sync ''
tap_bad 2 "bench run --sync irq" $H bench run --sync irq
tap_bad 2 "bench run --rates -1" $H bench run --rates -1
tap_bad 2 "bench run --rates ''" $H bench run --rates ''
tap_bad 2 "bench run --nmi-rates 1e9" $H bench run --nmi-rates 1e9
tap_bad 2 "bench run --sites 0" $H bench run --sites 0
tap_bad 2 "bench run --repeat 0" $H bench run --repeat 0
tap_bad 2 "bench run --repeat 257" $H bench run --repeat 257
tap_bad 2 "bench run --out ''" $H bench run --out ''
tap_bad 2 "bench run --bogus" $H bench run --bogus
tap_bad 2 "bench run extra" $H bench run extra
tap_bad 2 "report without arguments" $H report
tap_bad 2 "report html without a DIR" $H report html
tap_bad 2 "report html with two DIRs" $H report html a b
tap_bad 2 "report ''" $H report '' /tmp
tap_bad 2 "report in a non-ASCII format" $H report "$utf8" /tmp
tap_bad 12 "report html of a missing DIR" $H report html /nonexistent
tap_bad 2 "doctor extra" $H doctor extra
tap_bad 2 "-x" $H -x
tap_bad 2 "--json alone" $H --json
tap_bad 2 "--bogus before the command" $H --bogus stats x
tap_bad 2 "a command of 5000 characters" $H "$long"
tap_bad 2 "a non-ASCII command" $H "$utf8"

# the error names the option and what is wrong with it, and with -j nothing
# but the JSON error is printed (getopt's own line went to stderr before)
opt_err() { # WANT DESC ARGS...
	local want=$1 desc=$2 out err
	shift 2
	err=$(mktemp)
	out=$("$@" 2>"$err" </dev/null)
	tap_is "$desc" "$want" "$(jq -r .error.desc <<<"$out" 2>&1) / stderr: $(cat "$err")"
	rm -f "$err"
}
opt_err "vm start: unknown option '--bogus' (see 'hvpatch vm start --help') / stderr: " \
	"-j: an unknown long option is named, nothing on stderr" $H -j vm start x --bogus
opt_err "patch apply: unknown option '-Z' (see 'hvpatch patch apply --help') / stderr: " \
	"-j: an unknown short option is named" $H -j patch apply x k t -Z
opt_err "vm start: missing value for option '--vcpus' (see 'hvpatch vm start --help') / stderr: " \
	"-j: a long option without its value is named as such" $H -j vm start x --vcpus
opt_err "sites list: missing value for option '-k' (see 'hvpatch sites list --help') / stderr: " \
	"-j: a short option without its value is named as such" $H -j sites list x -k
opt_err "vm start: unknown option '--help=3' (see 'hvpatch vm start --help') / stderr: " \
	"-j: --help with a value is named whole" $H -j vm start x --help=3

# a runtime directory so long that NAME.sock would not fit a unix socket's
# path: refused before anything starts (it failed only after the guest booted)
longdir=/tmp/hvpatch-long-$(printf 'd%.0s' $(seq 1 90))
mkdir -p -m 700 "$longdir"
out=$(HVPATCH_RUNTIME_DIR=$longdir "$HVPATCH" vm start x 2>&1)
tap_is "vm start: a control socket path over 107 bytes is refused, exit 1 ($out)" \
	"1 yes" "$? $(grep -q 'a unix socket takes at most 107' <<<"$out" && echo yes)"
tap_is "... and nothing was started or written there" "" "$(ls -A "$longdir")"
rm -rf "$longdir"

# --- found in review: forms that were taken and did something else ---
# max and tight are --rates words (a tight loop, 0); as an NMI rate they meant
# no NMIs at all, and as a vCPU count "0 vCPUs"
# (--image /nonexistent: were the option taken, no bench would start)
tap_bad 2 "bench run --nmi-rates max" $H bench run --nmi-rates max --image /nonexistent
tap_bad 2 "bench run --nmi-rates 100,tight" $H bench run --nmi-rates 100,tight --image /nonexistent
tap_bad 1 "bench run --rates max,tight,100 is taken (then no image)" \
	$H bench run --rates max,tight,100 --image /nonexistent
# an empty --backends meant every backend; a long one was cut short, silently
tap_bad 2 "bench run --backends ''" $H bench run --backends '' --image /nonexistent
tap_bad 2 "bench run --backends ," $H bench run --backends , --image /nonexistent
tap_bad 2 "bench run --backends of 304 characters" \
	$H bench run --backends "$(printf 'kvm,%.0s' {1..75})qemu" --image /nonexistent
# --prefer is auto's objective: without --method auto it was dropped
tap_bad 2 "patch apply --prefer latency without --method" $H patch apply x single single_a --prefer latency
tap_bad 2 "patch apply --method stop --prefer stall" $H patch apply x single single_a --method stop --prefer stall
tap_bad 1 "patch apply --prefer before --method auto is taken" \
	$H patch apply nosuchvm single single_a --prefer latency --method auto
# "--" ends the options of every command, not only of those that have some
tap_bad 1 "vm info -- NAME" $H vm info -- nosuchvm
tap_bad 1 "vm stop -- NAME" $H vm stop -- nosuchvm
tap_bad 1 "stats NAME --" $H stats nosuchvm --
tap_bad 1 "vm attach -- NAME" $H vm attach -- nosuchvm
tap_bad 1 "report -- html DIR" $H report -- html /nonexistent
tap_ok "vm list --" $H vm list --
tap_bad 2 "vm info -- -h: an operand after --" $H vm info -- -h
tap_bad 2 "vm info -- a b" $H vm info -- a b
# a service that does not answer within a --timeout under a second
sock="$HVPATCH_RUNTIME_DIR/mute.sock"
python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(4); time.sleep(30)' "$sock" &
mute=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
out=$("$HVPATCH" vm request mute info --timeout 300 2>&1); rc=$?
tap_is "vm request --timeout 300 to a mute service: exit 1, its time in ms" \
	"1 error: VM mute: the service did not answer within 300 ms" "$rc $out"
kill $mute 2>/dev/null; wait $mute 2>/dev/null
rm -f "$sock"

check_help() { # DESC WORDS... -- CMD...
	local desc=$1 words=() w out
	shift
	while [ "$1" != -- ]; do words+=("$1"); shift; done
	shift
	out=$("$@" 2>&1) || { _tap_result 1 "$desc (exit $?)"; return; }
	for w in "${words[@]}"; do
		grep -q -- "$w" <<<"$out" || { _tap_result 1 "$desc: '$w' missing"; return; }
	done
	_tap_result 0 "$desc"
}
check_help "hvpatch --help lists every command" "vm start" "vm list" "vm info" "vm stop" \
	"vm console" "vm request" "sites list" stats "patch apply" "patch methods" "patch plan" \
	rollout "bench run" report doctor -- "$HVPATCH" --help
check_help "hvpatch --help names the global options" --json --host HVPATCH_HOST -- "$HVPATCH" --help
check_help "vm --help" "vm start" "vm stop" -- "$HVPATCH" vm --help
check_help "vm start --help names every option" --vcpus --mem --keys --rate --nmi-rate \
	--nmi-key --fault-test --hostile --image --backend --timeout -- "$HVPATCH" vm start --help
check_help "patch apply --help names every option" --method --sync --timeout --repeat \
	--unsafe --naive-delay-us --naive-bytes --prefer auto -- "$HVPATCH" patch apply --help
check_help "patch plan --help names every option" --timeout --prefer --sync -- \
	"$HVPATCH" patch plan --help
check_help "rollout --help names every option" --vms --all --hosts --canary --wave-size \
	--max-parallel --gate faults= stall-p99= verify --revert --method --sync --timeout -- \
	"$HVPATCH" rollout --help
check_help "bench run --help names every option" --quick --out --vcpus --methods --sync \
	--rates --nmi-rates --sites --repeat --unsafe -- "$HVPATCH" bench run --help
check_help "sites list --help" --verbose -- "$HVPATCH" sites list --help
check_help "sites list --help names the short options it takes" "-k|--key" "-v|--verbose" -- \
	"$HVPATCH" sites list --help
check_help "stats --help" "stats NAME" -- "$HVPATCH" stats --help
check_help "vm console --help" --follow -- "$HVPATCH" vm console --help
check_help "vm request --help" CMD ARGS-JSON --timeout "rollout --hosts" -- "$HVPATCH" vm request --help
check_help "doctor --help names what it reports" doctor kvm_device probes tools -- "$HVPATCH" doctor --help
check_help "patch methods names the five methods" stop bp-cancel bp-emulate naive bp-cancel-hpa -- \
	"$HVPATCH" patch methods

# --- the service's side: malformed requests that pass the CLI's checks ---
if have_kvm; then
	tap_ok "vm start u (for the service's answers)" $H vm start u --vcpus 1 --keys single --rate 100
	tap_bad 1 "patch apply of an unknown key" $H patch apply u nosuchkey single_a
	tap_bad 1 "patch apply of an unknown target" $H patch apply u single nosuchtarget
	tap_bad 1 "patch apply of another key's target" $H patch apply u single small_a
	tap_bad 1 "patch apply naive without --unsafe" $H patch apply u single single_b --method naive
	tap_bad 1 "sites list --key of an unknown key" $H sites list u --key nosuchkey
	tap_bad 1 "vm start of a name already running" $H vm start u
	out=$("$HVPATCH" -j patch apply u nosuchkey single_a 2>/dev/null)
	tap_is "-j: the service's refusal is a JSON error of class NotFound" NotFound \
		"$(jq -r .error.class <<<"$out" 2>/dev/null)"
	# An error description cut at its 1 KiB bound must still be valid UTF-8:
	# an 'é' split in two made the CLI drop the whole answer.
	out=$(python3 - "$HVPATCH_RUNTIME_DIR/u.sock" <<'PY'
import socket, struct, sys, json
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
req = json.dumps({"cmd": "patch", "args": {"key": "x" + "\u00e9" * 700, "target": "t"}},
                 ensure_ascii=False).encode()
s.sendall(struct.pack("<IHHII", 0x43505648, 1, 1, len(req), 5) + req)
data = b""
while len(data) < 16 or len(data) < 16 + struct.unpack("<I", data[8:12])[0]:
    b = s.recv(65536)
    if not b:
        break
    data += b
print(json.loads(data[16:].decode("utf-8"))["error"]["class"])
PY
)
	tap_is "a truncated error description is still valid UTF-8 JSON" NotFound "$out"
	tap_bad 2 "vm request of a command the service does not know" $H vm request u nosuch
	tap_bad 1 "vm request sites of an unknown key" $H vm request u sites '{"key":"nosuchkey"}'
	tap_bad 2 "vm request patch with a key that is a number" $H vm request u patch '{"key":1,"target":"x"}'
	out=$("$HVPATCH" -j vm request u sites '{"key":"single"}' 2>/dev/null)
	tap_is "vm request u sites: the service's result as it stands" single \
		"$(jq -r '.keys[0].name' <<<"$out" 2>/dev/null)"
	tap_ok "the service still answers stats" $H stats u
	tap_ok "vm stop u" $H vm stop u
fi
tap_done
