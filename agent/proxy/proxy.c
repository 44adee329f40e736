// SPDX-License-Identifier: MIT
/*
 * The proxy engine: epoll (edge-triggered, readiness kept per socket),
 * a min-heap of per-connection deadlines, chunk queues with release times,
 * splice(2) for connections no filter looks at.  See
 * include/duress/proxy/proxy.h.
 */
#include <duress/core/cleanup.h>
#include <duress/core/exitcode.h>
#include <duress/proxy/proxy.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/netfilter_ipv4.h>
#include <linux/sockios.h>

#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif

#define READ_SIZE 65536
#define READS_PER_TURN 16 /* then let the others have a go */
#define ACCEPTS_PER_TURN 64
#define MAX_EVENTS 256
#define SPLICE_SIZE 65536
#define RESET_POLL_NS (2ULL * 1000000)
#define CORK_MAX 16384 /* bytes gathered in a filter's callback */

enum tag { TAG_SIDE, TAG_LISTEN, TAG_WATCH, TAG_SIGNAL };

struct chunk {
	struct chunk *next;
	uint64_t at; /* not before (monotonic ns) */
	uint32_t len, off, cap;
	char data[];
};

#define CHUNK_MIN 2048

struct queue {
	struct chunk *head, *tail;
	size_t bytes;
	uint64_t floor; /* release time of the last chunk: never earlier after it */
};

struct side {
	uint8_t tag; /* TAG_SIDE: the first member, as in struct tagged */
	uint8_t idx; /* 0 client, 1 server */
	struct proxy_conn *c;
	int fd;
	bool rd_ready, wr_ready;
	bool rd_hup; /* the peer's FIN (or an error) was signalled: read to the end */
};

enum { CLIENT = 0, SERVER = 1 };

struct proxy_conn {
	struct proxy *p;
	struct side s[2];
	struct queue q[2]; /* q[UP] goes to the server, q[DOWN] to the client */
	int pipe[2][2];	   /* splice: per direction, -1 until used */
	size_t piped[2];
	bool paused[2], pass[2];
	bool src_eof[2];	    /* the source of dir sent FIN */
	bool want_shut[2], shut[2]; /* FIN to the destination of dir: asked, done */
	bool connecting, connected, no_upstream;
	bool closing, resetting, dead, splicing, in_ready, filter_open;
	bool corked;	 /* in a filter callback: sends are gathered, then flushed */
	bool bulk;	 /* a pass-through read filled the buffer: splice from now on */
	uint64_t fwd[2]; /* bytes of dir that go straight through (proxy_forward) */
	uint64_t timer_at, connect_deadline, reset_deadline, reset_poll;
	uint64_t wake;	 /* min of the above and queue release times; 0 none */
	size_t heap_idx; /* SIZE_MAX: not in the heap */
	uint64_t id;
	struct proxy_conn *next;		/* ready list */
	struct proxy_conn *dead_next;		/* dead list */
	struct proxy_conn *all_prev, *all_next; /* every live connection */
	struct sockaddr_storage dest;
	uint64_t bytes[2];
	_Alignas(16) char priv[];
};

struct tagged {
	uint8_t tag;
};

struct proxy {
	struct proxy_config cfg;
	int ep;
	struct tagged listen_tag, watch_tag, signal_tag;
	int watch_fd, signal_fd;
	bool stop;
	uint64_t now;
	char *buf;
	struct proxy_conn **heap;
	size_t nheap, capheap;
	struct proxy_conn *ready, *dead, *all;
	uint64_t next_id;
	unsigned active, max_conns;
	/* counters */
	uint64_t n_conns, n_refused, n_upstream_err, n_resets, bytes[2], n_spliced;
	/* events: at most one a second, the rest counted */
	char event[512];
	bool has_event;
	unsigned events_dropped;
	uint64_t last_event;
};

static uint64_t clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * PROXY_NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* ---- the deadline heap ---- */

static bool heap_less(const struct proxy *p, size_t a, size_t b)
{
	return p->heap[a]->wake < p->heap[b]->wake;
}

static void heap_swap(struct proxy *p, size_t a, size_t b)
{
	struct proxy_conn *t = p->heap[a];

	p->heap[a] = p->heap[b];
	p->heap[b] = t;
	p->heap[a]->heap_idx = a;
	p->heap[b]->heap_idx = b;
}

static void heap_up(struct proxy *p, size_t i)
{
	while (i && heap_less(p, i, (i - 1) / 2)) {
		heap_swap(p, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void heap_down(struct proxy *p, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < p->nheap && heap_less(p, l, m))
			m = l;
		if (r < p->nheap && heap_less(p, r, m))
			m = r;
		if (m == i)
			return;
		heap_swap(p, i, m);
		i = m;
	}
}

static void heap_remove(struct proxy *p, struct proxy_conn *c)
{
	size_t i = c->heap_idx;

	if (i == SIZE_MAX)
		return;
	c->heap_idx = SIZE_MAX;
	if (i == --p->nheap)
		return;
	p->heap[i] = p->heap[p->nheap];
	p->heap[i]->heap_idx = i;
	heap_down(p, i);
	heap_up(p, i);
}

static int heap_set(struct proxy *p, struct proxy_conn *c, uint64_t wake)
{
	if (!wake) {
		heap_remove(p, c);
		c->wake = 0;
		return 0;
	}
	if (c->heap_idx == SIZE_MAX) {
		if (p->nheap == p->capheap) {
			size_t n = p->capheap ? p->capheap * 2 : 64;
			struct proxy_conn **h = realloc(p->heap, n * sizeof(*h));

			if (!h)
				return -1;
			p->heap = h;
			p->capheap = n;
		}
		c->wake = wake;
		c->heap_idx = p->nheap;
		p->heap[p->nheap++] = c;
		heap_up(p, c->heap_idx);
		return 0;
	}
	c->wake = wake;
	heap_down(p, c->heap_idx);
	heap_up(p, c->heap_idx);
	return 0;
}

/* ---- events to the owner ---- */

static void event_v(struct proxy *p, const char *fmt, va_list ap)
{
	if (p->has_event) {
		p->events_dropped++;
		return;
	}
	vsnprintf(p->event, sizeof(p->event), fmt, ap);
	p->has_event = true;
}

static void engine_event(struct proxy *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void engine_event(struct proxy *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	event_v(p, fmt, ap);
	va_end(ap);
}

void proxy_event(struct proxy_conn *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	event_v(c->p, fmt, ap);
	va_end(ap);
}

/* ---- queues ---- */

static void queue_free(struct queue *q)
{
	while (q->head) {
		struct chunk *n = q->head->next;

		free(q->head);
		q->head = n;
	}
	q->tail = NULL;
	q->bytes = 0;
}

static int queue_add(struct queue *q, const void *buf, size_t len, uint64_t at)
{
	struct chunk *ch = q->tail;

	if (at < q->floor)
		at = q->floor;
	q->floor = at;
	/* onto the tail when it is released at the same time and has room */
	if (ch && ch->at == at && ch->cap - ch->len >= len) {
		memcpy(ch->data + ch->len, buf, len);
		ch->len += (uint32_t)len;
		q->bytes += len;
		return 0;
	}
	ch = malloc(sizeof(*ch) + (len > CHUNK_MIN ? len : CHUNK_MIN));
	if (!ch)
		return -1;
	ch->next = NULL;
	ch->at = at;
	ch->len = (uint32_t)len;
	ch->off = 0;
	ch->cap = (uint32_t)(len > CHUNK_MIN ? len : CHUNK_MIN);
	memcpy(ch->data, buf, len);
	if (q->tail)
		q->tail->next = ch;
	else
		q->head = ch;
	q->tail = ch;
	q->bytes += len;
	return 0;
}

/* ---- sockets ---- */

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void set_nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Close with RST: linger 0. */
static void close_rst(int fd)
{
	struct linger l = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}

static int ep_add(struct proxy *p, int fd, void *ptr, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = ptr };

	return epoll_ctl(p->ep, EPOLL_CTL_ADD, fd, &ev);
}

/* ---- connections ---- */

static void conn_wake(struct proxy_conn *c);
static void conn_run(struct proxy_conn *c);

static struct proxy_conn *conn_new(struct proxy *p)
{
	size_t extra = p->cfg.filter ? p->cfg.filter->conn_size : 0;
	struct proxy_conn *c = calloc(1, sizeof(*c) + extra);

	if (!c)
		return NULL;
	c->p = p;
	c->id = ++p->next_id;
	c->heap_idx = SIZE_MAX;
	for (int i = 0; i < 2; i++) {
		c->s[i].tag = TAG_SIDE;
		c->s[i].idx = (uint8_t)i;
		c->s[i].c = c;
		c->s[i].fd = -1;
		c->pipe[i][0] = c->pipe[i][1] = -1;
	}
	if (!p->cfg.filter)
		c->pass[PROXY_UP] = c->pass[PROXY_DOWN] = true;
	c->all_next = p->all;
	if (p->all)
		p->all->all_prev = c;
	p->all = c;
	p->active++;
	return c;
}

/* Source side of dir, and destination side. */
static inline struct side *src_of(struct proxy_conn *c, int dir)
{
	return &c->s[dir == PROXY_UP ? CLIENT : SERVER];
}

static inline struct side *dst_of(struct proxy_conn *c, int dir)
{
	return &c->s[dir == PROXY_UP ? SERVER : CLIENT];
}

/* Free now-or-later: everything goes at the end of the loop turn, so that
 * events still pending in this turn never see freed memory. */
static void conn_kill(struct proxy_conn *c, bool rst_client)
{
	struct proxy *p = c->p;

	if (c->dead)
		return;
	c->dead = true;
	if (c->filter_open && p->cfg.filter && p->cfg.filter->close)
		p->cfg.filter->close(c);
	for (int i = 0; i < 2; i++) {
		if (c->s[i].fd < 0)
			continue;
		if (rst_client && i == CLIENT)
			close_rst(c->s[i].fd);
		else
			close(c->s[i].fd);
		c->s[i].fd = -1;
	}
	for (int d = 0; d < 2; d++) {
		queue_free(&c->q[d]);
		for (int k = 0; k < 2; k++)
			if (c->pipe[d][k] >= 0)
				close(c->pipe[d][k]);
	}
	p->bytes[0] += c->bytes[0];
	p->bytes[1] += c->bytes[1];
	heap_remove(p, c);
	if (c->all_prev)
		c->all_prev->all_next = c->all_next;
	else
		p->all = c->all_next;
	if (c->all_next)
		c->all_next->all_prev = c->all_prev;
	p->active--;
	c->dead_next = p->dead;
	p->dead = c;
}

/* A dead connection still on the ready list is freed a turn later, once
 * run_ready() has taken it off. */
static void free_dead(struct proxy *p)
{
	struct proxy_conn *c = p->dead, *keep = NULL;

	p->dead = NULL;
	while (c) {
		struct proxy_conn *n = c->dead_next;

		if (c->in_ready) {
			c->dead_next = keep;
			keep = c;
		} else {
			free(c);
		}
		c = n;
	}
	p->dead = keep;
}

/* A peer broke the connection (reset, error): so does the other side. */
static void conn_broken(struct proxy_conn *c, int side)
{
	/* the client sees the server's reset as a reset; the server sees the
	 * client's as a plain close */
	if (side == SERVER)
		c->p->n_resets++;
	conn_kill(c, side == SERVER);
}

/* Write what is due from q[dir]; false if the connection died. */
static bool flush(struct proxy_conn *c, int dir)
{
	struct side *d = dst_of(c, dir);
	struct queue *q = &c->q[dir];

	if (c->piped[dir] && !c->splicing)
		return true; /* forwarded bytes in the pipe go first */
	while (q->head && d->wr_ready && d->fd >= 0) {
		struct chunk *ch = q->head;
		ssize_t w;

		if (ch->at > c->p->now)
			break;
		w = send(d->fd, ch->data + ch->off, ch->len - ch->off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				d->wr_ready = false;
				break;
			}
			conn_broken(c, d->idx);
			return false;
		}
		ch->off += (uint32_t)w;
		q->bytes -= (size_t)w;
		c->bytes[dir] += (uint64_t)w;
		if (ch->off == ch->len) {
			q->head = ch->next;
			if (!q->head)
				q->tail = NULL;
			free(ch);
		}
	}
	return true;
}

int proxy_send(struct proxy_conn *c, enum proxy_dir dir, const void *buf, size_t len,
	       uint64_t not_before)
{
	struct side *d = dst_of(c, dir);
	struct queue *q = &c->q[dir];
	uint64_t at = not_before > q->floor ? not_before : q->floor;

	if (c->dead || c->shut[dir] || c->want_shut[dir] || (dir == PROXY_UP && c->no_upstream))
		return -1;
	if (!len)
		return 0;
	/* in a filter's callback, small pieces (a head, then a body) are
	 * gathered and go out in one write when it returns */
	if (c->corked && at <= c->p->now && q->bytes + len <= CORK_MAX &&
	    (!q->head || q->tail->at <= c->p->now)) {
		if (queue_add(q, buf, len, at) < 0) {
			conn_kill(c, true);
			return -1;
		}
		return 0;
	}
	if (c->corked && q->head && !flush(c, dir))
		return -1;
	/* straight out when nothing waits and the peer takes it */
	if (!q->head && at <= c->p->now && d->wr_ready && d->fd >= 0 && !c->piped[dir] &&
	    !(dir == PROXY_UP && c->connecting)) {
		ssize_t w;

		do
			w = send(d->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		while (w < 0 && errno == EINTR);
		if (w < 0 && errno != EAGAIN) {
			conn_broken(c, d->idx);
			return -1;
		}
		if (w < 0)
			d->wr_ready = false;
		if (w > 0) {
			c->bytes[dir] += (uint64_t)w;
			buf = (const char *)buf + w;
			len -= (size_t)w;
			if (!len)
				return 0;
			d->wr_ready = false; /* short write: the buffer is full */
		}
	}
	if (queue_add(q, buf, len, at) < 0) {
		engine_event(c->p, "connection %llu: out of memory queueing %zu bytes",
			     (unsigned long long)c->id, len);
		conn_kill(c, true);
		return -1;
	}
	if (at > c->p->now)
		conn_wake(c);
	return 0;
}

size_t proxy_queued(const struct proxy_conn *c, enum proxy_dir dir)
{
	return c->q[dir].bytes + c->piped[dir];
}

uint64_t proxy_release_time(const struct proxy_conn *c, enum proxy_dir dir)
{
	return c->q[dir].head ? c->q[dir].floor : 0;
}

void proxy_pause(struct proxy_conn *c, enum proxy_dir dir, bool paused)
{
	if (c->paused[dir] == paused)
		return;
	c->paused[dir] = paused;
	if (!paused)
		conn_wake(c);
}

void proxy_pass(struct proxy_conn *c, enum proxy_dir dir)
{
	c->pass[dir] = true;
}

void proxy_shutdown(struct proxy_conn *c, enum proxy_dir dir)
{
	c->want_shut[dir] = true;
	conn_wake(c);
}

void proxy_close(struct proxy_conn *c)
{
	c->closing = true;
	c->paused[0] = c->paused[1] = true;
	conn_wake(c);
}

void proxy_reset(struct proxy_conn *c, bool flush_first)
{
	if (c->dead || c->resetting)
		return;
	c->p->n_resets++;
	if (!flush_first) {
		conn_kill(c, true);
		return;
	}
	c->resetting = true;
	c->paused[0] = c->paused[1] = true;
	c->reset_deadline = c->p->now + PROXY_RESET_DRAIN_NS;
	conn_wake(c);
}

void proxy_timer(struct proxy_conn *c, uint64_t at)
{
	c->timer_at = at;
	conn_wake(c);
}

void *proxy_conn_priv(struct proxy_conn *c)
{
	return c->priv;
}

void *proxy_conn_arg(const struct proxy_conn *c)
{
	return c->p->cfg.filter_arg;
}

uint64_t proxy_conn_now(const struct proxy_conn *c)
{
	return c->p->now;
}

uint64_t proxy_conn_id(const struct proxy_conn *c)
{
	return c->id;
}

const struct sockaddr *proxy_conn_dest(const struct proxy_conn *c)
{
	return (const struct sockaddr *)&c->dest;
}

/* Look at the connection again in this turn (after the events). */
static void conn_wake(struct proxy_conn *c)
{
	if (c->in_ready || c->dead)
		return;
	c->in_ready = true;
	/* (a connection killed later in this turn stays listed: run_ready
	 * skips it, free_dead waits for that) */
	c->next = c->p->ready;
	c->p->ready = c;
}

/* ---- moving bytes ---- */

static bool can_splice(const struct proxy_conn *c)
{
	/* only for bulk transfers: for small messages two splices and a pipe
	 * cost more than a read and a write */
	return c->bulk && c->pass[0] && c->pass[1] && !c->p->cfg.no_splice && c->connected &&
	       !c->q[0].head && !c->q[1].head && !c->closing && !c->resetting && !c->fwd[0] &&
	       !c->fwd[1];
}

/* Splice dir: drain the pipe to the destination, then refill it from the
 * source (only when empty: an EAGAIN then means the source is dry). */
static bool pump_splice(struct proxy_conn *c, int dir)
{
	struct side *s = src_of(c, dir), *d = dst_of(c, dir);
	int *pp = c->pipe[dir];

	if (pp[0] < 0 && pipe2(pp, O_NONBLOCK | O_CLOEXEC) < 0) {
		pp[0] = pp[1] = -1;
		c->splicing = false; /* out of descriptors: copy instead */
		return true;
	}
	for (int turn = 0; turn < READS_PER_TURN; turn++) {
		while (c->piped[dir] && d->wr_ready) {
			ssize_t w = splice(pp[0], NULL, d->fd, NULL, c->piped[dir],
					   SPLICE_F_NONBLOCK | SPLICE_F_MOVE);

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0 && errno == EAGAIN) {
				d->wr_ready = false;
				break;
			}
			if (w <= 0) {
				conn_broken(c, d->idx);
				return false;
			}
			c->piped[dir] -= (size_t)w;
			c->bytes[dir] += (uint64_t)w;
		}
		if (c->piped[dir] || !s->rd_ready || c->src_eof[dir] || c->paused[dir])
			return true;
		{
			ssize_t r = splice(s->fd, NULL, pp[1], NULL, SPLICE_SIZE,
					   SPLICE_F_NONBLOCK | SPLICE_F_MOVE);

			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0 && errno == EAGAIN) {
				s->rd_ready = false;
				return true;
			}
			if (r < 0) {
				conn_broken(c, s->idx);
				return false;
			}
			if (r == 0) {
				s->rd_ready = false;
				c->src_eof[dir] = true;
				c->want_shut[dir] = true;
				return true;
			}
			c->piped[dir] += (size_t)r;
			/* a short read drained the socket (as in pump) */
			if ((size_t)r < SPLICE_SIZE && !s->rd_hup)
				s->rd_ready = false;
		}
	}
	conn_wake(c); /* more to do: after the others */
	return true;
}

void proxy_forward(struct proxy_conn *c, enum proxy_dir dir, uint64_t n)
{
	c->fwd[dir] = n;
	conn_wake(c);
}

/* Write what the pipe of dir holds; false if the connection died. */
static bool drain_pipe(struct proxy_conn *c, int dir)
{
	struct side *d = dst_of(c, dir);

	while (c->piped[dir] && d->wr_ready) {
		ssize_t w = splice(c->pipe[dir][0], NULL, d->fd, NULL, c->piped[dir],
				   SPLICE_F_NONBLOCK | SPLICE_F_MOVE);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			d->wr_ready = false;
			break;
		}
		if (w <= 0) {
			conn_broken(c, d->idx);
			return false;
		}
		c->piped[dir] -= (size_t)w;
		c->bytes[dir] += (uint64_t)w;
	}
	return true;
}

/* The end of a forward: the filter takes the stream back. */
static void forward_done(struct proxy_conn *c, int dir)
{
	const struct proxy_filter *f = c->p->cfg.filter;

	if (f && f->forwarded) {
		c->corked = true;
		f->forwarded(c, (enum proxy_dir)dir);
		c->corked = false;
	}
}

/* Move up to c->fwd[dir] bytes from dir's source to its destination, the
 * filter skipped: splice for large amounts, a copy for the rest.  Returns
 * false if the connection died; *more when it may go on reading. */
static bool pump_forward(struct proxy_conn *c, int dir, bool *more)
{
	struct side *s = src_of(c, dir);
	const struct proxy_filter *f = c->p->cfg.filter;
	int *pp = c->pipe[dir];

	*more = false;
	if (!drain_pipe(c, dir))
		return false;
	if (c->piped[dir] || c->q[dir].head)
		return true; /* the destination is full: wait */
	if (!c->fwd[dir]) {
		*more = true;
		return true;
	}
	if (!s->rd_ready || c->paused[dir])
		return true;
	if (c->fwd[dir] >= 16384 && !c->p->cfg.no_splice &&
	    (pp[0] >= 0 || pipe2(pp, O_NONBLOCK | O_CLOEXEC) == 0)) {
		size_t want = c->fwd[dir] < SPLICE_SIZE ? (size_t)c->fwd[dir] : SPLICE_SIZE;
		ssize_t r =
			splice(s->fd, NULL, pp[1], NULL, want, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);

		if (r < 0 && errno == EINTR) {
			*more = true;
			return true;
		}
		if (r < 0 && errno == EAGAIN) {
			s->rd_ready = false;
			return true;
		}
		if (r < 0) {
			conn_broken(c, s->idx);
			return false;
		}
		if (r == 0)
			goto eof;
		c->piped[dir] += (size_t)r;
		c->fwd[dir] -= (uint64_t)r;
		if ((size_t)r < want && !s->rd_hup)
			s->rd_ready = false;
		if (!drain_pipe(c, dir))
			return false;
	} else {
		size_t want = c->fwd[dir] < READ_SIZE ? (size_t)c->fwd[dir] : READ_SIZE;
		ssize_t r;

		r = recv(s->fd, c->p->buf, want, MSG_DONTWAIT);
		if (r < 0 && errno == EINTR) {
			*more = true;
			return true;
		}
		if (r < 0 && errno == EAGAIN) {
			s->rd_ready = false;
			return true;
		}
		if (r < 0) {
			conn_broken(c, s->idx);
			return false;
		}
		if (r == 0)
			goto eof;
		c->fwd[dir] -= (uint64_t)r;
		proxy_send(c, (enum proxy_dir)dir, c->p->buf, (size_t)r, 0);
		if (c->dead)
			return false;
		if ((size_t)r < want && !s->rd_hup)
			s->rd_ready = false;
	}
	if (!c->fwd[dir])
		forward_done(c, dir);
	*more = !c->dead;
	return !c->dead;
eof:
	/* the source ended before the forward did: the filter hears it */
	s->rd_ready = false;
	c->src_eof[dir] = true;
	c->fwd[dir] = 0;
	if (f && !c->pass[dir] && f->eof)
		f->eof(c, (enum proxy_dir)dir);
	else
		c->want_shut[dir] = true;
	return !c->dead;
}

/* Read dir's source and hand the bytes on; false if the connection died. */
static bool pump(struct proxy_conn *c, int dir)
{
	struct proxy *p = c->p;
	struct side *s = src_of(c, dir);
	const struct proxy_filter *f = p->cfg.filter;

	if (s->fd < 0 || c->src_eof[dir] || (dir == PROXY_DOWN && !c->connected))
		return true;
	for (int turn = 0; turn < READS_PER_TURN; turn++) {
		ssize_t r;

		if (c->fwd[dir] || c->piped[dir]) {
			bool more;

			if (!pump_forward(c, dir, &more))
				return false;
			if (!more)
				return true;
			if (c->fwd[dir])
				continue;
		}
		if (!s->rd_ready || c->paused[dir] || c->dead)
			return !c->dead;
		/* the flush will wake us; a filter that answers by itself (the
		 * other queue) is bounded too */
		if (c->q[dir].bytes >= PROXY_QUEUE_HIWAT ||
		    c->q[!dir].bytes >= 4 * PROXY_QUEUE_HIWAT)
			return true;
		r = recv(s->fd, p->buf, READ_SIZE, MSG_DONTWAIT);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				s->rd_ready = false;
				return true;
			}
			conn_broken(c, s->idx);
			return false;
		}
		if (r == 0) {
			s->rd_ready = false;
			c->src_eof[dir] = true;
			if (f && !c->pass[dir] && f->eof)
				f->eof(c, (enum proxy_dir)dir);
			else
				c->want_shut[dir] = true;
			/* held alone by the filter: the client's FIN ends it */
			if (c->no_upstream && dir == PROXY_UP && !(f && f->eof))
				c->want_shut[PROXY_DOWN] = true;
			return !c->dead;
		}
		if (f && !c->pass[dir]) {
			c->corked = true;
			f->data(c, (enum proxy_dir)dir, p->buf, (size_t)r);
			c->corked = false;
		} else {
			proxy_send(c, (enum proxy_dir)dir, p->buf, (size_t)r, 0);
			if ((size_t)r == READ_SIZE)
				c->bulk = true;
		}
		if (c->dead)
			return false;
		/* a short read drained the socket: the next data or FIN brings a
		 * new edge (unless the FIN is already signalled: read to it) */
		if ((size_t)r < READ_SIZE && !s->rd_hup) {
			s->rd_ready = false;
			return true;
		}
	}
	conn_wake(c);
	return true;
}

/* The upstream connect finished (or failed). */
static void connect_done(struct proxy_conn *c)
{
	int e = 0;
	socklen_t len = sizeof(e);
	char a[INET6_ADDRSTRLEN + 8];

	if (getsockopt(c->s[SERVER].fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
		e = errno;
	if (e == EINPROGRESS || e == EALREADY)
		return;
	if (e) {
		c->p->n_upstream_err++;
		engine_event(c->p, "upstream %s: connect: %s",
			     proxy_format_addr((struct sockaddr *)&c->dest, a, sizeof(a)),
			     strerror(e));
		/* the client sees what it would have seen: a refusal, as a reset */
		conn_kill(c, true);
		return;
	}
	c->connecting = false;
	c->connected = true;
	c->connect_deadline = 0;
}

static uint64_t min_nz(uint64_t a, uint64_t b)
{
	return !a ? b : !b ? a : a < b ? a : b;
}

/* Ends, resets and deadlines once the bytes have moved. */
static void conn_settle(struct proxy_conn *c)
{
	struct proxy *p = c->p;
	uint64_t wake = 0;

	/* FIN where asked, once everything before it is out */
	for (int dir = 0; dir < 2 && !c->dead; dir++) {
		struct side *d = dst_of(c, dir);

		if ((c->want_shut[dir] || c->closing) && !c->shut[dir] && !c->q[dir].head &&
		    !c->piped[dir] && d->fd >= 0 && !c->connecting) {
			shutdown(d->fd, SHUT_WR);
			c->shut[dir] = true;
		}
	}
	if (c->dead)
		return;
	if (c->resetting) {
		int outq = 0;

		if (!c->q[PROXY_DOWN].head && (ioctl(c->s[CLIENT].fd, SIOCOUTQ, &outq) < 0 ||
					       outq == 0 || p->now >= c->reset_deadline)) {
			conn_kill(c, true);
			return;
		}
		c->reset_poll = p->now + RESET_POLL_NS;
		wake = min_nz(wake, c->reset_poll);
	}
	/* both ways done (nothing more will flow): the end */
	if ((c->src_eof[PROXY_UP] || c->closing) && (c->shut[PROXY_UP] || c->no_upstream) &&
	    (c->src_eof[PROXY_DOWN] || c->closing || c->no_upstream) && c->shut[PROXY_DOWN]) {
		conn_kill(c, false);
		return;
	}
	for (int dir = 0; dir < 2; dir++)
		if (c->q[dir].head && c->q[dir].head->at > p->now)
			wake = min_nz(wake, c->q[dir].head->at);
	wake = min_nz(wake, c->timer_at);
	wake = min_nz(wake, c->connect_deadline);
	if (heap_set(p, c, wake) < 0)
		conn_kill(c, true);
}

static void conn_run(struct proxy_conn *c)
{
	if (c->dead)
		return;
	if (c->connecting && c->s[SERVER].wr_ready)
		connect_done(c);
	if (c->dead)
		return;
	if (c->splicing || (can_splice(c) && (c->splicing = true))) {
		for (int dir = 0; dir < 2 && c->splicing; dir++)
			if (!pump_splice(c, dir))
				return;
	}
	if (!c->splicing) {
		for (int dir = 0; dir < 2; dir++) {
			if (!flush(c, dir) || !pump(c, dir) || !flush(c, dir))
				return;
		}
		/* what the DOWN pass made for UP (a filter answering) */
		if (!flush(c, PROXY_UP))
			return;
		/* a filter that passed both ways while bytes moved: splice next */
		if (can_splice(c))
			conn_wake(c);
	}
	if (!c->dead)
		conn_settle(c);
}

/* ---- accepting ---- */

static int original_dest(int fd, struct sockaddr_storage *out)
{
	struct sockaddr_storage local;
	socklen_t len = sizeof(local);
	bool v4;

	if (getsockname(fd, (struct sockaddr *)&local, &len) < 0)
		return -1;
	v4 = local.ss_family == AF_INET ||
	     (local.ss_family == AF_INET6 &&
	      IN6_IS_ADDR_V4MAPPED(&((struct sockaddr_in6 *)&local)->sin6_addr));
	memset(out, 0, sizeof(*out));
	len = v4 ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	/* SOL_IP on a dual-stack socket reaches the IPv4 conntrack entry */
	return getsockopt(fd, v4 ? SOL_IP : SOL_IPV6, v4 ? SO_ORIGINAL_DST : IP6T_SO_ORIGINAL_DST,
			  out, &len);
}

/* A connection accepted (client_fd); server_fd >= 0 when already connected
 * (adopted). */
static int conn_start(struct proxy *p, int client_fd, int server_fd)
{
	const struct proxy_filter *f = p->cfg.filter;
	struct proxy_conn *c = conn_new(p);
	int how = PROXY_OPEN_CONNECT;

	if (!c) {
		close_rst(client_fd);
		if (server_fd >= 0)
			close(server_fd);
		p->n_refused++;
		return -1;
	}
	p->n_conns++;
	c->s[CLIENT].fd = client_fd;
	c->s[CLIENT].wr_ready = true;
	c->s[CLIENT].rd_ready = true;
	set_nodelay(client_fd);
	if (server_fd < 0) {
		if (p->cfg.transparent) {
			if (original_dest(client_fd, &c->dest) < 0) {
				/* not redirected to us: a direct connection to the
				 * proxy's port, which would loop */
				engine_event(p,
					     "a connection that was not redirected (no original "
					     "destination: %s): refused",
					     strerror(errno));
				p->n_refused++;
				conn_kill(c, true);
				return 0;
			}
		} else {
			memcpy(&c->dest, &p->cfg.upstream, p->cfg.upstream_len);
		}
	} else {
		socklen_t l = sizeof(c->dest);

		getpeername(server_fd, (struct sockaddr *)&c->dest, &l);
	}
	if (ep_add(p, client_fd, &c->s[CLIENT], EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET) < 0) {
		conn_kill(c, true);
		return -1;
	}
	if (f) {
		c->filter_open = true;
		how = f->open ? f->open(c) : PROXY_OPEN_CONNECT;
		if (c->dead) {
			if (server_fd >= 0)
				close(server_fd);
			return 0;
		}
	}
	if (how == PROXY_OPEN_NO_UPSTREAM) {
		c->no_upstream = true;
		c->shut[PROXY_UP] = true;
		if (server_fd >= 0)
			close(server_fd);
		conn_wake(c);
		return 0;
	}
	if (server_fd < 0) {
		socklen_t dl = c->dest.ss_family == AF_INET ? sizeof(struct sockaddr_in)
							    : sizeof(struct sockaddr_in6);

		server_fd =
			socket(c->dest.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (server_fd < 0) {
			p->n_upstream_err++;
			engine_event(p, "upstream socket: %s", strerror(errno));
			conn_kill(c, true);
			return 0;
		}
		if (p->cfg.mark)
			setsockopt(server_fd, SOL_SOCKET, SO_MARK, &p->cfg.mark,
				   sizeof(p->cfg.mark));
		set_nodelay(server_fd);
		c->s[SERVER].fd = server_fd;
		if (connect(server_fd, (struct sockaddr *)&c->dest, dl) < 0 &&
		    errno != EINPROGRESS) {
			char a[INET6_ADDRSTRLEN + 8];

			p->n_upstream_err++;
			engine_event(p, "upstream %s: connect: %s",
				     proxy_format_addr((struct sockaddr *)&c->dest, a, sizeof(a)),
				     strerror(errno));
			conn_kill(c, true);
			return 0;
		}
		c->connecting = true;
		c->connect_deadline = p->now + (p->cfg.connect_timeout_ns
							? p->cfg.connect_timeout_ns
							: PROXY_CONNECT_TIMEOUT_NS);
	} else {
		set_nonblock(server_fd);
		set_nodelay(server_fd);
		c->s[SERVER].fd = server_fd;
		c->connected = true;
		c->s[SERVER].wr_ready = true;
		c->s[SERVER].rd_ready = true;
	}
	if (ep_add(p, server_fd, &c->s[SERVER], EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET) < 0) {
		conn_kill(c, true);
		return -1;
	}
	conn_wake(c);
	return 0;
}

static void do_accept(struct proxy *p)
{
	for (int i = 0; i < ACCEPTS_PER_TURN; i++) {
		int fd = accept4(p->cfg.listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE) {
				engine_event(p, "accept: %s: connections wait in the backlog",
					     strerror(errno));
				return;
			}
			return; /* EAGAIN */
		}
		if (p->active >= p->max_conns) {
			p->n_refused++;
			close_rst(fd);
			continue;
		}
		conn_start(p, fd, -1);
	}
	/* more may wait, and the listener is edge-triggered: ask again */
	{
		struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.ptr = &p->listen_tag };

		epoll_ctl(p->ep, EPOLL_CTL_MOD, p->cfg.listen_fd, &ev);
	}
}

int proxy_adopt(struct proxy *p, int client_fd, int server_fd, struct duress_err *err)
{
	set_nonblock(client_fd);
	p->now = clock_ns();
	if (conn_start(p, client_fd, server_fd) < 0)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, errno,
				       "proxy: adopt a connection");
	return 0;
}

/* ---- the loop ---- */

static unsigned fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur > 1u << 20 ? 1u << 20 : (unsigned)rl.rlim_cur;
}

int proxy_new(const struct proxy_config *cfg, struct proxy **out, struct duress_err *err)
{
	struct proxy *p = calloc(1, sizeof(*p));
	unsigned fds;

	if (!p || !(p->buf = malloc(READ_SIZE))) {
		free(p);
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "proxy");
	}
	p->cfg = *cfg;
	p->watch_fd = p->signal_fd = -1;
	p->listen_tag.tag = TAG_LISTEN;
	p->watch_tag.tag = TAG_WATCH;
	p->signal_tag.tag = TAG_SIGNAL;
	/* a connection takes two descriptors (six while splicing) */
	fds = fd_limit();
	p->max_conns = fds > 64 ? (fds - 32) / 2 : 16;
	if (cfg->max_conns && cfg->max_conns < p->max_conns)
		p->max_conns = cfg->max_conns;
	p->ep = epoll_create1(EPOLL_CLOEXEC);
	if (p->ep < 0) {
		int e = errno;

		free(p->buf);
		free(p);
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, e, "proxy: epoll");
	}
	if (cfg->listen_fd >= 0 &&
	    (set_nonblock(cfg->listen_fd) < 0 ||
	     ep_add(p, cfg->listen_fd, &p->listen_tag, EPOLLIN | EPOLLET) < 0)) {
		int e = errno;

		proxy_free(p);
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, e, "proxy: watch the listener");
	}
	p->now = clock_ns();
	*out = p;
	return 0;
}

void proxy_free(struct proxy *p)
{
	if (!p)
		return;
	while (p->all)
		conn_kill(p->all, false);
	for (struct proxy_conn *c = p->ready; c; c = c->next)
		c->in_ready = false;
	p->ready = NULL;
	free_dead(p);
	free(p->heap);
	free(p->buf);
	if (p->ep >= 0)
		close(p->ep);
	free(p);
}

uint64_t proxy_now(const struct proxy *p)
{
	return p->now;
}

unsigned proxy_active(const struct proxy *p)
{
	return p->active;
}

static void on_side(struct side *s, uint32_t ev)
{
	struct proxy_conn *c = s->c;

	if (c->dead)
		return;
	if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		s->rd_ready = true;
	if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		s->rd_hup = true;
	if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR))
		s->wr_ready = true;
	conn_wake(c);
}

static void run_timers(struct proxy *p)
{
	while (p->nheap && p->heap[0]->wake <= p->now) {
		struct proxy_conn *c = p->heap[0];

		heap_remove(p, c);
		c->wake = 0;
		if (c->connecting && c->connect_deadline && c->connect_deadline <= p->now) {
			char a[INET6_ADDRSTRLEN + 8];

			p->n_upstream_err++;
			engine_event(p, "upstream %s: no connection within %llus",
				     proxy_format_addr((struct sockaddr *)&c->dest, a, sizeof(a)),
				     (unsigned long long)((p->cfg.connect_timeout_ns
								   ? p->cfg.connect_timeout_ns
								   : PROXY_CONNECT_TIMEOUT_NS) /
							  PROXY_NS_PER_S));
			conn_kill(c, true);
			continue;
		}
		if (c->timer_at && c->timer_at <= p->now) {
			c->timer_at = 0;
			if (p->cfg.filter && p->cfg.filter->timer)
				p->cfg.filter->timer(c);
		}
		conn_wake(c);
	}
}

static void run_ready(struct proxy *p)
{
	/* a connection woken while running goes on the next list: bounded */
	struct proxy_conn *list = p->ready;

	p->ready = NULL;
	while (list) {
		struct proxy_conn *c = list;

		list = c->next;
		c->in_ready = false;
		conn_run(c);
	}
}

int proxy_run_once(struct proxy *p, int timeout_ms, struct duress_err *err)
{
	struct epoll_event ev[MAX_EVENTS];
	int n;

	p->now = clock_ns();
	if (p->ready) {
		timeout_ms = 0;
	} else if (p->nheap) {
		uint64_t w = p->heap[0]->wake;
		int t = w <= p->now ? 0 : (int)((w - p->now + 999999) / 1000000);

		if (timeout_ms < 0 || t < timeout_ms)
			timeout_ms = t;
	}
	n = epoll_wait(p->ep, ev, MAX_EVENTS, timeout_ms);
	if (n < 0) {
		if (errno == EINTR)
			return 0;
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, errno, "proxy: epoll_wait");
	}
	p->now = clock_ns();
	for (int i = 0; i < n; i++) {
		struct tagged *t = ev[i].data.ptr;

		switch (t->tag) {
		case TAG_SIDE:
			on_side((struct side *)t, ev[i].events);
			break;
		case TAG_LISTEN:
			do_accept(p);
			break;
		case TAG_WATCH: {
			char b[256];
			ssize_t r = recv(p->watch_fd, b, sizeof(b), MSG_DONTWAIT);

			if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR) ||
			    (ev[i].events & (EPOLLHUP | EPOLLERR)))
				p->stop = true;
			break;
		}
		case TAG_SIGNAL: {
			struct signalfd_siginfo si;

			if (read(p->signal_fd, &si, sizeof(si)) > 0)
				p->stop = true;
			break;
		}
		}
	}
	run_timers(p);
	run_ready(p);
	free_dead(p);
	return 0;
}

json_t *proxy_stats(struct proxy *p)
{
	json_t *o = json_object(), *top = json_object();
	uint64_t up = p->bytes[0], down = p->bytes[1];

	/* live connections' bytes too */
	for (struct proxy_conn *c = p->all; c; c = c->all_next) {
		up += c->bytes[0];
		down += c->bytes[1];
	}
	json_object_set_new(o, "connections", json_integer((json_int_t)p->n_conns));
	json_object_set_new(o, "active", json_integer((json_int_t)p->active));
	json_object_set_new(o, "refused", json_integer((json_int_t)p->n_refused));
	json_object_set_new(o, "upstream_errors", json_integer((json_int_t)p->n_upstream_err));
	json_object_set_new(o, "resets", json_integer((json_int_t)p->n_resets));
	json_object_set_new(o, "bytes_up", json_integer((json_int_t)up));
	json_object_set_new(o, "bytes_down", json_integer((json_int_t)down));
	if (p->cfg.filter && p->cfg.filter->stats)
		p->cfg.filter->stats(p->cfg.filter_arg, o);
	json_object_set_new(top, p->cfg.filter ? p->cfg.filter->name : "proxy", o);
	return top;
}

int proxy_serve(const struct proxy_config *cfg, int watch_fd, const struct proxy_hooks *hooks,
		struct duress_err *err)
{
	struct proxy *p = NULL;
	uint64_t next_report;
	sigset_t term;
	int rc = 0;

	if (proxy_new(cfg, &p, err) < 0)
		return -1;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigaddset(&term, SIGINT);
	sigprocmask(SIG_BLOCK, &term, NULL);
	p->signal_fd = signalfd(-1, &term, SFD_NONBLOCK | SFD_CLOEXEC);
	if (p->signal_fd >= 0)
		ep_add(p, p->signal_fd, &p->signal_tag, EPOLLIN);
	p->watch_fd = watch_fd;
	if (watch_fd >= 0 && ep_add(p, watch_fd, &p->watch_tag, EPOLLIN | EPOLLRDHUP) < 0) {
		int e = errno;

		proxy_free(p);
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, e, "proxy: watch the channel");
	}
	if (hooks && hooks->ready)
		hooks->ready(hooks->arg);
	next_report = clock_ns() + PROXY_NS_PER_S / 2;
	while (!p->stop) {
		int wait = (int)((next_report > p->now ? next_report - p->now : 0) / 1000000) + 1;

		if (proxy_run_once(p, wait, err) < 0) {
			rc = -1;
			break;
		}
		if (p->has_event && p->now - p->last_event >= PROXY_NS_PER_S) {
			if (hooks && hooks->event) {
				if (p->events_dropped) {
					size_t l = strlen(p->event);

					snprintf(p->event + l, sizeof(p->event) - l,
						 " (and %u more events)", p->events_dropped);
				}
				hooks->event(p->event, hooks->arg);
			}
			p->has_event = false;
			p->events_dropped = 0;
			p->last_event = p->now;
		}
		if (p->now >= next_report) {
			next_report = p->now + PROXY_NS_PER_S / 2;
			if (hooks && hooks->report) {
				json_t *s = proxy_stats(p);

				hooks->report(s, hooks->arg);
				json_decref(s);
			}
		}
	}
	if (hooks && hooks->report) {
		json_t *s = proxy_stats(p);

		hooks->report(s, hooks->arg);
		json_decref(s);
	}
	if (p->signal_fd >= 0)
		close(p->signal_fd);
	proxy_free(p);
	return rc;
}

/* ---- addresses and the listener ---- */

int proxy_parse_addr(const char *text, const char *what, struct sockaddr_storage *out,
		     socklen_t *len, struct duress_err *err)
{
	char host[256];
	const char *port;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV },
			*res = NULL;
	uint64_t pn;
	char *end;
	int r;

	if (!text || !*text)
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0, "%s: needs ADDR:PORT", what);
	if (text[0] == '[') {
		const char *close_b = strchr(text, ']');

		if (!close_b || close_b[1] != ':' || (size_t)(close_b - text - 1) >= sizeof(host))
			return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
					       "%s: '%s': expected [IPv6]:PORT", what, text);
		snprintf(host, sizeof(host), "%.*s", (int)(close_b - text - 1), text + 1);
		port = close_b + 2;
	} else {
		const char *colon = strrchr(text, ':');

		if (!colon || strchr(text, ':') != colon || (size_t)(colon - text) >= sizeof(host))
			return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
					       "%s: '%s': expected ADDR:PORT (IPv6 as [ADDR]:PORT)",
					       what, text);
		snprintf(host, sizeof(host), "%.*s", (int)(colon - text), text);
		port = colon + 1;
	}
	errno = 0;
	pn = strtoull(port, &end, 10);
	if (!*port || *end || errno || pn < 1 || pn > 65535)
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0, "%s: '%s': port must be 1-65535",
				       what, text);
	if (!strcmp(host, "localhost"))
		snprintf(host, sizeof(host), "127.0.0.1");
	r = getaddrinfo(host, port, &hints, &res);
	if (r || !res)
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
				       "%s: '%s': '%s' is not a numeric IPv4 or IPv6 address", what,
				       text, host);
	memset(out, 0, sizeof(*out));
	memcpy(out, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

char *proxy_format_addr(const struct sockaddr *sa, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)sa;

		inet_ntop(AF_INET, &s->sin_addr, a, sizeof(a));
		snprintf(buf, len, "%s:%u", a, ntohs(s->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const void *)sa;

		if (IN6_IS_ADDR_V4MAPPED(&s->sin6_addr)) {
			inet_ntop(AF_INET, &s->sin6_addr.s6_addr[12], a, sizeof(a));
			snprintf(buf, len, "%s:%u", a, ntohs(s->sin6_port));
		} else {
			inet_ntop(AF_INET6, &s->sin6_addr, a, sizeof(a));
			snprintf(buf, len, "[%s]:%u", a, ntohs(s->sin6_port));
		}
	} else {
		snprintf(buf, len, "?");
	}
	return buf;
}

struct listen_job {
	int netns_fd, type, rcvbuf;
	const struct sockaddr *addr;
	socklen_t addrlen;
	int fd, errnum;
	const char *step;
};

static int listen_here(struct listen_job *j)
{
	struct sockaddr_in6 any6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT };
	struct sockaddr_in any4 = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY) };
	const struct sockaddr *a = j->addr;
	socklen_t al = j->addrlen;
	int one = 1, zero = 0, fd;
	bool udp = j->type == SOCK_DGRAM;

	if (!a) {
		a = (const struct sockaddr *)&any6;
		al = sizeof(any6);
	}
	fd = socket(a->sa_family, j->type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 && !j->addr && errno == EAFNOSUPPORT) {
		/* no IPv6 in this namespace: IPv4 only */
		a = (const struct sockaddr *)&any4;
		al = sizeof(any4);
		fd = socket(AF_INET, j->type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	}
	if (fd < 0) {
		j->errnum = errno;
		j->step = "socket";
		return -1;
	}
	if (!udp)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (a->sa_family == AF_INET6 && !j->addr)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (udp) {
		/* each datagram's destination address (IPv4 packets come on an
		 * IPv4 socket or a dual-stack one) */
		if (a->sa_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
		setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
		/* room for a burst (past rmem_max where we may) */
		if (j->rcvbuf &&
		    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &j->rcvbuf, sizeof(j->rcvbuf)) < 0)
			setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &j->rcvbuf, sizeof(j->rcvbuf));
	}
	if (bind(fd, a, al) < 0) {
		j->errnum = errno;
		j->step = "bind";
		close(fd);
		return -1;
	}
	if (!udp && listen(fd, 4096) < 0) {
		j->errnum = errno;
		j->step = "listen";
		close(fd);
		return -1;
	}
	j->fd = fd;
	return 0;
}

static void *listen_thread(void *arg)
{
	struct listen_job *j = arg;

	if (setns(j->netns_fd, CLONE_NEWNET) < 0) {
		j->errnum = errno;
		j->step = "enter the target's network namespace (setns)";
		return NULL;
	}
	listen_here(j);
	return NULL;
}

static int listen_in(struct listen_job *j, int *fd, uint16_t *bound, const char *what,
		     struct duress_err *err)
{
	struct sockaddr_storage got;
	socklen_t gl = sizeof(got);
	char a[INET6_ADDRSTRLEN + 8] = "the wildcard";

	if (j->addr)
		proxy_format_addr(j->addr, a, sizeof(a));
	if (j->netns_fd >= 0) {
		pthread_t th;
		int r = pthread_create(&th, NULL, listen_thread, j);

		if (r)
			return duress_err_setc(err, DURESS_EXIT_INTERNAL, r,
					       "%s: start the namespace thread", what);
		pthread_join(th, NULL);
	} else {
		listen_here(j);
	}
	if (j->fd < 0)
		return duress_err_setc(err,
				       j->errnum == EADDRINUSE || j->errnum == EADDRNOTAVAIL ||
						       j->errnum == EACCES
					       ? DURESS_EXIT_UNSUPPORTED
					       : DURESS_EXIT_INTERNAL,
				       j->errnum, "%s: %s%s on %s", what,
				       j->type == SOCK_DGRAM ? "udp " : "", j->step, a);
	if (getsockname(j->fd, (struct sockaddr *)&got, &gl) < 0) {
		int e = errno;

		close(j->fd);
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, e, "%s: getsockname", what);
	}
	*bound = ntohs(got.ss_family == AF_INET ? ((struct sockaddr_in *)&got)->sin_port
						: ((struct sockaddr_in6 *)&got)->sin6_port);
	*fd = j->fd;
	return 0;
}

int proxy_listen(int netns_fd, const struct sockaddr *addr, socklen_t addrlen, int *fd,
		 uint16_t *bound, const char *what, struct duress_err *err)
{
	struct listen_job j = { .netns_fd = netns_fd,
				.type = SOCK_STREAM,
				.addr = addr,
				.addrlen = addrlen,
				.fd = -1 };

	return listen_in(&j, fd, bound, what, err);
}

int proxy_listen_udp(int netns_fd, const struct sockaddr *addr, socklen_t addrlen, int rcvbuf,
		     int *fd, uint16_t *bound, const char *what, struct duress_err *err)
{
	struct listen_job j = { .netns_fd = netns_fd,
				.type = SOCK_DGRAM,
				.rcvbuf = rcvbuf,
				.addr = addr,
				.addrlen = addrlen,
				.fd = -1 };

	return listen_in(&j, fd, bound, what, err);
}
