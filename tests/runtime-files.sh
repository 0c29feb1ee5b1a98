#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Runtime files are never written through a link (issue 13, items 1 and 6).
# The service runs as root, so links planted in its runtime directory, aimed
# at a file this test owns (never a real system file), must be refused or
# replaced, never followed:
#  - NAME.log as a symbolic link, then as a second hard link: vm start
#    refuses, naming the file; the victim is unchanged;
#  - NAME.pid and NAME.console as links (kvm), and NAME.journal,
#    NAME.vm.json.tmp, NAME.ram and NAME.qemu.pid too (qemu): they are
#    replaced by regular files; the victim is unchanged;
#  - every regular file in the runtime directory is mode 0600, QEMU's RAM
#    file included; vm stop removes the RAM file, and on libvirt's embedded
#    driver the libvirt-NAME/ root.
. "${top_srcdir:-.}/tests/lib.sh"
require_kvm
[ "$(id -u)" = 0 ] || { echo "1..0 # SKIP needs root: the probe is a root service"; exit 0; }

d=$HVPATCH_RUNTIME_DIR
vdir=$(mktemp -d /tmp/hvpatch-victim.XXXXXX)
trap '_tap_cleanup; rm -rf "$vdir"' EXIT
victim=$vdir/victim
echo "precious: not to be written by hvpatch" >"$victim"
want=$(sha256sum <"$victim")
victim_same() { [ "$(sha256sum <"$victim")" = "$want" ]; }
plant() { # VM SUFFIX...
	local vm=$1 s
	shift
	for s in "$@"; do rm -f "$d/$vm$s"; ln -s "$victim" "$d/$vm$s"; done
}
# Regular files in the runtime directory that are not 0600, and links.
bad_modes() { find "$d" -maxdepth 1 \( -type f ! -perm 600 -o -type l \) -printf '%m %p\n'; }

# --- kvm: the log is refused, the rest replaced ---
plant k1 .log .pid .console
out=$("$HVPATCH" vm start k1 --vcpus 1 2>&1)
tap_ok "vm start refuses a symbolic link as its log, naming it" \
	grep -q "k1.log is a symbolic link" <<<"$out" || echo "# $out"
rm -f "$d/k1.log"
ln "$victim" "$d/k1.log"
out=$("$HVPATCH" vm start k1 --vcpus 1 2>&1)
tap_ok "vm start refuses a second hard link as its log, naming it" \
	grep -q "k1.log is not a regular file of yours with one link" <<<"$out" || echo "# $out"
rm -f "$d/k1.log"
tap_ok "vm start k1 with NAME.pid and NAME.console planted as links" \
	"$HVPATCH" vm start k1 --vcpus 1
tap_ok "the victim is unchanged" victim_same
tap_ok "k1.pid and k1.console are regular files now" test -f "$d/k1.pid" -a ! -L "$d/k1.pid" \
	-a -f "$d/k1.console" -a ! -L "$d/k1.console"
tap_is "k1.pid holds the service's pid" "$("$HVPATCH" -j vm info k1 | jq .pid)" "$(cat "$d/k1.pid")"
tap_is "every runtime file is 0600, none a link" "" "$(bad_modes)"
tap_ok "vm stop k1" "$HVPATCH" vm stop k1

# --- qemu: its journal, state file, RAM file and QEMU's pid file too ---
if command -v qemu-system-x86_64 >/dev/null; then
	plant q1 .log .pid .console .journal .vm.json.tmp .ram .qemu.pid
	rm -f "$d/q1.log"
	tap_ok "vm start q1 --backend qemu with 7 of its files planted as links" \
		"$HVPATCH" vm start q1 --backend qemu --vcpus 1 --timeout 120
	tap_ok "the victim is unchanged" victim_same
	ram=$("$HVPATCH" -j vm info q1 | jq -r .ram_path)
	tap_is "QEMU's RAM file is a regular file, mode 600" "600 regular file" \
		"$(stat -c '%a %F' "$ram")"
	tap_is "every runtime file is 0600, none a link" "" "$(bad_modes)"
	tap_ok "vm stop q1" "$HVPATCH" vm stop q1
	tap_ok "the RAM file is gone" test ! -e "$ram"
else
	echo "# qemu-system-x86_64 not installed: the qemu part is skipped"
fi

# --- libvirt's embedded driver: its root goes with the VM ---
if command -v qemu-system-x86_64 >/dev/null &&
	grep -q "define HVP_HAVE_LIBVIRT 1" "$top_builddir/config.h"; then
	if tap_ok "vm start l1 --backend libvirt (embedded driver)" \
		"$HVPATCH" vm start l1 --backend libvirt --vcpus 1 --timeout 120; then
		ram=$("$HVPATCH" -j vm info l1 | jq -r .ram_path)
		tap_is "libvirt-l1/ is a directory, mode 700" "700 directory" \
			"$(stat -c '%a %F' "$d/libvirt-l1")"
		tap_is "the domain's RAM file is mode 600" 600 "$(stat -c %a "$ram")"
		tap_is "every runtime file is 0600, none a link" "" "$(bad_modes)"
		tap_ok "vm stop l1" "$HVPATCH" vm stop l1
		tap_ok "libvirt-l1/ is gone after vm stop" test ! -e "$d/libvirt-l1"
	fi
else
	echo "# the libvirt backend is not built here: the libvirt part is skipped"
fi
tap_done
