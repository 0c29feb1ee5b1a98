// SPDX-License-Identifier: GPL-2.0-only
/* hvpatch sites list: the keys of a running VM and their sites. */
#include "config.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "builtin.h"
#include "hvp_agent.h"
#include "hvp_ctl.h"

const char cmd_sites_help[] =
	"usage: hvpatch sites list NAME [-k|--key KEY] [-v|--verbose]\n"
	"The VM's static call keys: kind, registered targets, the target every\n"
	"site calls now, and with --verbose every site's address and bytes.\n";

enum { SITES_VERBOSE, SITES_KEY };

const struct cli_opt cmd_sites_opts[] = { [SITES_VERBOSE] = { "verbose", 'v', CLI_OPT_FLAG },
					  [SITES_KEY] = { "key", 'k', CLI_OPT_STR },
					  { NULL } };

struct sites_args {
	json_object *args; /* the request's */
	bool verbose;
};

static int sites_set(void *ctx, unsigned opt, const char *arg, uint64_t num)
{
	struct sites_args *a = ctx;

	(void)num;
	if (opt == SITES_VERBOSE) {
		a->verbose = true;
		return 0;
	}
	if (!cli_symbol_name_ok(arg))
		return usage_error("--key: '%.64s' is not a key name: 1 to %d of [a-z0-9_]", arg,
				   HVP_NAME_LEN - 1);
	json_object_object_add(a->args, "key", json_object_new_string(arg));
	return 0;
}

CLI_CMD(cmd_sites)
{
	struct sites_args sa = { .args = json_object_new_object() };
	json_object *args = sa.args, *res, *keys;
	bool verbose;
	int r;
	size_t i, j;

	if ((r = cli_parse_opts(cmd, argc, argv, sites_set, &sa))) {
		json_object_put(args);
		return r == CLI_DONE ? 0 : r;
	}
	verbose = sa.verbose;
	if ((r = cli_positional(argc, argv, 1, "the VM's NAME"))) {
		json_object_put(args);
		return r;
	}
	if ((r = cli_call_show(argv[optind], "sites", args, 10000, &res)) || !res)
		return r;
	json_object_object_get_ex(res, "keys", &keys);
	printf("%-8s %-10s %6s  %-10s %s\n", "KEY", "KIND", "SITES", "CURRENT", "TARGETS");
	for (i = 0; i < json_object_array_length(keys); i++) {
		json_object *k = json_object_array_get_idx(keys, i), *f, *sites, *cur;
		char targets[256] = "";

		json_object_object_get_ex(k, "targets", &f);
		for (j = 0; j < json_object_array_length(f); j++)
			snprintf(targets + strlen(targets), sizeof(targets) - strlen(targets),
				 "%s%s", j ? " " : "",
				 json_object_get_string(json_object_array_get_idx(f, j)));
		json_object_object_get_ex(k, "sites", &sites);
		json_object_object_get_ex(k, "current", &cur);
		json_object_object_get_ex(k, "name", &f);
		printf("%-8s ", json_object_get_string(f));
		json_object_object_get_ex(k, "kind", &f);
		printf("%-10s %6zu  %-10s %s\n", json_object_get_string(f),
		       json_object_array_length(sites),
		       cur ? json_object_get_string(cur) : "(mixed)", targets);
		for (j = 0; verbose && j < json_object_array_length(sites); j++) {
			json_object *s = json_object_array_get_idx(sites, j), *a, *b, *t;

			json_object_object_get_ex(s, "addr", &a);
			json_object_object_get_ex(s, "bytes", &b);
			json_object_object_get_ex(s, "target", &t);
			printf("    %s  %s  %s\n", json_object_get_string(a),
			       json_object_get_string(b), t ? json_object_get_string(t) : "?");
		}
	}
	if (verbose && json_object_object_get_ex(res, "text", &keys)) {
		json_object *first = NULL;

		json_object_object_get_ex(keys, "first_changed", &first);
		printf("text outside the sites: %lld of %lld bytes differ from the image%s%s\n",
		       (long long)cli_jint(keys, "changed_outside_sites"),
		       (long long)cli_jint(keys, "bytes"), first ? ", first at " : "",
		       first ? json_object_get_string(first) : "");
	}
	json_object_put(res);
	return 0;
}
