/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What the CLI's commands share.  Each command group lives in a
 * builtin-*.c of its own (kvmtool's layout); cli.c dispatches to them.
 * Errors print through cli_fail() and a command returns its exit status:
 * 0 success, 1 failure, EXIT_USAGE for a usage error.
 */
#ifndef HVP_BUILTIN_H
#define HVP_BUILTIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "hvp_ctl.h"
#include "vm.h"

#define EXIT_USAGE 2

/*
 * A row of cli.c's command table.  A command with an option list parses it
 * with cli_parse_opts(), which answers --help; for one without, cli.c
 * answers a -h or --help anywhere before "--".
 */
struct cli_cmd {
	const char *group, *name; /* name NULL: the group is the command */
	int (*fn)(const struct cli_cmd *cmd, int argc, char **argv);
	const char *synopsis;	    /* its line in `hvpatch --help` */
	const char *help;	    /* --help; NULL: "usage: hvpatch SYNOPSIS" */
	const struct cli_opt *opts; /* NULL: no options */
};

/* The command's --help text. */
void cli_print_help(const struct cli_cmd *cmd);

/* -j: answers and errors as JSON on stdout */
extern bool cli_json_mode;

/*
 * Print an error of class cls (HVP_ERR_*): "error: DESC" on stderr, or with
 * -j {"error":{"class","desc"}} on stdout.  The exit status: EXIT_USAGE for
 * a usage error, else 1.
 */
int cli_fail(const char *cls, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define usage_error(...) cli_fail(HVP_ERR_USAGE, __VA_ARGS__)
void cli_print_json(json_object *o);
/* A generic "key: value" printer for objects and arrays (info, doctor). */
void cli_print_tree(json_object *o, int depth);
/* An answer as it stands: JSON with -j, else the tree. */
void cli_print_answer(json_object *o);
/* An integer member of o, 0 when absent. */
int64_t cli_jint(json_object *o, const char *k);

/* A number from min to max, digits only; a usage error names opt. */
int cli_parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* Key and target names, as the agent validator accepts them. */
bool cli_symbol_name_ok(const char *s);
/* -h or --help before any "--". */
bool cli_want_help(int argc, char **argv);
/* Exactly n positional arguments from optind on, or a usage error. */
int cli_positional(int argc, char **argv, int n, const char *what);

/*
 * Options by table.  Each command lists its options once; cli_parse_opts()
 * builds getopt_long's arrays from the list, checks every number against
 * its range, answers --help with the command's help text, and hands each
 * option to the command's set() by its index in the list.
 */
enum cli_opt_type {
	CLI_OPT_FLAG,	      /* --name */
	CLI_OPT_STR,	      /* --name S: set() checks S */
	CLI_OPT_NUM,	      /* --name N, N from min to max */
	CLI_OPT_NUM_OPTIONAL, /* --name[=N], N from min to max */
};

struct cli_opt {
	const char *name; /* the long option, without "--"; NULL ends a list */
	char short_name;  /* -x as well, or 0 */
	enum cli_opt_type type;
	uint64_t min, max; /* CLI_OPT_NUM*: the range (a list's largest value: set()) */
	const char *key;   /* the request argument it becomes, if the command says so */
};

struct cli_cmd;

/*
 * set(ctx, opt, arg, num): opt is the option's index in cmd->opts, arg its
 * argument (NULL: none), num the number when it has one.  set() returns 0,
 * an exit status after printing its error, or CLI_DONE when the command
 * has nothing more to do (`--hostile list`).
 */
typedef int cli_set_fn(void *ctx, unsigned opt, const char *arg, uint64_t num);
#define CLI_DONE (-1)
/*
 * Parse argv's options by cmd->opts (and -h, --help): 0 with optind at the
 * first positional argument, CLI_DONE when the command is over (its help
 * was printed), else the exit status of a usage error.
 */
int cli_parse_opts(const struct cli_cmd *cmd, int argc, char **argv, cli_set_fn *set, void *ctx);

/* 0 when the runtime directory is safe or absent, else the error's exit status. */
int cli_rundir_ok(void);
/*
 * A request to NAME's service; args is consumed.  0 and *result (the
 * caller's to put), or the error is printed and the exit status returned.
 */
int cli_call_service(const char *name, const char *cmd, json_object *args, int timeout_ms,
		     json_object **result);
/*
 * A request whose -j answer is its result as it stands: with -j, print it
 * and return 0 with *result NULL; else 0 and *result to print as text.
 */
int cli_call_show(const char *name, const char *cmd, json_object *args, int timeout_ms,
		  json_object **result);
/*
 * Run the command argv (NULL-terminated, from its group on) on the host of
 * uri (-H) through its hvpatch: the remote's output and exit status as
 * they come, or an error of ours when the host cannot be reached.
 */
int cli_remote(const char *uri, char **argv);
/* Fork the VM's service and wait until its agent is ready. */
int cli_spawn_service(const struct hvp_vm_opts *o, int timeout);
/* 0 when a new service now serves NAME's qemu/libvirt VM. */
int cli_try_attach(const char *name);
/* The guest image: the given path, else the default one. */
int cli_find_image(char *buf, size_t len, const char *given);

/*
 * The commands, by file.  Each takes its row of the command table and
 * argv from its own name on; it returns the exit status.  (A command with
 * neither options nor a help text of its own has no use for its row.)
 */
#define CLI_CMD(fn) int fn(const struct cli_cmd *cmd __attribute__((unused)), int argc, char **argv)

/* builtin-vm.c: a VM's life */
CLI_CMD(cmd_vm_start);
CLI_CMD(cmd_vm_attach);
CLI_CMD(cmd_vm_list);
CLI_CMD(cmd_vm_info);
CLI_CMD(cmd_vm_stop);
CLI_CMD(cmd_vm_console);
CLI_CMD(cmd_vm_request);
extern const char cmd_vm_start_help[], cmd_vm_console_help[], cmd_vm_request_help[];
extern const struct cli_opt cmd_vm_start_opts[], cmd_vm_console_opts[], cmd_vm_request_opts[];

/* builtin-sites.c, builtin-stats.c: what a running VM holds and counts */
CLI_CMD(cmd_sites);
CLI_CMD(cmd_stats);
extern const char cmd_sites_help[];
extern const struct cli_opt cmd_sites_opts[];

/* builtin-patch.c */
CLI_CMD(cmd_patch_apply);
CLI_CMD(cmd_patch_methods);
CLI_CMD(cmd_patch_plan);
extern const char cmd_patch_plan_help[];
extern const struct cli_opt cmd_patch_plan_opts[];
extern const char cmd_patch_apply_help[];
extern const struct cli_opt cmd_patch_apply_opts[];

/* builtin-bench.c: the comparison matrix and its reports */
CLI_CMD(cmd_bench_run);
CLI_CMD(cmd_report);
extern const char cmd_bench_run_help[], cmd_report_help[];
extern const struct cli_opt cmd_bench_run_opts[];

/* builtin-rollout.c: one patch across many VMs */
CLI_CMD(cmd_rollout);
extern const char cmd_rollout_help[];
extern const struct cli_opt cmd_rollout_opts[];

/* builtin-doctor.c */
CLI_CMD(cmd_doctor);
extern const char cmd_doctor_help[];

#endif /* HVP_BUILTIN_H */
