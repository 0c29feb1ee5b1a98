/* SPDX-License-Identifier: GPL-2.0-only */
/* `hvpatch doctor`: what this host offers, found by asking and by probing. */
#ifndef HVP_DOCTOR_H
#define HVP_DOCTOR_H

#include <json-c/json.h>

/* Fills *out with a new object.  Returns 0, or -errno if nothing could run. */
int hvp_doctor_run(json_object **out);

/* The guest image to use: $HVPATCH_GUEST, next to the executable
 * (guest-agent/hvpatch-guest.elf), or the installed copy.  0 or -ENOENT. */
int hvp_guest_image_find(char *buf, size_t len);

#endif
