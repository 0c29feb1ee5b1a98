// SPDX-License-Identifier: GPL-2.0-only
/*
 * QMP client.  The protocol (QEMU's docs/interop/qmp-spec): the server sends
 * a greeting {"QMP": ...}; the client must send qmp_capabilities first; then
 * each command gets exactly one {"return": ...} or {"error": {"class",
 * "desc"}}, in order, with asynchronous {"event": ...} messages interleaved.
 * QEMU ends every message with a newline, so messages are read line by line.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "qmp.h"
#include "util.h"

#define QMP_TIMEOUT_MS 10000
#define QMP_LINE_MAX   (1u << 20)

struct hvp_qmp {
	int fd;
	pthread_mutex_t lock;
	char *buf; /* bytes received, not yet consumed */
	size_t len, cap;
};

static int send_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -ECONNRESET;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* One message (a line), parsed; -ETIMEDOUT, -ECONNRESET, -EPROTO. */
static int read_msg(struct hvp_qmp *q, json_object **msg, int timeout_ms)
{
	uint64_t deadline = hvp_now_ns() + (uint64_t)timeout_ms * 1000000u;

	for (;;) {
		char *nl = q->len ? memchr(q->buf, '\n', q->len) : NULL;
		struct pollfd p = { .fd = q->fd, .events = POLLIN };
		uint64_t now;
		ssize_t n;
		int r;

		if (nl) {
			size_t ll = (size_t)(nl - q->buf) + 1;

			*nl = 0;
			*msg = json_tokener_parse(q->buf);
			memmove(q->buf, q->buf + ll, q->len - ll);
			q->len -= ll;
			if (!*msg || !json_object_is_type(*msg, json_type_object)) {
				json_object_put(*msg);
				*msg = NULL;
				return -EPROTO;
			}
			return 0;
		}
		if (q->len + 4096 > q->cap) {
			char *nb;

			if (q->cap >= QMP_LINE_MAX)
				return -EPROTO;
			nb = realloc(q->buf, q->cap ? q->cap * 2 : 8192);
			if (!nb)
				return -ENOMEM;
			q->buf = nb;
			q->cap = q->cap ? q->cap * 2 : 8192;
		}
		now = hvp_now_ns();
		if (now >= deadline)
			return -ETIMEDOUT;
		r = poll(&p, 1, (int)((deadline - now) / 1000000u) + 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			continue;
		n = recv(q->fd, q->buf + q->len, q->cap - q->len - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -ECONNRESET;
		q->len += (size_t)n;
	}
}

/* Under q->lock: send one command, wait for its answer. */
static int exec_locked(struct hvp_qmp *q, const char *cmd, json_object *args, json_object **ret,
		       char *err, size_t errlen)
{
	json_object *req = json_object_new_object(), *msg = NULL, *v;
	const char *s;
	int r;

	json_object_object_add(req, "execute", json_object_new_string(cmd));
	if (args)
		json_object_object_add(req, "arguments", args);
	s = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	r = send_all(q->fd, s, strlen(s));
	if (r == 0)
		r = send_all(q->fd, "\n", 1);
	json_object_put(req);
	if (r < 0) {
		snprintf(err, errlen, "QMP %s: %s", cmd, strerror(-r));
		return r;
	}
	for (;;) {
		r = read_msg(q, &msg, QMP_TIMEOUT_MS);
		if (r < 0) {
			snprintf(err, errlen, "QMP %s: %s", cmd,
				 r == -EPROTO ? "malformed reply" : strerror(-r));
			return r;
		}
		if (json_object_object_get_ex(msg, "event", NULL)) {
			json_object_put(msg);
			continue;
		}
		break;
	}
	if (json_object_object_get_ex(msg, "error", &v)) {
		json_object *d = NULL;

		json_object_object_get_ex(v, "desc", &d);
		snprintf(err, errlen, "QMP %s: %s", cmd, d ? json_object_get_string(d) : "error");
		json_object_put(msg);
		return -EIO;
	}
	if (!json_object_object_get_ex(msg, "return", &v)) {
		snprintf(err, errlen, "QMP %s: reply without return", cmd);
		json_object_put(msg);
		return -EPROTO;
	}
	if (ret)
		*ret = json_object_get(v);
	json_object_put(msg);
	return 0;
}

int hvp_qmp_exec(struct hvp_qmp *q, const char *cmd, json_object *args, json_object **ret,
		 char *err, size_t errlen)
{
	int r;

	if (ret)
		*ret = NULL;
	pthread_mutex_lock(&q->lock);
	if (q->fd >= 0) {
		r = exec_locked(q, cmd, args, ret, err, errlen);
	} else {
		json_object_put(args);
		snprintf(err, errlen, "QMP %s: not connected", cmd);
		r = -ECONNRESET;
	}
	pthread_mutex_unlock(&q->lock);
	return r;
}

int hvp_qmp_hmp(struct hvp_qmp *q, const char *cmdline, char **out, char *err, size_t errlen)
{
	json_object *args = json_object_new_object(), *ret = NULL;
	int r;

	json_object_object_add(args, "command-line", json_object_new_string(cmdline));
	r = hvp_qmp_exec(q, "human-monitor-command", args, &ret, err, errlen);
	if (r == 0) {
		*out = strdup(json_object_is_type(ret, json_type_string) ?
				      json_object_get_string(ret) :
				      "");
		if (!*out)
			r = -ENOMEM;
	}
	json_object_put(ret);
	return r;
}

int hvp_qmp_connect(struct hvp_qmp **out, const char *path, int timeout_ms, char *err,
		    size_t errlen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	uint64_t deadline = hvp_now_ns() + (uint64_t)timeout_ms * 1000000u;
	struct hvp_qmp *q;
	json_object *msg = NULL;
	int r;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "QMP socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	pthread_mutex_init(&q->lock, NULL);
	for (;;) {
		struct timespec ts = { 0, 20 * 1000000L };

		q->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (q->fd < 0) {
			r = -errno;
			goto fail;
		}
		if (connect(q->fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
			break;
		r = -errno;
		close(q->fd);
		q->fd = -1;
		if ((r != -ENOENT && r != -ECONNREFUSED) || hvp_now_ns() >= deadline)
			goto fail;
		nanosleep(&ts, NULL);
	}
	r = read_msg(q, &msg, QMP_TIMEOUT_MS);
	if (r == 0 && !json_object_object_get_ex(msg, "QMP", NULL))
		r = -EPROTO;
	json_object_put(msg);
	if (r < 0)
		goto fail;
	r = exec_locked(q, "qmp_capabilities", NULL, NULL, err, errlen);
	if (r < 0) {
		hvp_qmp_close(q);
		return r;
	}
	*out = q;
	return 0;
fail:
	snprintf(err, errlen, "QMP socket %s: %s", path, strerror(-r));
	hvp_qmp_close(q);
	return r;
}

void hvp_qmp_close(struct hvp_qmp *q)
{
	if (!q)
		return;
	if (q->fd >= 0)
		close(q->fd);
	pthread_mutex_destroy(&q->lock);
	free(q->buf);
	free(q);
}
