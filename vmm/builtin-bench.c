// SPDX-License-Identifier: GPL-2.0-only
/* hvpatch bench run, report: the comparison matrix and its reports. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "bench.h"
#include "builtin.h"
#include "hvp_ctl.h"
#include "methods.h"
#include "patch.h"
#ifdef HVP_HAVE_REPORT
#include "report.h"
#endif

static int parse_list(const char *opt, const char *s, uint64_t *out, unsigned *n, uint64_t max)
{
	char buf[256], *save = NULL, *tok;

	if (strlen(s) >= sizeof(buf))
		return usage_error("%s: list too long", opt);
	snprintf(buf, sizeof(buf), "%s", s);
	*n = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (*n == HVP_BENCH_MAX_LIST)
			return usage_error("%s: at most %d values", opt, HVP_BENCH_MAX_LIST);
		if (!strcmp(tok, "max") || !strcmp(tok, "tight"))
			out[(*n)++] = 0;
		else if (cli_parse_u64(opt, tok, 0, max, &out[(*n)++]))
			return EXIT_USAGE;
	}
	return *n ? 0 : usage_error("%s: empty list", opt);
}

static const char bench_help[] =
	"usage: hvpatch bench run [options]\n"
	"Run the comparison matrix on fresh VMs and write DIR/report.json, report.csv\n"
	"and report.html.  Methods are interleaved; host unit costs are measured first.\n"
	"  --quick            a short run (under 3 minutes here) covering every method\n"
	"  --out DIR          where to write (default ./hvpatch-report)\n"
	"  --vcpus LIST       vCPU counts of the latency group (default 1,2)\n"
	"  --methods LIST     of stop, bp-cancel, bp-emulate (default all three)\n"
	"  --sync LIST        of kick, nmi (default both)\n"
	"  --rates LIST       workload passes/s for the hit-rate sweep; max = tight loop\n"
	"  --nmi-rates LIST   NMI rates (Hz) for the NMI sweep\n"
	"  --sites LIST       key sizes for the batch sweep, of 1,16,256,1024\n"
	"  --repeat N         samples per cell (default 10 quick, 20 full)\n"
	"  --backends LIST    of kvm, qemu, libvirt for the backend group (default all;\n"
	"                     one this host lacks is skipped and said so)\n"
	"  --image PATH       guest ELF\n";

int cmd_bench_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "out", required_argument, NULL, 'o' },
		{ "vcpus", required_argument, NULL, 'v' },
		{ "methods", required_argument, NULL, 'm' },
		{ "sync", required_argument, NULL, 's' },
		{ "rates", required_argument, NULL, 'r' },
		{ "nmi-rates", required_argument, NULL, 'n' },
		{ "sites", required_argument, NULL, 'S' },
		{ "repeat", required_argument, NULL, 'R' },
		{ "backends", required_argument, NULL, 'B' },
		{ "image", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct hvp_bench_opts o = { 0 };
	const char *image = NULL;
	uint64_t list[HVP_BENCH_MAX_LIST], v;
	char err[512] = "", buf[256], *save, *tok;
	unsigned n, i;
	int c, r;

	snprintf(o.out, sizeof(o.out), "hvpatch-report");
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'q':
			o.quick = true;
			break;
		case 'o':
			if (!*optarg || strlen(optarg) >= sizeof(o.out))
				return usage_error("--out: '%.64s' is not a directory name", optarg);
			snprintf(o.out, sizeof(o.out), "%s", optarg);
			break;
		case 'v':
		case 'S':
			if ((r = parse_list(c == 'v' ? "--vcpus" : "--sites", optarg, list, &n,
					    c == 'v' ? 64 : 1024)))
				return r;
			for (i = 0; i < n; i++) {
				if (c == 'v' && list[i] == 0)
					return usage_error("--vcpus: 0 vCPUs");
				if (c == 'S' && list[i] != 1 && list[i] != 16 && list[i] != 256 &&
				    list[i] != 1024)
					return usage_error("--sites: the guest has keys of 1, 16, 256 and 1024 sites");
				if (c == 'v')
					o.vcpus[i] = (unsigned)list[i];
				else
					o.sites[i] = (unsigned)list[i];
			}
			if (c == 'v')
				o.nr_vcpus = n;
			else
				o.nr_sites = n;
			break;
		case 'r':
			if ((r = parse_list("--rates", optarg, o.rates, &o.nr_rates, 1000000000)))
				return r;
			break;
		case 'n':
			if ((r = parse_list("--nmi-rates", optarg, o.nmi_rates, &o.nr_nmi_rates, 100000)))
				return r;
			break;
		case 'm':
		case 's':
			if (strlen(optarg) >= sizeof(buf) || !strpbrk(optarg, "abcdefghijklmnopqrstuvwxyz"))
				return usage_error("%s: '%.64s' is not a comma list of %s",
						   c == 'm' ? "--methods" : "--sync", optarg,
						   c == 'm' ? "stop, bp-cancel, bp-emulate" : "kick, nmi");
			snprintf(buf, sizeof(buf), "%s", optarg);
			save = NULL;
			for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
				int m = c == 'm' ? hvp_method_by_name(tok) : hvp_sync_by_name(tok);

				if (m < 0 || (c == 'm' && hvp_methods[m].unsafe))
					return usage_error("%s: '%.64s' is not one of %s", c == 'm' ?
							   "--methods" : "--sync", tok, c == 'm' ?
							   "stop, bp-cancel, bp-emulate" : "kick, nmi");
				if (c == 'm')
					o.methods |= 1u << m;
				else
					o.syncs |= 1u << m;
			}
			break;
		case 'R':
			if (cli_parse_u64("--repeat", optarg, 1, 256, &v))
				return EXIT_USAGE;
			o.repeat = (unsigned)v;
			break;
		case 'B':
			snprintf(buf, sizeof(buf), "%s", optarg);
			save = NULL;
			for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
				for (i = 0; i < HVP_BENCH_NR_BE; i++)
					if (!strcmp(tok, hvp_bench_backends[i]))
						break;
				if (i == HVP_BENCH_NR_BE)
					return usage_error("--backends: '%s' is not one of kvm, qemu, libvirt",
							   tok);
				o.backends |= 1u << i;
			}
			break;
		case 'i':
			image = optarg;
			break;
		case 'h':
			fputs(bench_help, stdout);
			return 0;
		default:
			return usage_error("bench run: bad option (see 'hvpatch bench run --help')");
		}
	}
	if ((r = cli_positional(argc, argv, 0, "")))
		return r;
	if ((r = cli_find_image(o.image, sizeof(o.image), image)))
		return r;
	o.progress = isatty(STDERR_FILENO) && !cli_json_mode;
	hvp_bench_defaults(&o);
	r = hvp_bench_run(&o, err, sizeof(err));
	if (r < 0)
		return cli_fail(HVP_ERR_INTERNAL, "bench: %s", err);
	if (cli_json_mode)
		printf("{\"out\":\"%s\"}\n", o.out);
	else
		printf("report written to %s/ (report.json, report.csv, report.html)\n", o.out);
	return 0;
}

int cmd_report(int argc, char **argv)
{
	json_object *rep = NULL;
	char err[512] = "";
	int r;

	optind = 1;
	if (cli_want_help(argc, argv)) {
		printf("usage: hvpatch report html|json|text|csv DIR\n"
		       "Render a finished 'bench run' (DIR/report.json) to stdout.\n");
		return 0;
	}
	if ((r = cli_positional(argc, argv, 2, "the format and DIR")))
		return r;
	if (strcmp(argv[1], "html") && strcmp(argv[1], "json") && strcmp(argv[1], "text") &&
	    strcmp(argv[1], "csv"))
		return usage_error("report: unknown format '%.64s' (html, json, text, csv)", argv[1]);
#ifndef HVP_HAVE_REPORT
	(void)rep;
	(void)err;
	return cli_fail(HVP_ERR_INTERNAL, "the report renderer is not built in this version");
#else
	r = hvp_report_load(argv[2], &rep, err, sizeof(err));
	if (r < 0)
		return cli_fail(HVP_ERR_NOT_FOUND, "%s", err);
	r = hvp_report_render(rep, argv[1], stdout, err, sizeof(err));
	json_object_put(rep);
	if (r < 0)
		return cli_fail(HVP_ERR_INTERNAL, "%s", err);
	return 0;
#endif
}
