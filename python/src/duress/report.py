# SPDX-License-Identifier: MIT
"""What a fault or an experiment did to its target, for people (lines of
text: pytest's report sections) and for CI (``(name, value)`` pairs:
JUnit properties).  Absent values are left out: absent is not zero."""

import json

from .metrics import flatten

__all__ = ["fault_lines", "fault_properties", "experiment_lines", "experiment_properties",
           "deviation_message", "size"]


def size(n):
    """1536 -> '1.5 KiB'."""
    if n is None:
        return "-"
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return ("%d %s" % (n, unit)) if unit == "B" else ("%.1f %s" % (n, unit))
        n /= 1024
    return "%g" % n


def _get(d, path):
    for k in path.split("."):
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def _options_text(options):
    return " ".join("%s=%s" % (k.replace("_", "-"), json.dumps(v) if not isinstance(v, str) else v)
                    for k, v in (options or {}).items())


# (label, key in a phase, how to show it)
_ROWS = [
    ("cpu usage avg (1 CPU=100)", "cpu.usage_pct_avg", lambda v: "%.1f%%" % v),
    ("cpu usage max", "cpu.usage_pct_max", lambda v: "%.1f%%" % v),
    ("cpu throttled", "cpu.throttled_usec", lambda v: "%.2f s" % (v / 1e6)),
    ("cpu throttled periods", "cpu.nr_throttled", str),
    ("memory.current peak", "memory.peak", size),
    ("oom kills", "memory.events.oom_kill", str),
    ("oom events", "memory.events.oom", str),
    ("memory.max hits", "memory.events.max", str),
    ("memory.high events", "memory.events.high", str),
    ("io read", "io.rbytes", size),
    ("io written", "io.wbytes", size),
    ("net received", "net.rx_bytes", size),
    ("net sent", "net.tx_bytes", size),
    ("net drops in / out", None, None),
    ("psi cpu some/full peak", "psi.cpu", None),
    ("psi memory some/full peak", "psi.memory", None),
    ("psi io some/full peak", "psi.io", None),
]


def _cell(phase, key, fmt, label):
    if label.startswith("net drops"):
        rx, tx = _get(phase, "net.rx_drops"), _get(phase, "net.tx_drops")
        return None if rx is None and tx is None else "%s / %s" % (rx, tx)
    v = _get(phase, key)
    if v is None:
        return None
    if key.startswith("psi."):
        return "%.1f / %.1f" % (v.get("some_avg10_peak", 0), v.get("full_avg10_peak", 0))
    return fmt(v)


def phase_table(before, during, after=None):
    """Rows of the phases side by side (only rows with a value)."""
    cols = [("before", before), ("during", during)] + ([("after", after)] if after else [])
    lines = ["  %-28s" % "" + "".join("%16s" % name for name, _ in cols)]
    for label, key, fmt in _ROWS:
        cells = [_cell(p or {}, key, fmt, label) for _, p in cols]
        if all(c is None for c in cells):
            continue
        lines.append("  %-28s" % label + "".join("%16s" % (c if c is not None else "-")
                                                 for c in cells))
    return lines


def fault_lines(f):
    """A fault handle's report."""
    job = f.final or f.job or {}
    s = job.get("summary") or {}
    head = "%s fault %s on %s" % (f.kind, f.id or "(not started)",
                                  job.get("target_dir") or f.target)
    opts = _options_text(f.options)
    if opts:
        head += " (%s)" % opts
    lines = [head]
    if not s:
        lines.append("  state %s, outcome %s (no summary)" % (job.get("state"), job.get("outcome")))
        return lines
    nr = s.get("not_reverted") or []
    lines.append("  in force %.2f s, ended by %s; %s change(s) reverted in %s ms, %d already gone, "
                 "%d NOT reverted" % (s.get("in_force_s") or 0, s.get("ended_by"),
                                      s.get("reverted"), s.get("revert_ms"),
                                      s.get("already_gone") or 0, len(nr)))
    for item in nr:
        lines.append("  NOT REVERTED: %s" % item)
    lines += phase_table(s.get("before"), s.get("during"))
    rep = s.get("fault_report") or {}
    if rep.get("netem"):
        lines.append("  netem: %s (%s)" % (rep["netem"], rep.get("direction", "egress")))
    for name, d in sorted((rep.get("interfaces") or {}).items()):
        dur = d.get("during") or {}
        eg = d.get("egress_netem") or {}
        parts = []
        if dur:
            parts.append("tx %s packets, %s dropped; rx %s packets, %s dropped in %s s"
                         % (dur.get("tx_packets"), dur.get("tx_dropped"), dur.get("rx_packets"),
                            dur.get("rx_dropped"), dur.get("seconds")))
        if eg:
            parts.append("netem dropped %s of %s packets" % (eg.get("drops"), eg.get("packets")))
        if parts:
            lines.append("  %s: %s" % (name, "; ".join(parts)))
    other = {k: v for k, v in rep.items() if k not in ("netem", "direction", "interfaces")}
    for k, v in sorted(flatten(other).items()):
        lines.append("  %s: %s" % (k, v))
    return lines


def _scalar(v):
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, (list, dict)):
        return json.dumps(v, separators=(",", ":"))
    return str(v)


_PROPS = [
    ("memory_peak_bytes", "during.memory.peak"),
    ("memory_peak_bytes_before", "before.memory.peak"),
    ("oom_kills", "during.memory.events.oom_kill"),
    ("oom_events", "during.memory.events.oom"),
    ("memory_max_events", "during.memory.events.max"),
    ("memory_high_events", "during.memory.events.high"),
    ("cpu_usage_pct_avg", "during.cpu.usage_pct_avg"),
    ("cpu_usage_pct_avg_before", "before.cpu.usage_pct_avg"),
    ("cpu_usage_pct_max", "during.cpu.usage_pct_max"),
    ("cpu_throttled_periods", "during.cpu.nr_throttled"),
    ("io_read_bytes", "during.io.rbytes"),
    ("io_written_bytes", "during.io.wbytes"),
    ("net_rx_drops", "during.net.rx_drops"),
    ("net_tx_drops", "during.net.tx_drops"),
]


def fault_properties(f, prefix=None):
    """``(name, value)`` pairs of a fault handle: ``duress.memory.oom_kills``
    and the like (``prefix`` replaces ``duress.<kind>``)."""
    job = f.final or f.job or {}
    s = job.get("summary") or {}
    p = prefix or "duress.%s" % f.kind
    props = [(p + ".id", f.id), (p + ".target", job.get("target_dir") or f.target)]
    if f.options:
        props.append((p + ".options", _options_text(f.options)))
    if job.get("outcome"):
        props.append((p + ".outcome", job.get("outcome")))
    for key in ("in_force_s", "ended_by", "reverted", "already_gone", "revert_ms"):
        if s.get(key) is not None:
            props.append((p + "." + key, s[key]))
    if s:
        props.append((p + ".not_reverted", len(s.get("not_reverted") or [])))
    thr = _get(s, "during.cpu.throttled_usec")
    if thr is not None:
        props.append((p + ".cpu_throttled_s", round(thr / 1e6, 3)))
    for name, path in _PROPS:
        v = _get(s, path)
        if v is not None:
            props.append((p + "." + name, v))
    for res in ("cpu", "memory", "io"):
        for which in ("some", "full"):
            v = _get(s, "during.psi.%s.%s_avg10_peak" % (res, which))
            if v is not None:
                props.append((p + ".psi_%s_%s_avg10_peak" % (res, which), v))
    rep = s.get("fault_report") or {}
    if rep.get("netem"):  # what the network fault added: delay, loss...
        props.append((p + ".netem", rep["netem"]))
    for k, v in sorted(flatten({k: v for k, v in rep.items() if k != "netem"}).items()):
        props.append((p + ".report." + k, v))
    return [(n, _scalar(v)) for n, v in props if v is not None]


def experiment_lines(x):
    job = x.final or x.job or {}
    j = job.get("journal") or {}
    d = j.get("duress") or {}
    title = job.get("title") or (j.get("experiment") or {}).get("title") or ""
    lines = ["experiment %s '%s' on %s: %s (exit %s)"
             % (x.id, title, (d.get("target") or {}).get("dir") or job.get("target") or "a sandbox",
                d.get("verdict") or job.get("outcome") or job.get("state"), job.get("exit_code"))]
    if d.get("abort"):
        lines.append("  aborted: %s" % d["abort"].get("reason"))
    rev = d.get("revert") or {}
    if rev:
        lines.append("  reverted %s change(s) in %s ms, %d NOT reverted"
                     % (rev.get("reverted"), rev.get("ms"), len(rev.get("not_reverted") or [])))
    for pr in d.get("probes") or []:
        lat = pr.get("latency_ms") or {}
        lines.append("  probe '%s': %s runs, %s failures, latency p50 %s ms, p95 %s ms"
                     % (pr.get("name"), pr.get("runs"), pr.get("failures"), lat.get("p50"),
                        lat.get("p95")))
    for ev in d.get("silent_failures") or []:
        lines.append("  silent failure: %s %s %s" % (ev.get("kind"), ev.get("value"),
                                                    ev.get("detail") or ""))
    ph = d.get("phases") or {}
    if ph:
        lines += phase_table(ph.get("before"), ph.get("during"), ph.get("after"))
    return lines


def experiment_properties(x, prefix="duress.experiment"):
    job = x.final or x.job or {}
    j = job.get("journal") or {}
    d = j.get("duress") or {}
    p = prefix
    props = [(p + ".id", x.id), (p + ".verdict", d.get("verdict")),
             (p + ".exit_code", job.get("exit_code")), (p + ".outcome", job.get("outcome"))]
    if d.get("abort"):
        props.append((p + ".abort", d["abort"].get("reason")))
    rev = d.get("revert") or {}
    if rev:
        props += [(p + ".revert_ms", rev.get("ms")), (p + ".reverted", rev.get("reverted")),
                  (p + ".not_reverted", len(rev.get("not_reverted") or []))]
    props.append((p + ".silent_failures", len(d.get("silent_failures") or [])))
    during = (d.get("phases") or {}).get("during") or {}
    for name, path in _PROPS:
        if path.startswith("during."):
            v = _get(during, path[len("during."):])
            if v is not None:
                props.append((p + "." + name, v))
    return [(n, _scalar(v)) for n, v in props if v is not None]


def _failed_probes(state):
    out = []
    for pr in (state or {}).get("probes") or []:
        if pr.get("tolerance_met") is False or pr.get("status") == "failed":
            name = (pr.get("activity") or {}).get("name", "probe")
            why = pr.get("exception")
            if isinstance(why, list):
                why = " ".join(str(w) for w in why)
            out.append("'%s' (%s)" % (name, why or "output %s" % json.dumps(pr.get("output"))))
    return out


def deviation_message(x):
    """Why an experiment's hypothesis did not hold, in one message."""
    job = x.final or x.job or {}
    j = job.get("journal") or {}
    d = j.get("duress") or {}
    title = job.get("title") or (j.get("experiment") or {}).get("title") or x.id
    verdict = d.get("verdict") or job.get("outcome")
    parts = ["experiment '%s' (%s): %s" % (title, x.id, verdict)]
    ss = j.get("steady_states") or {}
    if verdict == "not-steady-before":
        failed = _failed_probes(ss.get("before"))
        if failed:
            parts.append("the steady state did not hold before the method: " + ", ".join(failed))
    elif verdict == "deviated":
        failed = _failed_probes(ss.get("after"))
        if failed:
            parts.append("after the method: " + ", ".join(failed))
    if d.get("abort"):
        parts.append("aborted (%s) at %ss into the method: %s"
                     % (d["abort"].get("kind"), d["abort"].get("at_s"), d["abort"].get("reason")))
    for pr in d.get("probes") or []:
        if pr.get("failures"):
            parts.append("during the method probe '%s' failed %s of %s runs"
                         % (pr.get("name"), pr.get("failures"), pr.get("runs")))
    sil = d.get("silent_failures") or []
    if sil:
        parts.append("kernel events: " + ", ".join("%s %s" % (e.get("kind"), e.get("value"))
                                                   for e in sil))
    return "; ".join(parts)
