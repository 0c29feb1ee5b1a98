#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# The CLI's promises that need no VM: usage errors exit 2 with a message,
# failures exit 1, --help at every level exits 0 and names every option.
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
tap_exit "report in an unknown format: exit 2" 2 "$HVPATCH" report pdf /tmp
out=$("$HVPATCH" -j vm info missing 2>/dev/null); rc=$?
tap_is "-j vm info missing exits 1" 1 "$rc"
tap_is "... and prints a JSON error of class NotFound on stdout" NotFound \
	"$(jq -r .error.class <<<"$out" 2>/dev/null)"
tap_is "-j with a usage error prints class UsageError" UsageError \
	"$("$HVPATCH" -j vm start x --vcpus 0 2>/dev/null | jq -r .error.class)"
tap_ok "vm list with an empty runtime dir exits 0" "$HVPATCH" vm list
tap_is "-j vm list with no VMs gives an empty list" 0 "$("$HVPATCH" -j vm list | jq '.vms | length')"

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
	"vm console" "sites list" stats "patch apply" "patch methods" "bench run" report doctor \
	-- "$HVPATCH" --help
check_help "vm --help" "vm start" "vm stop" -- "$HVPATCH" vm --help
check_help "vm start --help names every option" --vcpus --mem --keys --rate --nmi-rate \
	--nmi-key --fault-test --image --backend --timeout -- "$HVPATCH" vm start --help
check_help "patch apply --help names every option" --method --sync --timeout --repeat \
	--unsafe --naive-delay-us --naive-bytes -- "$HVPATCH" patch apply --help
check_help "bench run --help names every option" --quick --out --vcpus --methods --sync \
	--rates --nmi-rates --sites --repeat -- "$HVPATCH" bench run --help
check_help "sites list --help" --verbose -- "$HVPATCH" sites list --help
check_help "stats --help" "stats NAME" -- "$HVPATCH" stats --help
check_help "vm console --help" --follow -- "$HVPATCH" vm console --help
check_help "doctor --help" doctor -- "$HVPATCH" doctor --help
check_help "patch methods names the four methods" stop bp-cancel bp-emulate naive -- \
	"$HVPATCH" patch methods
tap_done
