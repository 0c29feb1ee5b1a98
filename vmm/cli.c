// SPDX-License-Identifier: GPL-2.0-only
/*
 * hvpatch: the command line.  Every command but `vm start`, `doctor`,
 * `patch methods`, `bench` and `report` is a request to a VM's service over
 * its control socket.  Exit status: 0 success, 1 failure, 2 usage.
 */
#include "config.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "bench.h"
#include "builtin.h"
#include "doctor.h"
#include "hvp_ctl.h"
#include "methods.h"
#include "patch.h"
#ifdef HVP_HAVE_REPORT
#include "report.h"
#endif
#include "util.h"
#include "vm.h"
#include "vmstate.h"

/* ---- dispatch ---- */

struct command {
	const char *group, *name;	/* name NULL: the group is the command */
	int (*fn)(int argc, char **argv);
	const char *synopsis;
};

static const struct command commands[] = {
	{ "vm", "start", cmd_vm_start, "vm start NAME [--backend kvm|qemu|libvirt [-c URI]] [--vcpus N] [--mem MiB] [--keys LIST] [--rate N|max] [--nmi-rate HZ] [--nmi-key KEY] [--fault-test[=VCPU]] [--hostile MODE]" },
	{ "vm", "attach", cmd_vm_attach, "vm attach NAME" },
	{ "vm", "list", cmd_vm_list, "vm list" },
	{ "vm", "info", cmd_vm_info, "vm info NAME" },
	{ "vm", "stop", cmd_vm_stop, "vm stop NAME" },
	{ "vm", "console", cmd_vm_console, "vm console NAME [-f]" },
	{ "sites", "list", cmd_sites, "sites list NAME [--key KEY] [--verbose]" },
	{ "stats", NULL, cmd_stats, "stats NAME" },
	{ "patch", "apply", cmd_patch_apply, "patch apply NAME KEY TARGET [--method M] [--sync kick|nmi] [--timeout MS] [--repeat N [--verify]] [--unsafe]" },
	{ "patch", "methods", cmd_patch_methods, "patch methods" },
	{ "bench", "run", cmd_bench_run, "bench run [--quick] [--out DIR] [--vcpus LIST] [--methods LIST] [--sync LIST] [--rates LIST] [--nmi-rates LIST] [--sites LIST] [--backends LIST] [--repeat N]" },
	{ "report", NULL, cmd_report, "report html|json|text|csv DIR" },
	{ "doctor", NULL, cmd_doctor, "doctor" },
};

static void usage(FILE *f, const char *group)
{
	unsigned i;

	fprintf(f, "usage: hvpatch [-j|--json] COMMAND ...\n"
		   "Live-patch static call sites inside running VMs from the hypervisor.\n\n"
		   "Commands:\n");
	for (i = 0; i < HVP_ARRAY_SIZE(commands); i++)
		if (!group || !strcmp(group, commands[i].group))
			fprintf(f, "  hvpatch %s\n", commands[i].synopsis);
	fprintf(f, "\n  -j, --json   machine-readable output; errors as {\"error\":{\"class\",\"desc\"}}\n"
		   "Every command takes --help.  Exit status: 0 success, 1 failure, 2 usage.\n"
		   "Runtime files: $HVPATCH_RUNTIME_DIR (default /run/hvpatch for root,\n"
		   "$XDG_RUNTIME_DIR/hvpatch for other users), a directory of yours, mode 0700.\n");
}

static bool simple_help(int argc, char **argv, const struct command *c)
{
	/* commands with their own --help text parse it themselves */
	if (c->fn == cmd_vm_start || c->fn == cmd_patch_apply || c->fn == cmd_bench_run ||
	    c->fn == cmd_sites || c->fn == cmd_vm_console || c->fn == cmd_report)
		return false;
	if (!cli_want_help(argc, argv))
		return false;
	printf("usage: hvpatch %s\n", c->synopsis);
	return true;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 }
	};
	const char *group;
	bool group_known = false;
	unsigned i;
	int c;

	while ((c = getopt_long(argc, argv, "+jh", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			cli_json_mode = true;
			break;
		case 'h':
			usage(stdout, NULL);
			return 0;
		case 'V':
			printf("hvpatch %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage(stderr, NULL);
			return usage_error("bad option before the command (see 'hvpatch --help')");
		}
	}
	if (optind >= argc) {
		usage(stderr, NULL);
		return usage_error("no command given");
	}
	group = argv[optind];
	for (i = 0; i < HVP_ARRAY_SIZE(commands); i++) {
		const struct command *cmd = &commands[i];

		if (strcmp(cmd->group, group))
			continue;
		group_known = true;
		if (!cmd->name) {
			argc -= optind;
			argv += optind;
			return simple_help(argc, argv, cmd) ? 0 : cmd->fn(argc, argv);
		}
		if (optind + 1 < argc && !strcmp(cmd->name, argv[optind + 1])) {
			argc -= optind + 1;
			argv += optind + 1;
			return simple_help(argc, argv, cmd) ? 0 : cmd->fn(argc, argv);
		}
	}
	if (group_known) {
		if (optind + 1 >= argc || !strcmp(argv[optind + 1], "--help") ||
		    !strcmp(argv[optind + 1], "-h")) {
			bool help = optind + 1 < argc;

			usage(help ? stdout : stderr, group);
			return help ? 0 : usage_error("'%.64s' needs a subcommand", group);
		}
		return usage_error("unknown command '%s %s' (see 'hvpatch --help')", group,
				   argv[optind + 1]);
	}
	return usage_error("unknown command '%.64s' (see 'hvpatch --help')", group);
}
