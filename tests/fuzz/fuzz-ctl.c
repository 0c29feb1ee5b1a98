// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target: the control-protocol decoder (protocol/hvp_ctl.c).
 *
 * Everything a peer can put on the control socket goes through
 * hvp_ctl_hdr_decode(), hvp_ctl_payload_parse() and then one of
 * hvp_ctl_request_check() (the service) or hvp_ctl_response_check() (the
 * CLI).  Input layout:
 *
 *   byte 0, bit 0 clear: "wire" mode; the rest is one message as it arrives
 *       on the socket: a 16-byte header, then payload bytes.  If the header
 *       decodes, min(hdr.len, remaining) bytes are parsed as the payload,
 *       exactly as ctl_recv() would after a short read.
 *   byte 0, bit 0 set:   "payload" mode; the rest is fed whole to
 *       hvp_ctl_payload_parse().
 *   byte 0 == 2 (mod 4): "socket" mode; the rest is written into one end of
 *       a socketpair, which is then shut down for writing, and read back
 *       with hvp_ctl_recv(), the service's and the CLI's real entry point
 *       (a message cut short must come back as -ECONNRESET, never a hang).
 *
 * Whatever parses is run through both checks, and the properties the
 * callers rely on are asserted (abort() on violation):
 *  - a decoded header re-encodes to the same 16 bytes;
 *  - a parsed payload is a JSON object;
 *  - an accepted request has a 1..64 character [a-z0-9_.-] "cmd" and an
 *    "args" object; an accepted response has a boolean "ok";
 *  - an accepted message serialises (as hvp_ctl_send() would) to a payload
 *    that parses and is accepted again.
 * The payload is always copied into a buffer of exactly the parsed length,
 * so any read past it is an ASan report.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hvp_ctl.h"

#define FUZZ_NAME "fuzz-ctl"
#include "fuzz.h"

/* An error message must be a NUL-terminated string inside its buffer. */
static void check_err(const char *err, size_t len)
{
	CHECK(memchr(err, '\0', len) != NULL);
}

static int payload_parse_copy(const uint8_t *p, size_t len, json_object **out)
{
	char *buf;
	int r;

	/* Exact-size copy: ASan catches any read past `len`. */
	buf = malloc(len ? len : 1);
	if (!buf)
		return -ENOMEM;
	if (len)
		memcpy(buf, p, len);
	r = hvp_ctl_payload_parse(buf, len, out);
	free(buf);
	return r;
}

static int reparse(json_object *obj, json_object **out)
{
	const char *s;
	size_t len = 0;

	s = json_object_to_json_string_length(obj, JSON_C_TO_STRING_PLAIN, &len);
	CHECK(s != NULL);
	return payload_parse_copy((const uint8_t *)s, len, out);
}

static void check_request(json_object *req, int depth)
{
	char err[128];
	const char *cmd = NULL;
	json_object *args = NULL, *again = NULL;
	size_t i, n;
	int r;

	memset(err, 'X', sizeof(err));
	r = hvp_ctl_request_check(req, &cmd, &args, err, sizeof(err));
	if (r < 0) {
		CHECK(r == -EBADMSG || r == -ENOMEM);
		check_err(err, sizeof(err));
		if (!depth)
			say("  not a request: %s\n", err);
		return;
	}
	if (!depth)
		say("  request: cmd %s\n", cmd);
	CHECK(cmd != NULL);
	n = strlen(cmd);
	CHECK(n >= 1 && n <= 64);
	for (i = 0; i < n; i++)
		CHECK((cmd[i] >= 'a' && cmd[i] <= 'z') || (cmd[i] >= '0' && cmd[i] <= '9') ||
		      cmd[i] == '_' || cmd[i] == '.' || cmd[i] == '-');
	CHECK(args != NULL && json_object_is_type(args, json_type_object));
	CHECK(json_object_object_get(req, "args") == args);

	/* A second check of the same object must not change the answer. */
	CHECK(hvp_ctl_request_check(req, NULL, NULL, NULL, 0) == 0);

	/* What hvp_ctl_send() would put on the wire must be accepted again. */
	if (depth == 0) {
		CHECK(reparse(req, &again) == 0);
		check_request(again, 1);
		json_object_put(again);
	}
}

static void check_response(json_object *resp, int depth)
{
	char err[128];
	json_object *ok, *again = NULL;
	int r;

	memset(err, 'X', sizeof(err));
	r = hvp_ctl_response_check(resp, err, sizeof(err));
	if (r < 0) {
		CHECK(r == -EBADMSG);
		check_err(err, sizeof(err));
		if (!depth)
			say("  not a response: %s\n", err);
		return;
	}
	if (!depth)
		say("  response\n");
	CHECK(json_object_object_get_ex(resp, "ok", &ok));
	CHECK(json_object_is_type(ok, json_type_boolean));
	if (!json_object_get_boolean(ok)) {
		json_object *e, *cls, *desc;

		CHECK(json_object_object_get_ex(resp, "error", &e));
		CHECK(json_object_object_get_ex(e, "class", &cls));
		CHECK(json_object_object_get_ex(e, "desc", &desc));
		CHECK(json_object_is_type(cls, json_type_string));
		CHECK(json_object_get_string_len(cls) > 0);
		CHECK(json_object_is_type(desc, json_type_string));
		CHECK(!json_object_object_get_ex(resp, "result", NULL));
	} else {
		CHECK(!json_object_object_get_ex(resp, "error", NULL));
	}
	/* A tiny error buffer: the reason is truncated, never overflowed. */
	CHECK(hvp_ctl_response_check(resp, err, 1) == 0);

	if (depth == 0) {
		CHECK(reparse(resp, &again) == 0);
		check_response(again, 1);
		json_object_put(again);
	}
}

static void check_object(json_object *obj)
{
	CHECK(obj != NULL && json_object_is_type(obj, json_type_object));
	/* The response check first: the request check may add "args". */
	check_response(obj, 0);
	check_request(obj, 0);
}

static void wire_mode(const uint8_t *data, size_t size)
{
	struct hvp_ctl_hdr h;
	uint8_t hdr[HVP_CTL_HDR_SIZE], again[HVP_CTL_HDR_SIZE];
	json_object *obj = NULL;
	size_t len;
	int r;

	if (size < HVP_CTL_HDR_SIZE)
		return;
	memcpy(hdr, data, sizeof(hdr));
	r = hvp_ctl_hdr_decode(hdr, &h);
	/* The header is filled in before validation (ctlsrv.c echoes seq). */
	hvp_ctl_hdr_encode(again, &h);
	CHECK(!memcmp(hdr, again, sizeof(hdr)));
	if (r < 0) {
		CHECK(r == -EPROTO || r == -EPROTONOSUPPORT || r == -EBADMSG || r == -EMSGSIZE);
		say("  header refused: %d\n", r);
		return;
	}
	CHECK(h.magic == HVP_CTL_MAGIC && h.version == HVP_CTL_VERSION);
	CHECK(h.type == HVP_CTL_T_REQUEST || h.type == HVP_CTL_T_RESPONSE);
	CHECK(h.len >= 1 && h.len <= HVP_CTL_MAX_PAYLOAD);

	data += HVP_CTL_HDR_SIZE;
	size -= HVP_CTL_HDR_SIZE;
	len = h.len < size ? h.len : size;
	r = payload_parse_copy(data, len, &obj);
	if (r < 0) {
		CHECK(obj == NULL);
		CHECK(r == -EBADMSG || r == -ENOMEM);
		say("  payload (%zu of %u bytes) refused: %d\n", len, (unsigned)h.len, r);
		return;
	}
	check_object(obj);
	json_object_put(obj);
}

static void payload_mode(const uint8_t *data, size_t size)
{
	json_object *obj = NULL;
	int r;

	r = payload_parse_copy(data, size, &obj);
	if (r < 0) {
		CHECK(obj == NULL);
		CHECK(r == -EBADMSG || r == -ENOMEM);
		say("  payload refused: %d\n", r);
		return;
	}
	check_object(obj);
	json_object_put(obj);
}

static void socket_mode(const uint8_t *data, size_t size)
{
	struct hvp_ctl_hdr h;
	json_object *obj = NULL;
	int sv[2], r, sndbuf = 1 << 20;

	if (size > 65536)
		return; /* must fit in the socket buffer: one write */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	if (size && write(sv[0], data, size) != (ssize_t)size)
		abort();
	shutdown(sv[0], SHUT_WR);
	r = hvp_ctl_recv(sv[1], &h, &obj, 5000);
	close(sv[0]);
	close(sv[1]);
	if (r < 0) {
		CHECK(obj == NULL);
		CHECK(r != -ETIMEDOUT); /* all the bytes and the EOF are there */
		say("  recv: %d\n", r);
		return;
	}
	CHECK(size >= HVP_CTL_HDR_SIZE + h.len);
	check_object(obj);
	json_object_put(obj);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		payload_mode(data + 1, size - 1);
	else if (data[0] & 2)
		socket_mode(data + 1, size - 1);
	else
		wire_mode(data + 1, size - 1);
	return 0;
}
