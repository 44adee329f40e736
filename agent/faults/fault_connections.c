// SPDX-License-Identifier: MIT
/*
 * connections: connection-pool exhaustion of a PostgreSQL server (or a
 * MySQL/MariaDB one, --protocol mysql: the login to its OK, as a user
 * without a password; 1040 or 1203 is the refusal).  A
 * helper process (faults/helper.h, named duress-conns) opens real
 * connections to HOST:PORT, from inside the target's network namespace
 * (-t; without one, from the agent's), each through the protocol's
 * startup to ReadyForQuery, so the server counts it against
 * max_connections, and holds them: --count N, or --until-refused (until
 * the server answers "too many clients", SQLSTATE class 53, or 57P03).
 * They are released when --hold has passed, when the fault ends, and on
 * every other exit path: the helper's pid is journaled before it runs,
 * the revert, the guardian (kill -9 of the agent) and `duress recover` end
 * it, and the kernel closes its sockets.  Authentication: trust, or a
 * cleartext password (--password); md5 and SCRAM are not spoken (see
 * docs/faults/connections.md).
 */
#include <duress/core/cleanup.h>
#include <duress/core/exitcode.h>
#include <duress/faults/fault.h>
#include <duress/faults/helper.h>
#include <duress/proxy/proxy.h>

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CONN_MAX 5000
#define CONN_STEP_MS 5000 /* connect, and each answer of the startup */
#define CONN_READY_TIMEOUT_US (120ULL * 1000000)
#define CONN_NAME_MAX 63
#define CONN_MSG_MAX 65536

static const char *const conn_protocols[] = { "postgres", "mysql", NULL };

static const struct fault_opt conn_opts[] = {
	{ .name = "port",
	  .type = FOPT_UINT,
	  .metavar = "N",
	  .min = 1,
	  .max = 65535,
	  .help = "the database server's TCP port" },
	{ .name = "protocol",
	  .type = FOPT_ENUM,
	  .metavar = "P",
	  .choices = conn_protocols,
	  .help = "postgres (default) or mysql (MySQL, MariaDB)" },
	{ .name = "host",
	  .type = FOPT_STRING,
	  .metavar = "ADDR",
	  .help = "the server's address, numeric (default 127.0.0.1: the target's own)" },
	{ .name = "count",
	  .type = FOPT_UINT,
	  .metavar = "N",
	  .min = 1,
	  .max = CONN_MAX,
	  .help = "open and hold N connections" },
	{ .name = "until-refused",
	  .type = FOPT_FLAG,
	  .help = "open connections until the server refuses one (too many clients)" },
	{ .name = "hold",
	  .type = FOPT_DURATION,
	  .metavar = "DUR",
	  .help = "release them after DUR (default: when the fault ends)" },
	{ .name = "user",
	  .type = FOPT_STRING,
	  .metavar = "NAME",
	  .help = "the role to connect as (default postgres; mysql: root)" },
	{ .name = "database",
	  .type = FOPT_STRING,
	  .metavar = "NAME",
	  .help = "the database (default: the role's name; mysql: none)" },
	{ .name = "password",
	  .type = FOPT_STRING,
	  .metavar = "TEXT",
	  .help = "postgres: for password (cleartext) authentication; trust needs none" },
};

struct conn_priv {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char where[INET6_ADDRSTRLEN + 8];
	unsigned count; /* 0: until refused */
	uint64_t hold_us;
	char user[CONN_NAME_MAX + 1], database[CONN_NAME_MAX + 1], password[256];
	bool has_password;
	bool mysql; /* --protocol mysql */
	struct fault_helper helper;
	bool helper_started;
};

static int name_opt(const struct fault *f, const char *opt, const char *def, char *out,
		    struct duress_err *err)
{
	const struct fault_val *v = fault_opt(f, opt);
	const char *s = v->set ? v->s : def;

	if (!*s || strlen(s) > CONN_NAME_MAX)
		return fault_usage(err, "--%s '%s': 1 to %d characters", opt, s, CONN_NAME_MAX);
	for (const char *c = s; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return fault_usage(err, "--%s: no control characters", opt);
	strcpy(out, s);
	return 0;
}

static int conn_validate(struct fault *f, struct duress_err *err)
{
	struct conn_priv *p = f->priv;
	const struct fault_val *host = fault_opt(f, "host"), *port = fault_opt(f, "port");
	char text[INET6_ADDRSTRLEN + 16];

	if (!port->set)
		return fault_usage(err, "connections: --port N is required (the server's port)");
	if (fault_opt(f, "count")->set == fault_opt(f, "until-refused")->set)
		return fault_usage(err,
				   "connections: give --count N or --until-refused (one of them)");
	p->count = (unsigned)fault_opt(f, "count")->u;
	p->hold_us = fault_opt(f, "hold")->u;
	if (fault_opt(f, "hold")->set && !p->hold_us)
		return fault_usage(err, "--hold: a duration above 0 (30s, 5m)");
	if (host->set && strchr(host->s, ':') && host->s[0] != '[')
		snprintf(text, sizeof(text), "[%s]:%llu", host->s, (unsigned long long)port->u);
	else
		snprintf(text, sizeof(text), "%s:%llu", host->set ? host->s : "127.0.0.1",
			 (unsigned long long)port->u);
	if (proxy_parse_addr(text, "--host", &p->addr, &p->addrlen, err) < 0)
		return -1;
	proxy_format_addr((struct sockaddr *)&p->addr, p->where, sizeof(p->where));
	p->mysql = fault_opt(f, "protocol")->set && fault_opt(f, "protocol")->choice == 1;
	if (name_opt(f, "user", p->mysql ? "root" : "postgres", p->user, err) < 0)
		return -1;
	if ((!p->mysql || fault_opt(f, "database")->set) &&
	    name_opt(f, "database", p->user, p->database, err) < 0)
		return -1;
	if (p->mysql && fault_opt(f, "password")->set)
		return fault_usage(err, "--password: the mysql holder logs in without a password "
					"only (a user of its own: see docs/faults/connections.md)");
	if (fault_opt(f, "password")->set) {
		if (strlen(fault_opt(f, "password")->s) >= sizeof(p->password))
			return fault_usage(err, "--password: at most %zu bytes",
					   sizeof(p->password) - 1);
		strcpy(p->password, fault_opt(f, "password")->s);
		p->has_password = true;
	}
	return 0;
}

/* A target given (-t, a manifest's): its namespace; none: the agent's. */
static bool has_target(const struct fault *f)
{
	return f->target && f->target->dir[0];
}

static bool conn_no_target(const struct fault *f)
{
	(void)f;
	return true; /* without -t: from the agent's own namespace */
}

/* ---- a TCP connect from a namespace: a short-lived thread ---- */

struct probe {
	int netns_fd;
	const struct sockaddr_storage *addr;
	socklen_t len;
	int result; /* 0 or errno */
};

static int connect_timeout(int fd, const struct sockaddr *a, socklen_t len, int ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return connect(fd, a, len) < 0 ? (errno == EINPROGRESS ? ETIMEDOUT : errno) : 0;
}

static void *probe_thread(void *arg)
{
	struct probe *pr = arg;
	cleanup_close int fd = -1;

	if (pr->netns_fd >= 0 && setns(pr->netns_fd, CLONE_NEWNET) < 0) {
		pr->result = errno;
		return NULL;
	}
	fd = socket(pr->addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	pr->result = fd < 0 ? errno
			    : connect_timeout(fd, (const struct sockaddr *)pr->addr, pr->len, 2000);
	return NULL;
}

static int conn_supported(struct fault *f, struct duress_err *err)
{
	struct conn_priv *p = f->priv;
	struct probe pr = { .netns_fd = -1, .addr = &p->addr, .len = p->addrlen };
	pthread_t t;

	if (has_target(f)) {
		if (f->target->netns_fd < 0 || f->target->pid <= 0)
			return duress_err_setc(err, DURESS_EXIT_UNSUPPORTED, 0,
					       "connections: the target has no process, hence no "
					       "network namespace to connect from");
		pr.netns_fd = f->target->netns_fd;
	}
	if (pthread_create(&t, NULL, probe_thread, &pr) != 0)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, EAGAIN, "connections: a thread");
	pthread_join(t, NULL);
	if (pr.result)
		return duress_err_setc(err, DURESS_EXIT_UNSUPPORTED, pr.result,
				       "--port: nothing answers on %s%s", p->where,
				       has_target(f) ? " in the target's network namespace" : "");
	return 0;
}

static int conn_plan(struct fault *f, struct duress_err *err)
{
	struct conn_priv *p = f->priv;
	char d[32];

	(void)err;
	fault_plan_add(f, "start the connection holder (process duress-conns)%s",
		       has_target(f) ? " in the target's network namespace" : "");
	if (p->count)
		fault_plan_add(f, "open and hold %u %s connections to %s as %s", p->count,
			       p->mysql ? "MySQL" : "PostgreSQL", p->where, p->user);
	else
		fault_plan_add(f,
			       "open %s connections to %s as %s until the server "
			       "refuses one, and hold them",
			       p->mysql ? "MySQL" : "PostgreSQL", p->where, p->user);
	if (p->hold_us)
		fault_plan_add(f, "release them after %s",
			       format_duration(p->hold_us, d, sizeof(d)));
	fault_plan_add(f, "revert: end the holder (its connections close)");
	return 0;
}

/* ---- in the holder ---- */

static uint32_t be32(const unsigned char *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static void put32(char *b, uint32_t v)
{
	b[0] = (char)(v >> 24);
	b[1] = (char)(v >> 16);
	b[2] = (char)(v >> 8);
	b[3] = (char)v;
}

static bool send_all(int fd, const char *b, size_t n)
{
	while (n) {
		ssize_t w = send(fd, b, n, MSG_NOSIGNAL);

		if (w <= 0)
			return false;
		b += w;
		n -= (size_t)w;
	}
	return true;
}

static bool recv_all(int fd, unsigned char *b, size_t n)
{
	while (n) {
		ssize_t r = recv(fd, b, n, 0);

		if (r <= 0)
			return false;
		b += r;
		n -= (size_t)r;
	}
	return true;
}

enum opened { OPEN_HELD, OPEN_REFUSED, OPEN_FAILED };

/* The C and M fields of an ErrorResponse. */
static void error_fields(const unsigned char *b, size_t n, char *code, char *msg, size_t mlen)
{
	size_t i = 0;

	code[0] = msg[0] = '\0';
	while (i < n && b[i]) {
		unsigned char t = b[i++];
		const char *v = (const char *)b + i;
		size_t l = strnlen(v, n - i);

		if (t == 'C')
			snprintf(code, 6, "%.5s", v);
		else if (t == 'M')
			snprintf(msg, mlen, "%.*s", (int)l, v);
		i += l + 1;
	}
}

static uint32_t le24(const unsigned char *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16;
}

/* One MySQL packet into body (its payload length in *len); false: closed. */
static bool my_recv(int fd, unsigned char *body, uint32_t *len, uint8_t *seq)
{
	unsigned char hdr[4];

	if (!recv_all(fd, hdr, 4))
		return false;
	*len = le24(hdr);
	*seq = hdr[3];
	return *len <= CONN_MSG_MAX && recv_all(fd, body, *len);
}

/* An ERR packet: refused (1040 too many connections, 1203 the user's
 * limit) or not, its text in why. */
static enum opened my_error(const unsigned char *b, uint32_t n, char *why, size_t wlen)
{
	unsigned code = n >= 3 ? (unsigned)(b[1] | b[2] << 8) : 0;
	size_t off = n > 9 && b[3] == '#' ? 9 : 3;

	snprintf(why, wlen, "%.*s (error %u)", n > off ? (int)(n - off) : 0, (const char *)b + off,
		 code);
	return code == 1040 || code == 1203 ? OPEN_REFUSED : OPEN_FAILED;
}

/*
 * A MySQL login: the server's greeting (or its ERR when it is full), a
 * handshake response with no password, then the authentication exchange
 * (an auth switch answered with an empty response, caching_sha2's fast
 * path) to the OK.
 */
static enum opened open_mysql(const struct conn_priv *p, int fd, char *why, size_t wlen)
{
	cleanup_free unsigned char *b = malloc(CONN_MSG_MAX);
	char resp[160];
	uint32_t len, caps = 0x0200 | 0x8000 | 0x00080000 | 0x1; /* 4.1, secure conn, plugin auth */
	size_t n = 4;
	uint8_t seq;

	if (!b || !my_recv(fd, b, &len, &seq) || !len) {
		snprintf(why, wlen, "the server closed before its greeting");
		return OPEN_FAILED;
	}
	if (b[0] == 0xff)
		return my_error(b, len, why, wlen);
	if (b[0] != 10) {
		snprintf(why, wlen, "not a MySQL server (greeting of protocol %u)", b[0]);
		return OPEN_FAILED;
	}
	if (p->database[0])
		caps |= 0x8; /* CLIENT_CONNECT_WITH_DB */
	for (int i = 0; i < 4; i++)
		resp[n++] = (char)(caps >> (8 * i));
	memcpy(resp + n, "\0\0\0\1", 4); /* max packet 16 MiB */
	n += 4;
	resp[n++] = 33; /* utf8 */
	memset(resp + n, 0, 23);
	n += 23;
	n += (size_t)snprintf(resp + n, sizeof(resp) - n, "%s", p->user) + 1;
	resp[n++] = 0; /* no auth data */
	if (p->database[0])
		n += (size_t)snprintf(resp + n, sizeof(resp) - n, "%s", p->database) + 1;
	n += (size_t)snprintf(resp + n, sizeof(resp) - n, "mysql_native_password") + 1;
	n += (size_t)snprintf(resp + n, sizeof(resp) - n, "%c_client_name%cduress-connections", 11,
			      18);
	resp[0] = (char)(n - 4);
	resp[1] = resp[2] = 0;
	resp[3] = (char)(seq + 1);
	if (!send_all(fd, resp, n)) {
		snprintf(why, wlen, "send the login: %s", strerror(errno));
		return OPEN_FAILED;
	}
	for (;;) {
		if (!my_recv(fd, b, &len, &seq) || !len) {
			snprintf(why, wlen, "the server closed during the login");
			return OPEN_FAILED;
		}
		switch (b[0]) {
		case 0x00:
			return OPEN_HELD;
		case 0xff:
			return my_error(b, len, why, wlen);
		case 0xfe: { /* auth switch: the new plugin's response, empty */
			char e[4] = { 0, 0, 0, (char)(seq + 1) };

			if (!send_all(fd, e, 4)) {
				snprintf(why, wlen, "send the login: %s", strerror(errno));
				return OPEN_FAILED;
			}
			break;
		}
		case 0x01: /* more data: caching_sha2's fast path, then the OK */
			if (len >= 2 && b[1] == 4) {
				snprintf(why, wlen,
					 "the server wants a password (full authentication): "
					 "give the holder a user without one");
				return OPEN_FAILED;
			}
			break;
		default:
			snprintf(why, wlen, "an unexpected login packet (0x%02x)", b[0]);
			return OPEN_FAILED;
		}
	}
}

static enum opened open_one(const struct conn_priv *p, int *out, char *why, size_t wlen)
{
	cleanup_close int fd = socket(p->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	char start[256], code[6], msg[200];
	size_t n = 8;
	unsigned char hdr[5];
	cleanup_free unsigned char *body = malloc(CONN_MSG_MAX);
	int e;

	if (fd < 0 || !body) {
		snprintf(why, wlen, "socket: %s", strerror(errno));
		return OPEN_FAILED;
	}
	e = connect_timeout(fd, (const struct sockaddr *)&p->addr, p->addrlen, CONN_STEP_MS);
	if (e) {
		snprintf(why, wlen, "connect to %s: %s", p->where, strerror(e));
		return OPEN_FAILED;
	}
	if (p->mysql) {
		enum opened o = open_mysql(p, fd, why, wlen);

		if (o == OPEN_HELD) {
			*out = fd;
			fd = -1;
		}
		return o;
	}
	put32(start + 4, 196608);
	n += (size_t)snprintf(start + n, sizeof(start) - n,
			      "user%c%s%cdatabase%c%s%c"
			      "application_name%cduress-connections%c",
			      0, p->user, 0, 0, p->database, 0, 0, 0);
	start[n++] = 0;
	put32(start, (uint32_t)n);
	if (!send_all(fd, start, n)) {
		snprintf(why, wlen, "send the startup: %s", strerror(errno));
		return OPEN_FAILED;
	}
	for (;;) {
		uint32_t len;

		if (!recv_all(fd, hdr, 5)) {
			snprintf(why, wlen, "the server closed during the startup");
			return OPEN_FAILED;
		}
		len = be32(hdr + 1);
		if (len < 4 || len - 4 > CONN_MSG_MAX) {
			snprintf(why, wlen, "not a PostgreSQL server (a message of %u bytes)", len);
			return OPEN_FAILED;
		}
		if (!recv_all(fd, body, len - 4)) {
			snprintf(why, wlen, "the server closed during the startup");
			return OPEN_FAILED;
		}
		switch (hdr[0]) {
		case 'R': {
			uint32_t m = len >= 8 ? be32(body) : 99;
			char pw[300];
			size_t pl;

			if (m == 0)
				break;
			if (m != 3) {
				snprintf(why, wlen,
					 "the server asks for %s authentication: the holder "
					 "speaks trust and password only",
					 m == 5	   ? "md5"
					 : m == 10 ? "SCRAM"
						   : "another");
				return OPEN_FAILED;
			}
			if (!p->has_password) {
				snprintf(why, wlen,
					 "the server asks for a password: give --password");
				return OPEN_FAILED;
			}
			pl = strlen(p->password) + 1;
			pw[0] = 'p';
			put32(pw + 1, (uint32_t)(pl + 4));
			memcpy(pw + 5, p->password, pl);
			if (!send_all(fd, pw, pl + 5)) {
				snprintf(why, wlen, "send the password: %s", strerror(errno));
				return OPEN_FAILED;
			}
			break;
		}
		case 'E':
			error_fields(body, len - 4, code, msg, sizeof(msg));
			snprintf(why, wlen, "%s (SQLSTATE %s)", msg, code);
			return !strncmp(code, "53", 2) || !strcmp(code, "57P03") ? OPEN_REFUSED
										 : OPEN_FAILED;
		case 'Z':
			*out = fd;
			fd = -1;
			return OPEN_HELD;
		default:
			break; /* ParameterStatus, BackendKeyData, notices */
		}
	}
}

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void report(int ctl, unsigned held, unsigned open, bool refused, unsigned lost,
		   unsigned released)
{
	json_t *s = json_pack("{s:{s:i,s:i,s:i,s:i,s:i}}", "connections", "held", (json_int_t)held,
			      "open", (json_int_t)open, "refused", (json_int_t)refused, "lost",
			      (json_int_t)lost, "released", (json_int_t)released);

	if (s) {
		fault_helper_send(ctl, "stats", s, NULL);
		json_decref(s);
	}
}

static int holder_main(void *arg, int ctl)
{
	const struct conn_priv *p = arg;
	unsigned want = p->count ? p->count : CONN_MAX, held = 0, open, lost = 0, released = 0;
	struct pollfd *pf = calloc(CONN_MAX + 1, sizeof(*pf));
	struct rlimit rl;
	bool refused = false;
	char why[320] = "", msg[512];
	uint64_t release_at;

	if (!pf) {
		fault_helper_send(ctl, "error", NULL, "out of memory");
		return DURESS_EXIT_INTERNAL;
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	while (held < want) {
		int fd;
		enum opened o = open_one(p, &fd, why, sizeof(why));

		if (o == OPEN_HELD) {
			pf[1 + held].fd = fd;
			pf[1 + held].events = POLLIN;
			held++;
			continue;
		}
		refused = o == OPEN_REFUSED;
		if (!refused && !held) {
			snprintf(msg, sizeof(msg), "connection 1 to %s: %s", p->where, why);
			fault_helper_send(ctl, "error", NULL, msg);
			return DURESS_EXIT_UNSUPPORTED;
		}
		break;
	}
	if (refused)
		snprintf(msg, sizeof(msg),
			 "connections: holding %u to %s; the server refused the "
			 "next: %s",
			 held, p->where, why);
	else if (held < want)
		snprintf(msg, sizeof(msg),
			 "connections: holding %u of %u to %s; the next failed: %s", held, want,
			 p->where, why);
	else
		snprintf(msg, sizeof(msg), "connections: holding %u to %s", held, p->where);
	fault_helper_send(ctl, "event", NULL, msg);
	open = held;
	report(ctl, held, open, refused, lost, released);
	fault_helper_send(ctl, "ready", NULL, NULL);
	release_at = p->hold_us ? mono_us() + p->hold_us : 0;
	pf[0].fd = ctl;
	pf[0].events = POLLIN;
	for (;;) {
		int timeout = -1, r;
		uint64_t now = mono_us();

		if (release_at && open) {
			if (now >= release_at) {
				for (unsigned i = 0; i < held; i++)
					if (pf[1 + i].fd >= 0) {
						if (p->mysql) /* COM_QUIT */
							send_all(pf[1 + i].fd, "\1\0\0\0\1", 5);
						else
							send_all(pf[1 + i].fd, "X\0\0\0\4", 5);
						close(pf[1 + i].fd);
						pf[1 + i].fd = -1;
					}
				released = open;
				open = 0;
				fault_helper_send(ctl, "event", NULL,
						  "connections: --hold is over: released them");
				report(ctl, held, open, refused, lost, released);
				continue;
			}
			timeout = (int)((release_at - now) / 1000) + 1;
		}
		r = poll(pf, held + 1, timeout);
		if (r < 0 && errno != EINTR)
			return DURESS_EXIT_INTERNAL;
		if (pf[0].revents) {
			char c[64];

			if (read(ctl, c, sizeof(c)) <= 0)
				return 0; /* the agent is gone: so are we, and the connections */
		}
		for (unsigned i = 0; r > 0 && i < held; i++) {
			char buf[4096];

			if (pf[1 + i].fd < 0 || !pf[1 + i].revents)
				continue;
			/* a notice, or the server closing it (terminated, restarted) */
			if (recv(pf[1 + i].fd, buf, sizeof(buf), MSG_DONTWAIT) == 0 ||
			    (pf[1 + i].revents & (POLLERR | POLLHUP))) {
				close(pf[1 + i].fd);
				pf[1 + i].fd = -1;
				open--;
				lost++;
				report(ctl, held, open, refused, lost, released);
			}
		}
	}
}

static int conn_apply(struct fault *f, struct duress_err *err)
{
	struct conn_priv *p = f->priv;
	struct fault_helper_spec spec = { .name = "duress-conns",
					  .main = holder_main,
					  .arg = p,
					  .netns_fd = has_target(f) ? f->target->netns_fd : -1,
					  .ready_timeout_us = CONN_READY_TIMEOUT_US };

	if (fault_helper_start(f, &p->helper, &spec, err) < 0)
		return duress_err_wrap(err, "connections");
	p->helper_started = true;
	return 0;
}

static int conn_tick(struct fault *f, uint64_t since_apply_us, struct duress_err *err)
{
	struct conn_priv *p = f->priv;

	(void)since_apply_us;
	if (!p->helper_started)
		return 0;
	if (fault_helper_poll(&p->helper, err) < 0)
		return duress_err_wrap(err,
				       "connections: the holder is gone (its connections closed)");
	return 0;
}

static void conn_report(struct fault *f, json_t *summary)
{
	struct conn_priv *p = f->priv;
	json_t *c;

	json_object_set_new(summary, "server", json_string(p->where));
	if (!p->helper_started)
		return;
	fault_helper_collect(&p->helper);
	c = fault_helper_counters(&p->helper);
	if (c) {
		json_object_update(summary, c);
		json_decref(c);
	}
}

static void conn_sample(struct fault *f, json_t *sample)
{
	struct conn_priv *p = f->priv;

	if (p->helper_started)
		fault_helper_sample(&p->helper, sample);
}

static void conn_release(struct fault *f)
{
	struct conn_priv *p = f->priv;

	if (p->helper_started)
		fault_helper_release(&p->helper);
	p->helper_started = false;
}

const struct fault_desc fault_connections = {
	.name = "connections",
	.summary = "exhaust a PostgreSQL or MySQL server's connections: open and hold real ones "
		   "(--count N or --until-refused)",
	.opts = conn_opts,
	.nopts = DURESS_ARRAY_SIZE(conn_opts),
	.priv_size = sizeof(struct conn_priv),
	.validate = conn_validate,
	.supported = conn_supported,
	.plan = conn_plan,
	.apply = conn_apply,
	.tick = conn_tick,
	.report = conn_report,
	.release = conn_release,
	.no_target = conn_no_target,
	.sample = conn_sample,
};
