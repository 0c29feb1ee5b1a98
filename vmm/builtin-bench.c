// SPDX-License-Identifier: GPL-2.0-only
/* hvpatch bench run, report: the comparison matrix and its reports. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "backends.h"
#include "bench.h"
#include "builtin.h"
#include "hvp_ctl.h"
#include "methods.h"
#include "patch.h"
#include "report.h"

const char cmd_bench_run_help[] =
	"usage: hvpatch bench run [options]\n"
	"Run the comparison matrix on fresh VMs and write DIR/report.json, report.csv\n"
	"and report.html.  Methods are interleaved; host unit costs are measured first.\n"
	"  --quick            a short run (under 3 minutes here) covering every method\n"
	"  --out DIR          where to write (default ./hvpatch-report)\n"
	"  --vcpus LIST       vCPU counts of the latency group (default 1,2)\n"
	"  --methods LIST     of stop, bp-cancel, bp-emulate, auto (default all four; auto:\n"
	"                     the method --method auto --prefer latency picks per point)\n"
	"  --sync LIST        of kick, nmi (default both)\n"
	"  --rates LIST       workload passes/s for the hit-rate sweep; max = tight loop\n"
	"  --nmi-rates LIST   NMI rates (Hz) for the NMI sweep\n"
	"  --sites LIST       key sizes for the batch sweep, of 1,16,256,1024\n"
	"  --repeat N         samples per cell (default 10 quick, 20 full)\n"
	"  --backends LIST    of kvm, qemu, libvirt for the backend group (default all;\n"
	"                     one this host lacks is skipped and said so)\n"
	"  --image PATH       guest ELF\n"
	"  --unsafe           let --methods name the test-only methods too (bp-cancel-hpa:\n"
	"                     bp-cancel as proposed, to set beside bp-cancel under one load)\n";

enum {
	BENCH_QUICK,
	BENCH_OUT,
	BENCH_VCPUS,
	BENCH_METHODS,
	BENCH_SYNC,
	BENCH_RATES,
	BENCH_NMI_RATES,
	BENCH_SITES,
	BENCH_REPEAT,
	BENCH_BACKENDS,
	BENCH_IMAGE,
	BENCH_UNSAFE,
};

/* A list's max is its largest value. */
const struct cli_opt cmd_bench_run_opts[] = {
	[BENCH_QUICK] = { "quick", 0, CLI_OPT_FLAG },
	[BENCH_OUT] = { "out", 0, CLI_OPT_STR },
	[BENCH_VCPUS] = { "vcpus", 0, CLI_OPT_STR, 0, 64 },
	[BENCH_METHODS] = { "methods", 0, CLI_OPT_STR },
	[BENCH_SYNC] = { "sync", 0, CLI_OPT_STR },
	[BENCH_RATES] = { "rates", 0, CLI_OPT_STR, 0, 1000000000 },
	[BENCH_NMI_RATES] = { "nmi-rates", 0, CLI_OPT_STR, 0, 100000 },
	[BENCH_SITES] = { "sites", 0, CLI_OPT_STR, 0, 1024 },
	[BENCH_REPEAT] = { "repeat", 0, CLI_OPT_NUM, 1, 256 },
	[BENCH_BACKENDS] = { "backends", 0, CLI_OPT_STR },
	[BENCH_IMAGE] = { "image", 0, CLI_OPT_STR },
	[BENCH_UNSAFE] = { "unsafe", 0, CLI_OPT_FLAG },
	{ NULL }
};

/* A method --methods may name: the engine's (a test-only one runs only with
 * --unsafe, bench.c checks) or the auto column. */
static int bench_method_by_name(const char *name)
{
	return strcmp(name, "auto") ? hvp_method_by_name(name) : HVP_BENCH_AUTO;
}

/* The names --methods and --sync take, by option. */
static const struct {
	int (*by_name)(const char *name);
	const char *list;
} bench_names[] = {
	[BENCH_METHODS] = { bench_method_by_name,
			    "stop, bp-cancel, bp-emulate, auto (--unsafe: any)" },
	[BENCH_SYNC] = { hvp_sync_by_name, "kick, nmi" },
};

/* A comma list of numbers up to the option's max; for --rates, max and tight are 0. */
static int parse_list(const struct cli_opt *o, const char *s, uint64_t *out, unsigned *n)
{
	char buf[256], flag[64], *save = NULL, *tok;

	snprintf(flag, sizeof(flag), "--%s", o->name);
	if (strlen(s) >= sizeof(buf))
		return usage_error("%s: list too long", flag);
	snprintf(buf, sizeof(buf), "%s", s);
	*n = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (*n == HVP_BENCH_MAX_LIST)
			return usage_error("%s: at most %d values", flag, HVP_BENCH_MAX_LIST);
		if (o == &cmd_bench_run_opts[BENCH_RATES] &&
		    (!strcmp(tok, "max") || !strcmp(tok, "tight")))
			out[(*n)++] = 0;
		else if (cli_parse_u64(flag, tok, 0, o->max, &out[(*n)++]))
			return EXIT_USAGE;
	}
	return *n ? 0 : usage_error("%s: empty list", flag);
}

/* A comma list of --methods or --sync names, as a bit mask. */
static int parse_names(unsigned opt, const char *s, unsigned *mask)
{
	const char *flag = cmd_bench_run_opts[opt].name, *list = bench_names[opt].list;
	char buf[256], *save = NULL, *tok;

	if (strlen(s) >= sizeof(buf) || !strpbrk(s, "abcdefghijklmnopqrstuvwxyz"))
		return usage_error("--%s: '%.64s' is not a comma list of %s", flag, s, list);
	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int m = bench_names[opt].by_name(tok);

		if (m < 0)
			return usage_error("--%s: '%.64s' is not one of %s", flag, tok, list);
		*mask |= 1u << m;
	}
	return 0;
}

static int parse_backends(const char *s, unsigned *mask)
{
	char buf[256], *save = NULL, *tok;

	/* as the other lists: an empty one is not "all", a long one is not cut */
	if (strlen(s) >= sizeof(buf) || !strpbrk(s, "abcdefghijklmnopqrstuvwxyz"))
		return usage_error("--backends: '%.64s' is not a comma list of backends", s);
	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		const struct hvp_backend_kind *k = hvp_backend_kind_by_name(tok);
		char list[64];

		if (!k)
			return usage_error("--backends: '%s' is not one of %s", tok,
					   hvp_backend_kind_list(list, sizeof(list), ", "));
		*mask |= 1u << hvp_backend_kind_index(k);
	}
	return 0;
}

struct bench_args {
	struct hvp_bench_opts o;
	const char *image;
};

static int bench_set(void *ctx, unsigned opt, const char *arg, uint64_t num)
{
	const struct cli_opt *so = &cmd_bench_run_opts[opt];
	struct bench_args *a = ctx;
	struct hvp_bench_opts *o = &a->o;
	uint64_t list[HVP_BENCH_MAX_LIST];
	unsigned n, i;
	int r;

	switch (opt) {
	case BENCH_QUICK:
		o->quick = true;
		break;
	case BENCH_OUT:
		if (!*arg || strlen(arg) >= sizeof(o->out))
			return usage_error("--out: '%.64s' is not a directory name", arg);
		snprintf(o->out, sizeof(o->out), "%s", arg);
		break;
	case BENCH_VCPUS:
		if ((r = parse_list(so, arg, list, &n)))
			return r;
		for (i = 0; i < n; i++) {
			if (list[i] == 0)
				return usage_error("--vcpus: 0 vCPUs");
			o->vcpus[i] = (unsigned)list[i];
		}
		o->nr_vcpus = n;
		break;
	case BENCH_SITES:
		if ((r = parse_list(so, arg, list, &n)))
			return r;
		for (i = 0; i < n; i++) {
			if (list[i] != 1 && list[i] != 16 && list[i] != 256 && list[i] != 1024)
				return usage_error(
					"--sites: the guest has keys of 1, 16, 256 and 1024 sites");
			o->sites[i] = (unsigned)list[i];
		}
		o->nr_sites = n;
		break;
	case BENCH_RATES:
		return parse_list(so, arg, o->rates, &o->nr_rates);
	case BENCH_NMI_RATES:
		return parse_list(so, arg, o->nmi_rates, &o->nr_nmi_rates);
	case BENCH_METHODS:
		return parse_names(opt, arg, &o->methods);
	case BENCH_SYNC:
		return parse_names(opt, arg, &o->syncs);
	case BENCH_REPEAT:
		o->repeat = (unsigned)num;
		break;
	case BENCH_BACKENDS:
		return parse_backends(arg, &o->backends);
	case BENCH_IMAGE:
		a->image = arg;
		break;
	case BENCH_UNSAFE:
		o->unsafe = true;
		break;
	}
	return 0;
}

CLI_CMD(cmd_bench_run)
{
	struct bench_args a = { { 0 } };
	struct hvp_bench_opts *o = &a.o;
	char err[512] = "";
	int r, m;

	snprintf(o->out, sizeof(o->out), "hvpatch-report");
	if ((r = cli_parse_opts(cmd, argc, argv, bench_set, &a)))
		return r == CLI_DONE ? 0 : r;
	if ((r = cli_positional(argc, argv, 0, "")))
		return r;
	for (m = 0; m < HVP_METHOD__COUNT; m++)
		if ((o->methods & (1u << m)) && hvp_methods[m].unsafe && !o->unsafe)
			return usage_error("--methods: %s %s; it runs only with --unsafe",
					   hvp_methods[m].name, hvp_methods[m].hazard);
	if ((r = cli_find_image(o->image, sizeof(o->image), a.image)))
		return r;
	o->progress = isatty(STDERR_FILENO) && !cli_json_mode;
	hvp_bench_defaults(o);
	r = hvp_bench_run(o, err, sizeof(err));
	if (r < 0)
		return cli_fail(HVP_ERR_INTERNAL, "bench: %s", err);
	if (cli_json_mode) {
		json_object *j = json_object_new_object();

		/* json-c escapes the path: a quote or a backslash in --out stays JSON */
		json_object_object_add(j, "out", json_object_new_string(o->out));
		cli_print_answer(j);
		json_object_put(j);
	} else
		printf("report written to %s/ (report.json, report.csv, report.html)\n", o->out);
	return 0;
}

const char cmd_report_help[] = "usage: hvpatch report html|json|text|csv DIR\n"
			       "Render a finished 'bench run' (DIR/report.json) to stdout.\n";

CLI_CMD(cmd_report)
{
	json_object *rep = NULL;
	char err[512] = "";
	int r;

	optind = 1;
	if ((r = cli_positional(argc, argv, 2, "the format and DIR")))
		return r;
	if (strcmp(argv[1], "html") && strcmp(argv[1], "json") && strcmp(argv[1], "text") &&
	    strcmp(argv[1], "csv"))
		return usage_error("report: unknown format '%.64s' (html, json, text, csv)",
				   argv[1]);
	r = hvp_report_load(argv[2], &rep, err, sizeof(err));
	if (r < 0)
		return cli_fail(HVP_ERR_NOT_FOUND, "%s", err);
	r = hvp_report_render(rep, argv[1], stdout, err, sizeof(err));
	json_object_put(rep);
	if (r < 0)
		return cli_fail(HVP_ERR_INTERNAL, "%s", err);
	return 0;
}
