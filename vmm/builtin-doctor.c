// SPDX-License-Identifier: GPL-2.0-only
/* hvpatch doctor: what this host offers. */
#include "config.h"

#include <getopt.h>
#include <string.h>

#include <json-c/json.h>

#include "builtin.h"
#include "doctor.h"
#include "hvp_ctl.h"

const char cmd_doctor_help[] =
	"usage: hvpatch doctor\n"
	"What this host offers hvpatch, read and probed (no VM of yours is touched):\n"
	"  host             kernel, cores, CPU\n"
	"  kvm_module       the KVM module loaded (kvm_intel, kvm_amd, kvm_pvm or none)\n"
	"  kvm_device       whether /dev/kvm opens read-write here and, if not, why\n"
	"  kvm_caps         the KVM capabilities the own VMM uses\n"
	"  probes           throwaway guests that try int3 in guest kernel and user mode,\n"
	"                   and KVM's software breakpoints (skipped without /dev/kvm)\n"
	"  nmi_path         how the guest calls a key from its NMI handler\n"
	"  tools            QEMU, libvirt (and its cgroups), bpf, tracefs\n"
	"Exit status 0 whatever it finds: read kvm_device and probes.\n";

CLI_CMD(cmd_doctor)
{
	json_object *o;
	int r;

	optind = 1;
	if ((r = cli_positional(argc, argv, 0, "")))
		return r;
	r = hvp_doctor_run(&o);
	if (r < 0)
		return cli_fail(HVP_ERR_INTERNAL, "doctor: %s", strerror(-r));
	cli_print_answer(o);
	json_object_put(o);
	return 0;
}
