// SPDX-License-Identifier: GPL-2.0-only
/* hvpatch vm start, attach, list, info, stop, console, request: a VM's life. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "backends.h"
#include "builtin.h"
#include "hvp_agent.h"
#include "hvp_ctl.h"
#include "util.h"
#include "vm.h"
#include "vmstate.h"

const char cmd_vm_start_help[] =
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

CLI_CMD(cmd_vm_attach)
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
		return cli_fail(HVP_ERR_INTERNAL, "VM %s: its state file is unreadable",
				argv[optind]);
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

enum {
	START_VCPUS,
	START_MEM,
	START_KEYS,
	START_RATE,
	START_NMI_RATE,
	START_NMI_KEY,
	START_FAULT_TEST,
	START_HOSTILE,
	START_IMAGE,
	START_BACKEND,
	START_CONNECT,
	START_TIMEOUT,
};

const struct cli_opt cmd_vm_start_opts[] = {
	[START_VCPUS] = { "vcpus", 0, CLI_OPT_NUM, HVP_VM_MIN_VCPUS, HVP_VM_MAX_VCPUS },
	[START_MEM] = { "mem", 0, CLI_OPT_NUM, HVP_VM_MIN_MEM_MIB, HVP_VM_MAX_MEM_MIB },
	[START_KEYS] = { "keys", 0, CLI_OPT_STR },
	[START_RATE] = { "rate", 0, CLI_OPT_STR }, /* N or max */
	[START_NMI_RATE] = { "nmi-rate", 0, CLI_OPT_NUM, 0, 100000 },
	[START_NMI_KEY] = { "nmi-key", 0, CLI_OPT_STR },
	[START_FAULT_TEST] = { "fault-test", 0, CLI_OPT_NUM_OPTIONAL, 0, HVP_VM_MAX_VCPUS - 1 },
	[START_HOSTILE] = { "hostile", 0, CLI_OPT_STR },
	[START_IMAGE] = { "image", 0, CLI_OPT_STR },
	[START_BACKEND] = { "backend", 0, CLI_OPT_STR },
	[START_CONNECT] = { "connect", 'c', CLI_OPT_STR },
	[START_TIMEOUT] = { "timeout", 0, CLI_OPT_NUM, 1, 3600 },
	{ NULL }
};

struct start_args {
	struct hvp_vm_opts o;
	const char *image;
	uint64_t timeout;
};

static int start_set(void *ctx, unsigned opt, const char *arg, uint64_t num)
{
	struct start_args *a = ctx;
	struct hvp_vm_opts *o = &a->o;
	int r;

	switch (opt) {
	case START_VCPUS:
		o->vcpus = (unsigned)num;
		break;
	case START_MEM:
		o->mem_mib = (unsigned)num;
		break;
	case START_KEYS:
		if (strlen(arg) >= sizeof(o->keys) ||
		    strspn(arg, "abcdefghijklmnopqrstuvwxyz0123456789_,") != strlen(arg) || !*arg ||
		    arg[0] == ',' || arg[strlen(arg) - 1] == ',' || strstr(arg, ",,"))
			return usage_error("--keys: '%.64s' is not a comma list of key names", arg);
		snprintf(o->keys, sizeof(o->keys), "%s", arg);
		break;
	case START_RATE:
		if (!strcmp(arg, "max"))
			o->rate = 0;
		else if (cli_parse_u64("--rate", arg, 1, 1000000000, &o->rate))
			return EXIT_USAGE;
		break;
	case START_NMI_RATE:
		o->nmi_rate = num;
		break;
	case START_NMI_KEY:
		if (strlen(arg) >= sizeof(o->nmi_key) || !*arg ||
		    strspn(arg, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(arg))
			return usage_error("--nmi-key: '%.64s' is not a key name", arg);
		snprintf(o->nmi_key, sizeof(o->nmi_key), "%s", arg);
		break;
	case START_FAULT_TEST:
		o->fault_test = 1;
		o->fault_vcpu = (unsigned)num; /* no VCPU: 0 */
		break;
	case START_HOSTILE:
		if (!strcmp(arg, "list")) {
			for (r = 1; r < HVP_HOSTILE__COUNT; r++)
				printf("%s\n", hvp_hostile_names[r]);
			return CLI_DONE;
		}
		r = hvp_hostile_by_name(arg);
		if (r < 0)
			return usage_error("--hostile: unknown mode '%.64s' ('--hostile list' "
					   "prints them)",
					   arg);
		o->hostile = (uint32_t)r;
		break;
	case START_IMAGE:
		a->image = arg;
		break;
	case START_BACKEND:
		if (!hvp_backend_kind_by_name(arg)) {
			char list[64];

			return usage_error("--backend %s: not a backend (%s)", arg,
					   hvp_backend_kind_list(list, sizeof(list), " or "));
		}
		snprintf(o->backend, sizeof(o->backend), "%s", arg);
		break;
	case START_CONNECT:
		if (!*arg || strlen(arg) >= sizeof(o->uri))
			return usage_error("-c: '%s' is not a libvirt URI", arg);
		snprintf(o->uri, sizeof(o->uri), "%s", arg);
		break;
	case START_TIMEOUT:
		a->timeout = num;
		break;
	}
	return 0;
}

CLI_CMD(cmd_vm_start)
{
	struct start_args a = { .timeout = 60 };
	struct hvp_vm_opts *o = &a.o;
	int r;

	o->vcpus = HVP_VM_DEF_VCPUS;
	o->mem_mib = HVP_VM_DEF_MEM_MIB;
	snprintf(o->backend, sizeof(o->backend), "%s", hvp_backend_kinds[0].name);
	if ((r = cli_parse_opts(cmd, argc, argv, start_set, &a)))
		return r == CLI_DONE ? 0 : r;
	if ((r = cli_positional(argc, argv, 1, "the VM's NAME")))
		return r;
	if (!hvp_name_valid(argv[optind]))
		return usage_error("'%.64s' is not a valid VM name: 1 to %d of [A-Za-z0-9_.-], starting "
				   "with a letter or digit",
				   argv[optind], HVP_VM_NAME_MAX);
	snprintf(o->name, sizeof(o->name), "%s", argv[optind]);
	if (o->uri[0] && !hvp_backend_kind_by_name(o->backend)->takes_uri) {
		unsigned i;

		for (i = 0; !hvp_backend_kinds[i].takes_uri; i++)
			;
		return usage_error("-c URI is for --backend %s", hvp_backend_kinds[i].name);
	}
	if (o->fault_test && o->fault_vcpu >= o->vcpus)
		return usage_error("--fault-test=%u: the VM has %u vCPUs", o->fault_vcpu, o->vcpus);
	snprintf(o->rundir, sizeof(o->rundir), "%s", hvp_rundir());
	{
		char err[PATH_MAX + 256];

		if (hvp_rundir_ensure(o->rundir, err, sizeof(err)) < 0)
			return cli_fail(HVP_ERR_REFUSED, "%s", err);
	}
	{
		/* the control socket's path must fit a sockaddr_un: the
		 * service would find out only once the guest had booted */
		struct sockaddr_un sun;
		char sock[PATH_MAX];

		if (hvp_vm_path(sock, sizeof(sock), o->rundir, o->name, ".sock") < 0 ||
		    strlen(sock) >= sizeof(sun.sun_path))
			return cli_fail(HVP_ERR_REFUSED,
					"VM %s: its control socket in %s would be a path of %zu "
					"bytes, and a unix socket takes at most %zu: use a shorter "
					"runtime directory (HVPATCH_RUNTIME_DIR) or name",
					o->name, o->rundir, strlen(sock), sizeof(sun.sun_path) - 1);
	}
	if ((r = cli_find_image(o->image, sizeof(o->image), a.image)))
		return r;
	if (hvp_vmstate_alive(o->rundir, o->name))
		return cli_fail(HVP_ERR_REFUSED, "VM %s already exists", o->name);
	{
		/* A qemu/libvirt VM of that name whose service died is still
		 * running: take it over rather than start a second one. */
		struct hvp_vm_opts old;

		if (hvp_vmstate_read(o->rundir, o->name, &old) == 0) {
			if (cli_try_attach(o->name) == 0)
				return cli_fail(HVP_ERR_REFUSED,
						"VM %s already exists (its service had "
						"died; a new one is attached)",
						o->name);
			/* gone for good: its state is stale */
			hvp_vmstate_remove(o->rundir, o->name);
		}
	}
	if ((r = cli_spawn_service(o, (int)a.timeout)))
		return r;
	if (cli_json_mode) {
		json_object *res;

		r = cli_call_service(o->name, "info", NULL, 5000, &res);
		if (r)
			return r;
		cli_print_json(res);
		json_object_put(res);
	} else {
		printf("VM %s started: %u vCPUs, %u MiB, socket %s/%s.sock\n", o->name, o->vcpus,
		       o->mem_mib, o->rundir, o->name);
	}
	return 0;
}

CLI_CMD(cmd_vm_list)
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

CLI_CMD(cmd_vm_info)
{
	json_object *res;
	int r;

	optind = 1;
	if ((r = cli_positional(argc, argv, 1, "the VM's NAME")))
		return r;
	r = cli_call_service(argv[optind], "info", NULL, 5000, &res);
	if (r)
		return r;
	cli_print_answer(res);
	json_object_put(res);
	return 0;
}

CLI_CMD(cmd_vm_stop)
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

const char cmd_vm_console_help[] =
	"usage: hvpatch vm console NAME [-f|--follow]\n"
	"Print the guest's serial console; --follow keeps printing until the VM stops or ^C.\n";

const struct cli_opt cmd_vm_console_opts[] = { { "follow", 'f', CLI_OPT_FLAG }, { NULL } };

static int console_set(void *ctx, unsigned opt, const char *arg, uint64_t num)
{
	bool *follow = ctx;

	(void)opt, (void)arg, (void)num;
	*follow = true;
	return 0;
}

CLI_CMD(cmd_vm_console)
{
	char path[PATH_MAX], sock[PATH_MAX], buf[4096];
	bool follow = false;
	int fd, r;

	if ((r = cli_parse_opts(cmd, argc, argv, console_set, &follow)))
		return r == CLI_DONE ? 0 : r;
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
			return cli_fail(HVP_ERR_NOT_FOUND, "no console for VM %s (%s)",
					argv[optind], err);
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

const char cmd_vm_request_help[] =
	"usage: hvpatch vm request NAME CMD [ARGS-JSON] [--timeout MS]\n"
	"Send one raw request to VM NAME's service over its control socket and print\n"
	"its result as JSON.  A debugging aid, as 'virsh qemu-monitor-command' is for\n"
	"QEMU, and the transport of 'rollout --hosts': each request to a VM of another\n"
	"host is this command, run there over ssh.\n"
	"  CMD: info sites stats patch methods stop (the service's commands).\n"
	"  ARGS-JSON: CMD's arguments, a JSON object (default {}), e.g. for sites\n"
	"  '{\"key\":\"single\"}', for patch '{\"key\":\"single\",\"target\":\"single_b\"}'.\n"
	"  --timeout MS   how long to wait for the answer (default 10000)\n"
	"The service's error comes back with its class (with -j, as\n"
	"{\"error\":{\"class\",\"desc\"}}); a bad ARGS-JSON is a usage error.\n";

const struct cli_opt cmd_vm_request_opts[] = { { "timeout", 0, CLI_OPT_NUM, 1, 3600000 },
					       { NULL } };

static int request_set(void *ctx, unsigned opt, const char *arg, uint64_t num)
{
	(void)opt, (void)arg;
	*(int *)ctx = (int)num;
	return 0;
}

/* The longest ARGS-JSON taken: far more than any request's arguments. */
#define REQUEST_ARGS_MAX 65536

/* ARGS-JSON as an object, all of it: NULL after a usage error in *r. */
static json_object *request_args(const char *s, int *r)
{
	struct json_tokener *tok;
	json_object *o;
	size_t len = strlen(s), end;

	if (len > REQUEST_ARGS_MAX) {
		*r = usage_error("ARGS-JSON: longer than %d bytes", REQUEST_ARGS_MAX);
		return NULL;
	}
	tok = json_tokener_new();
	o = tok ? json_tokener_parse_ex(tok, s, (int)len) : NULL;
	/* one value and nothing after it but blanks: "{} x" is not an object */
	end = o ? json_tokener_get_parse_end(tok) : len;
	if (s[end + strspn(s + end, " \t\r\n")]) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	if (!o) {
		*r = usage_error("ARGS-JSON: '%.64s' is not valid JSON", s);
		return NULL;
	}
	if (!json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		*r = usage_error("ARGS-JSON must be a JSON object ({\"key\":...}), not '%.64s'", s);
		return NULL;
	}
	return o;
}

CLI_CMD(cmd_vm_request)
{
	json_object *args = NULL, *res;
	const char *verb;
	int timeout_ms = 10000, r, n;

	if ((r = cli_parse_opts(cmd, argc, argv, request_set, &timeout_ms)))
		return r == CLI_DONE ? 0 : r;
	n = argc - optind;
	if (n < 2)
		return usage_error("missing %s (see --help)",
				   n ? "the CMD" : "the VM's NAME and CMD");
	if (n > 3)
		return usage_error("unexpected argument '%.64s'", argv[optind + 3]);
	verb = argv[optind + 1];
	if (!*verb || strlen(verb) > 31 ||
	    strspn(verb, "abcdefghijklmnopqrstuvwxyz0123456789_-") != strlen(verb))
		return usage_error("'%.64s' is not a command name: 1 to 31 of [a-z0-9_-]", verb);
	if (n == 3 && !(args = request_args(argv[optind + 2], &r)))
		return r;
	r = cli_call_service(argv[optind], verb, args, timeout_ms, &res);
	if (r)
		return r;
	cli_print_json(res);
	json_object_put(res);
	return 0;
}
