#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# The bash completion (completion/hvpatch) in a real bash: source it in a
# fresh `bash --norc`, set COMP_WORDS/COMP_CWORD as readline would, call the
# function `complete -p hvpatch` names and compare COMPREPLY.  Commands,
# subcommands, options and their values need no VM; VM names, and keys and
# targets for `patch apply NAME <TAB>`, need a running VM (/dev/kvm).
. "${top_srcdir:-.}/tests/lib.sh"

comp_file="$top_srcdir/completion/hvpatch"

# comp WORD...: the sorted candidates for the last WORD (the one under the
# cursor), one line, space separated.
comp() {
	bash --norc --noprofile -c '
		source "$1" || exit 1
		fn=$(complete -p hvpatch | sed -n "s/.*-F \([^ ]*\) hvpatch$/\1/p")
		[ -n "$fn" ] || { echo "no completion function for hvpatch"; exit 1; }
		shift
		COMP_WORDS=("$@")
		COMP_CWORD=$(($# - 1))
		COMP_LINE="$*"
		COMP_POINT=${#COMP_LINE}
		"$fn" hvpatch "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
		printf "%s\n" "${COMPREPLY[@]}" | LC_ALL=C sort | tr "\n" " " | sed "s/ $//"
	' comp "$comp_file" "$HVPATCH" "$@" 2>&1
}

# comp_rl LINE WORD...: as comp, with the words as readline splits LINE
# (at blanks and at COMP_WORDBREAKS: ':', '=', '@'), LINE ending at the cursor.
comp_rl() {
	bash --norc --noprofile -c '
		source "$1" || exit 1
		fn=$(complete -p hvpatch | sed -n "s/.*-F \([^ ]*\) hvpatch$/\1/p")
		COMP_LINE="$2 $3"
		COMP_POINT=${#COMP_LINE}
		shift 3
		COMP_WORDS=("$0" "$@")
		COMP_CWORD=$#
		"$fn" hvpatch "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
		printf "%s\n" "${COMPREPLY[@]}" | LC_ALL=C sort | tr "\n" " " | sed "s/ $//"
	' "$HVPATCH" "$comp_file" "$HVPATCH" "$@" 2>&1
}

tap_is "commands" "bench doctor patch report rollout sites stats vm" "$(comp '')"
tap_is "commands after -j" "bench doctor patch report rollout sites stats vm" "$(comp -j '')"
tap_is "global options" "--help --host --json -H -j" "$(comp -)"
tap_is "-H <TAB>: the URI's scheme" "ssh://" "$(comp -H '')"
tap_is "commands after -H URI" "bench doctor patch report rollout sites stats vm" "$(comp -H ssh://h '')"
tap_is "commands after -j --host URI" "bench doctor patch report rollout sites stats vm" \
	"$(comp -j --host ssh://h '')"
tap_is "vm <TAB> after -H URI" "attach console info list request start stop" "$(comp -H ssh://h vm '')"
# what readline gives: the URI in pieces (these were offered nothing)
tap_is "-H ssh://h vm <TAB>, the URI split at ':'" "attach console info list request start stop" \
	"$(comp_rl '-H ssh://h vm ' -H ssh : //h vm '')"
tap_is "-H ssh://u@h:22 vm <TAB>, split at ':' and '@'" "attach console info list request start stop" \
	"$(comp_rl '-H ssh://u@h:22 vm ' -H ssh : //u @ h : 22 vm '')"
tap_is "--host=ssh://h <TAB>" "bench doctor patch report rollout sites stats vm" \
	"$(comp_rl '--host=ssh://h ' --host = ssh : //h '')"
tap_is "-H ssh:<TAB>: the rest of the scheme, after the ':'" "//" \
	"$(comp_rl '-H ssh:' -H ssh :)"
tap_is "rollout --gate faults=<TAB>, split at '='" "0" \
	"$(comp_rl 'rollout k t --gate faults=' rollout k t --gate faults =)"
tap_is "vm start x --fault-test=<TAB>, split at '='" "" \
	"$(comp_rl 'vm start x --fault-test=' vm start x --fault-test =)"
tap_is "vm <TAB>: its subcommands" "attach console info list request start stop" "$(comp vm '')"
tap_is "vm st<TAB>" "start stop" "$(comp vm st)"
tap_is "patch <TAB>" "apply methods plan" "$(comp patch '')"
tap_is "patch apply --<TAB>: its options" \
	"--help --method --naive-bytes --naive-delay-us --prefer --repeat --sync --timeout --unsafe --verify" \
	"$(comp patch apply --)"
tap_is "patch apply --method <TAB>: the methods and auto" "auto bp-cancel bp-cancel-hpa bp-emulate naive stop" \
	"$(comp patch apply x k t --method '')"
tap_is "patch apply --prefer <TAB>" "latency stall" "$(comp patch apply x k t --prefer '')"
tap_is "patch plan --<TAB>: its options" "--help --prefer --sync --timeout" "$(comp patch plan --)"
tap_is "patch plan --prefer <TAB>" "latency stall" "$(comp patch plan x k t --prefer '')"
tap_is "patch apply --sync <TAB>" "kick nmi" "$(comp patch apply --sync '')"
tap_is "vm start --backend <TAB>" "kvm libvirt qemu" "$(comp vm start x --backend '')"
tap_is "vm start --fault<TAB>" "--fault-test --fault-test=" "$(comp vm start x --fault)"
tap_is "vm start NAME: a new name, nothing offered" "" "$(comp vm start '')"
tap_is "vm console -<TAB>" "--follow --help -f" "$(comp vm console x -)"
tap_is "report <TAB>" "csv html json text" "$(comp report '')"
tap_is "doctor takes no operand" "" "$(comp doctor '')"
tap_is "rollout --<TAB>: its options" \
	"--all --canary --gate --help --hosts --max-parallel --method --revert --sync --timeout --vms --wave-size" \
	"$(comp rollout --)"
tap_is "rollout --gate <TAB>: the gates" "faults=0 stall-p99= verify" \
	"$(comp rollout k t --gate '')"
tap_is "rollout --sync <TAB>" "kick nmi" "$(comp rollout k t --sync '')"
tap_is "rollout --revert <TAB>" "all wave" "$(comp rollout k t --revert '')"
tap_is "vm request x <TAB>: the service's commands" "info methods patch sites stats stop" \
	"$(comp vm request x '')"
tap_is "vm request x s<TAB>" "sites stats stop" "$(comp vm request x s)"
tap_is "vm request --<TAB>" "--help --timeout" "$(comp vm request --)"

if [ -r /dev/kvm ]; then
	tap_ok "vm start c1" "$HVPATCH" vm start c1 --vcpus 1 --rate 100
	tap_ok "vm start c2" "$HVPATCH" vm start c2 --vcpus 1 --keys single --rate 100
	tap_is "vm stop <TAB>: the running VMs" "c1 c2" "$(comp vm stop '')"
	tap_is "-j stats <TAB>" "c1 c2" "$(comp -j stats '')"
	tap_is "patch apply <TAB>: the running VMs" "c1 c2" "$(comp patch apply '')"
	tap_is "patch apply c1 <TAB>: its keys" "batch medium single small tramp" \
		"$(comp patch apply c1 '')"
	tap_is "patch apply c1 sm<TAB>" "small" "$(comp patch apply c1 sm)"
	tap_is "patch apply c1 small <TAB>: its targets" "small_a small_b small_c" \
		"$(comp patch apply c1 small '')"
	tap_is "patch apply --method stop c1 tramp <TAB>: options do not shift operands" \
		"tramp_a tramp_b tramp_c" "$(comp patch apply --method stop c1 tramp '')"
	tap_is "sites list c1 --key <TAB>" "batch medium single small tramp" \
		"$(comp sites list c1 --key '')"
	tap_is "patch apply c1 small small_b <TAB>: no more operands" "" \
		"$(comp patch apply c1 small small_b '')"
	tap_is "rollout <TAB>: the keys of a running VM" "batch medium single small tramp" \
		"$(comp rollout '')"
	tap_is "rollout --vms c2 single <TAB>: the key's targets on the first VM of --vms" \
		"single_a single_b single_c" "$(comp rollout --vms c2 single '')"
	tap_is "rollout k t --vms c1,<TAB>: the next VM of the list" "c1,c1 c1,c2" \
		"$(comp rollout k t --vms c1,)"
else
	echo "ok $((_tap_n + 1)) # SKIP VM names, keys and targets: /dev/kvm is absent"
	_tap_n=$((_tap_n + 1))
fi
tap_done
