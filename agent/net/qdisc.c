// SPDX-License-Identifier: MIT
/*
 * The qdisc trees of the network fault (qdisc.h): what a link has is saved
 * before anything changes, ours is installed (netem, or prio + netem + u32
 * filters for some traffic, an ifb for ingress), and what was there is put
 * back exactly; and a probe of what the kernel can do.  Over the socket of
 * netshape.h.  qdisc and filter options are written as the kernel's own
 * structures, because libnl 3.7 cannot express netem's rate, 64-bit delays
 * or replaying the attributes of an arbitrary qdisc.
 */
#include <duress/core/cleanup.h>
#include <duress/core/exitcode.h>
#include <duress/net/netshape.h>
#include <duress/net/qdisc.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/gen_stats.h>
#include <linux/if_ether.h>
#include <linux/netlink.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <linux/tc_act/tc_mirred.h>

#include <netlink/attr.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>

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

int qdisc_save_root(struct netshape *ns, const struct ns_link *link, struct ns_saved *out,
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
			duress_err_setc(
				err, DURESS_EXIT_UNSUPPORTED, 0,
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
			struct netshape_prefs p = { 0 };

			if (netshape_filter_scan(ns, link->ifindex, TC_H_MAJ(q->handle), &p, err) <
			    0)
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

int qdisc_ingress_state(struct netshape *ns, const struct ns_link *link, enum ns_ingress_state *st,
			uint32_t *filter_parent, struct duress_err *err)
{
	struct ns_qdisc *qs = NULL;
	struct netshape_prefs p = { .lo = NS_PREF_BASE, .hi = NS_PREF_BASE + 2 };
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
	if (netshape_filter_scan(ns, link->ifindex, *filter_parent, &p, err) < 0)
		return -1;
	if (p.in_range)
		return duress_err_setc(
			err, DURESS_EXIT_REFUSED, 0,
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
static int put_saved(struct netshape *ns, int ifindex, int flags, uint32_t parent, uint32_t handle,
		     const char *kind, const unsigned char *attrs, size_t len,
		     struct duress_err *err, const char *what)
{
	cleanup_nlmsg struct nl_msg *m =
		netshape_tc_msg(RTM_NEWQDISC, flags | NLM_F_ACK, ifindex, parent, handle, 0);
	cleanup_free unsigned char *copy = malloc(len ? len : 1);
	char ph[16], hh[16];

	if (!m || !copy)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "network: %s", what);
	memcpy(copy, attrs, len);
	fix_codel(kind, copy, len);
	if (nla_put_string(m, TCA_KIND, kind) < 0 ||
	    (len && nlmsg_append(m, copy, len, NLMSG_ALIGNTO) < 0))
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, EMSGSIZE, "network: %s", what);
	return netshape_talk(ns, m, NULL, NULL, err, "network: %s (%s %s at %s)", what, kind,
			     ns_handle_str(handle, hh, sizeof(hh)),
			     ns_handle_str(parent, ph, sizeof(ph))) < 0
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
	struct nlattr *opts = netshape_nest_open(m, TCA_OPTIONS);
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
		struct tc_netem_rate r = { .rate = bytes > UINT32_MAX ? UINT32_MAX
								      : (uint32_t)bytes };

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
	netshape_nest_close(m, opts);
	return 0;
}

static int add_netem(struct netshape *ns, int ifindex, int flags, uint32_t parent, uint32_t handle,
		     const struct ns_netem *n, struct duress_err *err)
{
	cleanup_nlmsg struct nl_msg *m =
		netshape_tc_msg(RTM_NEWQDISC, flags | NLM_F_ACK, ifindex, parent, handle, 0);
	char ph[16], hh[16];

	if (!m || nla_put_string(m, TCA_KIND, "netem") < 0 || put_netem_opts(m, n) < 0)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM,
				       "network: build the netem qdisc");
	return netshape_talk(ns, m, NULL, NULL, err, "network: add netem %s at %s of ifindex %d",
			     ns_handle_str(handle, hh, sizeof(hh)),
			     ns_handle_str(parent, ph, sizeof(ph)), ifindex) < 0
		       ? -1
		       : 0;
}

static int add_prio(struct netshape *ns, int ifindex, struct duress_err *err)
{
	cleanup_nlmsg struct nl_msg *m =
		netshape_tc_msg(RTM_NEWQDISC, NLM_F_CREATE | NLM_F_REPLACE | NLM_F_ACK, ifindex,
				NS_H_ROOT, NS_H(NS_MAJ_ROOT, 0), 0);
	/* two bands, every priority on the first: the rest of the traffic */
	struct tc_prio_qopt q = { .bands = 2 };

	if (!m || nla_put_string(m, TCA_KIND, "prio") < 0 ||
	    nla_put(m, TCA_OPTIONS, sizeof(q), &q) < 0)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "network: build prio");
	return netshape_talk(ns, m, NULL, NULL, err,
			     "network: replace the root qdisc of ifindex %d "
			     "with prio %x: (2 bands)",
			     ifindex, NS_MAJ_ROOT) < 0
		       ? -1
		       : 0;
}

/* u32 filter at parent with its keys; classid or a mirred redirect. */
static int add_u32(struct netshape *ns, int ifindex, uint32_t parent, const struct ns_u32_rule *r,
		   uint32_t classid, int redirect_ifindex, struct duress_err *err)
{
	static const uint16_t eth[] = { ETH_P_ALL, ETH_P_IP, ETH_P_IPV6 };
	uint16_t proto = htons(r->family == AF_INET    ? eth[1]
			       : r->family == AF_INET6 ? eth[2]
						       : eth[0]);
	cleanup_nlmsg struct nl_msg *m =
		netshape_tc_msg(RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK, ifindex,
				parent, 0, TC_H_MAKE((uint32_t)r->pref << 16, proto));
	unsigned char
		selbuf[sizeof(struct tc_u32_sel) + NS_U32_MAX_KEYS * sizeof(struct tc_u32_key)];
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
	if (!m || nla_put_string(m, TCA_KIND, "u32") < 0 ||
	    !(opts = netshape_nest_open(m, TCA_OPTIONS)) ||
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
		struct nlattr *acts = netshape_nest_open(m, TCA_U32_ACT), *act, *aopts;

		if (!acts || !(act = netshape_nest_open(m, 1)) ||
		    nla_put_string(m, TCA_ACT_KIND, "mirred") < 0 ||
		    !(aopts = netshape_nest_open(m, TCA_ACT_OPTIONS)) ||
		    nla_put(m, TCA_MIRRED_PARMS, sizeof(mir), &mir) < 0)
			return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM,
					       "network: build mirred");
		netshape_nest_close(m, aopts);
		netshape_nest_close(m, act);
		netshape_nest_close(m, acts);
	}
	netshape_nest_close(m, opts);
	return netshape_talk(ns, m, NULL, NULL, err,
			     "network: add u32 filter (%s) at %s of ifindex %d, priority %u",
			     r->desc, ns_handle_str(parent, ph, sizeof(ph)), ifindex, r->pref) < 0
		       ? -1
		       : 0;
}

int qdisc_install(struct netshape *ns, int ifindex, const struct ns_netem *netem,
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
		put_saved(ns, ifindex, NLM_F_CREATE | NLM_F_EXCL, inner_parent,
			  NS_H(NS_MAJ_INNER, 0), o->kind, o->attrs, o->attrs_len, &e2,
			  "copy the original qdisc");
	}
	for (size_t i = 0; i < nrules; i++)
		if (add_u32(ns, ifindex, NS_H(NS_MAJ_ROOT, 0), &rules[i], NS_H(NS_MAJ_ROOT, 2), 0,
			    err) < 0)
			return -1;
	return 0;
}

int qdisc_add_ingress(struct netshape *ns, int ifindex, struct duress_err *err)
{
	cleanup_nlmsg struct nl_msg *m = netshape_tc_msg(RTM_NEWQDISC,
							 NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK,
							 ifindex, NS_H_INGRESS, NS_H(0xffff, 0), 0);

	if (!m || nla_put_string(m, TCA_KIND, "ingress") < 0)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "network: build ingress");
	return netshape_talk(ns, m, NULL, NULL, err, "network: add an ingress qdisc to ifindex %d",
			     ifindex) < 0
		       ? -1
		       : 0;
}

int qdisc_add_redirect(struct netshape *ns, int ifindex, uint32_t parent,
		       const struct ns_u32_rule *rules, size_t nrules, int ifb_ifindex,
		       struct duress_err *err)
{
	for (size_t i = 0; i < nrules; i++)
		if (add_u32(ns, ifindex, parent, &rules[i], 0, ifb_ifindex, err) < 0)
			return -1;
	return 0;
}

int qdisc_del_filters(struct netshape *ns, int ifindex, uint32_t parent, uint16_t pref,
		      struct duress_err *err)
{
	cleanup_nlmsg struct nl_msg *m = netshape_tc_msg(RTM_DELTFILTER, NLM_F_ACK, ifindex, parent,
							 0, TC_H_MAKE((uint32_t)pref << 16, 0));
	char ph[16], kmsg[256];
	int r;

	if (!m)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "network: filter delete");
	r = netshape_talk_raw(ns, m, NULL, NULL, kmsg, sizeof(kmsg));
	if (r == 0 || r == -ENOENT || r == -EINVAL || r == -ENODEV)
		return 0; /* gone already (with the qdisc, or the link) */
	return duress_err_setc(err, DURESS_EXIT_INTERNAL, -r,
			       "network: delete the filters of priority %u at %s of ifindex %d%s%s",
			       pref, ns_handle_str(parent, ph, sizeof(ph)), ifindex,
			       kmsg[0] ? ": the kernel says " : "", kmsg);
}

/* ---- restore ---- */

static bool same_qdisc(const struct ns_qdisc *q, const struct ns_saved_qdisc *s)
{
	return q->handle == s->handle && !strcmp(q->kind, s->kind) &&
	       q->attrs_len == s->attrs_len && !memcmp(q->attrs, s->attrs, s->attrs_len);
}

static int del_qdisc(struct netshape *ns, int ifindex, uint32_t parent, uint32_t handle,
		     struct duress_err *err)
{
	cleanup_nlmsg struct nl_msg *m =
		netshape_tc_msg(RTM_DELQDISC, NLM_F_ACK, ifindex, parent, handle, 0);
	char hh[16], kmsg[256];
	int r;

	if (!m)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "network: delete qdisc");
	r = netshape_talk_raw(ns, m, NULL, NULL, kmsg, sizeof(kmsg));
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
		duress_err_setc(
			err, DURESS_EXIT_INTERNAL, 0,
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

int qdisc_restore(struct netshape *ns, const char *ifname, bool ingress, const char *text,
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
	if (add_netem(ns, 1, NLM_F_CREATE | NLM_F_EXCL, NS_H_ROOT, NS_H(NS_MAJ_INNER, 0), &n, err) <
	    0)
		return check_fail(err, "add a netem qdisc", "sch_netem");
	if (p->filtered) {
		if (add_prio(ns, 1, err) < 0)
			return check_fail(err, "add a prio qdisc", "sch_prio");
		if (add_u32(ns, 1, NS_H(NS_MAJ_ROOT, 0), &rule, NS_H(NS_MAJ_ROOT, 2), 0, err) < 0)
			return check_fail(err, "add a u32 filter", "cls_u32");
	}
	if (p->ingress) {
		if (qdisc_add_ingress(ns, 1, err) < 0)
			return check_fail(err, "add an ingress qdisc", "sch_ingress");
		if (netshape_add_ifb(ns, "drsprobe", &ifb, err) < 0)
			return check_fail(err, "make an ifb device", "ifb");
		if (add_u32(ns, 1, NS_H(0xffff, 0), &rule, 0, ifb, err) < 0)
			return check_fail(err, "redirect packets with mirred", "act_mirred");
	}
	return 0;
}

int qdisc_probe(bool filtered, bool ingress, struct duress_err *err)
{
	struct ns_check_arg a = { .filtered = filtered, .ingress = ingress };

	return netshape_check_private(ns_probe_step, &a, err);
}
