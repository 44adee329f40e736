// SPDX-License-Identifier: MIT
/*
 * The netlink core of the network fault: a socket in the target's network
 * namespace, dumps of links, qdiscs and filters, the qdisc trees we
 * install, save and restore of what was there, and the undo kinds
 * "qdisc", "link" and "tc-filter".  See include/duress/netshape.h.
 *
 * Messages are built with libnl (nl_msg, nla_put) and sent on a libnl
 * socket; links are listed through libnl-route's link cache.  qdisc and
 * filter options are written as the kernel's own structures, because
 * libnl 3.7 cannot express netem's rate, 64-bit delays or replaying the
 * attributes of an arbitrary qdisc.
 */
#include <duress/core/cleanup.h>
#include <duress/core/exitcode.h>
#include <duress/net/netshape.h>
#include <duress/core/undo.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/gen_stats.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <linux/tc_act/tc_mirred.h>

#include <netlink/attr.h>
#include <netlink/cache.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/socket.h>

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif
#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif

#define NS_MSG_SIZE 65536

struct netshape {
	struct nl_sock *sk;
	unsigned long long ino;
};

static void nl_msg_freep(struct nl_msg **m)
{
	if (*m)
		nlmsg_free(*m);
}
#define cleanup_nlmsg __attribute__((cleanup(nl_msg_freep)))

static void netshape_closep(struct netshape **ns)
{
	if (*ns)
		netshape_close(*ns);
}
#define cleanup_netshape __attribute__((cleanup(netshape_closep)))

static void nl_cache_freep(struct nl_cache **c)
{
	if (*c)
		nl_cache_free(*c);
}
#define cleanup_nlcache __attribute__((cleanup(nl_cache_freep)))

/* libnl's error numbers back to errno, for messages and callers. */
static int nle_errno(int nle)
{
	switch (nle < 0 ? -nle : nle) {
	case NLE_NOMEM:
		return ENOMEM;
	case NLE_PERM:
		return EPERM;
	case NLE_EXIST:
		return EEXIST;
	case NLE_INVAL:
		return EINVAL;
	case NLE_RANGE:
		return ERANGE;
	case NLE_OPNOTSUPP:
		return EOPNOTSUPP;
	case NLE_OBJ_NOTFOUND:
		return ENOENT;
	case NLE_NODEV:
		return ENODEV;
	case NLE_BUSY:
		return EBUSY;
	case NLE_AGAIN:
		return EAGAIN;
	case NLE_NOACCESS:
		return EACCES;
	case NLE_AF_NOSUPPORT:
		return EAFNOSUPPORT;
	case NLE_MSGSIZE:
		return EMSGSIZE;
	default:
		return EIO;
	}
}

/* ---- namespaces ---- */

int netshape_fd_ino(int fd, unsigned long long *ino)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -1;
	*ino = (unsigned long long)st.st_ino;
	return 0;
}

int netshape_self_ino(unsigned long long *ino)
{
	struct stat st;

	if (stat("/proc/thread-self/ns/net", &st) < 0 && stat("/proc/self/ns/net", &st) < 0)
		return -1;
	*ino = (unsigned long long)st.st_ino;
	return 0;
}

int netshape_ref_make(pid_t pid, int netns_fd, char *buf, size_t len, struct duress_err *err)
{
	unsigned long long ino;

	if (netns_fd < 0 || pid <= 0)
		return duress_err_setc(err, DURESS_EXIT_UNSUPPORTED, 0,
				       "network: the target has no process, hence no network "
				       "namespace to shape");
	if (netshape_fd_ino(netns_fd, &ino) < 0)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, errno,
				       "network: the target's network namespace");
	snprintf(buf, len, "/proc/%d/ns/net@%llu", (int)pid, ino);
	return 0;
}

/* Open path if it is the namespace with inode ino. */
static int open_if_ino(const char *path, unsigned long long ino)
{
	struct stat st;
	int fd;

	if (stat(path, &st) < 0 || (unsigned long long)st.st_ino != ino)
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || (unsigned long long)st.st_ino != ino) {
		close(fd);
		return -1;
	}
	return fd;
}

int netshape_ref_open(const char *ref, int *fd, bool *gone, struct duress_err *err)
{
	unsigned long long ino;
	char path[PATH_MAX];
	pid_t pid;
	DIR *d;
	struct dirent *de;

	*gone = false;
	*fd = -1;
	if (ns_ref_parse(ref, &pid, &ino) < 0)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, EINVAL,
				       "network namespace reference '%s': expected "
				       "/proc/PID/ns/net@INODE",
				       ref);
	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
	*fd = open_if_ino(path, ino);
	if (*fd >= 0)
		return 0;
	/* the process is gone: any other process in that namespace will do */
	d = opendir("/proc");
	while (d && (de = readdir(d))) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/ns/net", de->d_name);
		*fd = open_if_ino(path, ino);
		if (*fd >= 0)
			break;
	}
	if (d)
		closedir(d);
	if (*fd >= 0)
		return 0;
	/* or a bind mount (ip netns) */
	d = opendir("/run/netns");
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/run/netns/%s", de->d_name);
		*fd = open_if_ino(path, ino);
		if (*fd >= 0)
			break;
	}
	if (d)
		closedir(d);
	if (*fd < 0)
		*gone = true;
	return 0;
}

/* ---- the socket, opened on a thread of its own in the namespace ---- */

struct open_job {
	int netns_fd;     /* enter this, or -1: a new namespace of its own */
	struct nl_sock *sk;
	int errnum;
	const char *step;
	/* a check runs on the thread, in the private namespace */
	int (*check)(struct netshape *ns, void *arg, struct duress_err *err);
	void *check_arg;
	struct duress_err check_err;
	int check_rc;
};

static struct nl_sock *socket_here(int *errnum, const char **step)
{
	struct nl_sock *sk = nl_socket_alloc();
	int one = 1, r;

	if (!sk) {
		*errnum = ENOMEM;
		*step = "allocate a netlink socket";
		return NULL;
	}
	r = nl_connect(sk, NETLINK_ROUTE);
	if (r < 0) {
		*errnum = nle_errno(r);
		*step = "connect a netlink socket";
		nl_socket_free(sk);
		return NULL;
	}
	nl_socket_disable_auto_ack(sk);
	nl_socket_enable_msg_peek(sk);
	nl_socket_set_buffer_size(sk, 1 << 20, 1 << 20);
	/* the kernel's own explanation of a refusal, without the request echoed */
	setsockopt(nl_socket_get_fd(sk), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(nl_socket_get_fd(sk), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	return sk;
}

static void *open_thread(void *arg)
{
	struct open_job *j = arg;

	if (j->netns_fd >= 0) {
		if (setns(j->netns_fd, CLONE_NEWNET) < 0) {
			j->errnum = errno;
			j->step = "enter the target's network namespace (setns)";
			return NULL;
		}
	} else if (unshare(CLONE_NEWNET) < 0) {
		j->errnum = errno;
		j->step = "make a private network namespace (unshare)";
		return NULL;
	}
	j->sk = socket_here(&j->errnum, &j->step);
	if (j->sk && j->check) {
		struct netshape ns = { .sk = j->sk };

		j->check_rc = j->check(&ns, j->check_arg, &j->check_err);
		nl_socket_free(j->sk);
		j->sk = NULL;
	}
	/* this thread ends here: its namespace goes with it */
	return NULL;
}

static int run_open_thread(struct open_job *j, struct duress_err *err)
{
	unsigned long long before = 0, after = 0;
	pthread_t th;
	int r;

	if (netshape_self_ino(&before) < 0)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, errno,
				       "network: read the agent's own network namespace");
	r = pthread_create(&th, NULL, open_thread, j);
	if (r)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, r,
				       "network: start the namespace thread");
	pthread_join(th, NULL);
	if (netshape_self_ino(&after) < 0 || after != before) {
		if (j->sk)
			nl_socket_free(j->sk);
		j->sk = NULL;
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, 0,
				       "network: the agent's own network namespace changed while "
				       "opening the target's (%llu -> %llu): refusing to go on",
				       before, after);
	}
	if (j->errnum)
		return duress_err_setc(err,
				       j->errnum == EPERM ? DURESS_EXIT_UNSUPPORTED
							  : DURESS_EXIT_INTERNAL,
				       j->errnum, "network: %s", j->step);
	return 0;
}

int netshape_open(int netns_fd, struct netshape **out, struct duress_err *err)
{
	struct open_job j = { .netns_fd = netns_fd };
	unsigned long long want, got;
	struct netshape *ns;
	int skns;

	if (netns_fd < 0)
		return duress_err_setc(err, DURESS_EXIT_UNSUPPORTED, 0,
				       "network: the target has no network namespace handle (no "
				       "process)");
	if (netshape_fd_ino(netns_fd, &want) < 0)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, errno,
				       "network: the target's network namespace");
	if (run_open_thread(&j, err) < 0)
		return -1;
	/* the socket must live in the target's namespace, never in ours */
	skns = ioctl(nl_socket_get_fd(j.sk), SIOCGSKNS);
	if (skns < 0 || netshape_fd_ino(skns, &got) < 0 || got != want) {
		int e = errno;

		if (skns >= 0)
			close(skns);
		nl_socket_free(j.sk);
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, skns < 0 ? e : 0,
				       "network: the netlink socket is not in the target's "
				       "namespace (net:[%llu]): refusing to go on",
				       want);
	}
	close(skns);
	ns = calloc(1, sizeof(*ns));
	if (!ns) {
		nl_socket_free(j.sk);
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "network");
	}
	ns->sk = j.sk;
	ns->ino = want;
	*out = ns;
	return 0;
}

int netshape_open_ref(const char *ref, struct netshape **out, bool *gone, struct duress_err *err)
{
	cleanup_close int fd = -1;

	*out = NULL;
	if (netshape_ref_open(ref, &fd, gone, err) < 0)
		return -1;
	if (*gone)
		return 0;
	return netshape_open(fd, out, err);
}

void netshape_close(struct netshape *ns)
{
	if (!ns)
		return;
	nl_socket_free(ns->sk);
	free(ns);
}

unsigned long long netshape_ino(const struct netshape *ns)
{
	return ns->ino;
}

/* ---- one request, its answers ---- */

typedef int (*ns_msg_cb)(struct nlmsghdr *h, void *arg);

/* The kernel's extended ack message (NLMSGERR_ATTR_MSG), if any. */
static void extack_msg(struct nlmsghdr *h, char *out, size_t len)
{
	struct nlmsgerr *e = nlmsg_data(h);
	size_t off = sizeof(*e);
	struct nlattr *a;
	int rem;

	out[0] = '\0';
	if (!(h->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	if (!(h->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len > NLMSG_HDRLEN ? NLMSG_ALIGN(e->msg.nlmsg_len) - NLMSG_HDRLEN : 0;
	if (NLMSG_HDRLEN + off >= h->nlmsg_len)
		return;
	a = (struct nlattr *)((char *)e + off);
	rem = (int)(h->nlmsg_len - NLMSG_HDRLEN - off);
	for (; nla_ok(a, rem); a = nla_next(a, &rem)) {
		if (nla_type(a) == NLMSGERR_ATTR_MSG) {
			snprintf(out, len, "%.*s", nla_len(a), (char *)nla_data(a));
			out[strcspn(out, "\n")] = '\0';
			if (*out && out[strlen(out) - 1] == '\0')
				out[strlen(out) - 1] = '\0';
			return;
		}
	}
}

/*
 * Send msg and read until its ack (or the end of the dump), calling cb on
 * every answer.  Returns 0, or -errno of the kernel's refusal with its
 * explanation in kmsg.
 */
static int talk(struct netshape *ns, struct nl_msg *msg, ns_msg_cb cb, void *arg, char *kmsg,
		size_t kmsglen)
{
	uint32_t seq;
	int r;

	kmsg[0] = '\0';
	r = nl_send_auto(ns->sk, msg);
	if (r < 0)
		return -nle_errno(r);
	seq = nlmsg_hdr(msg)->nlmsg_seq;
	for (;;) {
		struct sockaddr_nl nla;
		unsigned char *buf = NULL;
		struct nlmsghdr *h;
		int n = nl_recv(ns->sk, &nla, &buf, NULL);
		int rc = 1;

		if (n <= 0) {
			free(buf);
			return n < 0 ? -nle_errno(n) : -EIO;
		}
		h = (struct nlmsghdr *)buf;
		for (; nlmsg_ok(h, n); h = nlmsg_next(h, &n)) {
			if (h->nlmsg_seq != seq)
				continue;
			if (h->nlmsg_type == NLMSG_DONE) {
				rc = 0;
				break;
			}
			if (h->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = nlmsg_data(h);

				if (e->error)
					extack_msg(h, kmsg, kmsglen);
				rc = e->error ? e->error : 0;
				if (rc > 0)
					rc = -rc;
				break;
			}
			if (h->nlmsg_type == NLMSG_NOOP || h->nlmsg_type == NLMSG_OVERRUN)
				continue;
			if (cb && cb(h, arg) < 0) {
				rc = -ENOMEM;
				break;
			}
		}
		free(buf);
		if (rc <= 0)
			return rc;
	}
}

/* talk(), then fill err from a refusal: "what: kernel: 'msg': strerror". */
static int talk_err(struct netshape *ns, struct nl_msg *msg, ns_msg_cb cb, void *arg,
		    struct duress_err *err, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int talk_err(struct netshape *ns, struct nl_msg *msg, ns_msg_cb cb, void *arg,
		    struct duress_err *err, const char *fmt, ...)
{
	char what[512], kmsg[256];
	va_list ap;
	int r = talk(ns, msg, cb, arg, kmsg, sizeof(kmsg));

	if (r == 0)
		return 0;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (kmsg[0])
		duress_err_setc(err, DURESS_EXIT_INTERNAL, -r, "%s: the kernel says '%s'", what, kmsg);
	else
		duress_err_setc(err, DURESS_EXIT_INTERNAL, -r, "%s", what);
	return r;
}

static struct nl_msg *tc_msg(int type, int flags, int ifindex, uint32_t parent, uint32_t handle,
			     uint32_t info)
{
	struct tcmsg t = {
		.tcm_family = AF_UNSPEC,
		.tcm_ifindex = ifindex,
		.tcm_parent = parent,
		.tcm_handle = handle,
		.tcm_info = info,
	};
	struct nl_msg *m = nlmsg_alloc_size(NS_MSG_SIZE);

	if (!m)
		return NULL;
	if (!nlmsg_put(m, NL_AUTO_PORT, NL_AUTO_SEQ, type, 0, flags | NLM_F_REQUEST) ||
	    nlmsg_append(m, &t, sizeof(t), NLMSG_ALIGNTO) < 0) {
		nlmsg_free(m);
		return NULL;
	}
	return m;
}

/* A nest without NLA_F_NESTED: TCA_OPTIONS of several qdiscs starts with a
 * structure, not attributes. */
static struct nlattr *nest_open(struct nl_msg *m, int type)
{
	struct nlattr *a = nlmsg_tail(nlmsg_hdr(m));

	if (nla_put(m, type, 0, NULL) < 0)
		return NULL;
	return a;
}

static void nest_close(struct nl_msg *m, struct nlattr *a)
{
	a->nla_len = (uint16_t)((char *)nlmsg_tail(nlmsg_hdr(m)) - (char *)a);
}

/* ---- links ---- */

int netshape_links(struct netshape *ns, struct ns_link **out, size_t *n, struct duress_err *err)
{
	cleanup_nlcache struct nl_cache *cache = NULL;
	struct ns_link *v;
	size_t i = 0;
	int r = rtnl_link_alloc_cache(ns->sk, AF_UNSPEC, &cache);

	if (r < 0)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, nle_errno(r),
				       "network: list the links of net:[%llu]", ns->ino);
	v = calloc((size_t)nl_cache_nitems(cache) + 1, sizeof(*v));
	if (!v)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "network: links");
	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_link *l = (struct rtnl_link *)o;
		const char *kind = rtnl_link_get_type(l);
		struct ns_link *d = &v[i++];

		d->ifindex = rtnl_link_get_ifindex(l);
		snprintf(d->name, sizeof(d->name), "%s", rtnl_link_get_name(l) ?: "");
		snprintf(d->kind, sizeof(d->kind), "%s", kind ? kind : "");
		d->flags = rtnl_link_get_flags(l);
		d->rx_packets = rtnl_link_get_stat(l, RTNL_LINK_RX_PACKETS);
		d->tx_packets = rtnl_link_get_stat(l, RTNL_LINK_TX_PACKETS);
		d->rx_bytes = rtnl_link_get_stat(l, RTNL_LINK_RX_BYTES);
		d->tx_bytes = rtnl_link_get_stat(l, RTNL_LINK_TX_BYTES);
		d->rx_dropped = rtnl_link_get_stat(l, RTNL_LINK_RX_DROPPED);
		d->tx_dropped = rtnl_link_get_stat(l, RTNL_LINK_TX_DROPPED);
	}
	*out = v;
	*n = i;
	return 0;
}

int netshape_link_find(struct netshape *ns, const char *name, struct ns_link *out,
		       struct duress_err *err)
{
	cleanup_free struct ns_link *links = NULL;
	size_t n;

	if (netshape_links(ns, &links, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(links[i].name, name)) {
			*out = links[i];
			return 0;
		}
	}
	return 1;
}

/* ---- qdisc dumps ---- */

struct qdisc_dump {
	int ifindex;
	struct ns_qdisc *v;
	size_t n, cap;
};

static void read_stats2(struct nlattr *a, struct ns_qdisc *q)
{
	struct nlattr *s;
	int rem;

	nla_for_each_nested(s, a, rem) {
		switch (nla_type(s)) {
		case TCA_STATS_BASIC: {
			struct gnet_stats_basic b = { 0 };

			memcpy(&b, nla_data(s), (size_t)nla_len(s) < sizeof(b) ? (size_t)nla_len(s)
									     : sizeof(b));
			q->bytes = b.bytes;
			if (!q->packets)
				q->packets = b.packets;
			q->has_stats = true;
			break;
		}
		case TCA_STATS_PKT64:
			if (nla_len(s) >= 8)
				q->packets = nla_get_u64(s);
			break;
		case TCA_STATS_QUEUE: {
			struct gnet_stats_queue qs = { 0 };

			memcpy(&qs, nla_data(s), (size_t)nla_len(s) < sizeof(qs) ? (size_t)nla_len(s)
									      : sizeof(qs));
			q->qlen = qs.qlen;
			q->backlog = qs.backlog;
			q->drops = qs.drops;
			q->requeues = qs.requeues;
			q->overlimits = qs.overlimits;
			break;
		}
		default:
			break;
		}
	}
}

static int qdisc_cb(struct nlmsghdr *h, void *arg)
{
	struct qdisc_dump *d = arg;
	struct tcmsg *t = nlmsg_data(h);
	struct ns_qdisc *q;
	struct nlattr *a;
	int rem;

	if (h->nlmsg_type != RTM_NEWQDISC || t->tcm_ifindex != d->ifindex)
		return 0;
	if (d->n == d->cap) {
		size_t ncap = d->cap ? d->cap * 2 : 8;
		struct ns_qdisc *nv = realloc(d->v, ncap * sizeof(*nv));

		if (!nv)
			return -1;
		d->v = nv;
		d->cap = ncap;
	}
	q = &d->v[d->n];
	memset(q, 0, sizeof(*q));
	q->ifindex = t->tcm_ifindex;
	q->parent = t->tcm_parent;
	q->handle = t->tcm_handle;
	q->attrs = malloc(h->nlmsg_len);
	if (!q->attrs)
		return -1;
	d->n++;
	nlmsg_for_each_attr(a, h, sizeof(*t), rem) {
		switch (nla_type(a)) {
		case TCA_KIND:
			snprintf(q->kind, sizeof(q->kind), "%.*s", nla_len(a), (char *)nla_data(a));
			break;
		case TCA_OPTIONS:
		case TCA_INGRESS_BLOCK:
		case TCA_EGRESS_BLOCK:
			/* the configuration: kept byte for byte */
			memcpy(q->attrs + q->attrs_len, a, NLA_ALIGN(a->nla_len));
			q->attrs_len += NLA_ALIGN(a->nla_len);
			break;
		case TCA_STAB:
			q->has_stab = true;
			break;
		case TCA_STATS2:
			read_stats2(a, q);
			break;
		default:
			break;
		}
	}
	return 0;
}

void netshape_qdiscs_free(struct ns_qdisc *q, size_t n)
{
	for (size_t i = 0; q && i < n; i++)
		free(q[i].attrs);
	free(q);
}

int netshape_qdiscs(struct netshape *ns, int ifindex, struct ns_qdisc **out, size_t *n,
		    struct duress_err *err)
{
	cleanup_nlmsg struct nl_msg *m = tc_msg(RTM_GETQDISC, NLM_F_DUMP, ifindex, 0, 0, 0);
	struct qdisc_dump d = { .ifindex = ifindex };

	if (!m)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "network: qdisc dump");
	if (talk_err(ns, m, qdisc_cb, &d, err, "network: list the qdiscs of ifindex %d", ifindex) <
	    0) {
		netshape_qdiscs_free(d.v, d.n);
		return -1;
	}
	*out = d.v;
	*n = d.n;
	return 0;
}

/* The filter priorities found at a parent (a u32 filter answers with
 * several entries: its table and its keys; one priority is one filter
 * chain as tc shows it). */
struct pref_scan {
	size_t n;             /* distinct priorities */
	uint16_t prefs[16];   /* the first of them */
	uint16_t lo, hi;
	size_t in_range;      /* of them in [lo, hi] */
};

static int pref_cb(struct nlmsghdr *h, void *arg)
{
	struct tcmsg *t = nlmsg_data(h);
	struct pref_scan *p = arg;
	uint16_t pref = (uint16_t)(TC_H_MAJ(t->tcm_info) >> 16);

	if (h->nlmsg_type != RTM_NEWTFILTER)
		return 0;
	for (size_t i = 0; i < p->n && i < DURESS_ARRAY_SIZE(p->prefs); i++)
		if (p->prefs[i] == pref)
			return 0;
	if (p->n < DURESS_ARRAY_SIZE(p->prefs))
		p->prefs[p->n] = pref;
	p->n++;
	if (pref >= p->lo && pref <= p->hi)
		p->in_range++;
	return 0;
}

/* Filters attached at parent (a qdisc handle, or the ingress hook). */
static int filter_scan(struct netshape *ns, int ifindex, uint32_t parent, struct pref_scan *p,
		       struct duress_err *err)
{
	cleanup_nlmsg struct nl_msg *m = tc_msg(RTM_GETTFILTER, NLM_F_DUMP, ifindex, parent, 0, 0);
	char ph[16];
	int r;

	if (!m)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "network: filter dump");
	r = talk_err(ns, m, pref_cb, p, err, "network: list the filters of ifindex %d at %s",
		     ifindex, ns_handle_str(parent, ph, sizeof(ph)));
	/* a qdisc without filters support answers EOPNOTSUPP or EINVAL */
	if (r == -EOPNOTSUPP || r == -EINVAL || r == -ENOENT)
		return 0;
	return r < 0 ? -1 : 0;
}

/* ---- save ---- */

static bool is_ours(uint32_t handle)
{
	uint32_t maj = TC_H_MAJ(handle) >> 16;

	return maj >= NS_MAJ_ROOT && maj <= NS_MAJ_LAST;
}

/* Kinds whose classes are made by hand (and whose trees we cannot save). */
static bool user_classes(const char *kind)
{
	static const char *const kinds[] = { "htb", "hfsc", "drr", "qfq", "cbq", "atm" };

	for (size_t i = 0; i < DURESS_ARRAY_SIZE(kinds); i++)
		if (!strcmp(kind, kinds[i]))
			return true;
	return false;
}

static int saved_add(struct ns_saved *s, const struct ns_qdisc *q, struct duress_err *err)
{
	struct ns_saved_qdisc *e;

	if (s->n >= NS_SAVED_MAX)
		return duress_err_setc(err, DURESS_EXIT_UNSUPPORTED, 0,
				       "network: more than %d qdiscs under the root", NS_SAVED_MAX);
	e = &s->q[s->n];
	memset(e, 0, sizeof(*e));
	e->parent = q->parent;
	e->handle = q->handle;
	snprintf(e->kind, sizeof(e->kind), "%s", q->kind);
	e->attrs = malloc(q->attrs_len ? q->attrs_len : 1);
	if (!e->attrs)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "network: save qdisc");
	memcpy(e->attrs, q->attrs, q->attrs_len);
	e->attrs_len = q->attrs_len;
	s->n++;
	return 0;
}

int netshape_save_root(struct netshape *ns, const struct ns_link *link, struct ns_saved *out,
		       struct duress_err *err)
{
	struct ns_qdisc *qs = NULL, *root = NULL;
	size_t n = 0;
	bool *taken = NULL;
	int rc = -1;
	char h[16];

	memset(out, 0, sizeof(*out));
	if (netshape_qdiscs(ns, link->ifindex, &qs, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (qs[i].parent == NS_H_ROOT)
			root = &qs[i];
	if (!root) {
		/* a link that was never up: the built-in noop, not dumped */
		struct ns_qdisc noop = { .parent = NS_H_ROOT, .handle = 0, .kind = "noop" };

		rc = saved_add(out, &noop, err);
		goto out;
	}
	if (is_ours(root->handle)) {
		duress_err_setc(err, DURESS_EXIT_REFUSED, 0,
				"network: %s already carries duress's qdisc %s %s, left by a run "
				"that did not revert; remove it before shaping %s again",
				link->name, root->kind, ns_handle_str(root->handle, h, sizeof(h)),
				link->name);
		goto out;
	}
	if (user_classes(root->kind)) {
		duress_err_setc(err, DURESS_EXIT_UNSUPPORTED, 0,
				"network: %s has a %s root qdisc (%s) with classes of its own; "
				"duress cannot save and restore such a tree exactly, so it leaves "
				"%s alone (shape another --device)",
				link->name, root->kind, ns_handle_str(root->handle, h, sizeof(h)),
				link->name);
		goto out;
	}
	if (saved_add(out, root, err) < 0)
		goto out;
	/* the children the kernel did not make itself, parents first */
	taken = calloc(n + 1, sizeof(*taken));
	if (!taken) {
		duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "network: save qdiscs");
		goto out;
	}
	for (bool more = true; more;) {
		more = false;
		for (size_t i = 0; i < n; i++) {
			struct ns_qdisc *q = &qs[i];
			bool parent_known = false;

			if (taken[i] || q == root || q->parent == NS_H_ROOT ||
			    q->parent == NS_H_INGRESS || q->handle == 0)
				continue;
			for (size_t k = 0; k < out->n; k++)
				if (TC_H_MAJ(out->q[k].handle) == TC_H_MAJ(q->parent))
					parent_known = true;
			if (!parent_known && !(root->handle == 0 && TC_H_MAJ(q->parent) == 0))
				continue;
			if (saved_add(out, q, err) < 0)
				goto out;
			taken[i] = true;
			more = true;
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct ns_qdisc *q = &qs[i];
		bool in_tree = q == root;

		for (size_t k = 1; k < out->n && !in_tree; k++)
			in_tree = out->q[k].handle == q->handle;
		if (q->parent == NS_H_INGRESS)
			continue;
		if (in_tree && !strcmp(q->kind, "netem")) {
			duress_err_setc(err, DURESS_EXIT_UNSUPPORTED, 0,
					"network: %s already has a netem qdisc (%s), from another "
					"tool or person: duress neither stacks on it nor replaces it "
					"(its delay distribution cannot be read back)",
					link->name, ns_handle_str(q->handle, h, sizeof(h)));
			goto out;
		}
		if (in_tree && (q->has_stab || user_classes(q->kind))) {
			duress_err_setc(err, DURESS_EXIT_UNSUPPORTED, 0,
					"network: %s: qdisc %s %s has %s; duress cannot restore "
					"it exactly, so it leaves %s alone",
					link->name, q->kind, ns_handle_str(q->handle, h, sizeof(h)),
					q->has_stab ? "a size table (stab)" : "classes of its own",
					link->name);
			goto out;
		}
		if (in_tree) {
			struct pref_scan p = { 0 };

			if (filter_scan(ns, link->ifindex, TC_H_MAJ(q->handle), &p, err) < 0)
				goto out;
			if (p.n) {
				duress_err_setc(err, DURESS_EXIT_UNSUPPORTED, 0,
						"network: %s: qdisc %s %s has filters (priority "
						"%u%s); duress cannot save and restore filters "
						"exactly, so it leaves %s alone",
						link->name, q->kind,
						ns_handle_str(q->handle, h, sizeof(h)), p.prefs[0],
						p.n > 1 ? " and more" : "", link->name);
				goto out;
			}
		}
	}
	rc = 0;
out:
	free(taken);
	netshape_qdiscs_free(qs, n);
	if (rc < 0)
		ns_saved_free(out);
	return rc;
}

int netshape_ingress_state(struct netshape *ns, const struct ns_link *link,
			   enum ns_ingress_state *st, uint32_t *filter_parent,
			   struct duress_err *err)
{
	struct ns_qdisc *qs = NULL;
	struct pref_scan p = { .lo = NS_PREF_BASE, .hi = NS_PREF_BASE + 2 };
	size_t n = 0;
	char h[16];

	if (netshape_qdiscs(ns, link->ifindex, &qs, &n, err) < 0)
		return -1;
	*st = NS_INGRESS_NONE;
	*filter_parent = NS_H(0xffff, 0);
	for (size_t i = 0; i < n; i++) {
		if (qs[i].parent != NS_H_INGRESS)
			continue;
		if (!strcmp(qs[i].kind, "clsact")) {
			*st = NS_INGRESS_CLSACT;
			*filter_parent = NS_H_CLSACT_INGRESS;
		} else {
			*st = NS_INGRESS_INGRESS;
			*filter_parent = NS_H(0xffff, 0);
		}
	}
	netshape_qdiscs_free(qs, n);
	if (*st == NS_INGRESS_NONE)
		return 0;
	if (filter_scan(ns, link->ifindex, *filter_parent, &p, err) < 0)
		return -1;
	if (p.in_range)
		return duress_err_setc(err, DURESS_EXIT_REFUSED, 0,
				       "network: %s: the ingress hook already has filters with "
				       "duress's priorities %u-%u at %s, left by a run that did not "
				       "revert; remove them first",
				       link->name, NS_PREF_BASE, NS_PREF_BASE + 2,
				       ns_handle_str(*filter_parent, h, sizeof(h)));
	return 0;
}

/* ---- building qdiscs ---- */

/* codel keeps times in 1024 ns units: send what makes it hold the same. */
static void fix_codel(const char *kind, unsigned char *attrs, size_t len)
{
	int target, interval, ce;
	struct nlattr *a, *o;
	int rem, orem;

	if (!strcmp(kind, "fq_codel")) {
		target = TCA_FQ_CODEL_TARGET;
		interval = TCA_FQ_CODEL_INTERVAL;
		ce = TCA_FQ_CODEL_CE_THRESHOLD;
	} else if (!strcmp(kind, "codel")) {
		target = TCA_CODEL_TARGET;
		interval = TCA_CODEL_INTERVAL;
		ce = TCA_CODEL_CE_THRESHOLD;
	} else {
		return;
	}
	a = (struct nlattr *)attrs;
	rem = (int)len;
	for (; nla_ok(a, rem); a = nla_next(a, &rem)) {
		if (nla_type(a) != TCA_OPTIONS)
			continue;
		nla_for_each_nested(o, a, orem) {
			int t = nla_type(o);

			if ((t == target || t == interval || t == ce) && nla_len(o) == 4) {
				uint32_t v;

				memcpy(&v, nla_data(o), 4);
				v = ns_codel_us_replay(v);
				memcpy(nla_data(o), &v, 4);
			}
		}
	}
}

/* Create (or replace) a qdisc from saved attributes. */
static int put_saved(struct netshape *ns, int ifindex, int flags, uint32_t parent,
		     uint32_t handle, const char *kind, const unsigned char *attrs, size_t len,
		     struct duress_err *err, const char *what)
{
	cleanup_nlmsg struct nl_msg *m = tc_msg(RTM_NEWQDISC, flags | NLM_F_ACK, ifindex, parent,
						handle, 0);
	cleanup_free unsigned char *copy = malloc(len ? len : 1);
	char ph[16], hh[16];

	if (!m || !copy)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "network: %s", what);
	memcpy(copy, attrs, len);
	fix_codel(kind, copy, len);
	if (nla_put_string(m, TCA_KIND, kind) < 0 ||
	    (len && nlmsg_append(m, copy, len, NLMSG_ALIGNTO) < 0))
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, EMSGSIZE, "network: %s", what);
	return talk_err(ns, m, NULL, NULL, err, "network: %s (%s %s at %s)", what, kind,
			ns_handle_str(handle, hh, sizeof(hh)), ns_handle_str(parent, ph, sizeof(ph))) <
		       0
	       ? -1
	       : 0;
}

static uint32_t us_to_ticks(uint64_t us)
{
	uint64_t t = us * 1000 / 64; /* psched ticks are 64 ns */

	return t > UINT32_MAX ? UINT32_MAX : (uint32_t)t;
}

static int put_netem_opts(struct nl_msg *m, const struct ns_netem *n)
{
	struct tc_netem_qopt q = { 0 };
	struct tc_netem_corr corr = { 0 };
	struct nlattr *opts = nest_open(m, TCA_OPTIONS);
	int64_t lat = (int64_t)n->delay_us * 1000, jit = (int64_t)n->jitter_us * 1000;

	if (!opts)
		return -1;
	q.limit = ns_netem_limit(n);
	q.latency = us_to_ticks(n->delay_us);
	q.jitter = us_to_ticks(n->jitter_us);
	q.loss = ns_prob32(n->loss);
	q.duplicate = ns_prob32(n->duplicate);
	q.gap = n->reorder > 0 ? (n->gap ? n->gap : 1) : 0;
	if (nlmsg_append(m, &q, sizeof(q), NLMSG_ALIGNTO) < 0)
		return -1;
	corr.delay_corr = ns_prob32(n->delay_corr);
	corr.loss_corr = ns_prob32(n->loss_corr);
	if (nla_put(m, TCA_NETEM_CORR, sizeof(corr), &corr) < 0)
		return -1;
	if (n->reorder > 0) {
		struct tc_netem_reorder r = { .probability = ns_prob32(n->reorder) };

		if (nla_put(m, TCA_NETEM_REORDER, sizeof(r), &r) < 0)
			return -1;
	}
	if (n->corrupt > 0) {
		struct tc_netem_corrupt c = { .probability = ns_prob32(n->corrupt) };

		if (nla_put(m, TCA_NETEM_CORRUPT, sizeof(c), &c) < 0)
			return -1;
	}
	if (n->rate_bps) {
		uint64_t bytes = (n->rate_bps + 4) / 8;
		struct tc_netem_rate r = { .rate = bytes > UINT32_MAX ? UINT32_MAX : (uint32_t)bytes };

		if (!r.rate)
			r.rate = 1;
		if (nla_put(m, TCA_NETEM_RATE, sizeof(r), &r) < 0)
			return -1;
		if (bytes > UINT32_MAX && nla_put_u64(m, TCA_NETEM_RATE64, bytes) < 0)
			return -1;
	}
	if (nla_put(m, TCA_NETEM_LATENCY64, sizeof(lat), &lat) < 0 ||
	    nla_put(m, TCA_NETEM_JITTER64, sizeof(jit), &jit) < 0)
		return -1;
	if (n->jitter_us && n->dist != NS_DIST_UNIFORM) {
		static int16_t table[NS_DIST_SIZE];
		static enum ns_dist have = NS_DIST_UNIFORM;

		if (have != n->dist) {
			if (ns_dist_table(n->dist, table, NS_DIST_SIZE) < 0)
				return -1;
			have = n->dist;
		}
		if (nla_put(m, TCA_NETEM_DELAY_DIST, sizeof(table), table) < 0)
			return -1;
	}
	nest_close(m, opts);
	return 0;
}

static int add_netem(struct netshape *ns, int ifindex, int flags, uint32_t parent,
		     uint32_t handle, const struct ns_netem *n, struct duress_err *err)
{
	cleanup_nlmsg struct nl_msg *m = tc_msg(RTM_NEWQDISC, flags | NLM_F_ACK, ifindex, parent,
						handle, 0);
	char ph[16], hh[16];

	if (!m || nla_put_string(m, TCA_KIND, "netem") < 0 || put_netem_opts(m, n) < 0)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM,
				       "network: build the netem qdisc");
	return talk_err(ns, m, NULL, NULL, err, "network: add netem %s at %s of ifindex %d",
			ns_handle_str(handle, hh, sizeof(hh)), ns_handle_str(parent, ph, sizeof(ph)),
			ifindex) < 0
		       ? -1
		       : 0;
}

static int add_prio(struct netshape *ns, int ifindex, struct duress_err *err)
{
	cleanup_nlmsg struct nl_msg *m =
		tc_msg(RTM_NEWQDISC, NLM_F_CREATE | NLM_F_REPLACE | NLM_F_ACK, ifindex, NS_H_ROOT,
		       NS_H(NS_MAJ_ROOT, 0), 0);
	/* two bands, every priority on the first: the rest of the traffic */
	struct tc_prio_qopt q = { .bands = 2 };

	if (!m || nla_put_string(m, TCA_KIND, "prio") < 0 ||
	    nla_put(m, TCA_OPTIONS, sizeof(q), &q) < 0)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "network: build prio");
	return talk_err(ns, m, NULL, NULL, err, "network: replace the root qdisc of ifindex %d "
						"with prio %x: (2 bands)",
			ifindex, NS_MAJ_ROOT) < 0
		       ? -1
		       : 0;
}

/* u32 filter at parent with its keys; classid or a mirred redirect. */
static int add_u32(struct netshape *ns, int ifindex, uint32_t parent,
		   const struct ns_u32_rule *r, uint32_t classid, int redirect_ifindex,
		   struct duress_err *err)
{
	static const uint16_t eth[] = { ETH_P_ALL, ETH_P_IP, ETH_P_IPV6 };
	uint16_t proto = htons(r->family == AF_INET ? eth[1] : r->family == AF_INET6 ? eth[2] : eth[0]);
	cleanup_nlmsg struct nl_msg *m =
		tc_msg(RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK, ifindex, parent, 0,
		       TC_H_MAKE((uint32_t)r->pref << 16, proto));
	unsigned char selbuf[sizeof(struct tc_u32_sel) + NS_U32_MAX_KEYS * sizeof(struct tc_u32_key)];
	struct tc_u32_sel *sel = (struct tc_u32_sel *)selbuf;
	struct nlattr *opts;
	char ph[16];

	memset(selbuf, 0, sizeof(selbuf));
	sel->flags = TC_U32_TERMINAL;
	sel->nkeys = (unsigned char)r->nkeys;
	for (int i = 0; i < r->nkeys; i++) {
		sel->keys[i].val = htonl(r->keys[i].val);
		sel->keys[i].mask = htonl(r->keys[i].mask);
		sel->keys[i].off = r->keys[i].off;
	}
	if (!m || nla_put_string(m, TCA_KIND, "u32") < 0 || !(opts = nest_open(m, TCA_OPTIONS)) ||
	    nla_put(m, TCA_U32_SEL, (int)(sizeof(*sel) + (size_t)r->nkeys * sizeof(sel->keys[0])),
		    sel) < 0)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "network: build u32");
	if (classid && nla_put_u32(m, TCA_U32_CLASSID, classid) < 0)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "network: build u32");
	if (redirect_ifindex) {
		struct tc_mirred mir = {
			.action = TC_ACT_STOLEN,
			.eaction = TCA_EGRESS_REDIR,
			.ifindex = (uint32_t)redirect_ifindex,
		};
		struct nlattr *acts = nest_open(m, TCA_U32_ACT), *act, *aopts;

		if (!acts || !(act = nest_open(m, 1)) || nla_put_string(m, TCA_ACT_KIND, "mirred") < 0 ||
		    !(aopts = nest_open(m, TCA_ACT_OPTIONS)) ||
		    nla_put(m, TCA_MIRRED_PARMS, sizeof(mir), &mir) < 0)
			return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM,
					       "network: build mirred");
		nest_close(m, aopts);
		nest_close(m, act);
		nest_close(m, acts);
	}
	nest_close(m, opts);
	return talk_err(ns, m, NULL, NULL, err,
			"network: add u32 filter (%s) at %s of ifindex %d, priority %u", r->desc,
			ns_handle_str(parent, ph, sizeof(ph)), ifindex, r->pref) < 0
		       ? -1
		       : 0;
}

int netshape_install(struct netshape *ns, int ifindex, const struct ns_netem *netem,
		     const struct ns_u32_rule *rules, size_t nrules, const struct ns_saved *orig,
		     struct duress_err *err)
{
	const struct ns_saved_qdisc *o = orig && !orig->none && orig->n ? &orig->q[0] : NULL;
	bool copy = o && ns_kind_copyable(o->kind);
	uint32_t inner_parent;

	if (!nrules) {
		if (add_netem(ns, ifindex, NLM_F_CREATE | NLM_F_REPLACE, NS_H_ROOT,
			      NS_H(NS_MAJ_ROOT, 0), netem, err) < 0)
			return -1;
		inner_parent = NS_H(NS_MAJ_ROOT, 1);
	} else {
		if (add_prio(ns, ifindex, err) < 0 ||
		    add_netem(ns, ifindex, NLM_F_CREATE | NLM_F_EXCL, NS_H(NS_MAJ_ROOT, 2),
			      NS_H(NS_MAJ_NETEM, 0), netem, err) < 0)
			return -1;
		inner_parent = NS_H(NS_MAJ_ROOT, 1);
	}
	if (copy) {
		struct duress_err e2 = { 0 };

		/* best effort: without it the rest goes through a plain fifo */
		put_saved(ns, ifindex, NLM_F_CREATE | NLM_F_EXCL, inner_parent, NS_H(NS_MAJ_INNER, 0),
			  o->kind, o->attrs, o->attrs_len, &e2, "copy the original qdisc");
	}
	for (size_t i = 0; i < nrules; i++)
		if (add_u32(ns, ifindex, NS_H(NS_MAJ_ROOT, 0), &rules[i], NS_H(NS_MAJ_ROOT, 2), 0,
			    err) < 0)
			return -1;
	return 0;
}

int netshape_add_ingress(struct netshape *ns, int ifindex, struct duress_err *err)
{
	cleanup_nlmsg struct nl_msg *m = tc_msg(RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK,
						ifindex, NS_H_INGRESS, NS_H(0xffff, 0), 0);

	if (!m || nla_put_string(m, TCA_KIND, "ingress") < 0)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "network: build ingress");
	return talk_err(ns, m, NULL, NULL, err, "network: add an ingress qdisc to ifindex %d",
			ifindex) < 0
		       ? -1
		       : 0;
}

int netshape_add_redirect(struct netshape *ns, int ifindex, uint32_t parent,
			  const struct ns_u32_rule *rules, size_t nrules, int ifb_ifindex,
			  struct duress_err *err)
{
	for (size_t i = 0; i < nrules; i++)
		if (add_u32(ns, ifindex, parent, &rules[i], 0, ifb_ifindex, err) < 0)
			return -1;
	return 0;
}

int netshape_del_filters(struct netshape *ns, int ifindex, uint32_t parent, uint16_t pref,
			 struct duress_err *err)
{
	cleanup_nlmsg struct nl_msg *m = tc_msg(RTM_DELTFILTER, NLM_F_ACK, ifindex, parent, 0,
						TC_H_MAKE((uint32_t)pref << 16, 0));
	char ph[16], kmsg[256];
	int r;

	if (!m)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "network: filter delete");
	r = talk(ns, m, NULL, NULL, kmsg, sizeof(kmsg));
	if (r == 0 || r == -ENOENT || r == -EINVAL || r == -ENODEV)
		return 0; /* gone already (with the qdisc, or the link) */
	return duress_err_setc(err, DURESS_EXIT_INTERNAL, -r,
			       "network: delete the filters of priority %u at %s of ifindex %d%s%s",
			       pref, ns_handle_str(parent, ph, sizeof(ph)), ifindex,
			       kmsg[0] ? ": the kernel says " : "", kmsg);
}

/* ---- links we make ---- */

static struct nl_msg *link_msg(int type, int flags, int ifindex, unsigned iff, unsigned change)
{
	struct ifinfomsg i = {
		.ifi_family = AF_UNSPEC,
		.ifi_index = ifindex,
		.ifi_flags = iff,
		.ifi_change = change,
	};
	struct nl_msg *m = nlmsg_alloc_size(4096);

	if (!m)
		return NULL;
	if (!nlmsg_put(m, NL_AUTO_PORT, NL_AUTO_SEQ, type, 0, flags | NLM_F_REQUEST | NLM_F_ACK) ||
	    nlmsg_append(m, &i, sizeof(i), NLMSG_ALIGNTO) < 0) {
		nlmsg_free(m);
		return NULL;
	}
	return m;
}

int netshape_add_ifb(struct netshape *ns, const char *name, int *ifindex,
		     struct duress_err *err)
{
	cleanup_nlmsg struct nl_msg *m = link_msg(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0, 0, 0);
	cleanup_nlmsg struct nl_msg *up = NULL;
	struct nlattr *info;
	struct ns_link l;
	int r;

	if (!m || nla_put_string(m, IFLA_IFNAME, name) < 0 || !(info = nest_open(m, IFLA_LINKINFO)) ||
	    nla_put_string(m, IFLA_INFO_KIND, "ifb") < 0)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "network: build ifb");
	nest_close(m, info);
	if (talk_err(ns, m, NULL, NULL, err, "network: create ifb device %s", name) < 0) {
		if (err->errnum == EOPNOTSUPP)
			err->code = DURESS_EXIT_UNSUPPORTED;
		return -1;
	}
	r = netshape_link_find(ns, name, &l, err);
	if (r < 0)
		return -1;
	if (r > 0)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENODEV,
				       "network: ifb device %s vanished after creation", name);
	up = link_msg(RTM_NEWLINK, 0, l.ifindex, IFF_UP, IFF_UP);
	if (!up)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "network: ifb up");
	if (talk_err(ns, up, NULL, NULL, err, "network: set ifb device %s up", name) < 0)
		return -1;
	*ifindex = l.ifindex;
	return 0;
}

int netshape_del_link(struct netshape *ns, const char *name, const char *kind,
		      struct duress_err *err)
{
	cleanup_nlmsg struct nl_msg *m = NULL;
	struct ns_link l;
	char kmsg[256];
	int r = netshape_link_find(ns, name, &l, err);

	if (r)
		return r;
	if (strcmp(l.kind, kind))
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, 0,
				       "network: %s is a '%s' device, not the %s duress made; left "
				       "alone",
				       name, l.kind[0] ? l.kind : "plain", kind);
	m = link_msg(RTM_DELLINK, 0, l.ifindex, 0, 0);
	if (!m)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "network: delete link");
	r = talk(ns, m, NULL, NULL, kmsg, sizeof(kmsg));
	if (r == -ENODEV)
		return 1;
	if (r < 0)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, -r, "network: delete %s %s%s%s",
				       kind, name, kmsg[0] ? ": the kernel says " : "", kmsg);
	return 0;
}

int netshape_qdisc_stats(struct netshape *ns, int ifindex, uint32_t handle, struct ns_qdisc *out,
			 struct duress_err *err)
{
	struct ns_qdisc *qs = NULL;
	size_t n = 0;
	int rc = 1;

	if (netshape_qdiscs(ns, ifindex, &qs, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (qs[i].handle == handle) {
			*out = qs[i];
			out->attrs = NULL;
			out->attrs_len = 0;
			rc = 0;
		}
	}
	netshape_qdiscs_free(qs, n);
	return rc;
}

/* ---- restore ---- */

static bool same_qdisc(const struct ns_qdisc *q, const struct ns_saved_qdisc *s)
{
	return q->handle == s->handle && !strcmp(q->kind, s->kind) && q->attrs_len == s->attrs_len &&
	       !memcmp(q->attrs, s->attrs, s->attrs_len);
}

static int del_qdisc(struct netshape *ns, int ifindex, uint32_t parent, uint32_t handle,
		     struct duress_err *err)
{
	cleanup_nlmsg struct nl_msg *m = tc_msg(RTM_DELQDISC, NLM_F_ACK, ifindex, parent, handle, 0);
	char hh[16], kmsg[256];
	int r;

	if (!m)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "network: delete qdisc");
	r = talk(ns, m, NULL, NULL, kmsg, sizeof(kmsg));
	if (r == 0 || r == -ENOENT)
		return 0;
	return duress_err_setc(err, DURESS_EXIT_INTERNAL, -r, "network: delete qdisc %s%s%s",
			       ns_handle_str(handle, hh, sizeof(hh)),
			       kmsg[0] ? ": the kernel says " : "", kmsg);
}

static int restore_ingress(struct netshape *ns, const struct ns_link *l, const struct ns_saved *s,
			   struct duress_err *err)
{
	struct ns_qdisc *qs = NULL;
	size_t n = 0;
	int rc = 0;

	if (!s->none)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, EINVAL,
				       "network: %s ingress: only 'none' can be restored", l->name);
	if (netshape_qdiscs(ns, l->ifindex, &qs, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n && !rc; i++)
		if (qs[i].parent == NS_H_INGRESS && !strcmp(qs[i].kind, "ingress"))
			rc = del_qdisc(ns, l->ifindex, NS_H_INGRESS, qs[i].handle, err);
	netshape_qdiscs_free(qs, n);
	return rc;
}

static const struct ns_qdisc *find_handle(const struct ns_qdisc *qs, size_t n, uint32_t parent,
					  uint32_t handle)
{
	for (size_t i = 0; i < n; i++) {
		if (handle && qs[i].handle == handle)
			return &qs[i];
		if (!handle && qs[i].parent == parent)
			return &qs[i];
	}
	return NULL;
}

/* Compare the link's tree with the saved one: NULL when identical, else
 * what differs (static text). */
static const char *tree_differs(const struct ns_qdisc *qs, size_t n, const struct ns_saved *s)
{
	const struct ns_qdisc *root = find_handle(qs, n, NS_H_ROOT, 0);

	if (s->q[0].handle == 0) {
		if (root && root->handle != 0)
			return "the root is not the kernel's default";
	} else if (!root || !same_qdisc(root, &s->q[0])) {
		return "the root qdisc differs";
	}
	for (size_t k = 1; k < s->n; k++) {
		const struct ns_qdisc *c = find_handle(qs, n, 0, s->q[k].handle);

		if (!c || !same_qdisc(c, &s->q[k]) || c->parent != s->q[k].parent)
			return "a child qdisc differs";
	}
	return NULL;
}

static int restore_root(struct netshape *ns, const struct ns_link *l, const struct ns_saved *s,
			struct duress_err *err)
{
	struct ns_qdisc *qs = NULL;
	const struct ns_qdisc *root;
	const char *diff;
	size_t n = 0;
	char hh[16], desc[128];
	int rc = -1;

	if (s->none || !s->n)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, EINVAL,
				       "network: %s root: nothing saved", l->name);
	if (netshape_qdiscs(ns, l->ifindex, &qs, &n, err) < 0)
		return -1;
	if (!tree_differs(qs, n, s)) {
		rc = 0; /* back already */
		goto out;
	}
	root = find_handle(qs, n, NS_H_ROOT, 0);
	if (root && root->handle != 0 && !is_ours(root->handle) &&
	    !(s->q[0].handle && root->handle == s->q[0].handle)) {
		duress_err_setc(err, DURESS_EXIT_INTERNAL, 0,
				"network: %s: the root qdisc is now %s %s, neither duress's nor the "
				"saved %s: someone else changed it, left alone",
				l->name, root->kind, ns_handle_str(root->handle, hh, sizeof(hh)),
				ns_saved_describe(s, desc, sizeof(desc)));
		goto out;
	}
	if (s->q[0].handle == 0) {
		/* deleting ours makes the kernel attach its default again */
		if (root && is_ours(root->handle) &&
		    del_qdisc(ns, l->ifindex, NS_H_ROOT, root->handle, err) < 0)
			goto out;
	} else if (put_saved(ns, l->ifindex, NLM_F_CREATE | NLM_F_REPLACE, NS_H_ROOT,
			     s->q[0].handle, s->q[0].kind, s->q[0].attrs, s->q[0].attrs_len, err,
			     "restore the root qdisc") < 0) {
		goto out;
	}
	for (size_t k = 1; k < s->n; k++) {
		if (put_saved(ns, l->ifindex, NLM_F_CREATE | NLM_F_REPLACE, s->q[k].parent,
			      s->q[k].handle, s->q[k].kind, s->q[k].attrs, s->q[k].attrs_len, err,
			      "restore a child qdisc") < 0)
			goto out;
	}
	/* check: the kernel must report exactly what was saved */
	netshape_qdiscs_free(qs, n);
	qs = NULL;
	if (netshape_qdiscs(ns, l->ifindex, &qs, &n, err) < 0)
		goto out;
	diff = tree_differs(qs, n, s);
	if (diff && (l->flags & IFF_UP || s->q[0].handle)) {
		duress_err_setc(err, DURESS_EXIT_INTERNAL, 0,
				"network: %s: restored %s, but the kernel reports otherwise (%s)",
				l->name, ns_saved_describe(s, desc, sizeof(desc)), diff);
		goto out;
	}
	rc = 0;
out:
	netshape_qdiscs_free(qs, n);
	return rc;
}

int netshape_restore(struct netshape *ns, const char *ifname, bool ingress, const char *text,
		     bool *gone, struct duress_err *err)
{
	struct ns_saved s;
	struct ns_link l;
	int r;

	*gone = false;
	if (ns_saved_parse(text, &s, err) < 0)
		return -1;
	r = netshape_link_find(ns, ifname, &l, err);
	if (r != 0) {
		ns_saved_free(&s);
		if (r > 0)
			*gone = true;
		return r < 0 ? -1 : 0;
	}
	r = ingress ? restore_ingress(ns, &l, &s, err) : restore_root(ns, &l, &s, err);
	ns_saved_free(&s);
	return r;
}

/* ---- probe ---- */

struct ns_check_arg {
	bool filtered, ingress;
};

/* Rewrite err as "network: the kernel cannot <what> (<cause>); load <module>". */
static int check_fail(struct duress_err *err, const char *what, const char *module)
{
	char cause[DURESS_ERR_MSG_MAX];

	snprintf(cause, sizeof(cause), "%s", err->msg);
	return duress_err_setc(err, DURESS_EXIT_UNSUPPORTED, 0,
			       "network: the kernel cannot %s (%.700s); is %s available?", what,
			       cause, module);
}

static int ns_probe_step(struct netshape *ns, void *arg, struct duress_err *err)
{
	const struct ns_check_arg *p = arg;
	struct ns_netem n = { .delay_us = 1000 };
	struct ns_u32_rule rule = { .family = AF_INET, .pref = NS_PREF_BASE, .nkeys = 1 };
	int ifb = 0;

	snprintf(rule.desc, sizeof(rule.desc), "probe");
	/* lo (ifindex 1) of a namespace of our own */
	if (add_netem(ns, 1, NLM_F_CREATE | NLM_F_EXCL, NS_H_ROOT, NS_H(NS_MAJ_INNER, 0), &n, err) < 0)
		return check_fail(err, "add a netem qdisc", "sch_netem");
	if (p->filtered) {
		if (add_prio(ns, 1, err) < 0)
			return check_fail(err, "add a prio qdisc", "sch_prio");
		if (add_u32(ns, 1, NS_H(NS_MAJ_ROOT, 0), &rule, NS_H(NS_MAJ_ROOT, 2), 0, err) < 0)
			return check_fail(err, "add a u32 filter", "cls_u32");
	}
	if (p->ingress) {
		if (netshape_add_ingress(ns, 1, err) < 0)
			return check_fail(err, "add an ingress qdisc", "sch_ingress");
		if (netshape_add_ifb(ns, "drsprobe", &ifb, err) < 0)
			return check_fail(err, "make an ifb device", "ifb");
		if (add_u32(ns, 1, NS_H(0xffff, 0), &rule, 0, ifb, err) < 0)
			return check_fail(err, "redirect packets with mirred", "act_mirred");
	}
	return 0;
}

int netshape_probe(bool filtered, bool ingress, struct duress_err *err)
{
	struct ns_check_arg a = { .filtered = filtered, .ingress = ingress };
	struct open_job j = { .netns_fd = -1, .check = ns_probe_step, .check_arg = &a };

	if (run_open_thread(&j, err) < 0)
		return -1;
	if (j.check_rc < 0) {
		*err = j.check_err;
		return -1;
	}
	return 0;
}

/* ---- undo kinds ---- */

/* "eth0 root" -> "eth0", false; "eth0 ingress" -> "eth0", true. */
static int split_what(const char *what, char *ifname, size_t len, bool *ingress)
{
	const char *sp = strrchr(what, ' ');

	if (!sp || (size_t)(sp - what) >= len || sp == what)
		return -1;
	if (!strcmp(sp + 1, "root"))
		*ingress = false;
	else if (!strcmp(sp + 1, "ingress"))
		*ingress = true;
	else
		return -1;
	memcpy(ifname, what, (size_t)(sp - what));
	ifname[sp - what] = '\0';
	return 0;
}

static int revert_qdisc(const struct undo_rec *rec, bool *gone, struct duress_err *err)
{
	cleanup_netshape struct netshape *ns = NULL;
	char ifname[IF_NAMESIZE];
	bool ingress;

	if (split_what(rec->what, ifname, sizeof(ifname), &ingress) < 0)
		return duress_err_set(err, EINVAL, "qdisc: bad interface '%s'", rec->what);
	if (netshape_open_ref(rec->where, &ns, gone, err) < 0)
		return -1;
	if (*gone)
		return 0;
	if (netshape_restore(ns, ifname, ingress, rec->value, gone, err) < 0)
		return duress_err_wrap(err, "qdisc of %s in %s", rec->what, rec->where);
	return 0;
}

static void describe_qdisc(const struct undo_rec *rec, char *buf, size_t len)
{
	struct duress_err e = { 0 };
	struct ns_saved s;
	char desc[160] = "?";

	if (ns_saved_parse(rec->value, &s, &e) == 0) {
		ns_saved_describe(&s, desc, sizeof(desc));
		ns_saved_free(&s);
	}
	if (!strcmp(desc, "none"))
		snprintf(buf, len, "remove the %s qdisc (none before) in %s", rec->what, rec->where);
	else
		snprintf(buf, len, "%s qdisc in %s back to %s", rec->what, rec->where, desc);
}

static int revert_link(const struct undo_rec *rec, bool *gone, struct duress_err *err)
{
	cleanup_netshape struct netshape *ns = NULL;
	int r;

	if (netshape_open_ref(rec->where, &ns, gone, err) < 0)
		return -1;
	if (*gone)
		return 0;
	r = netshape_del_link(ns, rec->what, rec->value[0] ? rec->value : "ifb", err);
	if (r < 0)
		return -1;
	if (r > 0)
		*gone = true;
	return 0;
}

static void describe_link(const struct undo_rec *rec, char *buf, size_t len)
{
	snprintf(buf, len, "delete %s device %s in %s", rec->value, rec->what, rec->where);
}

/* what: "<ifname> <parent> <pref>" */
static int revert_tc_filter(const struct undo_rec *rec, bool *gone, struct duress_err *err)
{
	cleanup_netshape struct netshape *ns = NULL;
	char ifname[IF_NAMESIZE + 1], parent[32];
	unsigned pref;
	uint32_t ph;
	struct ns_link l;
	int r;

	if (sscanf(rec->what, "%16s %31s %u", ifname, parent, &pref) != 3 ||
	    ns_handle_parse(parent, &ph) < 0 || pref > 0xffff)
		return duress_err_set(err, EINVAL, "tc-filter: bad '%s'", rec->what);
	if (netshape_open_ref(rec->where, &ns, gone, err) < 0)
		return -1;
	if (*gone)
		return 0;
	r = netshape_link_find(ns, ifname, &l, err);
	if (r < 0)
		return -1;
	if (r > 0) {
		*gone = true;
		return 0;
	}
	return netshape_del_filters(ns, l.ifindex, ph, (uint16_t)pref, err);
}

static void describe_tc_filter(const struct undo_rec *rec, char *buf, size_t len)
{
	snprintf(buf, len, "delete the filters '%s' (interface, parent, priority) in %s", rec->what,
		 rec->where);
}

const struct undo_kind undo_kind_qdisc = { "qdisc", revert_qdisc, describe_qdisc };
const struct undo_kind undo_kind_link = { "link", revert_link, describe_link };
const struct undo_kind undo_kind_tc_filter = { "tc-filter", revert_tc_filter, describe_tc_filter };
