// SPDX-License-Identifier: GPL-2.0-only
/*
 * Other hosts over SSH (remote.h): the remote hvpatch runs under the ssh
 * client, with its arguments quoted for the remote shell.
 *
 * ssh's own messages (cannot connect, permission denied) go to a log file
 * of ours (-E), not to stderr, so that stderr carries only the remote
 * command's and a failure of ssh can be told apart and named.  ssh exits
 * 255 when it fails itself; the remote shell exits 127 when it finds no
 * hvpatch.  hvpatch itself only ever exits 0, 1 or 2.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hvp_ctl.h"
#include "remote.h"
#include "util.h"

/* What may appear in a user or host name: nothing the remote shell or ssh's
 * option parser would read as more than a name. */
#define NAME_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_"

static int bad_uri(const char *uri, const char *why, char *err, size_t errlen)
{
	snprintf(err, errlen, "'%.200s' is not an ssh://[user@]host[:port] URI: %s", uri, why);
	return -EINVAL;
}

static bool name_ok(const char *s, size_t n, const char *chars)
{
	return n && s[0] != '-' && strspn(s, chars) >= n;
}

int hvp_host_parse(const char *uri, struct hvp_host *h, char *err, size_t errlen)
{
	const char *p, *at, *host, *end, *colon;
	size_t n, hn;
	char *e;
	unsigned long port;
	bool v6;

	memset(h, 0, sizeof(*h));
	if (strncmp(uri, "ssh://", 6))
		return bad_uri(uri, "it must begin with ssh://", err, errlen);
	p = uri + 6;
	n = strlen(p);
	if (n && p[n - 1] == '/')
		n--; /* ssh://host/ */
	end = p + n;
	if (memchr(p, '/', n) || memchr(p, '?', n) || memchr(p, '#', n))
		return bad_uri(uri, "a path, query or fragment is not understood", err, errlen);
	at = memchr(p, '@', n);
	if (at) {
		if (!name_ok(p, (size_t)(at - p), NAME_CHARS) ||
		    (size_t)(at - p) >= sizeof(h->user))
			return bad_uri(uri, "bad user name", err, errlen);
		memcpy(h->user, p, (size_t)(at - p));
		p = at + 1;
	}
	if (*p == '[') { /* [IPv6] */
		const char *close = memchr(p, ']', (size_t)(end - p));

		host = p + 1;
		hn = close ? (size_t)(close - host) : 0;
		if (!close || !name_ok(host, hn, "0123456789abcdefABCDEF:."))
			return bad_uri(uri, "bad IPv6 address", err, errlen);
		colon = close + 1 < end ? close + 1 : NULL;
		if (colon && *colon != ':')
			return bad_uri(uri, "bad IPv6 address", err, errlen);
	} else {
		host = p;
		colon = memchr(p, ':', (size_t)(end - p));
		hn = (size_t)((colon ? colon : end) - host);
		if (!name_ok(host, hn, NAME_CHARS))
			return bad_uri(uri, hn ? "bad host name" : "no host", err, errlen);
	}
	if (hn >= sizeof(h->host))
		return bad_uri(uri, "host name too long", err, errlen);
	memcpy(h->host, host, hn);
	if (colon) {
		if (colon + 1 >= end || colon[1] < '0' || colon[1] > '9')
			return bad_uri(uri, "bad port", err, errlen);
		errno = 0;
		port = strtoul(colon + 1, &e, 10);
		if (errno || e != end || port < 1 || port > 65535)
			return bad_uri(uri, "the port must be a number from 1 to 65535", err,
				       errlen);
		h->port = (unsigned)port;
	}
	v6 = strchr(h->host, ':') != NULL;
	snprintf(h->label, sizeof(h->label), "%s%s%s%s%s", h->user, h->user[0] ? "@" : "",
		 v6 ? "[" : "", h->host, v6 ? "]" : "");
	if (h->port)
		snprintf(h->label + strlen(h->label), sizeof(h->label) - strlen(h->label), ":%u",
			 h->port);
	return 0;
}

/* s in single quotes for a POSIX shell: ' becomes '\'' and nothing else is special. */
static void shell_quote(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; *s; s++)
		if (*s == '\'')
			fputs("'\\''", f);
		else
			fputc(*s, f);
	fputc('\'', f);
}

/*
 * The remote command line: look for hvpatch first, so that a host without
 * it exits 127 without the shell's own message on stderr, then exec it.
 */
static char *remote_command(const char *bin, bool json, char *const argv[])
{
	char *buf = NULL;
	size_t len;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	fputs("command -v ", f);
	shell_quote(f, bin);
	fputs(" >/dev/null 2>&1 || exit 127; exec ", f);
	shell_quote(f, bin);
	if (json)
		fputs(" -j", f);
	for (; *argv; argv++) {
		fputc(' ', f);
		shell_quote(f, *argv);
	}
	if (fclose(f))
		return NULL;
	return buf;
}

/*
 * -o ControlPath for the host's shared connection: a socket in the runtime
 * directory.  None (each command connects on its own) when that directory
 * cannot be made, or when the socket's path would not fit a sockaddr_un:
 * ssh refuses such a path rather than shortening it.
 */
static bool control_path(char *buf, size_t len)
{
	const char *dir = hvp_rundir();
	char err[PATH_MAX + 256];

	/* "/ssh-" and %C, a 40-digit hash */
	if (strlen(dir) + 5 + 40 >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return false;
	if (hvp_rundir_ensure(dir, err, sizeof(err)) < 0)
		return false;
	return (size_t)snprintf(buf, len, "ControlPath=%s/ssh-%%C", dir) < len;
}

/* The last non-blank line of ssh's log, without its end of line. */
static void last_line(int fd, char *buf, size_t len)
{
	char tail[1024], *s, *nl;
	off_t size = lseek(fd, 0, SEEK_END),
	      from = size > (off_t)sizeof(tail) - 1 ? size - (off_t)sizeof(tail) + 1 : 0;
	ssize_t n = size > 0 ? pread(fd, tail, (size_t)(size - from), from) : 0;

	tail[n > 0 ? n : 0] = 0;
	for (s = tail + strlen(tail); s > tail && (s[-1] == '\n' || s[-1] == '\r' || s[-1] == ' ');)
		*--s = 0;
	nl = strrchr(tail, '\n');
	snprintf(buf, len, "%s", nl ? nl + 1 : tail);
}

static const char *env_or(const char *name, const char *dflt)
{
	const char *v = getenv(name);

	return v && v[0] ? v : dflt;
}

/*
 * Fork and exec args[0] with stdin /dev/null and stdout out_fd (>= 0), and
 * wait for it: 0 and *status, or -errno when it could not be run.  The
 * signals are the caller's business (the CLI ignores ^C while ssh runs, as
 * system() does; a rollout may handle it): ssh gets ^C and ^\ as if run
 * from the shell, even when we ignore them.
 */
static int run_child(const char *const args[], int out_fd, int *status)
{
	int pfd[2], e = 0, null;
	ssize_t n;
	pid_t pid, w;

	/* the exec's errno comes back through a pipe that the exec closes */
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		e = errno;
		close(pfd[0]);
		close(pfd[1]);
		return -e;
	}
	if (pid == 0) {
		close(pfd[0]);
		signal(SIGINT, SIG_DFL);
		signal(SIGQUIT, SIG_DFL);
		null = open("/dev/null", O_RDONLY);
		if (null < 0 || dup2(null, STDIN_FILENO) < 0 ||
		    (out_fd >= 0 && dup2(out_fd, STDOUT_FILENO) < 0))
			e = errno;
		else
			execvp(args[0], (char *const *)args);
		e = e ? e : errno;
		n = write(pfd[1], &e, sizeof(e));
		(void)n;
		_exit(127);
	}
	close(pfd[1]);
	while ((n = read(pfd[0], &e, sizeof(e))) < 0 && errno == EINTR)
		;
	close(pfd[0]);
	while ((w = waitpid(pid, status, 0)) < 0 && errno == EINTR)
		;
	if (w < 0)
		return -ECHILD;
	return n == (ssize_t)sizeof(e) ? -e : 0;
}

int hvp_remote_run(const struct hvp_host *h, bool json, char *const argv[], int out_fd,
		   const char **cls, char *err, size_t errlen)
{
	const char *ssh = env_or("HVPATCH_SSH", "ssh");
	const char *bin = env_or("HVPATCH_REMOTE_HVPATCH", "hvpatch");
	char logpath[] = "/tmp/hvpatch-ssh.XXXXXX", ctl[PATH_MAX + 16], port[12], line[512];
	const char *args[24];
	char *cmd;
	int n = 0, logfd, status = 0, r;

	*cls = HVP_ERR_INTERNAL;
	cmd = remote_command(bin, json, argv);
	logfd = mkostemp(logpath, O_CLOEXEC);
	if (!cmd || logfd < 0) {
		snprintf(err, errlen, "%s: cannot prepare the ssh command: %s", h->label,
			 strerror(errno));
		free(cmd);
		if (logfd >= 0) {
			unlink(logpath);
			close(logfd);
		}
		return -1;
	}
	args[n++] = ssh;
	args[n++] = "-E";
	args[n++] = logpath;
	/* never a password or host-key prompt: a command must not hang on one */
	args[n++] = "-o";
	args[n++] = "BatchMode=yes";
	/* a host that drops packets fails in bounded time, not TCP's minutes */
	args[n++] = "-o";
	args[n++] = "ConnectTimeout=20";
	if (control_path(ctl, sizeof(ctl))) {
		args[n++] = "-o";
		args[n++] = "ControlMaster=auto";
		args[n++] = "-o";
		args[n++] = ctl;
		args[n++] = "-o";
		args[n++] = "ControlPersist=60";
	}
	if (h->port) {
		snprintf(port, sizeof(port), "%u", h->port);
		args[n++] = "-p";
		args[n++] = port;
	}
	if (h->user[0]) {
		args[n++] = "-l";
		args[n++] = h->user;
	}
	args[n++] = "--";
	args[n++] = h->host;
	args[n++] = cmd;
	args[n] = NULL;

	fflush(NULL); /* nothing of ours is written twice by the child */
	r = run_child(args, out_fd, &status);
	last_line(logfd, line, sizeof(line));
	unlink(logpath);
	close(logfd);
	free(cmd);
	if (r < 0) {
		*cls = HVP_ERR_NOT_FOUND;
		snprintf(err, errlen, "cannot run the ssh client '%s' (HVPATCH_SSH): %s", ssh,
			 strerror(-r));
		return -1;
	}
	if (WIFSIGNALED(status)) {
		snprintf(err, errlen, "ssh to %s ended by signal %d", h->label, WTERMSIG(status));
		return -1;
	}
	switch (WEXITSTATUS(status)) {
	case 255:
		*cls = HVP_ERR_UNREACHABLE;
		snprintf(err, errlen, "cannot reach %s over ssh: %s", h->label,
			 line[0] ? line : "ssh exited 255 and said nothing");
		return -1;
	case 127:
		*cls = HVP_ERR_NOT_FOUND;
		if (getenv("HVPATCH_REMOTE_HVPATCH") && getenv("HVPATCH_REMOTE_HVPATCH")[0])
			snprintf(err, errlen,
				 "%s has no hvpatch at '%s' (HVPATCH_REMOTE_HVPATCH names it)",
				 h->label, bin);
		else
			snprintf(err, errlen,
				 "%s has no hvpatch on its PATH (install it there, or set "
				 "HVPATCH_REMOTE_HVPATCH to its path on that host)",
				 h->label);
		return -1;
	case 126:
		*cls = HVP_ERR_NOT_FOUND;
		snprintf(err, errlen, "%s: '%s' is there but cannot be run", h->label, bin);
		return -1;
	}
	return WEXITSTATUS(status);
}

/* The class of a remote error as ours: one of the known ones, else internal. */
static const char *known_class(const char *s)
{
	static const char *const classes[] = { HVP_ERR_USAGE,	   HVP_ERR_NOT_FOUND,
					       HVP_ERR_PROTOCOL,   HVP_ERR_REFUSED,
					       HVP_ERR_GUEST,	   HVP_ERR_INTERNAL,
					       HVP_ERR_UNREACHABLE };
	size_t i;

	for (i = 0; s && i < HVP_ARRAY_SIZE(classes); i++)
		if (!strcmp(s, classes[i]))
			return classes[i];
	return HVP_ERR_INTERNAL;
}

/* The whole of file fd from its start, NUL-terminated; NULL on failure. */
static char *slurp(int fd)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;
	ssize_t n;

	do {
		if (len + 4096 + 1 > cap) {
			char *nb = realloc(buf, cap = 2 * cap + 4096 + 1);

			if (!nb) {
				free(buf);
				return NULL;
			}
			buf = nb;
		}
		n = pread(fd, buf + len, cap - len - 1, (off_t)len);
		if (n < 0) {
			free(buf);
			return NULL;
		}
		len += (size_t)n;
	} while (n);
	buf[len] = 0;
	return buf;
}

int hvp_remote_json(const char *uri, char *const argv[], json_object **out, const char **cls,
		    char *err, size_t errlen)
{
	struct hvp_host h;
	json_object *ans, *e = NULL, *c = NULL, *d = NULL;
	char *text;
	int r, fd;

	*out = NULL;
	*cls = HVP_ERR_USAGE;
	if (hvp_host_parse(uri, &h, err, errlen) < 0)
		return -1;
	*cls = HVP_ERR_INTERNAL;
	fd = memfd_create("hvpatch-remote-answer", MFD_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s: no temporary file for the answer: %s", h.label,
			 strerror(errno));
		return -1;
	}
	r = hvp_remote_run(&h, true, argv, fd, cls, err, errlen);
	text = r < 0 ? NULL : slurp(fd);
	close(fd);
	if (r < 0)
		return -1;
	ans = text ? json_tokener_parse(text) : NULL;
	free(text);
	if (!ans || (r && !json_object_object_get_ex(ans, "error", &e))) {
		json_object_put(ans);
		*cls = HVP_ERR_PROTOCOL;
		snprintf(err, errlen, "%s: its hvpatch exited %d without a JSON answer", h.label,
			 r);
		return -1;
	}
	if (r == 0) {
		*out = ans;
		return 0;
	}
	json_object_object_get_ex(e, "class", &c);
	json_object_object_get_ex(e, "desc", &d);
	*cls = known_class(json_object_get_string(c));
	snprintf(err, errlen, "%s: %s", h.label,
		 d ? json_object_get_string(d) : "(no description)");
	json_object_put(ans);
	return r;
}
