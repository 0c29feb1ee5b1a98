// SPDX-License-Identifier: GPL-2.0-only
/*
 * hvpatch: the command line's global options and its one command table;
 * each command group lives in a builtin-*.c.  Every command but `vm start`,
 * `doctor`, `patch methods`, `bench` and `report` is a request to a VM's
 * service over its control socket.  Exit status: 0 success, 1 failure,
 * 2 usage.
 */
#include "config.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "util.h"

static const struct cli_cmd commands[] = {
	{ "vm", "start", cmd_vm_start,
	  "vm start NAME [--backend kvm|qemu|libvirt [-c URI]] [--vcpus N] [--mem MiB] [--keys LIST] [--rate N|max] [--nmi-rate HZ] [--nmi-key KEY] [--fault-test[=VCPU]] [--hostile MODE]",
	  cmd_vm_start_help, cmd_vm_start_opts },
	{ "vm", "attach", cmd_vm_attach, "vm attach NAME" },
	{ "vm", "list", cmd_vm_list, "vm list" },
	{ "vm", "info", cmd_vm_info, "vm info NAME" },
	{ "vm", "stop", cmd_vm_stop, "vm stop NAME" },
	{ "vm", "console", cmd_vm_console, "vm console NAME [-f]", cmd_vm_console_help,
	  cmd_vm_console_opts },
	{ "vm", "request", cmd_vm_request, "vm request NAME CMD [ARGS-JSON] [--timeout MS]",
	  cmd_vm_request_help, cmd_vm_request_opts },
	{ "sites", "list", cmd_sites, "sites list NAME [--key KEY] [--verbose]", cmd_sites_help,
	  cmd_sites_opts },
	{ "stats", NULL, cmd_stats, "stats NAME" },
	{ "patch", "apply", cmd_patch_apply,
	  "patch apply NAME KEY TARGET [--method M|auto [--prefer stall|latency]] [--sync kick|nmi] [--timeout MS] [--verify] [--repeat N] [--unsafe]",
	  cmd_patch_apply_help, cmd_patch_apply_opts },
	{ "patch", "plan", cmd_patch_plan,
	  "patch plan NAME KEY TARGET [--timeout MS] [--prefer stall|latency] [--sync kick|nmi]",
	  cmd_patch_plan_help, cmd_patch_plan_opts },
	{ "patch", "methods", cmd_patch_methods, "patch methods" },
	{ "rollout", NULL, cmd_rollout,
	  "rollout KEY TARGET [--vms NAME,...|--all] [--hosts H1,H2,...] [--canary N] [--wave-size M] [--max-parallel P] [--gate faults=N|stall-p99=MS|verify]... [--revert wave|all] [--method M] [--sync kick|nmi] [--timeout MS]",
	  cmd_rollout_help, cmd_rollout_opts },
	{ "bench", "run", cmd_bench_run,
	  "bench run [--quick] [--out DIR] [--vcpus LIST] [--methods LIST] [--sync LIST] [--rates LIST] [--nmi-rates LIST] [--sites LIST] [--backends LIST] [--repeat N] [--unsafe]",
	  cmd_bench_run_help, cmd_bench_run_opts },
	{ "report", NULL, cmd_report, "report html|json|text|csv DIR", cmd_report_help },
	{ "doctor", NULL, cmd_doctor, "doctor", cmd_doctor_help },
};

static void usage(FILE *f, const char *group)
{
	unsigned i;

	fprintf(f, "usage: hvpatch [-j|--json] [-H|--host URI] COMMAND ...\n"
		   "Live-patch static call sites inside running VMs from the hypervisor.\n\n"
		   "Commands:\n");
	for (i = 0; i < HVP_ARRAY_SIZE(commands); i++)
		if (!group || !strcmp(group, commands[i].group))
			fprintf(f, "  hvpatch %s\n", commands[i].synopsis);
	fprintf(f,
		"\n  -j, --json      machine-readable output; errors as {\"error\":{\"class\",\"desc\"}}\n"
		"  -H, --host URI  run the command on the VMs of another host, through its hvpatch\n"
		"                  over ssh: URI is ssh://[user@]host[:port] ($HVPATCH_HOST too)\n"
		"Every command takes --help.  Exit status: 0 success, 1 failure, 2 usage.\n"
		"Runtime files: $HVPATCH_RUNTIME_DIR (default /run/hvpatch for root,\n"
		"$XDG_RUNTIME_DIR/hvpatch for other users), a directory of yours, mode 0700.\n");
}

/* Run cmd on argv (from its own name on). */
static int run(const struct cli_cmd *cmd, int argc, char **argv)
{
	int i;

	/* a command with options answers --help as it parses them */
	if (!cmd->opts && cli_want_help(argc, argv)) {
		cli_print_help(cmd);
		return 0;
	}
	/* and getopt drops the "--" that ends them: so do we for the others */
	for (i = 1; !cmd->opts && i < argc && strcmp(argv[i], "--"); i++)
		;
	if (!cmd->opts && i < argc) {
		memmove(&argv[i], &argv[i + 1], (size_t)(argc - i) * sizeof(*argv));
		argc--;
	}
	return cmd->fn(cmd, argc, argv);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = { { "json", no_argument, NULL, 'j' },
					      { "help", no_argument, NULL, 'h' },
					      { "version", no_argument, NULL, 'V' },
					      { "host", required_argument, NULL, 'H' },
					      { 0 } };
	const char *group, *host = getenv("HVPATCH_HOST");
	bool group_known = false, host_opt = false;
	unsigned i;
	int c;

	while ((c = getopt_long(argc, argv, "+jhH:", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			cli_json_mode = true;
			break;
		case 'h':
			usage(stdout, NULL);
			return 0;
		case 'H':
			host = optarg;
			host_opt = true; /* -H '' is an error; HVPATCH_HOST= is this host */
			break;
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
	/* the remote hvpatch knows its commands: it may be newer than this one */
	if (host_opt || (host && host[0]))
		return cli_remote(host, argv + optind);
	group = argv[optind];
	for (i = 0; i < HVP_ARRAY_SIZE(commands); i++) {
		const struct cli_cmd *cmd = &commands[i];

		if (strcmp(cmd->group, group))
			continue;
		group_known = true;
		if (!cmd->name) {
			argc -= optind;
			argv += optind;
			return run(cmd, argc, argv);
		}
		if (optind + 1 < argc && !strcmp(cmd->name, argv[optind + 1])) {
			argc -= optind + 1;
			argv += optind + 1;
			return run(cmd, argc, argv);
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
