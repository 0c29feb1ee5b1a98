#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# A host without a usable /dev/kvm (a kvm_pvm kernel that is itself a PVM
# guest binds no device; a VM without nested virtualization has no VMX/SVM):
# vm start on each local backend fails at once with exit status 1 and a
# reason that names /dev/kvm, leaves no service, socket or pid file behind,
# and a second start of the same name says the same; doctor names the reason
# in kvm_device and skips its probes.
# Where /dev/kvm works the test hides it: as root, in a mount namespace of
# its own whose /dev holds only null, zero, random and urandom (unshare -m);
# elsewhere it is a TAP skip.
. "${top_srcdir:-.}/tests/lib.sh"

run=("$HVPATCH")
if have_kvm; then
	if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null; then
		echo "1..0 # SKIP /dev/kvm works here, and hiding it needs root and unshare"
		exit 0
	fi
	dev=$(mktemp -d /tmp/hvpatch-nokvm.XXXXXX)
	trap '_tap_cleanup; rm -rf "$dev"' EXIT
	for d in null zero random urandom; do : >"$dev/$d"; done
	# the same binary, in a namespace where /dev is $dev with the four bound in
	run=(unshare -m sh -c 'd=$1; shift
		for n in null zero random urandom; do mount --bind /dev/$n "$d/$n" || exit 97; done
		mount --bind "$d" /dev || exit 97
		exec "$@"' sh "$dev" "$HVPATCH")
	out=$("${run[@]}" doctor 2>&1)
	if [ $? = 97 ]; then
		echo "1..0 # SKIP cannot bind-mount over /dev here: $out"
		exit 0
	fi
fi
echo "1..11"

for b in kvm qemu libvirt; do
	if [ "$b" = libvirt ] && ! grep -q '^#define HVP_HAVE_LIBVIRT 1' "$top_builddir/config.h"; then
		tap_ok "libvirt: vm start # SKIP the libvirt backend is not built here" true
		tap_ok "libvirt: a second start # SKIP the libvirt backend is not built here" true
		continue
	fi
	out=$("${run[@]}" vm start "nk$b" --backend "$b" --vcpus 1 2>&1)
	rc=$?
	tap_is "$b: vm start fails with exit status 1, saying why ($out)" "1 yes" \
		"$rc $(grep -q 'no /dev/kvm\|/dev/kvm is not read-write' <<<"$out" && echo yes)"
	out2=$("${run[@]}" vm start "nk$b" --backend "$b" --vcpus 1 2>&1)
	tap_is "$b: a second start of the same name says the same" "$out" "$out2"
done
tap_is "no service, socket or pid file is left" "" \
	"$(cd "$HVPATCH_RUNTIME_DIR" && ls -A | grep -E '\.(sock|pid|qmp)$')"
tap_is "vm list shows no VM" "" "$("${run[@]}" -j vm list 2>&1 | jq -r '.vms[]?.name // empty' 2>&1)"

doc=$("${run[@]}" -j doctor 2>&1)
tap_ok "doctor names the reason in kvm_device" \
	jq -e '.kvm_device | test("no /dev/kvm|not read-write")' <<<"$doc" ||
	diag_json doctor "$doc"
tap_ok "doctor skips its probes, pointing at kvm_device" \
	jq -e '.probes.skipped | test("kvm_device")' <<<"$doc"
tap_ok "doctor still reports the tools" jq -e '.tools.qemu | type == "string"' <<<"$doc"
