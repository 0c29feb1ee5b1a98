#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# The libvirt backend:
#  - on libvirt's embedded QEMU driver (the default URI, no daemon): the core
#    matrix of tests/backend-lib.sh;
#  - on a libvirtd this test starts (unless one runs already), with
#    -c qemu:///system: virsh, a client we did not write, sees the domain
#    running; it is patched with stop and bp-emulate, and the RAM file holds
#    the new call; vm stop removes the domain.
. "${top_srcdir:-.}/tests/lib.sh"
. "${top_srcdir:-.}/tests/backend-lib.sh"
require_kvm
command -v qemu-system-x86_64 >/dev/null && command -v virsh >/dev/null &&
	command -v libvirtd >/dev/null ||
	{ echo "1..0 # SKIP QEMU or libvirt not installed (./quickstart installs them)"; exit 0; }
if ! grep -q "define HVP_HAVE_LIBVIRT 1" "$top_builddir/config.h"; then
	echo "1..0 # SKIP the libvirt backend is not built (no libvirt-dev at configure time)"
	exit 0
fi

# --- embedded driver ---
backend_core l1 libvirt
tap_is "l1: 0 guest faults after all of it" 0 "$(faults l1)"
tap_ok "l1: vm stop" "$HVPATCH" vm stop l1
tap_ok "l1: the domain's RAM file is gone after vm stop" test ! -e "$RAM"

# --- a libvirtd of our own (shared/PLATFORM.md: what it needs here) ---
started_libvirtd=
if ! virsh -c qemu:///system version >/dev/null 2>&1; then
	if [ ! -e /etc/libvirt/qemu.conf ]; then
		mkdir -p /etc/libvirt
		cat >/etc/libvirt/qemu.conf <<-'CONF'
		# written by hvpatch's tests/backend-libvirt.sh (see shared/PLATFORM.md)
		user = "root"
		group = "root"
		dynamic_ownership = 0
		security_driver = "none"
		stdio_handler = "file"
		CONF
	fi
	mkdir -p /var/log/libvirt /var/run/libvirt
	libvirtd -d
	for i in $(seq 1 100); do
		virsh -c qemu:///system version >/dev/null 2>&1 && break
		sleep 0.2
	done
	started_libvirtd=$(cat /var/run/libvirtd.pid 2>/dev/null)
fi
tap_ok "libvirtd answers on qemu:///system" virsh -c qemu:///system version
if tap_ok "vm start d1 --backend libvirt -c qemu:///system" \
	"$HVPATCH" vm start d1 --backend libvirt -c qemu:///system --vcpus 2 --keys single,small \
	--timeout 120; then
	tap_ok "virsh -c qemu:///system list shows hvpatch-d1 running" \
		grep -Eq "hvpatch-d1[[:space:]]+running" <<<"$(virsh -c qemu:///system list)"
	for method in stop bp-emulate; do
		cur=$(current d1 single)
		if [ "$cur" = single_a ]; then new=single_c; else new=single_a; fi
		out=$(patch d1 single "$new" --method "$method" --sync kick)
		tap_is "d1: $method to $new: completed, 0 faults" "true 0" \
			"$(jq -r '"\(.completed) \(.faults)"' <<<"$out")"
		tap_ok "d1: counters prove the switch to $new" switch_proven d1 single "$new" "$cur"
	done
	ram=$("$HVPATCH" -j vm info d1 | jq -r .ram_path)
	site=$("$HVPATCH" -j sites list d1 | jq -r '.keys[] | select(.name=="single") | .sites[0].addr')
	tap_is "d1: the RAM file at $site holds call $new" "e8 $(sym "$new")" "$(ram_insn "$ram" "$site")"
	tap_is "d1: 0 guest faults" 0 "$(faults d1)"
	tap_ok "d1: vm stop" "$HVPATCH" vm stop d1
	tap_ok "virsh no longer lists hvpatch-d1" \
		sh -c '! virsh -c qemu:///system list --all | grep -q hvpatch-d1'
fi
[ -n "$started_libvirtd" ] && kill "$started_libvirtd" 2>/dev/null
tap_done
