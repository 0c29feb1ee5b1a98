// SPDX-License-Identifier: GPL-2.0-only
/* hvpatch vm start, attach, list, info, stop, console: a VM's life. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "builtin.h"
#include "hvp_agent.h"
#include "hvp_ctl.h"
#include "util.h"
#include "vm.h"
#include "vmstate.h"

static const char vm_start_help[] =
	"usage: hvpatch vm start NAME [options]\n"
	"Boot a VM running the hvpatch guest agent and its patch service, in the\n"
	"background; returns once the agent reports ready.\n"
	"  --vcpus N            vCPUs, 1 to 64 (default 2)\n"
	"  --mem MiB            guest RAM, 16 to 4096 (default 64)\n"
	"  --keys LIST          comma list of static call keys the workloads call\n"
	"                       (default: all; see 'hvpatch sites list')\n"
	"  --rate N|max         workload passes per second per vCPU (default max: a tight loop)\n"
	"  --nmi-rate HZ        inject NMIs into every vCPU at this rate (0 to 100000)\n"
	"  --nmi-key KEY        the guest's NMI path calls KEY's sites (user-mode upcall)\n"
	"  --fault-test[=VCPU]  that vCPU's workload executes ud2 (default vCPU 0): a\n"
	"                       deliberate fault, to see it reported\n"
	"  --hostile MODE       test only: the agent attacks the service through its agent\n"
	"                       area (MODE: see tests/hostile.sh; 'list' prints them)\n"
	"  --image PATH         guest ELF (default: $HVPATCH_GUEST, else next to hvpatch)\n"
	"  --backend NAME       kvm: the own KVM VMM (default); qemu: QEMU microvm launched\n"
	"                       by the service; libvirt: a libvirt domain (see -c)\n"
	"  -c, --connect URI    libvirt URI (default qemu:///embed?root=RUNDIR/libvirt-NAME:\n"
	"                       libvirt's embedded driver, no daemon needed)\n"
	"  --timeout SEC        how long to wait for the agent (default 60)\n"
	"Runtime files go to $HVPATCH_RUNTIME_DIR (default /run/hvpatch for root,\n"
	"$XDG_RUNTIME_DIR/hvpatch for other users): a directory of yours, mode 0700.\n";

int cmd_vm_attach(int argc, char **argv)
{
	struct hvp_vm_opts o;
	json_object *res;
	int r;

	optind = 1;
	if ((r = cli_positional(argc, argv, 1, "the VM's NAME")))
		return r;
	if (!hvp_name_valid(argv[optind]))
		return usage_error("'%s' is not a valid VM name", argv[optind]);
	if ((r = cli_rundir_ok()))
		return r;
	if (hvp_vmstate_alive(hvp_rundir(), argv[optind])) {
		r = cli_call_service(argv[optind], "info", NULL, 5000, &res);
		if (r)
			return r;
		json_object_put(res);
		if (cli_json_mode)
			printf("{\"attached\":\"%s\",\"already\":true}\n", argv[optind]);
		else
			printf("VM %s: its service is running\n", argv[optind]);
		return 0;
	}
	r = hvp_vmstate_read(hvp_rundir(), argv[optind], &o);
	if (r == -ENOENT)
		return cli_fail(HVP_ERR_NOT_FOUND, "no qemu or libvirt VM named '%s' to attach to",
			    argv[optind]);
	if (r < 0)
		return cli_fail(HVP_ERR_INTERNAL, "VM %s: its state file is unreadable", argv[optind]);
	r = cli_spawn_service(&o, 120);
	if (r)
		return r;
	if (cli_json_mode)
		printf("{\"attached\":\"%s\"}\n", o.name);
	else
		printf("VM %s: attached a new service to its %s VM (journal replayed if needed)\n",
		       o.name, o.backend);
	return 0;
}

int cmd_vm_start(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "vcpus", required_argument, NULL, 'v' },
		{ "mem", required_argument, NULL, 'm' },
		{ "keys", required_argument, NULL, 'k' },
		{ "rate", required_argument, NULL, 'r' },
		{ "nmi-rate", required_argument, NULL, 'n' },
		{ "nmi-key", required_argument, NULL, 'N' },
		{ "fault-test", optional_argument, NULL, 'f' },
		{ "hostile", required_argument, NULL, 'H' },
		{ "image", required_argument, NULL, 'i' },
		{ "backend", required_argument, NULL, 'b' },
		{ "connect", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct hvp_vm_opts o = { 0 };
	const char *image = NULL;
	uint64_t v, timeout = 60;
	int c, r;

	o.vcpus = HVP_VM_DEF_VCPUS;
	o.mem_mib = HVP_VM_DEF_MEM_MIB;
	snprintf(o.backend, sizeof(o.backend), "kvm");
	optind = 0;
	while ((c = getopt_long(argc, argv, "hc:", opts, NULL)) != -1) {
		switch (c) {
		case 'v':
			if (cli_parse_u64("--vcpus", optarg, HVP_VM_MIN_VCPUS, HVP_VM_MAX_VCPUS, &v))
				return EXIT_USAGE;
			o.vcpus = (unsigned)v;
			break;
		case 'm':
			if (cli_parse_u64("--mem", optarg, HVP_VM_MIN_MEM_MIB, HVP_VM_MAX_MEM_MIB, &v))
				return EXIT_USAGE;
			o.mem_mib = (unsigned)v;
			break;
		case 'k':
			if (strlen(optarg) >= sizeof(o.keys) || strspn(optarg,
			    "abcdefghijklmnopqrstuvwxyz0123456789_,") != strlen(optarg) || !*optarg ||
			    optarg[0] == ',' || optarg[strlen(optarg) - 1] == ',' ||
			    strstr(optarg, ",,"))
				return usage_error("--keys: '%.64s' is not a comma list of key names",
						   optarg);
			snprintf(o.keys, sizeof(o.keys), "%s", optarg);
			break;
		case 'r':
			if (!strcmp(optarg, "max"))
				o.rate = 0;
			else if (cli_parse_u64("--rate", optarg, 1, 1000000000, &o.rate))
				return EXIT_USAGE;
			break;
		case 'n':
			if (cli_parse_u64("--nmi-rate", optarg, 0, 100000, &o.nmi_rate))
				return EXIT_USAGE;
			break;
		case 'N':
			if (strlen(optarg) >= sizeof(o.nmi_key) || !*optarg ||
			    strspn(optarg, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(optarg))
				return usage_error("--nmi-key: '%.64s' is not a key name", optarg);
			snprintf(o.nmi_key, sizeof(o.nmi_key), "%s", optarg);
			break;
		case 'f':
			o.fault_test = 1;
			o.fault_vcpu = 0;
			if (optarg) {
				if (cli_parse_u64("--fault-test", optarg, 0, HVP_VM_MAX_VCPUS - 1, &v))
					return EXIT_USAGE;
				o.fault_vcpu = (unsigned)v;
			}
			break;
		case 'H':
			if (!strcmp(optarg, "list")) {
				for (r = 1; r < HVP_HOSTILE__COUNT; r++)
					printf("%s\n", hvp_hostile_names[r]);
				return 0;
			}
			r = hvp_hostile_by_name(optarg);
			if (r < 0)
				return usage_error("--hostile: unknown mode '%.64s' ('--hostile list' "
						   "prints them)", optarg);
			o.hostile = (uint32_t)r;
			break;
		case 'i':
			image = optarg;
			break;
		case 'b':
			if (strcmp(optarg, "kvm") && strcmp(optarg, "qemu") && strcmp(optarg, "libvirt"))
				return usage_error("--backend %s: not a backend (kvm, qemu or libvirt)",
						   optarg);
			snprintf(o.backend, sizeof(o.backend), "%s", optarg);
			break;
		case 'c':
			if (!*optarg || strlen(optarg) >= sizeof(o.uri))
				return usage_error("-c: '%s' is not a libvirt URI", optarg);
			snprintf(o.uri, sizeof(o.uri), "%s", optarg);
			break;
		case 't':
			if (cli_parse_u64("--timeout", optarg, 1, 3600, &timeout))
				return EXIT_USAGE;
			break;
		case 'h':
			fputs(vm_start_help, stdout);
			return 0;
		default:
			return usage_error("vm start: bad option (see 'hvpatch vm start --help')");
		}
	}
	if ((r = cli_positional(argc, argv, 1, "the VM's NAME")))
		return r;
	if (!hvp_name_valid(argv[optind]))
		return usage_error("'%.64s' is not a valid VM name: 1 to %d of [A-Za-z0-9_.-], starting "
				   "with a letter or digit", argv[optind], HVP_VM_NAME_MAX);
	snprintf(o.name, sizeof(o.name), "%s", argv[optind]);
	if (o.uri[0] && strcmp(o.backend, "libvirt"))
		return usage_error("-c URI is for --backend libvirt");
	if (o.fault_test && o.fault_vcpu >= o.vcpus)
		return usage_error("--fault-test=%u: the VM has %u vCPUs", o.fault_vcpu, o.vcpus);
	snprintf(o.rundir, sizeof(o.rundir), "%s", hvp_rundir());
	{
		char err[PATH_MAX + 256];

		if (hvp_rundir_ensure(o.rundir, err, sizeof(err)) < 0)
			return cli_fail(HVP_ERR_REFUSED, "%s", err);
	}
	if ((r = cli_find_image(o.image, sizeof(o.image), image)))
		return r;
	if (hvp_vmstate_alive(o.rundir, o.name))
		return cli_fail(HVP_ERR_REFUSED, "VM %s already exists", o.name);
	{
		/* A qemu/libvirt VM of that name whose service died is still
		 * running: take it over rather than start a second one. */
		struct hvp_vm_opts old;

		if (hvp_vmstate_read(o.rundir, o.name, &old) == 0) {
			if (cli_try_attach(o.name) == 0)
				return cli_fail(HVP_ERR_REFUSED, "VM %s already exists (its service had "
					    "died; a new one is attached)", o.name);
			/* gone for good: its state is stale */
			hvp_vmstate_remove(o.rundir, o.name);
		}
	}
	if ((r = cli_spawn_service(&o, (int)timeout)))
		return r;
	if (cli_json_mode) {
		json_object *res;

		r = cli_call_service(o.name, "info", NULL, 5000, &res);
		if (r)
			return r;
		cli_print_json(res);
		json_object_put(res);
	} else {
		printf("VM %s started: %u vCPUs, %u MiB, socket %s/%s.sock\n", o.name, o.vcpus,
		       o.mem_mib, o.rundir, o.name);
	}
	return 0;
}

int cmd_vm_list(int argc, char **argv)
{
	json_object *all;
	struct dirent *de;
	DIR *d;
	int r;

	optind = 1;
	if ((r = cli_positional(argc, argv, 0, "")) || (r = cli_rundir_ok()))
		return r;
	all = json_object_new_array();
	d = opendir(hvp_rundir());
	while (d && (de = readdir(d))) {
		size_t n = strlen(de->d_name);
		char name[NAME_MAX + 1], path[PATH_MAX];
		json_object *resp = NULL, *res;

		if (n < 6 || strcmp(de->d_name + n - 5, ".sock"))
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)(n - 5), de->d_name);
		if (!hvp_name_valid(name) ||
		    hvp_vm_path(path, sizeof(path), hvp_rundir(), name, ".sock") < 0)
			continue;
		if (hvp_ctl_call(path, "info", NULL, 2000, &resp) == 0 &&
		    json_object_object_get_ex(resp, "result", &res)) {
			json_object_array_add(all, json_object_get(res));
		} else if (!cli_json_mode) {
			printf("%-16s (stale: nobody answers on %s)\n", name, path);
		}
		json_object_put(resp);
	}
	if (d)
		closedir(d);
	if (cli_json_mode) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "vms", all);
		cli_print_json(o);
		json_object_put(o);
		return 0;
	}
	if (json_object_array_length(all))
		printf("%-16s %-8s %5s %8s %-9s\n", "NAME", "BACKEND", "VCPUS", "PID", "STATE");
	for (size_t i = 0; i < json_object_array_length(all); i++) {
		json_object *v = json_object_array_get_idx(all, i), *f[5];
		static const char *const k[] = { "name", "backend", "vcpus", "pid", "state" };
		unsigned j;

		for (j = 0; j < 5; j++)
			json_object_object_get_ex(v, k[j], &f[j]);
		printf("%-16s %-8s %5d %8d %-9s\n", json_object_get_string(f[0]),
		       json_object_get_string(f[1]), json_object_get_int(f[2]),
		       json_object_get_int(f[3]), json_object_get_string(f[4]));
	}
	json_object_put(all);
	return 0;
}

int cmd_vm_info(int argc, char **argv)
{
	json_object *res;
	int r;

	optind = 1;
	if ((r = cli_positional(argc, argv, 1, "the VM's NAME")))
		return r;
	r = cli_call_service(argv[optind], "info", NULL, 5000, &res);
	if (r)
		return r;
	if (cli_json_mode)
		cli_print_json(res);
	else
		cli_print_tree(res, 0);
	json_object_put(res);
	return 0;
}

int cmd_vm_stop(int argc, char **argv)
{
	json_object *res, *jpid;
	const char *name;
	char path[PATH_MAX];
	pid_t pid = 0;
	int r, i;

	optind = 1;
	if ((r = cli_positional(argc, argv, 1, "the VM's NAME")))
		return r;
	name = argv[optind];
	r = cli_call_service(name, "info", NULL, 5000, &res);
	if (r)
		return r;
	if (json_object_object_get_ex(res, "pid", &jpid))
		pid = (pid_t)json_object_get_int(jpid);
	json_object_put(res);
	r = cli_call_service(name, "stop", NULL, 10000, &res);
	if (r)
		return r;
	json_object_put(res);
	/* The service answers, then tears the VM down: wait for it to go. */
	for (i = 0; pid > 0 && i < 1000 && !hvp_proc_gone(pid); i++) {
		struct timespec ts = { 0, 10000000 };

		waitpid(pid, NULL, WNOHANG);
		nanosleep(&ts, NULL);
	}
	if (pid > 0 && !hvp_proc_gone(pid))
		kill(pid, SIGKILL);
	if (hvp_vm_path(path, sizeof(path), hvp_rundir(), name, ".sock") == 0)
		unlink(path);
	if (hvp_vm_path(path, sizeof(path), hvp_rundir(), name, ".pid") == 0)
		unlink(path);
	if (cli_json_mode)
		printf("{\"stopped\":\"%s\"}\n", name);
	else
		printf("VM %s stopped\n", name);
	return 0;
}

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

int cmd_vm_console(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	char path[PATH_MAX], sock[PATH_MAX], buf[4096];
	bool follow = false;
	int c, fd, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
		if (c == 'f')
			follow = true;
		else if (c == 'h')
			return printf("usage: hvpatch vm console NAME [-f|--follow]\n"
				      "Print the guest's serial console; --follow keeps printing "
				      "until the VM stops or ^C.\n") < 0;
		else
			return usage_error("vm console: bad option");
	}
	if ((r = cli_positional(argc, argv, 1, "the VM's NAME")))
		return r;
	if (!hvp_name_valid(argv[optind]))
		return usage_error("'%.64s' is not a valid VM name", argv[optind]);
	if (hvp_vm_path(path, sizeof(path), hvp_rundir(), argv[optind], ".console") < 0 ||
	    hvp_vm_path(sock, sizeof(sock), hvp_rundir(), argv[optind], ".sock") < 0)
		return usage_error("runtime directory path too long");
	if ((r = cli_rundir_ok()))
		return r;
	{
		char err[PATH_MAX + 128];

		fd = hvp_runfile_open(path, HVP_RUNFILE_READ, err, sizeof(err));
		if (fd < 0)
			return cli_fail(HVP_ERR_NOT_FOUND, "no console for VM %s (%s)", argv[optind], err);
	}
	signal(SIGINT, on_sigint);
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n > 0) {
			fwrite(buf, 1, (size_t)n, stdout);
			continue;
		}
		if (!follow || interrupted || access(sock, F_OK) < 0)
			break;
		fflush(stdout);
		usleep(200000);
	}
	close(fd);
	return 0;
}
