// SPDX-License-Identifier: GPL-2.0-only
/*
 * What every hvpatch command shares: errors and output, argument checks,
 * and requests to a VM's service (which takes over a qemu/libvirt VM whose
 * service died before it gives up).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "builtin.h"
#include "doctor.h"
#include "hvp_agent.h"
#include "hvp_ctl.h"
#include "remote.h"
#include "util.h"
#include "vmstate.h"

bool cli_json_mode;

/* ---- output ---- */

int cli_fail(const char *cls, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	char *c;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* one printable ASCII line, whatever the user or a peer sent */
	for (c = buf; *c; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
			*c = '?';
	if (cli_json_mode) {
		json_object *o = json_object_new_object(), *e = json_object_new_object();

		json_object_object_add(e, "class", json_object_new_string(cls));
		json_object_object_add(e, "desc", json_object_new_string(buf));
		json_object_object_add(o, "error", e);
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
	} else {
		fprintf(stderr, "error: %s\n", buf);
	}
	return strcmp(cls, HVP_ERR_USAGE) ? 1 : EXIT_USAGE;
}

void cli_print_json(json_object *o)
{
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
								 JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* A generic "key: value" printer for objects and arrays (info, doctor). */
void cli_print_tree(json_object *o, int depth)
{
	if (json_object_is_type(o, json_type_object)) {
		json_object_object_foreach(o, k, v)
		{
			bool nested = json_object_is_type(v, json_type_object) ||
				      (json_object_is_type(v, json_type_array) &&
				       json_object_array_length(v) &&
				       json_object_is_type(json_object_array_get_idx(v, 0),
							   json_type_object));

			printf("%*s%s:%s", depth * 2, "", k, nested ? "\n" : " ");
			if (nested)
				cli_print_tree(v, depth + 1);
			else
				printf("%s\n",
				       v ? json_object_to_json_string_ext(v,
									  JSON_C_TO_STRING_PLAIN |
										  JSON_C_TO_STRING_NOSLASHESCAPE) :
					   "-");
		}
	} else if (json_object_is_type(o, json_type_array)) {
		size_t i;

		for (i = 0; i < json_object_array_length(o); i++) {
			printf("%*s-\n", depth * 2, "");
			cli_print_tree(json_object_array_get_idx(o, i), depth + 1);
		}
	}
}

void cli_print_answer(json_object *o)
{
	if (cli_json_mode)
		cli_print_json(o);
	else
		cli_print_tree(o, 0);
}

/* ---- parsing ---- */

int cli_parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	/* digits only: strtoull would also take blanks, signs and 0x */
	if (!s || *s < '0' || *s > '9') {
		usage_error("%s: '%.64s' is not a number", opt, s ? s : "");
		return -1;
	}
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max) {
		usage_error("%s: '%.64s' is not a number from %llu to %llu", opt, s,
			    (unsigned long long)min, (unsigned long long)max);
		return -1;
	}
	*out = v;
	return 0;
}

/* Key and target names, as the agent validator accepts them. */
bool cli_symbol_name_ok(const char *s)
{
	size_t n = strlen(s);

	return n && n < HVP_NAME_LEN && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

bool cli_want_help(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			return false;
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return true;
	}
	return false;
}

/* Exactly `n` positional arguments after the options, or a usage error. */
int cli_positional(int argc, char **argv, int n, const char *what)
{
	if (argc - optind < n)
		return usage_error("missing %s (see --help)", what);
	if (argc - optind > n)
		return usage_error("unexpected argument '%.64s'", argv[optind + n]);
	return 0;
}

void cli_print_help(const struct cli_cmd *cmd)
{
	if (cmd->help)
		fputs(cmd->help, stdout);
	else
		printf("usage: hvpatch %s\n", cmd->synopsis);
}

#define CLI_MAX_OPTS 32
#define CLI_OPT_VAL  256 /* a long option's getopt value: clear of every -x */

int cli_parse_opts(const struct cli_cmd *cmd, int argc, char **argv, cli_set_fn *set, void *ctx)
{
	static const int has_arg[] = {
		[CLI_OPT_FLAG] = no_argument,
		[CLI_OPT_STR] = required_argument,
		[CLI_OPT_NUM] = required_argument,
		[CLI_OPT_NUM_OPTIONAL] = optional_argument,
	};
	static const char *const arg_suffix[] = { "", ":", "::" }; /* by has_arg */
	struct option lopts[CLI_MAX_OPTS + 2] = { { "help", no_argument, NULL, 'h' } };
	/* ':' first: a missing value is ':', not '?'; we say both, not getopt */
	char sopts[3 * CLI_MAX_OPTS + 3] = ":h", what[64], flag[64], bad[80];
	const struct cli_opt *o;
	const char *word;
	unsigned i, n;
	uint64_t num;
	int c, r;

	for (n = 0; cmd->opts[n].name && n < CLI_MAX_OPTS; n++) {
		o = &cmd->opts[n];
		lopts[n + 1] =
			(struct option){ o->name, has_arg[o->type], NULL, CLI_OPT_VAL + (int)n };
		if (o->short_name)
			snprintf(sopts + strlen(sopts), sizeof(sopts) - strlen(sopts), "%c%s",
				 o->short_name, arg_suffix[has_arg[o->type]]);
	}
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, sopts, lopts, NULL)) != -1) {
		if (c == 'h') {
			cli_print_help(cmd);
			return CLI_DONE;
		}
		if (c >= CLI_OPT_VAL)
			i = (unsigned)(c - CLI_OPT_VAL);
		else
			for (i = 0; i < n && cmd->opts[i].short_name != c; i++)
				;
		if (c == '?' || c == ':' || i >= n) {
			snprintf(what, sizeof(what), "%s%s%s", cmd->group, cmd->name ? " " : "",
				 cmd->name ? cmd->name : "");
			/*
			 * A long option is the word getopt just read (optopt is
			 * then its value, not a letter); a short one is optopt,
			 * wherever in a cluster of letters it stood.
			 */
			word = optind > 0 && optind <= argc ? argv[optind - 1] : "?";
			if (strncmp(word, "--", 2) && optopt > ' ' && optopt < 127)
				snprintf(bad, sizeof(bad), "-%c", optopt);
			else
				snprintf(bad, sizeof(bad), "%.64s", word);
			return usage_error("%s: %s '%s' (see 'hvpatch %s --help')", what,
					   c == ':' ? "missing value for option" : "unknown option",
					   bad, what);
		}
		o = &cmd->opts[i];
		num = 0;
		if ((o->type == CLI_OPT_NUM || o->type == CLI_OPT_NUM_OPTIONAL) && optarg) {
			snprintf(flag, sizeof(flag), "--%s", o->name);
			if (cli_parse_u64(flag, optarg, o->min, o->max, &num))
				return EXIT_USAGE;
		}
		r = set(ctx, i, optarg, num);
		if (r)
			return r;
	}
	return 0;
}

/* ---- talking to a service ---- */

/*
 * The runtime directory before it is used: 0 when it is safe or absent
 * (nothing runs then), else the error is printed and the exit status given.
 */
int cli_rundir_ok(void)
{
	char err[PATH_MAX + 256];
	int r = hvp_rundir_usable(hvp_rundir(), err, sizeof(err));

	return r < 0 && r != -ENOENT ? cli_fail(HVP_ERR_REFUSED, "%s", err) : 0;
}

/*
 * The connection to NAME's service broke without an answer (r): say whether
 * the service died, how if that can be known, and where its log is.
 */
static int service_gone(const char *name, int r)
{
	char log[PATH_MAX], how[96];
	const char *attach = "";
	pid_t pid = hvp_vmstate_service_pid(hvp_rundir(), name);
	int i, status;

	if (hvp_vm_path(log, sizeof(log), hvp_rundir(), name, ".log") < 0)
		snprintf(log, sizeof(log), "?");
	if (!pid)
		return cli_fail(HVP_ERR_INTERNAL,
				"VM %s: the service broke the connection without "
				"answering (%s); it left no pid file; see its log: %s",
				name, strerror(-r), log);
	/* the socket closes a moment before the process is gone */
	for (i = 0; i < 100 && !hvp_proc_gone(pid); i++)
		usleep(10000);
	if (!hvp_proc_gone(pid))
		return cli_fail(HVP_ERR_INTERNAL,
				"VM %s: its service (pid %ld) broke the connection "
				"without answering (%s) and still runs; see its log: %s",
				name, (long)pid, strerror(-r), log);
	if (hvp_proc_zombie_status(pid, &status) == 0)
		hvp_proc_describe_status(how, sizeof(how), status);
	else
		snprintf(how, sizeof(how), "exit status unknown: it is not this command's child");
	/* qemu, libvirt: the guest outlives its service */
	if (hvp_vmstate_exists(hvp_rundir(), name))
		attach = "; its VM may still run: 'hvpatch vm attach NAME' takes it over";
	return cli_fail(HVP_ERR_INTERNAL,
			"VM %s: its service (pid %ld) died during the request (%s); "
			"see its log: %s%s",
			name, (long)pid, how, log, attach);
}

int cli_call_service(const char *name, const char *cmd, json_object *args, int timeout_ms,
		     json_object **result)
{
	char path[PATH_MAX];
	json_object *resp = NULL, *ok, *v;
	int r;

	*result = NULL;
	if (!hvp_name_valid(name)) {
		json_object_put(args);
		return usage_error("'%.64s' is not a valid VM name", name);
	}
	if (hvp_vm_path(path, sizeof(path), hvp_rundir(), name, ".sock") < 0) {
		json_object_put(args);
		return cli_fail(HVP_ERR_USAGE, "runtime directory path too long");
	}
	if ((r = cli_rundir_ok())) {
		json_object_put(args);
		return r;
	}
	r = hvp_ctl_call(path, cmd, json_object_get(args), timeout_ms, &resp);
	/* A qemu/libvirt VM whose service died: take it over, then ask again. */
	if ((r == -ENOENT || r == -ECONNREFUSED) && cli_try_attach(name) == 0)
		r = hvp_ctl_call(path, cmd, json_object_get(args), timeout_ms, &resp);
	json_object_put(args);
	if (r == -ENOENT || r == -ECONNREFUSED)
		return cli_fail(HVP_ERR_NOT_FOUND,
				"no VM named '%s' (is it running? see 'hvpatch vm list')", name);
	if (r == -ETIMEDOUT) /* vm request --timeout is in ms: 300 is not "0 s" */
		return cli_fail(HVP_ERR_INTERNAL, "VM %s: the service did not answer within %d %s",
				name, timeout_ms % 1000 ? timeout_ms : timeout_ms / 1000,
				timeout_ms % 1000 ? "ms" : "s");
	if (r == -ECONNRESET || r == -EPIPE)
		return service_gone(name, r);
	if (r < 0)
		return cli_fail(HVP_ERR_PROTOCOL, "VM %s: %s", name, strerror(-r));
	json_object_object_get_ex(resp, "ok", &ok);
	if (!json_object_get_boolean(ok)) {
		json_object *e = NULL, *cls = NULL, *desc = NULL;

		json_object_object_get_ex(resp, "error", &e);
		json_object_object_get_ex(e, "class", &cls);
		json_object_object_get_ex(e, "desc", &desc);
		r = cli_fail(json_object_get_string(cls), "%s", json_object_get_string(desc));
		json_object_put(resp);
		return r;
	}
	if (json_object_object_get_ex(resp, "result", &v))
		*result = json_object_get(v);
	else
		*result = json_object_new_object();
	json_object_put(resp);
	return 0;
}

int cli_call_show(const char *name, const char *cmd, json_object *args, int timeout_ms,
		  json_object **result)
{
	int r = cli_call_service(name, cmd, args, timeout_ms, result);

	if (r || !cli_json_mode)
		return r;
	cli_print_json(*result);
	json_object_put(*result);
	*result = NULL;
	return 0;
}

int cli_remote(const char *uri, char **argv)
{
	struct hvp_host h;
	const char *cls;
	char err[1024];
	int r;

	struct sigaction ign = { .sa_handler = SIG_IGN }, oint, oquit;

	if (hvp_host_parse(uri, &h, err, sizeof(err)) < 0)
		return usage_error("-H/HVPATCH_HOST: %s", err);
	/* as system() does: ^C on a terminal ends ssh, and we report how */
	sigaction(SIGINT, &ign, &oint);
	sigaction(SIGQUIT, &ign, &oquit);
	r = hvp_remote_run(&h, cli_json_mode, argv, -1, &cls, err, sizeof(err));
	sigaction(SIGINT, &oint, NULL);
	sigaction(SIGQUIT, &oquit, NULL);
	return r < 0 ? cli_fail(cls, "%s", err) : r;
}

int cli_find_image(char *buf, size_t len, const char *given)
{
	if (given) {
		snprintf(buf, len, "%s", given);
		if (access(buf, R_OK) < 0)
			return cli_fail(HVP_ERR_NOT_FOUND, "guest image %s: %s", buf,
					strerror(errno));
		return 0;
	}
	if (hvp_guest_image_find(buf, len) < 0)
		return cli_fail(HVP_ERR_NOT_FOUND,
				"guest image not found: build it (./quickstart build) or set HVPATCH_GUEST");
	return 0;
}

/* Fork the VM's service and wait until its agent is ready. */
int cli_spawn_service(const struct hvp_vm_opts *o, int timeout)
{
	char err[1024];
	const char *cls;

	if (hvp_vmstate_spawn(o, hvp_vm_serve, timeout, &cls, err, sizeof(err)) < 0)
		return cli_fail(cls, "%s", err);
	return 0;
}

/* 0 when a new service now serves NAME's qemu/libvirt VM. */
int cli_try_attach(const char *name)
{
	struct hvp_vm_opts o;
	bool saved = cli_json_mode;
	int r;

	if (hvp_vmstate_read(hvp_rundir(), name, &o) < 0)
		return -ENOENT;
	fprintf(stderr, "hvpatch: VM %s has no service: attaching to its %s VM\n", name, o.backend);
	cli_json_mode = false; /* the caller's own answer is what is printed */
	r = cli_spawn_service(&o, 120);
	cli_json_mode = saved;
	return r ? -EIO : 0;
}

/* ---- reading answers ---- */

int64_t cli_jint(json_object *o, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : 0;
}
