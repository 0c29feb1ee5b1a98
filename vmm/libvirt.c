// SPDX-License-Identifier: GPL-2.0-only
/* The libvirt backend: not written yet in this version. */
#include "config.h"

#include <errno.h>
#include <stdio.h>

#include "extvm.h"

int hvp_libvirt_create(struct hvp_backend **out, const struct hvp_libvirt_opts *o,
		       const struct hvp_backend_events *ev, char *err, size_t errlen)
{
	(void)out;
	(void)o;
	(void)ev;
	snprintf(err, errlen, "the libvirt backend is not built in this version");
	return -ENOTSUP;
}
