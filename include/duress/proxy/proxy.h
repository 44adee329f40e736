/* SPDX-License-Identifier: MIT */
/*
 * The proxy engine: one epoll loop, non-blocking sockets, per-connection
 * state and timers, run in a helper process of a fault (faults/helper.h).
 *
 * Modes:
 *   transparent  the listener lives in the target's network namespace and
 *                gets connections redirected by nftables (net/nft.h); each
 *                one's original destination comes from SO_ORIGINAL_DST (or
 *                IP6T_SO_ORIGINAL_DST) and the upstream socket carries
 *                PROXY_MARK (SO_MARK) so the redirect leaves it alone;
 *   explicit     the listener is --listen ADDR:PORT and every connection
 *                goes to --upstream ADDR:PORT; no redirect, no target.
 *
 * Filters: a connection has two byte streams, PROXY_UP (client -> server)
 * and PROXY_DOWN (server -> client).  A filter (struct proxy_filter) sees
 * what arrives on each and decides what the other end gets, through the
 * proxy_* calls below: forward it (proxy_send), hold it (proxy_send with a
 * release time: delays, rates), inject bytes of its own (proxy_send of
 * anything, either way), rewrite, stop reading (proxy_pause), close
 * (proxy_close: FIN after what is queued) or reset (proxy_reset: RST).  A
 * filter that has nothing more to do with a direction hands it back
 * (proxy_pass): when both are passed the engine moves bytes itself, with
 * splice(2) when it may.  One filter is one file (the HTTP one:
 * proxy/httpf.c; the TCP toxics: proxy/tcpf.c; database protocols later).
 *
 * Without a filter (or once passed) the engine forwards at once, copying
 * only what the peer cannot take yet.  Every queue is bounded
 * (PROXY_QUEUE_HIWAT): past it, the engine stops reading the source, so a
 * slow peer slows its sender instead of growing the helper.  Connections
 * have deadlines (connect); nothing blocks the loop.
 */
#ifndef DURESS_PROXY_H
#define DURESS_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <jansson.h>

#include <duress/core/error.h>

#define PROXY_MARK 0x0d5a0000u	       /* SO_MARK of every upstream socket */
#define PROXY_QUEUE_HIWAT (256 * 1024) /* bytes queued per direction */
#define PROXY_CONNECT_TIMEOUT_NS (10ULL * 1000000000)
#define PROXY_RESET_DRAIN_NS \
	(1000ULL * 1000000) /* reset: wait this long for the peer
						  * to have what was sent before it */
#define PROXY_NS_PER_S 1000000000ULL

enum proxy_dir {
	PROXY_UP = 0,	/* client -> server */
	PROXY_DOWN = 1, /* server -> client */
};

struct proxy;
struct proxy_conn;

enum proxy_open {
	PROXY_OPEN_CONNECT = 0, /* connect upstream (the usual) */
	PROXY_OPEN_NO_UPSTREAM, /* do not: the filter answers or holds it alone */
};

struct proxy_filter {
	const char *name; /* counters go under it: "http", "tcp" */
	size_t conn_size; /* zeroed bytes per connection (proxy_conn_priv) */
	/* a connection was accepted: returns enum proxy_open (may also reset it) */
	int (*open)(struct proxy_conn *c);
	/* bytes arrived on dir (from the client for UP, the server for DOWN) */
	void (*data)(struct proxy_conn *c, enum proxy_dir dir, const char *buf, size_t len);
	/* the source of dir ended (FIN); NULL: the engine passes it on
	 * (proxy_shutdown) */
	void (*eof)(struct proxy_conn *c, enum proxy_dir dir);
	/* the time set with proxy_timer() came */
	void (*timer)(struct proxy_conn *c);
	/* the bytes handed over with proxy_forward() have gone through */
	void (*forwarded)(struct proxy_conn *c, enum proxy_dir dir);
	/* the connection ends (for the filter's own counters and memory) */
	void (*close)(struct proxy_conn *c);
	/* the filter's counters (whole numbers; reals for percentiles) into out */
	void (*stats)(void *arg, json_t *out);
};

struct proxy_config {
	int listen_fd;			  /* listening socket (made non-blocking here); -1: none */
	bool transparent;		  /* original destination from conntrack */
	struct sockaddr_storage upstream; /* explicit mode */
	socklen_t upstream_len;
	uint32_t mark;			   /* SO_MARK of upstream sockets; 0: none */
	const struct proxy_filter *filter; /* NULL: plain forwarding */
	void *filter_arg;		   /* proxy_conn_arg(), and the stats hook's */
	bool no_splice;			   /* never splice (benchmarks compare) */
	uint64_t connect_timeout_ns;	   /* 0: PROXY_CONNECT_TIMEOUT_NS */
	unsigned max_conns;		   /* 0: as many as descriptors allow */
};

/* ---- the engine ---- */

int proxy_new(const struct proxy_config *cfg, struct proxy **out, struct duress_err *err);
void proxy_free(struct proxy *p);
/* Wait up to timeout_ms (-1: until the next deadline) and handle what
 * came: 0, or < 0 on a failure of the loop itself. */
int proxy_run_once(struct proxy *p, int timeout_ms, struct duress_err *err);
/* A connected pair handed to the engine, as if accepted and connected
 * (tests, and modes that connect themselves).  Both are taken over. */
int proxy_adopt(struct proxy *p, int client_fd, int server_fd, struct duress_err *err);
/* {"<filter name>": {connections, active, refused, upstream_errors,
 * bytes_up, bytes_down, resets, ... the filter's own}} (new reference). */
json_t *proxy_stats(struct proxy *p);
/* Monotonic nanoseconds, as the loop saw them last. */
uint64_t proxy_now(const struct proxy *p);
unsigned proxy_active(const struct proxy *p);

/* What proxy_serve tells its owner (the helper's control channel). */
struct proxy_hooks {
	void (*ready)(void *arg);		   /* serving */
	void (*report)(json_t *stats, void *arg);  /* about once a second, and at the end */
	void (*event)(const char *msg, void *arg); /* at most one a second */
	void *arg;
};

/*
 * Run until watch_fd is at EOF or hung up (the control channel of the
 * helper: the agent is gone) or SIGTERM.  Returns 0, or < 0 when the loop
 * itself failed.
 */
int proxy_serve(const struct proxy_config *cfg, int watch_fd, const struct proxy_hooks *hooks,
		struct duress_err *err);

/*
 * A listening TCP socket (non-blocking, SO_REUSEADDR) on addr:port, made in
 * the network namespace netns_fd (-1: the agent's own) by a short-lived
 * thread, so the agent never leaves its namespace.  addr NULL: the
 * wildcard, IPv6 dual-stack where the namespace has IPv6, else IPv4.
 * port 0: any; the port bound in *bound.  `what` names it ("--listen").
 */
int proxy_listen(int netns_fd, const struct sockaddr *addr, socklen_t addrlen, int *fd,
		 uint16_t *bound, const char *what, struct duress_err *err);
/* The same for a UDP socket (no SO_REUSEADDR, no listen): each datagram's
 * destination address comes with it (IP_PKTINFO, IPV6_RECVPKTINFO);
 * rcvbuf bytes of receive buffer (0: the system's). */
int proxy_listen_udp(int netns_fd, const struct sockaddr *addr, socklen_t addrlen, int rcvbuf,
		     int *fd, uint16_t *bound, const char *what, struct duress_err *err);

/* "127.0.0.1:8080", "[::1]:8080", "localhost:8080" (resolved numerically
 * only: no DNS) into a sockaddr; usage errors name `what`. */
int proxy_parse_addr(const char *text, const char *what, struct sockaddr_storage *out,
		     socklen_t *len, struct duress_err *err);
/* "127.0.0.1:8080" / "[::1]:8080". */
char *proxy_format_addr(const struct sockaddr *sa, char *buf, size_t len);

/* ---- for filters ---- */

void *proxy_conn_priv(struct proxy_conn *c);
void *proxy_conn_arg(const struct proxy_conn *c);
uint64_t proxy_conn_now(const struct proxy_conn *c);
uint64_t proxy_conn_id(const struct proxy_conn *c);
/* Where the client meant to go (transparent) or the upstream (explicit). */
const struct sockaddr *proxy_conn_dest(const struct proxy_conn *c);

/*
 * Queue len bytes for the receiving end of dir (the server for UP, the
 * client for DOWN), not to be written before not_before (monotonic ns; 0:
 * now).  Release times never go backwards within a direction: bytes keep
 * their order, and a held chunk holds what follows it.  Returns 0, or -1
 * when that end is closed (the bytes are dropped).
 */
int proxy_send(struct proxy_conn *c, enum proxy_dir dir, const void *buf, size_t len,
	       uint64_t not_before);
/* Bytes of dir queued and not yet written. */
size_t proxy_queued(const struct proxy_conn *c, enum proxy_dir dir);
/* The release time of the last byte queued on dir (0: none held). */
uint64_t proxy_release_time(const struct proxy_conn *c, enum proxy_dir dir);
/* Stop (true) or resume reading the source of dir. */
void proxy_pause(struct proxy_conn *c, enum proxy_dir dir, bool paused);
/* The filter is done with dir: bytes go straight through from now on. */
void proxy_pass(struct proxy_conn *c, enum proxy_dir dir);
/* The next n bytes of dir go straight through, unseen by the filter
 * (splice(2) when large: a body the filter has nothing to do with), then
 * filter->forwarded(c, dir) and the filter sees the stream again. */
void proxy_forward(struct proxy_conn *c, enum proxy_dir dir, uint64_t n);
/* FIN to the receiving end of dir once its queue is written. */
void proxy_shutdown(struct proxy_conn *c, enum proxy_dir dir);
/* Stop reading; once both queues are written, close both ends. */
void proxy_close(struct proxy_conn *c);
/* Reset the client (RST) and drop the server: after what is queued for the
 * client has reached it (flush, bounded by PROXY_RESET_DRAIN_NS), or at once. */
void proxy_reset(struct proxy_conn *c, bool flush);
/* filter->timer at `at` (monotonic ns); 0 cancels. */
void proxy_timer(struct proxy_conn *c, uint64_t at);
/* Something worth telling the agent (rate-limited by the caller). */
void proxy_event(struct proxy_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
