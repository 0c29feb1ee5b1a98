// SPDX-License-Identifier: GPL-2.0-only
/*
 * Control-socket protocol: framing, validation and blocking I/O with a
 * deadline.  Shared by the CLI (client) and the patch service (vmm/ctlsrv.c).
 *
 * Everything that arrives on the socket is untrusted: the header is decoded
 * field by field and its length capped before anything is allocated, and the
 * payload is parsed with an explicit length so that a missing NUL, an
 * embedded NUL or trailing bytes can never be mistaken for the end of the
 * message.
 *
 * Conventions the server relies on (see vmm/ctlsrv.c):
 *  - hvp_ctl_hdr_decode() fills *h before it validates, so a caller that got
 *    -EPROTO, -EPROTONOSUPPORT, -EBADMSG or -EMSGSIZE from hvp_ctl_recv()
 *    knows that a whole header was read and can still echo its seq.  No
 *    other path of hvp_ctl_recv() returns one of those four codes.
 *  - EOF before the first byte of a message is -ECONNRESET too: a peer that
 *    hangs up where a message was expected has broken the exchange either way.
 *  - A response with seq 0 is one the server sent before reading any request
 *    (busy, peer refused); it is always ok:false.  hvp_ctl_call() accepts it.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#else
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "hvp_ctl.h"
#include "lib/hvp_base.h"

#define CTL_MAX_DEPTH 32 /* json-c counts the top-level object as 1 */
#define CTL_CMD_MAX   64

/* The request hvp_ctl_call() sends; any non-zero value would do. */
#define CTL_CALL_SEQ 1

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = v & 0xff;
	p[1] = v >> 8;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
	p[2] = (v >> 16) & 0xff;
	p[3] = v >> 24;
}

static uint16_t get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void hvp_ctl_hdr_encode(uint8_t out[HVP_CTL_HDR_SIZE], const struct hvp_ctl_hdr *h)
{
	put_le32(out + 0, h->magic);
	put_le16(out + 4, h->version);
	put_le16(out + 6, h->type);
	put_le32(out + 8, h->len);
	put_le32(out + 12, h->seq);
}

int hvp_ctl_hdr_decode(const uint8_t in[HVP_CTL_HDR_SIZE], struct hvp_ctl_hdr *h)
{
	h->magic = get_le32(in + 0);
	h->version = get_le16(in + 4);
	h->type = get_le16(in + 6);
	h->len = get_le32(in + 8);
	h->seq = get_le32(in + 12);

	if (h->magic != HVP_CTL_MAGIC)
		return -EPROTO;
	if (h->version != HVP_CTL_VERSION)
		return -EPROTONOSUPPORT;
	if (h->type != HVP_CTL_T_REQUEST && h->type != HVP_CTL_T_RESPONSE)
		return -EBADMSG;
	if (h->len == 0 || h->len > HVP_CTL_MAX_PAYLOAD)
		return -EMSGSIZE;
	return 0;
}

static bool is_json_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int hvp_ctl_payload_parse(const char *buf, size_t len, json_object **out)
{
	struct json_tokener *tok;
	json_object *obj;
	size_t end;
	int r = -EBADMSG;

	*out = NULL;
	/*
	 * Raw NULs are not JSON, and any reader that treats the payload as a
	 * C string would see a different message than the one checked here.
	 * (A "\u0000" escape can still put one inside a decoded string value;
	 * callers that care check the decoded length, as request_check does.)
	 */
	if (len == 0 || len > HVP_CTL_MAX_PAYLOAD || memchr(buf, '\0', len))
		return -EBADMSG;

	tok = json_tokener_new_ex(CTL_MAX_DEPTH);
	if (!tok)
		return -ENOMEM;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);

	obj = json_tokener_parse_ex(tok, buf, (int)len);
	if (!obj)
		goto out_free_tok; /* syntax error, too deep, or truncated */

	/* Strict mode already refuses trailing bytes; do not rely on it. */
	end = json_tokener_get_parse_end(tok);
	while (end < len && is_json_space(buf[end]))
		end++;
	if (end != len || !json_object_is_type(obj, json_type_object))
		goto out_put_obj;

	*out = obj;
	r = 0;
	goto out_free_tok;

out_put_obj:
	json_object_put(obj);
out_free_tok:
	json_tokener_free(tok);
	return r;
}

/* Add val under key; val is consumed even on failure (json-c keeps it then). */
static int obj_add(json_object *obj, const char *key, json_object *val)
{
	if (!val)
		return -ENOMEM;
	if (json_object_object_add(obj, key, val) < 0) {
		json_object_put(val);
		return -ENOMEM;
	}
	return 0;
}

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen, const char *fmt,
						      ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EBADMSG;
}

/*
 * How many bytes of key to quote in a reason: at most KEY_QUOTE_MAX, and never
 * the start of a character without its end (the reason is sent as UTF-8).
 */
#define KEY_QUOTE_MAX 64
static int key_quote_len(const char *key)
{
	size_t n = strnlen(key, KEY_QUOTE_MAX + 1);

	if (n > KEY_QUOTE_MAX) {
		n = KEY_QUOTE_MAX;
		/* key[n] is the first byte left out: drop its character's start too. */
		while (n > 0 && ((unsigned char)key[n] & 0xc0) == 0x80)
			n--;
	}
	return (int)n;
}

static bool cmd_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

int hvp_ctl_request_check(json_object *req, const char **cmd, json_object **args, char *err,
			  size_t errlen)
{
	json_object *jcmd = NULL, *jargs = NULL;
	const char *s;
	int i, n;

	if (!json_object_is_type(req, json_type_object))
		return fail(err, errlen, "request is not an object");

	json_object_object_foreach(req, key, val)
	{
		if (!strcmp(key, "cmd"))
			jcmd = val;
		else if (!strcmp(key, "args"))
			jargs = val;
		else
			return fail(err, errlen, "unknown request key '%.*s'", key_quote_len(key),
				    key);
	}

	if (!json_object_object_get_ex(req, "cmd", NULL))
		return fail(err, errlen, "request has no \"cmd\"");
	if (!json_object_is_type(jcmd, json_type_string))
		return fail(err, errlen, "\"cmd\" is not a string");
	s = json_object_get_string(jcmd);
	n = json_object_get_string_len(jcmd);
	if (n == 0 || n > CTL_CMD_MAX)
		return fail(err, errlen, "\"cmd\" must be 1 to %d characters", CTL_CMD_MAX);
	/* Over the decoded length: a "\u0000" escape must not hide a suffix. */
	for (i = 0; i < n; i++)
		if (!cmd_char_ok(s[i]))
			return fail(err, errlen, "\"cmd\" may only hold [a-z0-9_.-]");

	if (json_object_object_get_ex(req, "args", NULL)) {
		if (!json_object_is_type(jargs, json_type_object))
			return fail(err, errlen, "\"args\" is not an object");
	} else {
		jargs = json_object_new_object();
		if (obj_add(req, "args", jargs) < 0) {
			fail(err, errlen, "out of memory");
			return -ENOMEM;
		}
	}

	if (cmd)
		*cmd = s;
	if (args)
		*args = jargs;
	return 0;
}

int hvp_ctl_response_check(json_object *resp, char *err, size_t errlen)
{
	json_object *ok = NULL, *error = NULL, *cls = NULL, *desc = NULL;
	bool has_result = false;

	if (!json_object_is_type(resp, json_type_object))
		return fail(err, errlen, "response is not an object");

	json_object_object_foreach(resp, key, val)
	{
		if (!strcmp(key, "ok"))
			ok = val;
		else if (!strcmp(key, "result"))
			has_result = true;
		else if (!strcmp(key, "error"))
			error = val;
		else
			return fail(err, errlen, "unknown response key '%.*s'", key_quote_len(key),
				    key);
	}

	if (!json_object_is_type(ok, json_type_boolean))
		return fail(err, errlen, "response has no boolean \"ok\"");
	if (json_object_get_boolean(ok)) {
		if (json_object_object_get_ex(resp, "error", NULL))
			return fail(err, errlen, "ok response carries an \"error\"");
		return 0;
	}

	if (has_result)
		return fail(err, errlen, "error response carries a \"result\"");
	if (!json_object_is_type(error, json_type_object))
		return fail(err, errlen, "error response has no \"error\" object");
	json_object_object_foreach(error, ekey, eval)
	{
		if (!strcmp(ekey, "class"))
			cls = eval;
		else if (!strcmp(ekey, "desc"))
			desc = eval;
		else
			return fail(err, errlen, "unknown error key '%.*s'", key_quote_len(ekey),
				    ekey);
	}
	if (!json_object_is_type(cls, json_type_string) || !json_object_get_string_len(cls))
		return fail(err, errlen, "\"error.class\" is not a non-empty string");
	if (!json_object_is_type(desc, json_type_string))
		return fail(err, errlen, "\"error.desc\" is not a string");
	return 0;
}

json_object *hvp_ctl_request_new(const char *cmd, json_object *args)
{
	json_object *req;

	req = json_object_new_object();
	if (!req || obj_add(req, "cmd", json_object_new_string(cmd)) < 0)
		goto out_put;
	if (!args || obj_add(req, "args", args) == 0)
		return req;
	args = NULL; /* obj_add() consumed it */
out_put:
	json_object_put(args);
	json_object_put(req);
	return NULL;
}

json_object *hvp_ctl_ok_new(json_object *result)
{
	json_object *resp;

	resp = json_object_new_object();
	if (!resp || obj_add(resp, "ok", json_object_new_boolean(1)) < 0)
		goto out_put;
	/* No "result" key at all rather than "result": null. */
	if (!result || obj_add(resp, "result", result) == 0)
		return resp;
	result = NULL; /* obj_add() consumed it */
out_put:
	json_object_put(result);
	json_object_put(resp);
	return NULL;
}

/*
 * Cut a UTF-8 sequence that truncation left incomplete at the end of s:
 * the peer's parser refuses invalid UTF-8, and then the whole answer.
 */
static void utf8_trim_tail(char *s)
{
	size_t n = strlen(s), i = n, cont = 0, need;
	unsigned char lead;

	while (i > 0 && cont < 4 && ((unsigned char)s[i - 1] & 0xc0) == 0x80) {
		i--;
		cont++;
	}
	if (i == 0)
		return;
	lead = (unsigned char)s[i - 1];
	if (lead < 0x80)
		return;
	need = lead >= 0xf0 ? 3 : lead >= 0xe0 ? 2 : lead >= 0xc0 ? 1 : 0;
	if (cont < need)
		s[i - 1] = 0;
}

json_object *hvp_ctl_error_new(const char *cls, const char *fmt, ...)
{
	json_object *resp, *error;
	char desc[1024];
	va_list ap;
	int n;

	/* Bounded: a description is one line for a human, never a dump. */
	va_start(ap, fmt);
	n = vsnprintf(desc, sizeof(desc), fmt, ap);
	va_end(ap);
	if (n < 0)
		snprintf(desc, sizeof(desc), "(unprintable error)");
	else if ((size_t)n >= sizeof(desc))
		utf8_trim_tail(desc);

	resp = json_object_new_object();
	error = json_object_new_object();
	if (!resp || !error)
		goto out_put_error;
	if (obj_add(error, "class", json_object_new_string(cls)) < 0 ||
	    obj_add(error, "desc", json_object_new_string(desc)) < 0 ||
	    obj_add(resp, "ok", json_object_new_boolean(0)) < 0)
		goto out_put_error;
	if (obj_add(resp, "error", error) < 0)
		goto out_put_resp;
	return resp;

out_put_error:
	json_object_put(error);
out_put_resp:
	json_object_put(resp);
	return NULL;
}

/* Absolute CLOCK_MONOTONIC deadline in ns; 0 means none. */
static uint64_t deadline_after(int timeout_ms)
{
	if (timeout_ms < 0)
		return 0;
	return hvp_now_ns() + (uint64_t)timeout_ms * 1000000ull + 1;
}

/* Wait until fd is ready for `events` or the deadline passes. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	uint64_t now;
	int ms, n;

	for (;;) {
		ms = -1;
		if (deadline) {
			now = hvp_now_ns();
			if (now >= deadline)
				return -ETIMEDOUT;
			/* Round up so that a sub-millisecond rest is not a busy loop. */
			ms = (int)((deadline - now + 999999) / 1000000);
		}
		n = poll(&pfd, 1, ms);
		if (n > 0)
			return 0; /* POLLERR/POLLHUP: let the next I/O call report it */
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

static int read_full(int fd, void *buf, size_t len, uint64_t deadline)
{
	uint8_t *p = buf;
	ssize_t n;
	int r;

	while (len) {
		/* MSG_DONTWAIT: a blocking read could outlive the deadline. */
		n = recv(fd, p, len, MSG_DONTWAIT);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n == 0)
			return -ECONNRESET;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		r = wait_fd(fd, POLLIN, deadline);
		if (r < 0)
			return r;
	}
	return 0;
}

static int write_full(int fd, struct iovec *iov, int iovcnt, uint64_t deadline)
{
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = (size_t)iovcnt };
	ssize_t n;
	int r;

	while (msg.msg_iovlen) {
		/* MSG_NOSIGNAL: a vanished peer is -EPIPE, never SIGPIPE. */
		n = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -errno;
			r = wait_fd(fd, POLLOUT, deadline);
			if (r < 0)
				return r;
			continue;
		}
		while (msg.msg_iovlen && (size_t)n >= msg.msg_iov->iov_len) {
			n -= (ssize_t)msg.msg_iov->iov_len;
			msg.msg_iov++;
			msg.msg_iovlen--;
		}
		if (msg.msg_iovlen) {
			msg.msg_iov->iov_base = (uint8_t *)msg.msg_iov->iov_base + n;
			msg.msg_iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

static int ctl_send(int fd, uint16_t type, uint32_t seq, json_object *obj, uint64_t deadline)
{
	struct hvp_ctl_hdr h = {
		.magic = HVP_CTL_MAGIC,
		.version = HVP_CTL_VERSION,
		.type = type,
		.seq = seq,
	};
	uint8_t hdr[HVP_CTL_HDR_SIZE];
	struct iovec iov[2];
	const char *payload;
	size_t len;

	if (!json_object_is_type(obj, json_type_object))
		return -EINVAL;
	payload = json_object_to_json_string_length(obj, JSON_C_TO_STRING_PLAIN, &len);
	if (!payload)
		return -ENOMEM;
	if (len == 0 || len > HVP_CTL_MAX_PAYLOAD)
		return -EMSGSIZE;

	h.len = (uint32_t)len;
	hvp_ctl_hdr_encode(hdr, &h);
	iov[0] = (struct iovec){ .iov_base = hdr, .iov_len = sizeof(hdr) };
	iov[1] = (struct iovec){ .iov_base = (void *)payload, .iov_len = len };
	return write_full(fd, iov, 2, deadline);
}

static int ctl_recv(int fd, struct hvp_ctl_hdr *h, json_object **obj, uint64_t deadline)
{
	uint8_t hdr[HVP_CTL_HDR_SIZE];
	char *buf;
	int r;

	*obj = NULL;
	r = read_full(fd, hdr, sizeof(hdr), deadline);
	if (r < 0)
		return r;
	r = hvp_ctl_hdr_decode(hdr, h);
	if (r < 0)
		return r;

	/* h->len is now 1 .. HVP_CTL_MAX_PAYLOAD: safe to allocate. */
	buf = malloc(h->len);
	if (!buf)
		return -ENOMEM;
	r = read_full(fd, buf, h->len, deadline);
	if (r == 0)
		r = hvp_ctl_payload_parse(buf, h->len, obj);
	free(buf);
	return r;
}

int hvp_ctl_send(int fd, uint16_t type, uint32_t seq, json_object *obj, int timeout_ms)
{
	return ctl_send(fd, type, seq, obj, deadline_after(timeout_ms));
}

int hvp_ctl_recv(int fd, struct hvp_ctl_hdr *h, json_object **obj, int timeout_ms)
{
	return ctl_recv(fd, h, obj, deadline_after(timeout_ms));
}

/*
 * connect(2) on an AF_UNIX stream socket sleeps while the listener's backlog
 * is full, for as long as SO_SNDTIMEO allows; use that to honour the deadline.
 */
static int connect_deadline(int fd, const struct sockaddr_un *sun, uint64_t deadline)
{
	struct timeval tv = { 0 };
	uint64_t now, rest;

	for (;;) {
		if (deadline) {
			now = hvp_now_ns();
			if (now >= deadline)
				return -ETIMEDOUT;
			rest = deadline - now;
			tv.tv_sec = (time_t)(rest / 1000000000ull);
			tv.tv_usec = (suseconds_t)(rest % 1000000000ull / 1000);
			if (!tv.tv_sec && !tv.tv_usec)
				tv.tv_usec = 1; /* 0 would mean "forever" */
			if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
				return -errno;
		}
		if (connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EINPROGRESS)
			return -ETIMEDOUT;
		return -errno;
	}
}

int hvp_ctl_call(const char *sock_path, const char *cmd, json_object *args, int timeout_ms,
		 json_object **resp)
{
	uint64_t deadline = deadline_after(timeout_ms);
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	json_object *req, *obj = NULL;
	struct hvp_ctl_hdr h;
	int fd, r, rs, tries;

	*resp = NULL;
	req = hvp_ctl_request_new(cmd, args); /* takes args on every path */
	if (!req)
		return -ENOMEM;
	if (strlen(sock_path) >= sizeof(sun.sun_path)) {
		r = -ENAMETOOLONG;
		goto out_put_req;
	}
	strcpy(sun.sun_path, sock_path);

	/*
	 * A server drops a client that has not delivered its request in time
	 * (a starved client on a loaded host) without reading it: our send
	 * then fails and no answer waits.  Nothing was executed, so trying
	 * again on a new connection is safe; at most 3 tries, same deadline.
	 */
	for (tries = 0;; tries++) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			r = -errno;
			goto out_put_req;
		}
		r = connect_deadline(fd, &sun, deadline);
		if (r < 0)
			goto out_close;

		/*
		 * A busy or refusing server answers and hangs up without
		 * reading the request, so a failed send may still leave its
		 * answer for us to read.
		 */
		rs = ctl_send(fd, HVP_CTL_T_REQUEST, CTL_CALL_SEQ, req, deadline);
		if (rs < 0 && rs != -EPIPE && rs != -ECONNRESET) {
			r = rs;
			goto out_close;
		}
		r = ctl_recv(fd, &h, &obj, deadline);
		if (r >= 0)
			break;
		if (rs == 0 || tries == 2) {
			if (rs < 0)
				r = rs;
			goto out_close;
		}
		close(fd);
	}
	if (h.type != HVP_CTL_T_RESPONSE) {
		r = -EPROTO;
		goto out_put_obj;
	}
	r = hvp_ctl_response_check(obj, NULL, 0);
	if (r < 0)
		goto out_put_obj;
	/* seq 0: answered before the request was read, only ever an error. */
	if (h.seq != CTL_CALL_SEQ &&
	    (h.seq != 0 || json_object_get_boolean(json_object_object_get(obj, "ok")))) {
		r = -EPROTO;
		goto out_put_obj;
	}
	*resp = obj;
	obj = NULL;

out_put_obj:
	json_object_put(obj);
out_close:
	close(fd);
out_put_req:
	json_object_put(req);
	return r;
}
