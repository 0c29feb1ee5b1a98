// SPDX-License-Identifier: GPL-2.0-only
/*
 * The control socket is the service's door: every malformed header, payload
 * or request must be refused with the right errno, and a live server must
 * keep answering well-behaved clients whatever the others do (garbage, huge
 * lengths, silence, floods).  The live part runs the real server in-process
 * on a socket under a fresh mkdtemp directory.
 *
 * Timing: the only lower bound asserted is the server's 5 s request deadline;
 * upper bounds are several seconds, far above what a loaded 2-core box needs.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#else
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctlsrv.h"
#include "hvp_ctl.h"
#include "tap.h"
#include "util.h"

#define IO_MS		5000 /* client-side deadline for one exchange */
#define SRV_IDLE_S	5    /* the server's per-request deadline */
#define NR_CALLERS	50
#define SRV_MAX_CLIENTS 128
#define NOBODY		65534

static char dir[64];
static char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static int handler_entered; /* set by echo_fn on {"mark": true} */

/* ---- helpers ---- */

static const char *str_at(json_object *obj, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_string))
		return "";
	return json_object_get_string(v);
}

static bool resp_ok(json_object *resp)
{
	json_object *v;

	return json_object_object_get_ex(resp, "ok", &v) && json_object_get_boolean(v);
}

static bool resp_is_error(json_object *resp, const char *cls)
{
	json_object *e;

	if (resp_ok(resp) || !json_object_object_get_ex(resp, "error", &e))
		return false;
	return !strcmp(str_at(e, "class"), cls);
}

static const char *resp_desc(json_object *resp)
{
	json_object *e;

	return json_object_object_get_ex(resp, "error", &e) ? str_at(e, "desc") : "";
}

static json_object *result_of(json_object *resp)
{
	json_object *v;

	return json_object_object_get_ex(resp, "result", &v) ? v : NULL;
}

static int64_t int_at(json_object *obj, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(obj, key, &v))
		return -1;
	return json_object_get_int64(v);
}

static int raw_connect(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		close(fd);
		return -errno;
	}
	return fd;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int raw_hdr(int fd, uint32_t magic, uint16_t version, uint16_t type, uint32_t len,
		   uint32_t seq)
{
	struct hvp_ctl_hdr h = {
		.magic = magic,
		.version = version,
		.type = type,
		.len = len,
		.seq = seq,
	};
	uint8_t b[HVP_CTL_HDR_SIZE];

	hvp_ctl_hdr_encode(b, &h);
	return write_all(fd, b, sizeof(b));
}

/* A well-framed message with an arbitrary payload. */
static int raw_msg(int fd, uint16_t type, uint32_t seq, const char *payload)
{
	int r;

	r = raw_hdr(fd, HVP_CTL_MAGIC, HVP_CTL_VERSION, type, (uint32_t)strlen(payload), seq);
	return r < 0 ? r : write_all(fd, payload, strlen(payload));
}

/* Read one response: true if it is a valid error of class cls echoing seq. */
static bool got_error(int fd, uint32_t seq, const char *cls)
{
	struct hvp_ctl_hdr h;
	json_object *o;
	bool ok;
	int r;

	r = hvp_ctl_recv(fd, &h, &o, IO_MS);
	if (r < 0) {
		printf("# recv: %s\n", strerror(-r));
		return false;
	}
	ok = h.type == HVP_CTL_T_RESPONSE && h.seq == seq && !hvp_ctl_response_check(o, NULL, 0) &&
	     resp_is_error(o, cls);
	if (!ok)
		printf("# got seq %u: %s\n", h.seq, json_object_to_json_string(o));
	json_object_put(o);
	return ok;
}

/* Read one response: true if it is ok and echoes seq. */
static bool got_ok(int fd, uint32_t seq)
{
	struct hvp_ctl_hdr h;
	json_object *o;
	bool ok;

	if (hvp_ctl_recv(fd, &h, &o, IO_MS) < 0)
		return false;
	ok = h.type == HVP_CTL_T_RESPONSE && h.seq == seq && resp_ok(o);
	json_object_put(o);
	return ok;
}

/* The peer hung up (EOF or reset) within timeout_ms. */
static bool hung_up(int fd, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char c;
	ssize_t n;

	if (poll(&pfd, 1, timeout_ms) <= 0)
		return false;
	n = recv(fd, &c, 1, MSG_DONTWAIT);
	return n == 0 || (n < 0 && errno == ECONNRESET);
}

static int call(const char *cmd, json_object *args, json_object **resp)
{
	return hvp_ctl_call(sock_path, cmd, args, IO_MS, resp);
}

/* ---- header ---- */

static int decode_fields(uint32_t magic, uint16_t version, uint16_t type, uint32_t len)
{
	struct hvp_ctl_hdr h = {
		.magic = magic, .version = version, .type = type, .len = len, .seq = 1,
	}, d;
	uint8_t b[HVP_CTL_HDR_SIZE];

	hvp_ctl_hdr_encode(b, &h);
	return hvp_ctl_hdr_decode(b, &d);
}

static void test_header(void)
{
	static const uint8_t want[HVP_CTL_HDR_SIZE] = {
		'H', 'V', 'P', 'C', 1, 0, 2, 0, 0x34, 0x12, 0x0f, 0, 0xef, 0xbe, 0xad, 0xde,
	};
	struct hvp_ctl_hdr h = {
		.magic = HVP_CTL_MAGIC, .version = HVP_CTL_VERSION, .type = HVP_CTL_T_RESPONSE,
		.len = 0x0f1234, .seq = 0xdeadbeef,
	}, d;
	uint8_t b[HVP_CTL_HDR_SIZE];
	const uint32_t M = HVP_CTL_MAGIC;
	const uint16_t V = HVP_CTL_VERSION, T = HVP_CTL_T_REQUEST;

	hvp_ctl_hdr_encode(b, &h);
	tap_ok(!memcmp(b, want, sizeof(b)), "header: encoded little-endian field by field");
	memset(&d, 0xa5, sizeof(d));
	tap_ok(hvp_ctl_hdr_decode(b, &d) == 0 && d.magic == h.magic && d.version == h.version &&
		       d.type == h.type && d.len == h.len && d.seq == h.seq,
	       "header: decode(encode(h)) == h");

	tap_ok(decode_fields(M, V, T, 1) == 0, "header: len 1 accepted");
	tap_ok(decode_fields(M, V, T, HVP_CTL_MAX_PAYLOAD) == 0, "header: len == cap accepted");
	tap_ok(decode_fields(0x48505643, V, T, 1) == -EPROTO,
	       "header: byte-swapped magic -> EPROTO");
	tap_ok(decode_fields(0, V, T, 1) == -EPROTO, "header: zero magic -> EPROTO");
	tap_ok(decode_fields(M, 0, T, 1) == -EPROTONOSUPPORT,
	       "header: version 0 -> EPROTONOSUPPORT");
	tap_ok(decode_fields(M, V + 1, T, 1) == -EPROTONOSUPPORT,
	       "header: version+1 -> EPROTONOSUPPORT");
	tap_ok(decode_fields(M, V, 0, 1) == -EBADMSG, "header: type 0 -> EBADMSG");
	tap_ok(decode_fields(M, V, 3, 1) == -EBADMSG, "header: type 3 -> EBADMSG");
	tap_ok(decode_fields(M, V, 0xffff, 1) == -EBADMSG, "header: type 0xffff -> EBADMSG");
	tap_ok(decode_fields(M, V, T, 0) == -EMSGSIZE, "header: len 0 -> EMSGSIZE");
	tap_ok(decode_fields(M, V, T, HVP_CTL_MAX_PAYLOAD + 1) == -EMSGSIZE,
	       "header: len cap+1 -> EMSGSIZE");
	tap_ok(decode_fields(M, V, T, 0xffffffffu) == -EMSGSIZE, "header: len 2^32-1 -> EMSGSIZE");

	/* The server echoes seq even from a refused header. */
	h.len = 1u << 31;
	hvp_ctl_hdr_encode(b, &h);
	tap_ok(hvp_ctl_hdr_decode(b, &d) == -EMSGSIZE && d.seq == 0xdeadbeef && d.len == 1u << 31,
	       "header: fields are filled in even when refused");
}

/* ---- payload ---- */

/* Parse from an exact-size heap copy, so that ASan sees any read past len. */
static int parse_n(const char *s, size_t len)
{
	json_object *o = (json_object *)&o;
	char *buf;
	int r;

	buf = malloc(len ? len : 1);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, s, len);
	r = hvp_ctl_payload_parse(buf, len, &o);
	free(buf);
	if (r == 0 && !json_object_is_type(o, json_type_object))
		r = -1000;
	if (r < 0 && o)
		r = -1001; /* *out must be NULL on failure */
	if (r == 0)
		json_object_put(o);
	return r;
}

#define PARSE(lit) parse_n(lit, sizeof(lit) - 1)

static char *nested(int depth)
{
	char *s = malloc((size_t)depth * 6 + 3), *p = s;
	int i;

	for (i = 0; i < depth - 1; i++)
		p += sprintf(p, "{\"a\":");
	p += sprintf(p, "{}");
	for (i = 0; i < depth - 1; i++)
		*p++ = '}';
	*p = '\0';
	return s;
}

static void test_payload(void)
{
	char *s;

	tap_ok(PARSE("{\"cmd\":\"info\"}") == 0, "payload: plain object");
	tap_ok(PARSE(" \t{\"a\" : [1, {\"b\": null}], \"c\": \"\\u00e9\"}\r\n") == 0,
	       "payload: object with surrounding whitespace");
	tap_ok(PARSE("{}") == 0, "payload: empty object");
	tap_ok(PARSE("[1,2]") == -EBADMSG, "payload: array top level -> EBADMSG");
	tap_ok(PARSE("\"str\"") == -EBADMSG, "payload: string top level -> EBADMSG");
	tap_ok(PARSE("42 ") == -EBADMSG, "payload: number top level -> EBADMSG");
	tap_ok(PARSE("null") == -EBADMSG, "payload: null top level -> EBADMSG");
	tap_ok(PARSE("{\"a\":1") == -EBADMSG, "payload: truncated object -> EBADMSG");
	tap_ok(PARSE("{\"a\":\"xy") == -EBADMSG, "payload: truncated string -> EBADMSG");
	tap_ok(PARSE("{\"a\":1} x") == -EBADMSG, "payload: trailing garbage -> EBADMSG");
	tap_ok(PARSE("{\"a\":1}{}") == -EBADMSG, "payload: two objects -> EBADMSG");
	tap_ok(parse_n("{\"a\":1}\0", 8) == -EBADMSG, "payload: trailing NUL -> EBADMSG");
	tap_ok(parse_n("{\"a\0b\":1}", 10) == -EBADMSG, "payload: NUL inside a key -> EBADMSG");
	tap_ok(parse_n("\0{}", 3) == -EBADMSG, "payload: leading NUL -> EBADMSG");
	tap_ok(parse_n("", 0) == -EBADMSG, "payload: empty -> EBADMSG");
	tap_ok(PARSE("{\"a\":\"\xff\xfe\"}") == -EBADMSG, "payload: invalid UTF-8 -> EBADMSG");
	tap_ok(PARSE("{\"a\":1,}") == -EBADMSG, "payload: trailing comma -> EBADMSG");

	s = nested(32);
	tap_ok(parse_n(s, strlen(s)) == 0, "payload: nesting depth 32 accepted");
	free(s);
	s = nested(33);
	tap_ok(parse_n(s, strlen(s)) == -EBADMSG, "payload: nesting depth 33 -> EBADMSG");
	free(s);
	s = nested(5000);
	tap_ok(parse_n(s, strlen(s)) == -EBADMSG, "payload: nesting depth 5000 -> EBADMSG");
	free(s);
}

/* ---- request and response checks ---- */

static int check_req(const char *json)
{
	json_object *req, *args;
	const char *cmd;
	char err[128] = "";
	int r;

	req = json_tokener_parse(json);
	if (!req)
		return -1000;
	r = hvp_ctl_request_check(req, &cmd, &args, err, sizeof(err));
	if (r < 0 && !err[0])
		r = -1001; /* a refusal must say why */
	json_object_put(req);
	return r;
}

static void test_request_check(void)
{
	char cmd64[80], buf[128];
	json_object *req, *args = NULL, *v;
	const char *cmd = NULL;
	char err[128];
	int r;

	req = json_tokener_parse("{\"cmd\":\"patch.apply-2_x\",\"args\":{\"key\":\"k\"}}");
	r = hvp_ctl_request_check(req, &cmd, &args, err, sizeof(err));
	tap_ok(r == 0 && cmd && !strcmp(cmd, "patch.apply-2_x") &&
		       json_object_object_get_ex(args, "key", &v),
	       "request: good request gives cmd and args");
	json_object_put(req);

	req = json_tokener_parse("{\"cmd\":\"info\"}");
	args = NULL;
	r = hvp_ctl_request_check(req, &cmd, &args, err, sizeof(err));
	tap_ok(r == 0 && json_object_is_type(args, json_type_object) &&
		       json_object_object_length(args) == 0 &&
		       json_object_object_get_ex(req, "args", &v) && v == args,
	       "request: missing args becomes an attached empty object");
	json_object_put(req);

	memset(cmd64, 'a', 64);
	cmd64[64] = '\0';
	snprintf(buf, sizeof(buf), "{\"cmd\":\"%s\"}", cmd64);
	tap_ok(check_req(buf) == 0, "request: 64-char cmd accepted");
	snprintf(buf, sizeof(buf), "{\"cmd\":\"%sa\"}", cmd64);
	tap_ok(check_req(buf) == -EBADMSG, "request: 65-char cmd -> EBADMSG");

	tap_ok(check_req("{\"args\":{}}") == -EBADMSG, "request: missing cmd -> EBADMSG");
	tap_ok(check_req("{\"cmd\":5}") == -EBADMSG, "request: numeric cmd -> EBADMSG");
	tap_ok(check_req("{\"cmd\":null}") == -EBADMSG, "request: null cmd -> EBADMSG");
	tap_ok(check_req("{\"cmd\":[\"info\"]}") == -EBADMSG, "request: array cmd -> EBADMSG");
	tap_ok(check_req("{\"cmd\":\"\"}") == -EBADMSG, "request: empty cmd -> EBADMSG");
	tap_ok(check_req("{\"cmd\":\"Info\"}") == -EBADMSG, "request: upper case cmd -> EBADMSG");
	tap_ok(check_req("{\"cmd\":\"in fo\"}") == -EBADMSG, "request: space in cmd -> EBADMSG");
	tap_ok(check_req("{\"cmd\":\"../x\"}") == -EBADMSG, "request: slash in cmd -> EBADMSG");
	tap_ok(check_req("{\"cmd\":\"info\\u0000x\"}") == -EBADMSG,
	       "request: escaped NUL in cmd -> EBADMSG");
	tap_ok(check_req("{\"cmd\":\"info\\u00e9\"}") == -EBADMSG,
	       "request: non-ASCII cmd -> EBADMSG");
	tap_ok(check_req("{\"cmd\":\"info\",\"args\":[]}") == -EBADMSG,
	       "request: array args -> EBADMSG");
	tap_ok(check_req("{\"cmd\":\"info\",\"args\":null}") == -EBADMSG,
	       "request: null args -> EBADMSG");
	tap_ok(check_req("{\"cmd\":\"info\",\"args\":\"x\"}") == -EBADMSG,
	       "request: string args -> EBADMSG");
	tap_ok(check_req("{\"cmd\":\"info\",\"argz\":{}}") == -EBADMSG,
	       "request: unknown key -> EBADMSG");
	tap_ok(check_req("[\"info\"]") == -EBADMSG, "request: not an object -> EBADMSG");
}

static int check_resp(const char *json)
{
	json_object *resp;
	char err[128] = "";
	int r;

	resp = json_tokener_parse(json);
	if (!resp)
		return -1000;
	r = hvp_ctl_response_check(resp, err, sizeof(err));
	if (r < 0 && !err[0])
		r = -1001;
	json_object_put(resp);
	return r;
}

/* Is s valid UTF-8?  Asked of the protocol's own parser, as a peer would. */
static bool utf8_valid(const char *s)
{
	json_object *o = json_object_new_object(), *back = NULL;
	const char *js;
	bool ok;

	json_object_object_add(o, "s", json_object_new_string(s));
	js = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	ok = hvp_ctl_payload_parse(js, strlen(js), &back) == 0;
	json_object_put(back);
	json_object_put(o);
	return ok;
}

/*
 * An unknown key is quoted in the reason, cut at 64 bytes; a cut inside a
 * character would make the ProtocolError answer invalid UTF-8, which the
 * client's parser then refuses whole.
 */
static void test_key_quote(void)
{
	json_object *o;
	char key[80], err[128] = "";
	int r;

	memset(key, 'k', 63);
	strcpy(key + 63, "\xc3\xa9"); /* 'é' straddles byte 64 */
	o = json_object_new_object();
	json_object_object_add(o, "cmd", json_object_new_string("info"));
	json_object_object_add(o, key, json_object_new_int(1));
	r = hvp_ctl_request_check(o, NULL, NULL, err, sizeof(err));
	tap_ok(r == -EBADMSG && utf8_valid(err),
	       "request: an unknown key is quoted without cutting a character (%d)", r);
	json_object_put(o);

	o = json_object_new_object();
	json_object_object_add(o, "ok", json_object_new_boolean(1));
	json_object_object_add(o, key, json_object_new_int(1));
	err[0] = '\0';
	r = hvp_ctl_response_check(o, err, sizeof(err));
	tap_ok(r == -EBADMSG && utf8_valid(err),
	       "response: an unknown key is quoted without cutting a character (%d)", r);
	json_object_put(o);

	o = json_tokener_parse("{\"ok\":false,\"error\":{\"class\":\"X\",\"desc\":\"x\"}}");
	json_object_object_add(json_object_object_get(o, "error"), key, json_object_new_int(1));
	err[0] = '\0';
	r = hvp_ctl_response_check(o, err, sizeof(err));
	tap_ok(r == -EBADMSG && utf8_valid(err),
	       "response: an unknown error key is quoted without cutting a character (%d)", r);
	json_object_put(o);
}

static void test_response_check(void)
{
	tap_ok(check_resp("{\"ok\":true}") == 0, "response: ok without result");
	tap_ok(check_resp("{\"ok\":true,\"result\":[1,2]}") == 0, "response: ok with result");
	tap_ok(check_resp("{\"ok\":true,\"result\":null}") == 0, "response: ok with null result");
	tap_ok(check_resp("{\"ok\":false,\"error\":{\"class\":\"NotFound\",\"desc\":\"x\"}}") == 0,
	       "response: well-formed error");
	tap_ok(check_resp("{\"result\":1}") == -EBADMSG, "response: missing ok -> EBADMSG");
	tap_ok(check_resp("{\"ok\":1}") == -EBADMSG, "response: numeric ok -> EBADMSG");
	tap_ok(check_resp("{\"ok\":\"true\"}") == -EBADMSG, "response: string ok -> EBADMSG");
	tap_ok(check_resp("{\"ok\":false}") == -EBADMSG,
	       "response: error without error -> EBADMSG");
	tap_ok(check_resp("{\"ok\":false,\"error\":\"boom\"}") == -EBADMSG,
	       "response: error not an object -> EBADMSG");
	tap_ok(check_resp("{\"ok\":false,\"error\":{\"desc\":\"x\"}}") == -EBADMSG,
	       "response: error without class -> EBADMSG");
	tap_ok(check_resp("{\"ok\":false,\"error\":{\"class\":7,\"desc\":\"x\"}}") == -EBADMSG,
	       "response: numeric class -> EBADMSG");
	tap_ok(check_resp("{\"ok\":false,\"error\":{\"class\":\"\",\"desc\":\"x\"}}") == -EBADMSG,
	       "response: empty class -> EBADMSG");
	tap_ok(check_resp("{\"ok\":false,\"error\":{\"class\":\"NotFound\"}}") == -EBADMSG,
	       "response: error without desc -> EBADMSG");
	tap_ok(check_resp("{\"ok\":false,\"error\":{\"class\":\"X\",\"desc\":null}}") == -EBADMSG,
	       "response: null desc -> EBADMSG");
	tap_ok(check_resp("{\"ok\":true,\"error\":{\"class\":\"X\",\"desc\":\"x\"}}") == -EBADMSG,
	       "response: ok with error -> EBADMSG");
	tap_ok(check_resp("{\"ok\":false,\"result\":1,"
			  "\"error\":{\"class\":\"X\",\"desc\":\"x\"}}") == -EBADMSG,
	       "response: error with result -> EBADMSG");
	tap_ok(check_resp("{\"ok\":true,\"extra\":1}") == -EBADMSG,
	       "response: unknown key -> EBADMSG");
	tap_ok(check_resp("[true]") == -EBADMSG, "response: not an object -> EBADMSG");
}

static void test_builders(void)
{
	json_object *o, *args;
	const char *cmd;
	char err[128];

	o = hvp_ctl_ok_new(NULL);
	tap_ok(o && !hvp_ctl_response_check(o, err, sizeof(err)) && resp_ok(o) && !result_of(o),
	       "builder: ok without result is a valid response");
	json_object_put(o);

	o = hvp_ctl_ok_new(json_object_new_int(7));
	tap_ok(o && !hvp_ctl_response_check(o, err, sizeof(err)) &&
		       json_object_get_int(result_of(o)) == 7,
	       "builder: ok with result");
	json_object_put(o);

	o = hvp_ctl_error_new(HVP_ERR_USAGE, "bad %s %d", "arg", 3);
	tap_ok(o && !hvp_ctl_response_check(o, err, sizeof(err)) &&
		       resp_is_error(o, HVP_ERR_USAGE) && !strcmp(resp_desc(o), "bad arg 3"),
	       "builder: error has class and formatted desc");
	json_object_put(o);

	args = json_object_new_object();
	json_object_object_add(args, "n", json_object_new_int(1));
	o = hvp_ctl_request_new("stats", args);
	tap_ok(o && !hvp_ctl_request_check(o, &cmd, &args, err, sizeof(err)) &&
		       !strcmp(cmd, "stats") && int_at(args, "n") == 1,
	       "builder: request passes request_check");
	json_object_put(o);
}

/* ---- message I/O over a socketpair ---- */

struct big_send {
	int fd;
	json_object *obj;
	int r;
};

static void *big_sender(void *arg)
{
	struct big_send *b = arg;

	b->r = hvp_ctl_send(b->fd, HVP_CTL_T_REQUEST, 99, b->obj, 10000);
	return NULL;
}

static json_object *blob(size_t n)
{
	json_object *o = json_object_new_object();
	char *s = malloc(n + 1);

	memset(s, 'x', n);
	s[n] = '\0';
	json_object_object_add(o, "blob", json_object_new_string(s));
	free(s);
	return o;
}

static void test_io(void)
{
	struct hvp_ctl_hdr h;
	struct big_send b;
	json_object *o, *got;
	pthread_t tid;
	int sv[2], r;

	socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
	o = hvp_ctl_request_new("echo", NULL);
	r = hvp_ctl_send(sv[0], HVP_CTL_T_REQUEST, 42, o, IO_MS);
	tap_ok(r == 0, "io: send");
	r = hvp_ctl_recv(sv[1], &h, &got, IO_MS);
	tap_ok(r == 0 && h.type == HVP_CTL_T_REQUEST && h.seq == 42 && json_object_equal(o, got),
	       "io: recv gets the same object, type and seq");
	json_object_put(got);
	json_object_put(o);

	r = hvp_ctl_recv(sv[1], &h, &got, 100);
	tap_ok(r == -ETIMEDOUT && !got, "io: silent peer -> ETIMEDOUT");

	/* A big message needs many partial writes and reads. */
	b.fd = sv[0];
	b.obj = blob(HVP_CTL_MAX_PAYLOAD - 64);
	pthread_create(&tid, NULL, big_sender, &b);
	r = hvp_ctl_recv(sv[1], &h, &got, 10000);
	pthread_join(tid, NULL);
	tap_ok(b.r == 0 && r == 0 && h.seq == 99 && json_object_equal(b.obj, got),
	       "io: payload near the cap survives partial reads and writes");
	json_object_put(got);
	json_object_put(b.obj);

	b.obj = blob(HVP_CTL_MAX_PAYLOAD);
	r = hvp_ctl_send(sv[0], HVP_CTL_T_REQUEST, 1, b.obj, IO_MS);
	tap_ok(r == -EMSGSIZE, "io: send refuses a payload over the cap");
	tap_ok(hvp_ctl_recv(sv[1], &h, &got, 0) == -ETIMEDOUT, "io: ...and writes nothing");
	json_object_put(b.obj);

	raw_hdr(sv[0], HVP_CTL_MAGIC, HVP_CTL_VERSION, HVP_CTL_T_REQUEST, 1u << 31, 5);
	r = hvp_ctl_recv(sv[1], &h, &got, IO_MS);
	tap_ok(r == -EMSGSIZE && h.len == 1u << 31 && h.seq == 5 && !got,
	       "io: a 2 GiB header is refused before any payload is read");

	raw_hdr(sv[0], HVP_CTL_MAGIC, HVP_CTL_VERSION, HVP_CTL_T_REQUEST, 100, 6);
	write_all(sv[0], "{\"cmd\":", 7);
	close(sv[0]);
	r = hvp_ctl_recv(sv[1], &h, &got, IO_MS);
	tap_ok(r == -ECONNRESET, "io: EOF mid-payload -> ECONNRESET");
	close(sv[1]);

	socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
	write_all(sv[0], "HVPC\1", 5);
	close(sv[0]);
	tap_ok(hvp_ctl_recv(sv[1], &h, &got, IO_MS) == -ECONNRESET,
	       "io: EOF mid-header -> ECONNRESET");
	tap_ok(hvp_ctl_recv(sv[1], &h, &got, IO_MS) == -ECONNRESET,
	       "io: EOF before a message -> ECONNRESET");
	/* SIGPIPE is left at its default here: reaching the next line is the test. */
	o = hvp_ctl_ok_new(NULL);
	r = hvp_ctl_send(sv[1], HVP_CTL_T_RESPONSE, 1, o, IO_MS);
	tap_ok(r == -EPIPE, "io: send to a closed peer -> EPIPE, no SIGPIPE");
	json_object_put(o);
	close(sv[1]);
}

/* ---- live server ---- */

static json_object *echo_fn(void *ctx, const char *cmd, json_object *args, const struct ucred *peer)
{
	json_object *res, *v;

	(void)ctx;
	if (!strcmp(cmd, "fail"))
		return hvp_ctl_error_new(HVP_ERR_NOT_FOUND, "nothing called '%s'", cmd);
	if (json_object_object_get_ex(args, "mark", NULL))
		__atomic_store_n(&handler_entered, 1, __ATOMIC_RELEASE);
	if (json_object_object_get_ex(args, "sleep_ms", &v))
		usleep((useconds_t)json_object_get_int(v) * 1000);
	res = json_object_new_object();
	json_object_object_add(res, "cmd", json_object_new_string(cmd));
	json_object_object_add(res, "args", json_object_get(args));
	json_object_object_add(res, "uid", json_object_new_int64(peer->uid));
	json_object_object_add(res, "pid", json_object_new_int64(peer->pid));
	return hvp_ctl_ok_new(res);
}

/*
 * A client under another uid, forked before any thread exists so that it
 * may use the library freely.  It waits for a byte on the pipe, drops to
 * nobody, calls, and exits 0 iff it was refused.
 */
static pid_t spawn_stranger(int *go)
{
	json_object *resp = NULL;
	int p[2], r;
	pid_t pid;
	char c;

	if (pipe(p) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		close(p[1]);
		if (read(p[0], &c, 1) != 1)
			_exit(2);
		if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
			_exit(3);
		r = call("info", NULL, &resp);
		if (r < 0)
			printf("# stranger: %s\n", strerror(-r));
		else if (!resp_is_error(resp, HVP_ERR_REFUSED))
			printf("# stranger: %s\n", json_object_to_json_string(resp));
		fflush(stdout);
		/* _exit: no leak report for the child's copy of the heap. */
		_exit(r == 0 && resp_is_error(resp, HVP_ERR_REFUSED) ? 0 : 1);
	}
	close(p[0]);
	*go = p[1];
	return pid;
}

static void test_stranger(pid_t pid, int go)
{
	int status = -1;

	if (pid < 0 || geteuid() != 0) {
		tap_ok(1, "# SKIP uid refusal needs root to become nobody");
		if (go >= 0)
			close(go);
		if (pid > 0)
			waitpid(pid, &status, 0);
		return;
	}
	/* Let nobody reach the socket, so that only SO_PEERCRED stops it. */
	chmod(dir, 0711);
	chmod(sock_path, 0666);
	if (write(go, "g", 1) != 1)
		printf("# cannot start the stranger\n");
	close(go);
	waitpid(pid, &status, 0);
	chmod(sock_path, 0600);
	chmod(dir, 0700);
	tap_ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	       "server: a client of another uid is refused (status %#x)", status);
}

struct caller {
	pthread_t tid;
	bool started;
	int i;
	bool ok;
};

static void *caller_thread(void *arg)
{
	struct caller *c = arg;
	json_object *args, *resp;
	int r;

	args = json_object_new_object();
	json_object_object_add(args, "i", json_object_new_int(c->i));
	json_object_object_add(args, "sleep_ms", json_object_new_int(50));
	r = hvp_ctl_call(sock_path, "echo", args, 30000, &resp);
	c->ok = r == 0 && resp_ok(resp) &&
		int_at(json_object_object_get(result_of(resp), "args"), "i") == c->i;
	if (!c->ok)
		printf("# caller %d: %s\n", c->i,
		       r ? strerror(-r) : json_object_to_json_string(resp));
	json_object_put(resp);
	return NULL;
}

static void test_concurrent(void)
{
	struct caller c[NR_CALLERS];
	int i, good = 0;

	for (i = 0; i < NR_CALLERS; i++) {
		c[i].i = i;
		c[i].ok = false;
		c[i].started = !pthread_create(&c[i].tid, NULL, caller_thread, &c[i]);
	}
	for (i = 0; i < NR_CALLERS; i++) {
		if (c[i].started)
			pthread_join(c[i].tid, NULL);
		good += c[i].ok;
	}
	tap_ok(good == NR_CALLERS, "server: %d concurrent clients all answered (%d ok)", NR_CALLERS,
	       good);
}

/* A request whose handler is still running when the server closes. */
static void *inflight_thread(void *arg)
{
	bool *ok = arg;
	json_object *args, *resp;
	int r;

	args = json_object_new_object();
	json_object_object_add(args, "mark", json_object_new_boolean(1));
	json_object_object_add(args, "sleep_ms", json_object_new_int(500));
	r = call("echo", args, &resp);
	*ok = r == 0 && resp_ok(resp);
	if (!*ok)
		printf("# in-flight call: %s\n",
		       r ? strerror(-r) : json_object_to_json_string(resp));
	json_object_put(resp);
	return NULL;
}

/* Fill every client slot with silent peers; the next caller hears "busy". */
static void test_busy(void)
{
	int fds[SRV_MAX_CLIENTS + 2], i, n = 0, tries;
	json_object *resp = NULL;
	int r;

	for (i = 0; i < (int)HVP_ARRAY_SIZE(fds); i++) {
		fds[i] = raw_connect(sock_path);
		if (fds[i] >= 0)
			n++;
	}
	tap_ok(n == (int)HVP_ARRAY_SIZE(fds), "busy: %d silent clients connected", n);

	r = call("echo", NULL, &resp);
	tap_ok(r == 0 && resp_is_error(resp, HVP_ERR_REFUSED) && strstr(resp_desc(resp), "busy"),
	       "busy: client %d is refused with a 'busy' error (r=%d)", SRV_MAX_CLIENTS + 3, r);
	json_object_put(resp);
	resp = NULL;

	/*
	 * A connect loop against a full server: every caller is refused, but
	 * the service log gets at most one line a second about it (it got one
	 * line per refusal before, without bound).
	 */
	{
		char logpath[] = "/tmp/hvp-unit-ctl-log.XXXXXX";
		int logfd = mkstemp(logpath), saved = dup(2), refused = 0, lines = 0;
		uint64_t t0 = hvp_now_ns(), secs;
		char line[512];
		FILE *lf;

		fflush(stderr);
		if (logfd >= 0 && saved >= 0)
			dup2(logfd, 2);
		for (i = 0; i < 200; i++) {
			r = call("echo", NULL, &resp);
			refused += r == 0 && resp_is_error(resp, HVP_ERR_REFUSED);
			json_object_put(resp);
			resp = NULL;
		}
		secs = (hvp_now_ns() - t0) / 1000000000u;
		fflush(stderr);
		if (saved >= 0) {
			dup2(saved, 2);
			close(saved);
		}
		lf = logfd >= 0 ? fdopen(logfd, "r") : NULL;
		if (lf) {
			rewind(lf);
			while (fgets(line, sizeof(line), lf))
				lines += strstr(line, "busy") != NULL;
			fclose(lf);
		}
		unlink(logpath);
		tap_ok(refused == 200 && (uint64_t)lines <= secs + 2,
		       "busy: 200 callers refused in %llu s, %d lines about it in the log",
		       (unsigned long long)secs, lines);
	}

	for (i = 0; i < (int)HVP_ARRAY_SIZE(fds); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	/* The slots free up as the server sees those clients hang up. */
	for (tries = 0; tries < 100; tries++) {
		r = call("echo", NULL, &resp);
		if (r == 0 && resp_ok(resp))
			break;
		json_object_put(resp);
		resp = NULL;
		usleep(100 * 1000);
	}
	tap_ok(r == 0 && resp_ok(resp), "busy: served again once the slots are free");
	json_object_put(resp);
}

static void test_server(pid_t stranger, int go)
{
	struct hvp_ctlsrv *srv = NULL, *srv2 = NULL;
	json_object *args, *resp = NULL, *res;
	uint64_t t0, silent_since;
	char err[256] = "", longp[200];
	int r, i, fd, silent, half;
	bool inflight_ok;
	pthread_t inflight;
	struct stat st;

	r = hvp_ctlsrv_open(&srv, sock_path, echo_fn, NULL, err, sizeof(err));
	if (!tap_ok(r == 0, "server: open %s (%s)", sock_path, r ? err : "ok")) {
		close(go);
		waitpid(stranger, NULL, 0);
		return;
	}
	memset(&st, 0, sizeof(st));
	r = stat(sock_path, &st);
	tap_ok(r == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 07777) == 0600,
	       "server: socket mode is 0600 (%o)", st.st_mode & 07777);

	args = json_object_new_object();
	json_object_object_add(args, "x", json_object_new_string("y"));
	r = call("echo", args, &resp);
	res = result_of(resp);
	tap_ok(r == 0 && resp_ok(resp) && !strcmp(str_at(res, "cmd"), "echo") &&
		       !strcmp(str_at(json_object_object_get(res, "args"), "x"), "y"),
	       "server: call round trip");
	tap_ok(int_at(res, "uid") == geteuid() && int_at(res, "pid") == getpid(),
	       "server: handler sees the peer's credentials");
	json_object_put(resp);

	r = call("echo", NULL, &resp);
	tap_ok(r == 0 && json_object_is_type(json_object_object_get(result_of(resp), "args"),
					     json_type_object),
	       "server: a request without args reaches the handler with an empty object");
	json_object_put(resp);

	r = call("fail", NULL, &resp);
	tap_ok(r == 0 && resp_is_error(resp, HVP_ERR_NOT_FOUND),
	       "server: handler errors reach the client as responses");
	json_object_put(resp);

	r = hvp_ctlsrv_open(&srv2, sock_path, echo_fn, NULL, err, sizeof(err));
	tap_ok(r == -EADDRINUSE && !srv2, "server: second open on a live path -> EADDRINUSE (%s)",
	       err);
	r = call("echo", NULL, &resp);
	tap_ok(r == 0 && resp_ok(resp), "server: first server still answers after that");
	json_object_put(resp);

	/* Silent from here on; must neither block others nor outlive 5 s. */
	silent = raw_connect(sock_path);
	silent_since = hvp_now_ns();
	half = raw_connect(sock_path);
	write_all(half, "HVPC\1\0", 6);

	fd = raw_connect(sock_path);
	write_all(fd, "this is garbage!", 16);
	tap_ok(got_error(fd, 0, HVP_ERR_PROTOCOL), "server: garbage gets a ProtocolError");
	tap_ok(hung_up(fd, IO_MS), "server: ...and is hung up on");
	close(fd);
	r = call("echo", NULL, &resp);
	tap_ok(r == 0 && resp_ok(resp), "server: the next client is served after garbage");
	json_object_put(resp);

	fd = raw_connect(sock_path);
	raw_hdr(fd, HVP_CTL_MAGIC, HVP_CTL_VERSION, HVP_CTL_T_REQUEST, 1u << 31, 77);
	tap_ok(got_error(fd, 77, HVP_ERR_PROTOCOL),
	       "server: a 2 GiB header is refused without waiting for the payload");
	tap_ok(hung_up(fd, IO_MS), "server: ...and is hung up on");
	close(fd);

	fd = raw_connect(sock_path);
	raw_hdr(fd, HVP_CTL_MAGIC, HVP_CTL_VERSION + 1, HVP_CTL_T_REQUEST, 2, 78);
	write_all(fd, "{}", 2);
	tap_ok(got_error(fd, 78, HVP_ERR_PROTOCOL) && hung_up(fd, IO_MS),
	       "server: unknown version -> ProtocolError, hung up");
	close(fd);

	fd = raw_connect(sock_path);
	raw_msg(fd, HVP_CTL_T_REQUEST, 79, "{\"cmd\":\"echo\"} trailing");
	tap_ok(got_error(fd, 79, HVP_ERR_PROTOCOL) && hung_up(fd, IO_MS),
	       "server: bad payload -> ProtocolError, hung up");
	close(fd);

	fd = raw_connect(sock_path);
	raw_msg(fd, HVP_CTL_T_RESPONSE, 80, "{\"ok\":true}");
	tap_ok(got_error(fd, 80, HVP_ERR_PROTOCOL) && hung_up(fd, IO_MS),
	       "server: a response sent to the server -> ProtocolError, hung up");
	close(fd);

	/* Pipelined: answered in order; a bad request does not end the session. */
	fd = raw_connect(sock_path);
	raw_msg(fd, HVP_CTL_T_REQUEST, 10, "{\"cmd\":\"echo\",\"args\":{\"sleep_ms\":100}}");
	raw_msg(fd, HVP_CTL_T_REQUEST, 11, "{\"cmd\":\"BAD!\"}");
	raw_msg(fd, HVP_CTL_T_REQUEST, 12, "{\"cmd\":\"echo\",\"extra\":1}");
	raw_msg(fd, HVP_CTL_T_REQUEST, 13, "{\"cmd\":\"echo\"}");
	tap_ok(got_ok(fd, 10), "server: pipelined request 1 answered first");
	tap_ok(got_error(fd, 11, HVP_ERR_PROTOCOL), "server: bad cmd -> ProtocolError, in order");
	tap_ok(got_error(fd, 12, HVP_ERR_PROTOCOL), "server: unknown key -> ProtocolError");
	tap_ok(got_ok(fd, 13), "server: the same connection is still served");
	raw_msg(fd, HVP_CTL_T_REQUEST, 14, "{\"cmd\":\"fail\"}");
	tap_ok(got_error(fd, 14, HVP_ERR_NOT_FOUND), "server: ...and keeps serving");
	/* 63 bytes and a 2-byte character: the reason's 64-byte quote must not split it. */
	raw_msg(fd, HVP_CTL_T_REQUEST, 15,
		"{\"cmd\":\"echo\",\"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
		"\xc3\xa9\":1}");
	tap_ok(got_error(fd, 15, HVP_ERR_PROTOCOL),
	       "server: an unknown non-ASCII key gets a ProtocolError that is valid UTF-8");
	close(fd);

	t0 = hvp_now_ns();
	r = call("echo", NULL, &resp);
	tap_ok(r == 0 && resp_ok(resp) && hvp_now_ns() - t0 < 5000000000ull,
	       "server: silent clients do not hold up others");
	json_object_put(resp);

	test_concurrent();
	test_busy();
	test_stranger(stranger, go);

	/* The request deadline: never before ~5 s, and not long after. */
	tap_ok(hung_up(silent, (SRV_IDLE_S + 15) * 1000) &&
		       hvp_now_ns() - silent_since >= (SRV_IDLE_S - 1) * 1000000000ull,
	       "server: a silent client is dropped after the %d s deadline", SRV_IDLE_S);
	tap_ok(hung_up(half, IO_MS), "server: so is one that stalls mid-header");
	close(silent);
	close(half);

	/*
	 * Shutdown with a fresh silent client, one mid-request and one whose
	 * handler is running (as `stop`'s is when the service closes).
	 */
	silent = raw_connect(sock_path);
	half = raw_connect(sock_path);
	raw_hdr(half, HVP_CTL_MAGIC, HVP_CTL_VERSION, HVP_CTL_T_REQUEST, 100, 1);
	r = call("echo", NULL, &resp); /* both are accepted by now */
	json_object_put(resp);
	inflight_ok = false;
	r = pthread_create(&inflight, NULL, inflight_thread, &inflight_ok);
	for (i = 0; !r && i < 500 && !__atomic_load_n(&handler_entered, __ATOMIC_ACQUIRE); i++)
		usleep(10 * 1000);
	t0 = hvp_now_ns();
	hvp_ctlsrv_close(srv);
	tap_ok(hvp_now_ns() - t0 < 5000000000ull,
	       "server: close with silent clients returns promptly (%.2f s)",
	       (double)(hvp_now_ns() - t0) / 1e9);
	tap_ok(hung_up(silent, IO_MS) && hung_up(half, IO_MS),
	       "server: close hangs up on its clients");
	if (!r)
		pthread_join(inflight, NULL);
	tap_ok(!r && __atomic_load_n(&handler_entered, __ATOMIC_ACQUIRE) && inflight_ok,
	       "server: a handler running at close still gets its answer out");
	close(silent);
	close(half);
	tap_ok(stat(sock_path, &st) < 0 && errno == ENOENT, "server: close unlinks the socket");
	tap_ok(call("echo", NULL, &resp) == -ENOENT && !resp, "client: no socket -> ENOENT");
	hvp_ctlsrv_close(NULL);

	/* A socket nobody listens on: refused, then replaced by the next server. */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	{
		struct sockaddr_un sun = { .sun_family = AF_UNIX };

		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock_path);
		bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	}
	close(fd);
	tap_ok(call("echo", NULL, &resp) == -ECONNREFUSED, "client: stale socket -> ECONNREFUSED");
	r = hvp_ctlsrv_open(&srv, sock_path, echo_fn, NULL, err, sizeof(err));
	tap_ok(r == 0, "server: a stale socket is replaced (%s)", r ? err : "ok");
	r = call("echo", NULL, &resp);
	tap_ok(r == 0 && resp_ok(resp), "server: and the new server answers");
	json_object_put(resp);
	hvp_ctlsrv_close(srv);

	/* A regular file is never mistaken for a stale socket. */
	fd = open(sock_path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	close(fd);
	srv = NULL;
	r = hvp_ctlsrv_open(&srv, sock_path, echo_fn, NULL, err, sizeof(err));
	tap_ok(r < 0 && !srv && stat(sock_path, &st) == 0 && S_ISREG(st.st_mode),
	       "server: a regular file in the way is refused and kept (%s)", err);
	unlink(sock_path);

	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	tap_ok(hvp_ctlsrv_open(&srv, longp, echo_fn, NULL, err, sizeof(err)) == -ENAMETOOLONG,
	       "server: over-long path -> ENAMETOOLONG");
	tap_ok(hvp_ctl_call(longp, "echo", json_object_new_object(), IO_MS, &resp) == -ENAMETOOLONG,
	       "client: over-long path -> ENAMETOOLONG");
}

int main(void)
{
	pid_t stranger;
	int go = -1;

	snprintf(dir, sizeof(dir), "/tmp/hvp-unit-ctl-XXXXXX");
	if (!mkdtemp(dir)) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 99;
	}
	snprintf(sock_path, sizeof(sock_path), "%s/vm.sock", dir);
	/* Before any thread exists: see spawn_stranger(). */
	stranger = spawn_stranger(&go);

	test_header();
	test_payload();
	test_request_check();
	test_response_check();
	test_key_quote();
	test_builders();
	test_io();
	test_server(stranger, go);

	unlink(sock_path);
	rmdir(dir);
	return tap_done();
}
