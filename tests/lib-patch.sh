# SPDX-License-Identifier: GPL-2.0-only
# Helpers of the patch tests (sourced after tests/lib.sh).
patch() { "$HVPATCH" -j patch apply "$@"; }
calls() { "$HVPATCH" -j stats "$1" | jq -c "[.vcpus[] | .calls[\"$2\"]]"; }
faults() { "$HVPATCH" -j stats "$1" | jq '[.vcpus[].nr_faults] | add'; }
current() { "$HVPATCH" -j sites list "$1" | jq -r --arg k "$2" '.keys[] | select(.name==$k) | .current'; }
site_bytes() { "$HVPATCH" -j sites list "$1" | jq -c --arg k "$2" '[.keys[] | select(.name==$k) | .sites[].bytes]'; }

# Every vCPU's count of calls to TARGET rose past BEFORE (a JSON array):
# polls for up to 10 s, the host may be loaded.
gained_everywhere() { # VM KEY TARGET BEFORE
	local now i
	for ((i = 0; i < 100; i++)); do
		now=$(calls "$1" "$3")
		jq -en --argjson b "$4" --argjson n "$now" \
			'[range(0; $b|length) | $n[.] > $b[.]] | all' >/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# The old target gains nothing on any vCPU, the new one gains on every vCPU.
# A call issued before the patch may still be inside the old target's body,
# uncounted, on a vCPU not yet rescheduled: so the old count is taken only
# after every vCPU has called the new target once.
switch_proven() { # VM KEY NEW OLD
	local o1 o2 n1
	gained_everywhere "$1" "$2" "$3" "$(calls "$1" "$3")" || return 1
	o1=$(calls "$1" "$4"); n1=$(calls "$1" "$3")
	gained_everywhere "$1" "$2" "$3" "$n1" || return 1
	o2=$(calls "$1" "$4")
	[ "$o1" = "$o2" ]
}

# After a patch that may have timed out and rolled back: no int3 is left on
# any site of KEY, every site calls the same registered target, and `sites`
# names it as the key's current one.
sites_clean() { # VM KEY
	"$HVPATCH" -j sites list "$1" | jq -e --arg k "$2" '.keys[] | select(.name == $k) |
		.current as $c |
		([.sites[].bytes | startswith("cc")] | any | not) and
		([.sites[].target] | unique == [$c]) and (.targets | index($c) != null)' >/dev/null
}
