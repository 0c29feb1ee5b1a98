// SPDX-License-Identifier: GPL-2.0-only
/* hvpatch doctor: what this host offers. */
#include "config.h"

#include <getopt.h>
#include <string.h>

#include <json-c/json.h>

#include "builtin.h"
#include "doctor.h"
#include "hvp_ctl.h"

CLI_CMD(cmd_doctor)
{
	json_object *o;
	int r;

	optind = 1;
	if ((r = cli_positional(argc, argv, 0, "")))
		return r;
	r = hvp_doctor_run(&o);
	if (r < 0)
		return cli_fail(HVP_ERR_INTERNAL, "doctor: %s", strerror(-r));
	cli_print_answer(o);
	json_object_put(o);
	return 0;
}
