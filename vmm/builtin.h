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

#define EXIT_USAGE	2

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

/* 0 when the runtime directory is safe or absent, else the error's exit status. */
int cli_rundir_ok(void);
/*
 * A request to NAME's service; args is consumed.  0 and *result (the
 * caller's to put), or the error is printed and the exit status returned.
 */
int cli_call_service(const char *name, const char *cmd, json_object *args, int timeout_ms,
		     json_object **result);
/* Fork the VM's service and wait until its agent is ready. */
int cli_spawn_service(const struct hvp_vm_opts *o, int timeout);
/* 0 when a new service now serves NAME's qemu/libvirt VM. */
int cli_try_attach(const char *name);
/* The guest image: the given path, else the default one. */
int cli_find_image(char *buf, size_t len, const char *given);

/* builtin-vm.c */
int cmd_vm_attach(int argc, char **argv);
int cmd_vm_start(int argc, char **argv);
int cmd_vm_list(int argc, char **argv);
int cmd_vm_info(int argc, char **argv);
int cmd_vm_stop(int argc, char **argv);
int cmd_vm_console(int argc, char **argv);

/* builtin-sites.c */
int cmd_sites(int argc, char **argv);

/* builtin-stats.c */
int cmd_stats(int argc, char **argv);

/* builtin-patch.c */
int cmd_patch_apply(int argc, char **argv);
int cmd_patch_methods(int argc, char **argv);

/* builtin-bench.c */
int cmd_bench_run(int argc, char **argv);
int cmd_report(int argc, char **argv);

/* builtin-doctor.c */
int cmd_doctor(int argc, char **argv);

#endif /* HVP_BUILTIN_H */
