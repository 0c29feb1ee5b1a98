// SPDX-License-Identifier: GPL-2.0-only
/*
 * Control-socket server of the patch service.
 *
 * Threads and ownership:
 *  - The accept thread owns the listening socket and the client list's
 *    shape: it alone adds clients, and before each new one it reaps (joins
 *    and frees) those whose thread has finished.
 *  - Each client thread owns its connection.  It clears c->fd under the lock
 *    before it closes the fd, so hvp_ctlsrv_close() can shutdown(2) every
 *    listed fd under the same lock without ever hitting a reused number.
 *  - hvp_ctlsrv_close() wakes the accept thread through an eventfd that is
 *    never drained and joins it.  It then shuts down the read side of every
 *    client socket: a thread waiting in recv sees EOF at once, while one
 *    inside the handler can still deliver its answer (the CLI's `stop`
 *    request is what makes the service call close, so that answer matters).
 *    After a grace period the write sides go too, so a client that does not
 *    read its answer cannot hold close up; then every thread is joined.
 *    Close thus waits for handlers, never for clients.
 *
 * Peers that are refused (wrong uid, too many clients) are answered from the
 * accept thread with a non-blocking send of an error whose seq is 0 (no
 * request was read) and closed at once, so a flood of them cannot stall it.
 *
 * All server threads start with asynchronous signals blocked, so that
 * process-directed signals go to the threads that expect them; SIGPIPE is
 * avoided by MSG_NOSIGNAL in hvp_ctl_send(), not by a handler.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#else
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctlsrv.h"
#include "lib/hvp_base.h"
#include "hvp_ctl.h"

#define CTLSRV_MAX_CLIENTS     128
/*
 * A client must deliver each whole request within this long after the
 * previous answer (or after connecting): a silent peer, or one that sends
 * half a frame and stalls, is dropped then.  Its own thread waits, nobody
 * else does.
 */
#define CTLSRV_RECV_TIMEOUT_MS 5000
/* Deadline for writing each whole answer. */
#define CTLSRV_MSG_TIMEOUT_MS  10000
/* How long the accept thread backs off when out of fds or memory. */
#define CTLSRV_BACKOFF_MS      100
/* How long close() lets answers already being written reach their clients. */
#define CTLSRV_GRACE_MS	       2000

struct ctl_client {
	struct hvp_ctlsrv *srv;
	struct ctl_client *next; /* accept thread and close() only */
	pthread_t tid;
	struct ucred peer;
	int fd;	   /* -1 once closing; guarded by srv->lock */
	bool done; /* thread finished; guarded by srv->lock */
};

struct hvp_ctlsrv {
	hvp_ctlsrv_fn fn;
	void *ctx;
	uid_t euid;
	int lfd;
	int stop_fd; /* eventfd: readable once close() began */
	dev_t dev;   /* the socket inode we bound, so that */
	ino_t ino;   /* close() unlinks nobody else's */
	pthread_t accept_tid;

	pthread_mutex_t lock;
	pthread_cond_t client_done; /* a client thread set c->done */
	struct ctl_client *clients; /* guarded by lock */
	unsigned nr_live;	    /* threads not done yet; guarded by lock */
	bool stopping;		    /* guarded by lock */
	uint64_t busy_logged_ns;    /* accept thread only: busy_log() */
	uint64_t busy_refused;

	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

__attribute__((format(printf, 3, 4))) static void errf(char *err, size_t errlen, const char *fmt,
						       ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
}

/* Send one response and forget it; obj is consumed. */
static int send_put(int fd, uint32_t seq, json_object *obj, int timeout_ms)
{
	int r;

	if (!obj)
		return -ENOMEM;
	r = hvp_ctl_send(fd, HVP_CTL_T_RESPONSE, seq, obj, timeout_ms);
	json_object_put(obj);
	return r;
}

/*
 * The four hvp_ctl_recv() codes that mean a whole header arrived (see
 * protocol/hvp_ctl.c): the peer gets to know why it is being dropped.
 */
static json_object *recv_error_response(int r, const struct hvp_ctl_hdr *h, uint32_t *seq)
{
	if (r != -EPROTO && r != -EPROTONOSUPPORT && r != -EMSGSIZE && r != -EBADMSG)
		return NULL; /* transport failure or timeout: nobody to tell */
	/* Without our magic the seq field is noise; do not echo it. */
	*seq = r == -EPROTO ? 0 : h->seq;

	switch (r) {
	case -EPROTO:
		return hvp_ctl_error_new(HVP_ERR_PROTOCOL, "bad magic 0x%08x", h->magic);
	case -EPROTONOSUPPORT:
		return hvp_ctl_error_new(HVP_ERR_PROTOCOL,
					 "protocol version %u not supported (%u is)", h->version,
					 HVP_CTL_VERSION);
	case -EMSGSIZE:
		return hvp_ctl_error_new(HVP_ERR_PROTOCOL, "payload length %u not in 1..%u", h->len,
					 HVP_CTL_MAX_PAYLOAD);
	default:
		if (h->type != HVP_CTL_T_REQUEST && h->type != HVP_CTL_T_RESPONSE)
			return hvp_ctl_error_new(HVP_ERR_PROTOCOL, "unknown message type %u",
						 h->type);
		return hvp_ctl_error_new(HVP_ERR_PROTOCOL, "payload is not one JSON object");
	}
}

/* One line in the service log (stderr) about a peer. */
__attribute__((format(printf, 2, 3))) static void log_peer(const struct ctl_client *c,
							   const char *fmt, ...)
{
	char msg[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "control socket: client pid %ld uid %u: %s\n", (long)c->peer.pid,
		(unsigned)c->peer.uid, msg);
}

/* Answer one request; returns the response, NULL only when out of memory. */
static json_object *dispatch(struct ctl_client *c, json_object *req)
{
	struct hvp_ctlsrv *s = c->srv;
	json_object *args, *resp;
	const char *cmd;
	char why[128];

	if (hvp_ctl_request_check(req, &cmd, &args, why, sizeof(why)) < 0)
		return hvp_ctl_error_new(HVP_ERR_PROTOCOL, "%s", why);
	resp = s->fn(s->ctx, cmd, args, &c->peer);
	if (!resp)
		resp = hvp_ctl_error_new(HVP_ERR_INTERNAL, "'%s' produced no answer", cmd);
	return resp;
}

static bool stopping(struct hvp_ctlsrv *s)
{
	bool stop;

	pthread_mutex_lock(&s->lock);
	stop = s->stopping;
	pthread_mutex_unlock(&s->lock);
	return stop;
}

/*
 * One connection, several requests answered in order.  Returns when the
 * peer hangs up, stalls past the deadline, breaks the framing, or when
 * hvp_ctlsrv_close() shuts the socket down.
 */
static void serve(struct ctl_client *c, int fd)
{
	struct hvp_ctl_hdr h;
	json_object *req, *resp;
	uint32_t seq;
	int r;

	for (;;) {
		r = hvp_ctl_recv(fd, &h, &req, CTLSRV_RECV_TIMEOUT_MS);
		if (r < 0) {
			resp = recv_error_response(r, &h, &seq);
			if (resp) {
				log_peer(c, "dropped: %s",
					 json_object_get_string(
						 json_object_object_get(json_object_object_get(resp,
											       "error"),
									"desc")));
				send_put(fd, seq, resp, CTLSRV_MSG_TIMEOUT_MS);
			} else if (r == -ETIMEDOUT) {
				log_peer(c, "dropped: no complete request within %d ms",
					 CTLSRV_RECV_TIMEOUT_MS);
			}
			return;
		}
		if (h.type != HVP_CTL_T_REQUEST) {
			json_object_put(req);
			send_put(fd, h.seq,
				 hvp_ctl_error_new(HVP_ERR_PROTOCOL,
						   "expected a request, got message type %u",
						   h.type),
				 CTLSRV_MSG_TIMEOUT_MS);
			return;
		}

		/* Read before close() began, or queued behind: do not start it. */
		if (stopping(c->srv)) {
			json_object_put(req);
			return;
		}
		resp = dispatch(c, req);
		r = resp ? hvp_ctl_send(fd, HVP_CTL_T_RESPONSE, h.seq, resp,
					CTLSRV_MSG_TIMEOUT_MS) :
			   -ENOMEM;
		/* Refused before a byte went out: the client still needs an answer. */
		if (r == -EMSGSIZE || r == -EINVAL)
			r = send_put(fd, h.seq,
				     hvp_ctl_error_new(HVP_ERR_INTERNAL,
						       "the answer to '%s' cannot be sent (%s)",
						       json_object_get_string(
							       json_object_object_get(req, "cmd")),
						       strerror(-r)),
				     CTLSRV_MSG_TIMEOUT_MS);
		json_object_put(resp);
		json_object_put(req);
		if (r == -ETIMEDOUT)
			log_peer(c, "dropped: its answer was not read within %d ms",
				 CTLSRV_MSG_TIMEOUT_MS);
		if (r < 0)
			return;
	}
}

static void *client_thread(void *arg)
{
	struct ctl_client *c = arg;
	struct hvp_ctlsrv *s = c->srv;
	int fd = c->fd; /* only this thread changes c->fd from now on */

	serve(c, fd);

	pthread_mutex_lock(&s->lock);
	c->fd = -1;
	c->done = true;
	s->nr_live--;
	pthread_cond_broadcast(&s->client_done);
	pthread_mutex_unlock(&s->lock);
	/* Ours alone now: close() only shuts down fds still in the list. */
	close(fd);
	return NULL;
}

/* Join and free finished clients (all of them when `all`). */
static void reap(struct hvp_ctlsrv *s, bool all)
{
	struct ctl_client **pp, *c, *dead = NULL;

	pthread_mutex_lock(&s->lock);
	for (pp = &s->clients; (c = *pp);) {
		if (all || c->done) {
			*pp = c->next;
			c->next = dead;
			dead = c;
		} else {
			pp = &c->next;
		}
	}
	pthread_mutex_unlock(&s->lock);

	while ((c = dead)) {
		dead = c->next;
		pthread_join(c->tid, NULL);
		free(c);
	}
}

/* Answer without reading and hang up; never blocks the accept thread. */
__attribute__((format(printf, 3, 4))) static void refuse(int fd, const char *cls, const char *fmt,
							 ...)
{
	char desc[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(desc, sizeof(desc), fmt, ap);
	va_end(ap);
	send_put(fd, 0, hvp_ctl_error_new(cls, "%s", desc), 0);
	close(fd);
}

/*
 * One log line per refused busy client would let a connect loop grow the
 * log without bound: the first refusal is logged, then at most one line a
 * second, counting the refusals it stood for.  Accept thread only.
 */
static void busy_log(struct hvp_ctlsrv *s, pid_t pid, unsigned n)
{
	uint64_t now = hvp_now_ns();

	s->busy_refused++;
	if (s->busy_logged_ns && now - s->busy_logged_ns < 1000000000ull)
		return;
	fprintf(stderr,
		"control socket: refused client pid %ld: busy, %u clients (%llu refused "
		"since the last such line)\n",
		(long)pid, n, (unsigned long long)s->busy_refused);
	s->busy_logged_ns = now;
	s->busy_refused = 0;
}

static void take_client(struct hvp_ctlsrv *s, int fd)
{
	struct ctl_client *c;
	struct ucred peer;
	socklen_t len = sizeof(peer);
	unsigned n;
	int r;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) < 0 || len != sizeof(peer)) {
		fprintf(stderr, "control socket: refused a client: cannot identify the peer\n");
		refuse(fd, HVP_ERR_REFUSED, "cannot identify the peer");
		return;
	}
	/* The socket is 0600 already; this holds even if someone chmods it. */
	if (peer.uid != 0 && peer.uid != s->euid) {
		fprintf(stderr,
			"control socket: refused client pid %ld uid %u: only uid %u "
			"(the owner) and root may use this socket\n",
			(long)peer.pid, (unsigned)peer.uid, (unsigned)s->euid);
		if (s->euid)
			refuse(fd, HVP_ERR_REFUSED,
			       "permission denied: uid %u may not use this "
			       "socket (only uid %u and root)",
			       (unsigned)peer.uid, (unsigned)s->euid);
		else
			refuse(fd, HVP_ERR_REFUSED,
			       "permission denied: uid %u may not use this "
			       "socket (only root: the service runs as root)",
			       (unsigned)peer.uid);
		return;
	}

	reap(s, false);
	pthread_mutex_lock(&s->lock);
	n = s->nr_live;
	pthread_mutex_unlock(&s->lock);
	if (n >= CTLSRV_MAX_CLIENTS) {
		busy_log(s, peer.pid, n);
		refuse(fd, HVP_ERR_REFUSED, "busy: %u clients connected", n);
		return;
	}

	c = calloc(1, sizeof(*c));
	if (!c) {
		refuse(fd, HVP_ERR_INTERNAL, "out of memory");
		return;
	}
	c->srv = s;
	c->fd = fd;
	c->peer = peer;

	/* Listed before the thread runs, so that close() always finds it. */
	pthread_mutex_lock(&s->lock);
	c->next = s->clients;
	s->clients = c;
	s->nr_live++;
	pthread_mutex_unlock(&s->lock);

	r = pthread_create(&c->tid, NULL, client_thread, c);
	if (r) {
		pthread_mutex_lock(&s->lock);
		s->clients = c->next; /* still first: only this thread adds */
		s->nr_live--;
		pthread_mutex_unlock(&s->lock);
		free(c);
		refuse(fd, HVP_ERR_INTERNAL, "cannot start a client thread: %s", strerror(r));
	}
}

static void *accept_thread(void *arg)
{
	struct hvp_ctlsrv *s = arg;
	struct pollfd pfd[2] = {
		{ .fd = s->lfd, .events = POLLIN },
		{ .fd = s->stop_fd, .events = POLLIN },
	};
	int fd, n;

	for (;;) {
		n = poll(pfd, 2, -1);
		if (n < 0 && errno != EINTR && errno != ENOMEM)
			break;
		if (n <= 0)
			continue;
		if (pfd[1].revents)
			break;

		/* The listening socket is non-blocking: a vanished peer is EAGAIN. */
		fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0) {
			take_client(s, fd);
			continue;
		}
		switch (errno) {
		case EMFILE:
		case ENFILE:
		case ENOBUFS:
		case ENOMEM:
		case EPERM: /* a security policy said no: it may say no again */
		case EACCES:
			/* The connection stays queued; do not spin on it. */
			if (poll(&pfd[1], 1, CTLSRV_BACKOFF_MS) > 0)
				return NULL;
			break;
		case EBADF:
		case EINVAL:
		case ENOTSOCK:
		case EOPNOTSUPP:
			return NULL; /* the listener itself is gone: a bug */
		default:
			break; /* EAGAIN, EINTR, ECONNABORTED, EPROTO... */
		}
	}
	return NULL;
}

static int bind_umask(int fd, const struct sockaddr_un *sun)
{
	mode_t old;
	int r = 0;

	/*
	 * bind() creates the node with 0777 & ~umask: with 077 nobody else can
	 * connect between bind and chmod.  umask is per process, so a file
	 * another thread creates meanwhile is only ever more private.
	 */
	old = umask(077);
	if (bind(fd, (const struct sockaddr *)sun, sizeof(*sun)) < 0)
		r = -errno;
	umask(old);
	return r;
}

/*
 * Is a server accepting on sun?  -EADDRINUSE if so, 0 if the node is stale
 * (or gone), another -errno if that cannot be told.
 */
static int probe_live(const struct sockaddr_un *sun)
{
	int fd, r;

	/* Non-blocking: a live server with a full backlog gives EAGAIN, not a wait. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	r = connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0 ? 0 : -errno;
	close(fd);
	switch (r) {
	case 0:
	case -EAGAIN:
		return -EADDRINUSE;
	case -ECONNREFUSED:
	case -ENOENT:
		return 0;
	default:
		return r;
	}
}

static int bind_path(struct hvp_ctlsrv *s, const struct sockaddr_un *sun, char *err, size_t errlen)
{
	struct stat st;
	int r;

	r = bind_umask(s->lfd, sun);
	if (r == -EADDRINUSE) {
		r = probe_live(sun);
		if (r == -EADDRINUSE) {
			errf(err, errlen, "%s: another service is listening there", s->path);
			return r;
		}
		if (r < 0) {
			errf(err, errlen, "%s: cannot probe the old socket: %s", s->path,
			     strerror(-r));
			return r;
		}
		/* Only ever remove a socket node: the path may be a typo for a file. */
		if (lstat(s->path, &st) == 0) {
			if (!S_ISSOCK(st.st_mode)) {
				errf(err, errlen, "%s: exists and is not a socket", s->path);
				return -EEXIST;
			}
			if (unlink(s->path) < 0 && errno != ENOENT) {
				r = -errno;
				errf(err, errlen, "%s: cannot remove the stale socket: %s", s->path,
				     strerror(-r));
				return r;
			}
		}
		r = bind_umask(s->lfd, sun);
	}
	if (r < 0) {
		errf(err, errlen, "bind %s: %s", s->path, strerror(-r));
		return r;
	}

	if (chmod(s->path, 0600) < 0 || lstat(s->path, &st) < 0) {
		r = -errno;
		errf(err, errlen, "chmod %s: %s", s->path, strerror(-r));
		unlink(s->path);
		return r;
	}
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	return 0;
}

/* Unlink the path only if it is still the node we bound. */
static void unlink_ours(struct hvp_ctlsrv *s)
{
	struct stat st;

	if (lstat(s->path, &st) == 0 && st.st_dev == s->dev && st.st_ino == s->ino)
		unlink(s->path);
}

/* On CLOCK_MONOTONIC, so that close()'s grace period ignores clock jumps. */
static int init_cond(pthread_cond_t *cond)
{
	pthread_condattr_t attr;
	int r;

	r = pthread_condattr_init(&attr);
	if (r)
		return -r;
	r = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (!r)
		r = pthread_cond_init(cond, &attr);
	pthread_condattr_destroy(&attr);
	return -r;
}

/* Threads inherit this mask; faults must still reach their handlers. */
static void block_async_signals(sigset_t *old)
{
	sigset_t set;

	sigfillset(&set);
	sigdelset(&set, SIGSEGV);
	sigdelset(&set, SIGBUS);
	sigdelset(&set, SIGFPE);
	sigdelset(&set, SIGILL);
	sigdelset(&set, SIGTRAP);
	pthread_sigmask(SIG_BLOCK, &set, old);
}

int hvp_ctlsrv_open(struct hvp_ctlsrv **out, const char *path, hvp_ctlsrv_fn fn, void *ctx,
		    char *err, size_t errlen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct hvp_ctlsrv *s;
	sigset_t old;
	int r;

	*out = NULL;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		errf(err, errlen, "socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	strcpy(sun.sun_path, path);

	s = calloc(1, sizeof(*s));
	if (!s) {
		errf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	s->fn = fn;
	s->ctx = ctx;
	s->euid = geteuid();
	strcpy(s->path, path);

	s->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s->lfd < 0) {
		r = -errno;
		errf(err, errlen, "socket: %s", strerror(-r));
		goto out_free;
	}
	r = bind_path(s, &sun, err, errlen);
	if (r < 0)
		goto out_close_lfd;
	if (listen(s->lfd, SOMAXCONN) < 0) {
		r = -errno;
		errf(err, errlen, "listen %s: %s", path, strerror(-r));
		goto out_unlink;
	}

	s->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->stop_fd < 0) {
		r = -errno;
		errf(err, errlen, "eventfd: %s", strerror(-r));
		goto out_unlink;
	}
	r = -pthread_mutex_init(&s->lock, NULL);
	if (r < 0) {
		errf(err, errlen, "mutex: %s", strerror(-r));
		goto out_close_stop;
	}
	r = init_cond(&s->client_done);
	if (r < 0) {
		errf(err, errlen, "condition variable: %s", strerror(-r));
		goto out_destroy_lock;
	}

	block_async_signals(&old);
	r = -pthread_create(&s->accept_tid, NULL, accept_thread, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0) {
		errf(err, errlen, "cannot start the accept thread: %s", strerror(-r));
		goto out_destroy_cond;
	}

	*out = s;
	return 0;

out_destroy_cond:
	pthread_cond_destroy(&s->client_done);
out_destroy_lock:
	pthread_mutex_destroy(&s->lock);
out_close_stop:
	close(s->stop_fd);
out_unlink:
	unlink_ours(s);
out_close_lfd:
	close(s->lfd);
out_free:
	free(s);
	return r;
}

/* shutdown(2) every client socket still open; call with s->lock held. */
static void shutdown_clients(struct hvp_ctlsrv *s, int how)
{
	struct ctl_client *c;

	for (c = s->clients; c; c = c->next)
		if (c->fd >= 0)
			shutdown(c->fd, how);
}

void hvp_ctlsrv_close(struct hvp_ctlsrv *s)
{
	struct timespec until;
	uint64_t one = 1;
	int r = 0;

	if (!s)
		return;

	/* Never drained, so it stays readable for every later poll too. */
	while (write(s->stop_fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
	pthread_join(s->accept_tid, NULL);

	/* New clients now fail to connect instead of waiting in the backlog. */
	unlink_ours(s);
	close(s->lfd);

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += CTLSRV_GRACE_MS / 1000;
	until.tv_nsec += (CTLSRV_GRACE_MS % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}

	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	/* Idle clients wake with EOF; answers in progress can still go out. */
	shutdown_clients(s, SHUT_RD);
	while (s->nr_live && r != ETIMEDOUT)
		r = pthread_cond_timedwait(&s->client_done, &s->lock, &until);
	shutdown_clients(s, SHUT_RDWR);
	pthread_mutex_unlock(&s->lock);
	reap(s, true);

	close(s->stop_fd);
	pthread_cond_destroy(&s->client_done);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
