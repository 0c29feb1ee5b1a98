// SPDX-License-Identifier: GPL-2.0-only
/*
 * The patch methods and sync kinds as the CLI and the service present them:
 * built once here, so that `hvpatch -j patch methods` and the service's
 * "methods" request cannot drift apart.
 */
#include "config.h"

#include <string.h>

#include "methods.h"
#include "patch.h"
#include "util.h"

json_object *hvp_methods_json(void)
{
	json_object *arr = json_object_new_array();
	int i;

	for (i = 0; i < HVP_METHOD__COUNT; i++) {
		json_object *m = json_object_new_object();

		json_object_object_add(m, "name", json_object_new_string(hvp_methods[i].name));
		json_object_object_add(m, "summary",
				       json_object_new_string(hvp_methods[i].summary));
		json_object_object_add(m, "unsafe", json_object_new_boolean(hvp_methods[i].unsafe));
		json_object_array_add(arr, m);
	}
	return arr;
}

int hvp_sync_by_name(const char *name)
{
	/* every kind; hvp_sync_name() is the one spelling of each */
	static const enum hvp_sync_kind kinds[] = { HVP_SYNC_KICK, HVP_SYNC_NMI };
	unsigned i;

	for (i = 0; i < HVP_ARRAY_SIZE(kinds); i++)
		if (!strcmp(hvp_sync_name(kinds[i]), name))
			return (int)kinds[i];
	return -1;
}
