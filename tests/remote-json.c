// SPDX-License-Identifier: GPL-2.0-only
/*
 * hvp_remote_json() from the command line, for tests/ssh.sh:
 *   tests/remote-json URI ARG...
 * prints "STATUS CLASS ANSWER": the remote exit status (-1: no answer), the
 * error class ("-" on success) and the answer, or the error's description,
 * on one line.  Exits 0 whatever the remote said.
 */
#include "config.h"

#include <stdio.h>

#include <json-c/json.h>

#include "remote.h"

int main(int argc, char **argv)
{
	json_object *out;
	const char *cls;
	char err[1024];
	int r;

	if (argc < 2) {
		fprintf(stderr, "usage: remote-json URI ARG...\n");
		return 2;
	}
	r = hvp_remote_json(argv[1], argv + 2, &out, &cls, err, sizeof(err));
	if (r == 0) {
		printf("0 - %s\n", json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN));
		json_object_put(out);
	} else {
		printf("%d %s %s\n", r, cls, err);
	}
	return 0;
}
