#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# The runtime directory must be the user's alone (issue 13, item 2):
#  - a mode-0777 directory (and a sticky 1777 one) is refused by vm start and
#    vm list, with the mode and what to do;
#  - a directory of another uid (nobody) is refused, naming both uids;
#  - a missing one is created mode 0700;
#  - a user other than root gets $XDG_RUNTIME_DIR/hvpatch by default, and is
#    told to set XDG_RUNTIME_DIR or HVPATCH_RUNTIME_DIR when it is unset.
# Every directory is one this test makes; none is a real system directory.
. "${top_srcdir:-.}/tests/lib.sh"
[ "$(id -u)" = 0 ] || { echo "1..0 # SKIP needs root: it makes directories of another uid"; exit 0; }
id nobody >/dev/null 2>&1 || { echo "1..0 # SKIP no user nobody"; exit 0; }

base=$(mktemp -d /tmp/hvpatch-rundir.XXXXXX)
chmod 755 "$base"	# nobody must reach its own directory below it
trap '_tap_cleanup; rm -rf "$base"' EXIT
# a copy nobody can run (the build tree may be private, as CI's copies are);
# its sanitizer logs, if any, go to stderr: nobody cannot write root's
cp "$HVPATCH" "$base/hvpatch"
chmod 755 "$base/hvpatch"
as_nobody() {
	setpriv --reuid=nobody --regid=nogroup --clear-groups -- \
		env -u ASAN_OPTIONS -u UBSAN_OPTIONS -u HVPATCH_RUNTIME_DIR "$@"
}
# vm start with an image that is no ELF: it gets past the runtime directory
# and fails at once after it
start_in() { HVPATCH_RUNTIME_DIR=$1 "$HVPATCH" vm start x --image /dev/null 2>&1; }

for mode in 777 1777; do
	mkdir "$base/m$mode"
	chmod "$mode" "$base/m$mode"
	m=$(printf %04o $((8#$mode)))
	out=$(start_in "$base/m$mode")
	tap_ok "vm start refuses a runtime directory of mode $mode, saying chmod 700" \
		grep -q "runtime directory $base/m$mode has mode $m: group and others must have no access (chmod 700 $base/m$mode)" <<<"$out" ||
		echo "# $out"
	out=$(HVPATCH_RUNTIME_DIR=$base/m$mode "$HVPATCH" vm list 2>&1)
	tap_ok "vm list refuses it too" grep -q "has mode $m" <<<"$out" || echo "# $out"
	tap_is "nothing was created in it" "" "$(ls -A "$base/m$mode")"
done

mkdir -m 700 "$base/other"
chown nobody "$base/other"
out=$(start_in "$base/other")
tap_ok "vm start refuses a directory of another uid, naming both" \
	grep -q "runtime directory $base/other belongs to uid $(id -u nobody), not to you (uid 0)" <<<"$out" ||
	echo "# $out"
tap_is "nothing was created in it" "" "$(ls -A "$base/other")"

out=$(start_in "$base/new")
tap_is "a missing runtime directory is created, mode 700" "700 directory" \
	"$(stat -c '%a %F' "$base/new" 2>&1)"

mkdir -m 700 "$base/xdg"
chown nobody "$base/xdg"
out=$(as_nobody XDG_RUNTIME_DIR="$base/xdg" "$base/hvpatch" vm start x --image /dev/null 2>&1)
tap_is "as nobody the default is \$XDG_RUNTIME_DIR/hvpatch, made 0700" "700 nobody" \
	"$(stat -c '%a %U' "$base/xdg/hvpatch" 2>&1)" || echo "# $out"
tap_ok "as nobody vm list uses it" as_nobody XDG_RUNTIME_DIR="$base/xdg" "$base/hvpatch" vm list
out=$(as_nobody -u XDG_RUNTIME_DIR "$base/hvpatch" vm start x --image /dev/null 2>&1)
tap_ok "as nobody without XDG_RUNTIME_DIR: told to set it" \
	grep -q "set XDG_RUNTIME_DIR or HVPATCH_RUNTIME_DIR" <<<"$out" || echo "# $out"
tap_done
