// SPDX-License-Identifier: GPL-2.0-only
/*
 * The backend registry (see backends.h).  The order is the order of
 * messages and of the bench's backend group.  The own VMM comes first: it
 * is vm start's default, and what doctor's probes and the bench's unit
 * costs run on.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "backends.h"
#include "util.h"

const struct hvp_backend_kind hvp_backend_kinds[] = {
	{
		.name = "kvm",
		.summary = "the own KVM VMM",
		.loads_image = true,
		.create = hvp_kvm_backend_create,
	},
	{
		.name = "qemu",
		.summary = "QEMU microvm launched by the service",
		.external = true,
		.create = hvp_qemu_create,
	},
	{
		.name = "libvirt",
		.summary = "a libvirt domain",
		.external = true,
		.takes_uri = true,
		.create = hvp_libvirt_create,
		.remove_files = hvp_libvirt_remove_root,
	},
};

const unsigned hvp_nr_backend_kinds = HVP_ARRAY_SIZE(hvp_backend_kinds);

const struct hvp_backend_kind *hvp_backend_kind_by_name(const char *name)
{
	unsigned i;

	for (i = 0; i < hvp_nr_backend_kinds; i++)
		if (!strcmp(hvp_backend_kinds[i].name, name))
			return &hvp_backend_kinds[i];
	return NULL;
}

unsigned hvp_backend_kind_index(const struct hvp_backend_kind *k)
{
	return (unsigned)(k - hvp_backend_kinds);
}

const char *hvp_backend_kind_list(char *buf, size_t len, const char *last)
{
	size_t n = 0;
	unsigned i;

	buf[0] = 0;
	for (i = 0; i < hvp_nr_backend_kinds && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s%s",
				      !i			    ? "" :
				      i + 1 == hvp_nr_backend_kinds ? last :
								      ", ",
				      hvp_backend_kinds[i].name);
	return buf;
}
