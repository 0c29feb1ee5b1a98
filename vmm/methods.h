/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The patch methods and sync kinds as the CLI and the service present them.
 * The names themselves are the engine's (hvp_methods[], hvp_sync_name()).
 */
#ifndef HVP_METHODS_H
#define HVP_METHODS_H

#include <json-c/json.h>

/* [{"name","summary","unsafe"}, ...] in hvp_methods[] order: `patch methods -j`, "methods". */
json_object *hvp_methods_json(void);
/* The sync kind spelled name (as hvp_sync_name() spells it), or -1. */
int hvp_sync_by_name(const char *name);

#endif /* HVP_METHODS_H */
