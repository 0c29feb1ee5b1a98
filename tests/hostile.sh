#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# A hostile guest (vm start --hostile MODE): the agent lies through its agent
# area, and the service must hold.
#  - lies told at boot (bad magic or ABI version, sites outside RAM, inside
#    the agent area, overlapping or holding no call, absurd counts, targets
#    outside the text): `vm start` refuses with the reason and leaves nothing
#    running, while a well-behaved VM next to them keeps serving;
#  - tables rewritten all the time after boot: the service never looks at
#    them again, every patch completes on the sites validated at boot, and
#    not one byte of text outside those sites changes;
#  - a site's bytes rewritten under the patcher: every patch either
#    completes or is refused naming that site, the other sites end
#    consistent, no int3 is left behind, nothing outside the sites
#    changes, and both vCPUs, calling the other 15 sites all along, never
#    fault (a torn site would send a call astray).
# "Nothing outside the sites changes" is the service's own witness: `sites`
# compares the image's text in guest RAM with the ELF file, site bytes masked;
# a guest that scribbles on its own text shows that the witness can fail.
. "${top_srcdir:-.}/tests/lib.sh"
require_kvm

sites() { "$HVPATCH" -j sites list "$1"; }
text_changed() { sites "$1" | jq '.text.changed_outside_sites'; }
faults() { "$HVPATCH" -j stats "$1" | jq '[.vcpus[].nr_faults] | add'; }
current() { sites "$1" | jq -r --arg k "$2" '.keys[] | select(.name==$k) | .current'; }

# --- a well-behaved neighbour, to show the refusals hurt nobody else ---
tap_ok "a well-behaved VM starts" "$HVPATCH" vm start good --keys single --rate 1000

# --- lies told at boot ---
boot_refused() { # MODE EXPECTED-SUBSTRING
	local out rc
	out=$("$HVPATCH" vm start "h-$1" --hostile "$1" --keys single 2>&1)
	rc=$?
	if [ $rc -eq 1 ] && grep -qF -- "$2" <<<"$out"; then
		_tap_result 0 "--hostile $1: vm start refused: ${out#error: }"
	else
		_tap_result 1 "--hostile $1: vm start refused naming '$2'"
		printf '# exit %s: %s\n' "$rc" "$out" | head -n 5
	fi
	# nothing left behind: no socket, no pid file, not listed
	tap_ok "--hostile $1: no service left running" \
		test ! -e "$HVPATCH_RUNTIME_DIR/h-$1.sock" -a ! -e "$HVPATCH_RUNTIME_DIR/h-$1.pid"
}
boot_refused magic "bad magic 0xbadc0de0badc0de"
boot_refused abi "agent ABI version 65535"
boot_refused site-outside-ram "site 0xfff0000000 is outside guest RAM"
boot_refused site-in-agent "is inside the agent area"
boot_refused overlap "overlap"
boot_refused nr-keys "agent reports 65536 keys"
boot_refused nr-sites "agent reports 2147483647 sites"
boot_refused nr-targets "key small: 1000 targets"
boot_refused first-site "sites [4294967280, +16) outside the"
boot_refused target-outside "target 1 at 0x10 is outside the image's text"
boot_refused site-not-call "not a call to one of its targets"
tap_exit "--hostile with an unknown mode: exit 2" 2 "$HVPATCH" vm start h-x --hostile nonsense
tap_is "vm list shows only the well-behaved VM" good \
	"$("$HVPATCH" -j vm list | jq -r '[.vms[].name] | join(",")')"
tap_ok "the well-behaved VM still answers stats" "$HVPATCH" stats good
tap_ok "and still patches" "$HVPATCH" patch apply good single single_b

# --- tables rewritten after boot ---
tap_ok "--hostile rewrite-table: vm start (the tables were valid when read)" \
	"$HVPATCH" vm start rt --hostile rewrite-table --keys single,small --rate 1000
booted=$(sites rt | jq -c '[.keys[] | select(.name=="small") | .sites[].addr]')
changed=false
for ((i = 0; i < 100; i++)); do
	changed=$(sites rt | jq '.agent_tables_changed')
	[ "$changed" = true ] && break
	sleep 0.1
done
tap_is "rewrite-table: the guest is rewriting its tables" true "$changed"
n=0 ok=0 new=small_a
for method in stop bp-emulate bp-cancel; do
	for sync in kick nmi; do
		for t in small_b small_c small_a; do
			n=$((n + 1))
			# the point here is the lying tables, not bp-cancel's livelock:
			# give its 16 one-at-a-time sites time on a loaded host
			out=$("$HVPATCH" -j patch apply rt small "$t" --method "$method" --sync "$sync" \
				--timeout 60000 2>&1)
			if jq -e '.completed == true and .faults == 0' <<<"$out" >/dev/null 2>&1 &&
			   [ "$(current rt small)" = "$t" ]; then
				ok=$((ok + 1))
			else
				printf '# %s/%s -> %s: %s\n' "$method" "$sync" "$t" "$out" | head -n 3
			fi
		done
	done
done
tap_is "rewrite-table: every patch completed on the validated sites ($n)" "$n" "$ok"
tap_is "rewrite-table: the sites listed are still the ones read at boot" "$booted" \
	"$(sites rt | jq -c '[.keys[] | select(.name=="small") | .sites[].addr]')"
tap_is "rewrite-table: no byte of text outside the sites changed" 0 "$(text_changed rt)"
tap_is "rewrite-table: 0 guest faults" 0 "$(faults rt)" || print_faults rt
tap_is "rewrite-table: the tables are still being rewritten" true \
	"$(sites rt | jq '.agent_tables_changed')"
tap_ok "rewrite-table: vm stop" "$HVPATCH" vm stop rt

# --- a site's bytes rewritten under the patcher ---
# Both vCPUs call small (from its second site on: the first is the guest's
# own scribble, see guest-agent/workload.c), so a torn write to any of the
# other 15 sites would send a call astray and fault; 1000 passes/s (the
# hostile rewriting itself runs every loop iteration, unpaced) so that
# bp-cancel's 16 one-at-a-time sites fit in 20 s on a loaded host.
tap_ok "--hostile rewrite-site: vm start, 2 vCPUs calling small's sites 1..15" \
	"$HVPATCH" vm start rs --hostile rewrite-site --vcpus 2 --keys single,small --rate 1000
site0=$(sites rs | jq -r '.keys[] | select(.name=="small") | .sites[0].addr')
completed=0 named=0 other=0 n=0
methods=(bp-emulate bp-cancel stop)
targets=(small_b small_c small_a)
# at least 30 patches, and until both outcomes were seen a few times (at most 300)
for ((i = 0; i < 300 && (i < 30 || completed < 3 || named < 3); i++)); do
	m=${methods[i % 3]}
	t=${targets[(i / 3) % 3]}
	n=$((n + 1))
	out=$("$HVPATCH" -j patch apply rs small "$t" --method "$m" --timeout 20000 2>/dev/null)
	if jq -e '.completed == true' <<<"$out" >/dev/null 2>&1; then
		completed=$((completed + 1))
	elif jq -r '.reason // .error.desc // empty' <<<"$out" 2>/dev/null | grep -qF "$site0"; then
		named=$((named + 1))
	else
		other=$((other + 1))
		diag_json "$m -> $t" "$out"
	fi
done
echo "# rewrite-site: $n patches, $completed completed, $named refused naming $site0, $other else"
tap_is "rewrite-site: every patch completed or named the rewritten site $site0" 0 "$other"
tap_ok "rewrite-site: some patches were refused naming it ($named)" test "$named" -ge 1
tap_ok "rewrite-site: some patches completed all the same ($completed)" test "$completed" -ge 1
tap_is "rewrite-site: the other 15 sites agree on one registered target, no int3 left" true \
	"$(sites rs | jq '[.keys[] | select(.name=="small") | .sites[1:][] | .target] |
		(unique | length == 1) and (.[0] != null)')"
tap_is "rewrite-site: no byte of text outside the sites changed" 0 "$(text_changed rs)"
tap_ok "rewrite-site: the workload called small's patched sites on both vCPUs" \
	test "$("$HVPATCH" -j stats rs | jq '[.vcpus[].calls | .small_a + .small_b + .small_c > 0] | all')" = true
tap_is "rewrite-site: 0 guest faults (both vCPUs calling small's patched sites)" 0 "$(faults rs)" ||
	print_faults rs
tap_ok "rewrite-site: the service still answers stats" "$HVPATCH" stats rs
tap_ok "rewrite-site: vm stop" "$HVPATCH" vm stop rs

# --- the witness itself: a guest that scribbles on its own text is seen ---
tap_ok "--hostile scribble-text: vm start" "$HVPATCH" vm start st --hostile scribble-text --keys single
text_end=$(printf '0x%x' "0x$(nm "$HVPATCH_GUEST" | awk '$3 == "__text_end" { print $1 }')")
seen=
for ((i = 0; i < 100; i++)); do
	seen=$(sites st | jq -c '[.text.changed_outside_sites, .text.first_changed]')
	[ "$seen" != '[0,null]' ] && break
	sleep 0.1
done
tap_is "scribble-text: the witness sees the one byte the guest wrote, at __text_end - 1" \
	"[1,\"$(printf '0x%x' $((text_end - 1)))\"]" "$seen"
tap_ok "scribble-text: vm stop" "$HVPATCH" vm stop st

tap_is "the well-behaved VM: no byte of text outside the sites changed" 0 "$(text_changed good)"
tap_ok "the well-behaved VM: vm stop" "$HVPATCH" vm stop good
tap_done
