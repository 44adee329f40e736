#!/usr/bin/env python3
# Hostile undo journals for test_statedir_abuse.sh (issue 12, item 2).
#
# Writes, into JOURNAL_DIR, journals in the documented format
# (docs/crash-safety.md, "The undo journal": "<crc32> <seq> <record>" lines,
# CRC-32 as gzip's, fields percent-escaped) whose CRCs are all valid but
# whose records are hostile: cgroup writes to files a fault never writes,
# outside any cgroup2 filesystem, through symbolic links and "..",
# removals of cgroups the agent never makes, network records outside any
# namespace reference the agent writes, signals to a process that is not
# the agent's, kinds no fault records (kill, unlink, umount), records
# too long for their fields, torn and CRC-valid garbage lines, duplicate
# sequence numbers and ids.
#
# usage: statedir_abuse.py JOURNAL_DIR OUTSIDE CANARY_CGROUP CANARY_PID
#                          CANARY_START V1_CGROUP
# Prints one line per journal: "NAME<TAB>EXPECT<TAB>WHY", EXPECT being
#   refused  - never replayed: kept as NAME.refused, WHY is in the message
#   harmless - replayed, but every step is gone or fails (nothing outside
#              is touched: the test's canaries say so)
import os
import sys
import zlib

jdir, outside, cg, cpid, cstart, v1 = sys.argv[1:7]
n = 0


def esc(s):
    if s == "":
        return "%"
    out = []
    for b in s.encode():
        if b <= 0x20 or b == 0x25 or b >= 0x7F:
            out.append("%%%02X" % b)
        else:
            out.append(chr(b))
    return "".join(out)


def line(body):
    b = body.encode() if isinstance(body, str) else body
    return b"%08x " % zlib.crc32(b) + b + b"\n"


def journal(expect, why, recs, raw=None, seqs=None, ids=None, name=None):
    """recs: (kind, where, what, value); raw: bytes appended after them."""
    global n
    n += 1
    name = name or "%d.undo" % (4000000 + n)
    data = line("0 BEGIN pid=%d start=1 cmd=planted" % (4000000 + n))
    for i, rec in enumerate(recs):
        kind, where, what, value = rec[:4]
        fault = rec[4] if len(rec) > 4 else "planted"
        seq = seqs[i] if seqs else i + 1
        jid = ids[i] if ids else i
        data += line("%d ADD %d %s %s %s %s %s" %
                     (seq, jid, kind, esc(fault), esc(where), esc(what), esc(value)))
    if raw:
        data += raw
    fd = os.open(os.path.join(jdir, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, data)
    os.close(fd)
    print("%s\t%s\t%s" % (name, expect, why))


# ---- cgroup-write: files no fault writes, on the canary cgroup ----
for what in ["cgroup.procs", "cgroup.kill", "cgroup.subtree_control", "cgroup.type",
             "cgroup.max.descendants", "memory.oom.group", "cpuset.cpus", "pids.max",
             "passwd", "../../../../etc/passwd", "memory.max/../cgroup.procs",
             "", "memory.max ", "/etc/passwd", ".", ".."]:
    journal("refused", "is not a file a fault writes",
            [("cgroup-write", cg, what, "0")])

# ---- cgroup-write: allowed files, hostile places ----
hostile_dirs = [
    ("/etc", "not on a cgroup2 filesystem"),
    (outside, "not on a cgroup2 filesystem"),
    (outside + "/files", "not on a cgroup2 filesystem"),
    (v1, "not on a cgroup2 filesystem"),
    ("/proc/self", "not on a cgroup2 filesystem"),
    ("/dev/shm", "not on a cgroup2 filesystem"),
    (cg + "/../../../../etc", "without . and .."),
    (cg + "/..", "without . and .."),
    (cg + "/./.", "without . and .."),
    ("/sys/fs/cgroup/unified/../../../../etc", "without . and .."),
    ("etc", "not an absolute path"),
    ("", "not an absolute path"),
    (outside + "/cg-link", "symbolic link"),
    (outside + "/cg-link/.", "without . and .."),
    (outside + "/dir-link/cg-link", "symbolic link"),
]
for where, why in hostile_dirs:
    for what in ["memory.max", "cgroup.freeze", "cpu.max"]:
        journal("refused", why, [("cgroup-write", where, what, "1")])

# ---- cgroup-remove: cgroups the agent never makes ----
for where, fault, why in [
        (cg, "planted", "not a cgroup the agent makes"),
        (cg, "canary", "not a cgroup the agent makes"),
        ("/", "memory", "not a cgroup the agent makes"),
        ("/etc", "memory", "not a cgroup the agent makes"),
        (outside, "memory", "not a cgroup the agent makes"),
        (outside + "/duress-memory-", "memory", "not a cgroup the agent makes"),
        (outside + "/duress-memory-1", "cpu", "not a cgroup the agent makes"),
        (outside + "/duress-network-1", "network", "not a cgroup the agent makes"),
        (outside + "/duress--1", "", "not a cgroup the agent makes"),
        (outside + "/duress-memory-1x", "memory", "not a cgroup the agent makes"),
        (outside + "/duress-memory-12", "memory", "symbolic link"),
        (outside + "/duress-cpu-1", "cpu", "not on a cgroup2 filesystem"),
        (outside + "/../duress-cpu-1", "cpu", "without . and .."),
        ("duress-cpu-1", "cpu", "not an absolute path")]:
    journal("refused", why, [("cgroup-remove", where, "", "", fault)])
# a cgroup the agent makes that is gone (none there): reverted as gone
journal("harmless", "", [("cgroup-remove", v1 + "/duress-cpu-2", "", "", "cpu")])

# ---- network records outside a namespace reference the agent writes ----
for where in ["/etc/passwd", "/proc/1/ns/net", "/proc/self/ns/net@1", "/proc/0/ns/net@5",
              "/proc/1/ns/net@0", "/proc/1/ns/net@1x", "/proc/1/ns/net@1/../../x", "1:2",
              "", "net:[4026531840]", "/proc/1/ns/mnt@4026531840", "/var/run/netns/x"]:
    for kind, what, value in [("qdisc", "lo root", "none"), ("link", "duress-ifb0", "ifb"),
                              ("tc-filter", "lo ffff: 49152", ""),
                              ("nft-table", "duress_x", "inet")]:
        journal("refused", "", [(kind, where, what, value)])
# well-formed references with bad objects
ref = "/proc/%s/ns/net@12345" % cpid
for kind, what, value, why in [
        ("link", "eth0", "ifb", "not an ifb device the agent makes"),
        ("link", "drs1.2", "veth", "not an ifb device the agent makes"),
        ("link", "lo", "", "not an ifb device the agent makes"),
        ("tc-filter", "lo root 1", "", "not a filter of the agent's priorities"),
        ("tc-filter", "lo", "", "not a filter of the agent's priorities"),
        ("nft-table", "filter", "inet", "not a table of duress's own"),
        ("nft-table", "duress_x", "ip", "not a table of duress's own"),
        ("qdisc", "lo", "none", "bad interface"),
        ("qdisc", "lo root", "rm -rf /", "saved tree")]:
    journal("refused", why, [(kind, ref, what, value)])
# a reference the agent could have written, but not to that namespace
# (the pid's namespace has another inode): gone, nothing touched
for kind, what, value in [("link", "drs1.2", "ifb"), ("nft-table", "duress_x", "inet")]:
    journal("harmless", "", [(kind, ref, what, value)])

# ---- processes: helpers that are not the agent's ----
for where, what, value, why in [
        (cpid, cstart, "sleep", "not one of the agent's helpers"),
        ("1", "1", "init", "not one of the agent's helpers"),
        ("-1", cstart, "duress-http", "not one of the agent's helpers"),
        ("0", "0", "duress-http", "not one of the agent's helpers"),
        (cpid + " ", cstart, "duress-http", "not one of the agent's helpers")]:
    journal("refused", why, [("helper", where, what, value)])
# the canary with the name of a helper: the replay finds it is not the
# agent's (its name) and leaves it alone
journal("harmless", "", [("helper", cpid, cstart, "duress-http")])
# cont: only the process with that pid and start time
for where, what in [("-1", "1"), ("0", "0"), ("1x", "1"), (cpid, "x")]:
    journal("refused", "not a pid and a start time", [("cont", where, what, "sleep")])
journal("harmless", "", [("cont", cpid, str(int(cstart) + 1), "sleep")])

# ---- kinds no fault records (no more a plain kill): never replayed ----
for kind, where, what in [("kill", cpid, cstart), ("kill", "1", "1"),
                          ("unlink", outside + "/files/canary", ""),
                          ("umount", outside + "/mnt", ""), ("rmdir", outside, ""),
                          ("exec", "/bin/sh", "-c")]:
    journal("refused", "unknown kind '%s'" % kind, [(kind, where, what, "")])

# ---- damaged journals: a hostile record after damage is never reached;
# one before it is refused ----
bad_tail = [
    b"deadbeef 2 ADD 1 cgroup-write x /etc passwd root\n",        # wrong CRC
    line("2 ADD 1 cgroup-write planted /etc passwd"),              # too few fields
    line("2 ADD 1 cgroup-write planted %ZZ memory.max 1"),        # bad escape
    line("2 ADD"),
    line("2 DONE"),
    line("2 BOGUS 1 2 3"),
    line(b"\xff\xfe\x00garbage\x01\x02"),
    line(" " * 5000),
    b"12345678",                                                   # torn, short
    line("2 ADD 1 cgroup-write planted /etc passwd root")[:-1],   # torn, no newline
    b"\n\n\n",
    os.urandom(4096),
]
for raw in bad_tail:
    journal("harmless", "", [], raw=raw)
    journal("refused", "is not a file a fault writes",
            [("cgroup-write", cg, "cgroup.procs", "1")], raw=raw)

# huge lengths: a where longer than PATH_MAX, a what longer than a name,
# a value of 1 MiB, 100000 records
journal("refused", "undo: record cgroup-write", [("cgroup-write", "/" + "a" * 5000, "memory.max", "1")])
journal("refused", "undo: record cgroup-write", [("cgroup-write", cg, "m" * 300, "1")])
journal("refused", "", [("cgroup-write", "/etc", "memory.max", "x" * (1 << 20))])
journal("refused", "", [("cgroup-write", "/etc", "memory.max", "1")] * 20000)
# duplicate sequence numbers and ids: each record is checked all the same
journal("refused", "is not a file a fault writes",
        [("cgroup-write", cg, "memory.max", "max"), ("cgroup-write", cg, "cgroup.procs", "1")],
        seqs=[1, 1], ids=[0, 0])
journal("refused", "is not a file a fault writes",
        [("cgroup-write", cg, "cgroup.procs", "1"), ("cgroup-write", cg, "memory.max", "max")],
        seqs=[7, 7], ids=[3, 3], raw=line("8 DONE 3"))
# larger than any journal the agent writes: refused without being read
journal("refused", "more than any journal the agent writes", [])
with open(os.path.join(jdir, "%d.undo" % (4000000 + n)), "r+b") as f:
    f.truncate(65 << 20)  # (sparse)
