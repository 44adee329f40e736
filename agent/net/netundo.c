// SPDX-License-Identifier: MIT
/* The undo kinds of the network fault (netundo.h). */
#include <duress/core/cleanup.h>
#include <duress/core/exitcode.h>
#include <duress/net/netshape.h>
#include <duress/net/netundo.h>
#include <duress/net/qdisc.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

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
	if (qdisc_restore(ns, ifname, ingress, rec->value, gone, err) < 0)
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
		snprintf(buf, len, "remove the %s qdisc (none before) in %s", rec->what,
			 rec->where);
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
	return qdisc_del_filters(ns, l.ifindex, ph, (uint16_t)pref, err);
}

static void describe_tc_filter(const struct undo_rec *rec, char *buf, size_t len)
{
	snprintf(buf, len, "delete the filters '%s' (interface, parent, priority) in %s", rec->what,
		 rec->where);
}

/* ---- what a journal may hold: namespace references the agent writes,
 * ifb devices of its own prefix, filters of its own priorities, saved
 * qdisc text that parses ---- */

static int check_ref(const struct undo_rec *rec, char *why, size_t len)
{
	unsigned long long ino;
	pid_t pid;

	if (ns_ref_parse(rec->where, &pid, &ino) < 0) {
		snprintf(why, len, "%s: '%.200s' is not a namespace reference", rec->kind->name,
			 rec->where);
		return -1;
	}
	return 0;
}

static int check_qdisc(const struct undo_rec *rec, char *why, size_t len)
{
	struct duress_err e = { 0 };
	char ifname[IF_NAMESIZE];
	struct ns_saved s;
	bool ingress;

	if (check_ref(rec, why, len) < 0)
		return -1;
	if (split_what(rec->what, ifname, sizeof(ifname), &ingress) < 0) {
		snprintf(why, len, "qdisc: bad interface '%.100s'", rec->what);
		return -1;
	}
	if (ns_saved_parse(rec->value, &s, &e) < 0) {
		snprintf(why, len, "qdisc: saved tree of %.40s: %.200s", rec->what, e.msg);
		return -1;
	}
	ns_saved_free(&s);
	return 0;
}

static int check_link(const struct undo_rec *rec, char *why, size_t len)
{
	if (check_ref(rec, why, len) < 0)
		return -1;
	if (strncmp(rec->what, NS_IFB_PREFIX, strlen(NS_IFB_PREFIX)) ||
	    strlen(rec->what) >= IF_NAMESIZE || (rec->value[0] && strcmp(rec->value, "ifb"))) {
		snprintf(why, len, "link: '%.40s' (%.20s) is not an ifb device the agent makes",
			 rec->what, rec->value);
		return -1;
	}
	return 0;
}

static int check_tc_filter(const struct undo_rec *rec, char *why, size_t len)
{
	char ifname[IF_NAMESIZE + 1], parent[32];
	unsigned pref;
	uint32_t ph;

	if (check_ref(rec, why, len) < 0)
		return -1;
	if (sscanf(rec->what, "%16s %31s %u", ifname, parent, &pref) != 3 ||
	    ns_handle_parse(parent, &ph) < 0 || pref < NS_PREF_BASE || pref > NS_PREF_BASE + 2) {
		snprintf(why, len, "tc-filter: '%.100s' is not a filter of the agent's priorities",
			 rec->what);
		return -1;
	}
	return 0;
}

const struct undo_kind undo_kind_qdisc = { "qdisc", revert_qdisc, describe_qdisc, check_qdisc };
const struct undo_kind undo_kind_link = { "link", revert_link, describe_link, check_link };
const struct undo_kind undo_kind_tc_filter = { "tc-filter", revert_tc_filter, describe_tc_filter,
					       check_tc_filter };
