# SPDX-License-Identifier: MIT
"""Reading what the agent measures: the Prometheus text of ``/metrics``,
samples flattened to dotted keys, and the metric expressions of duress's
manifests (``memory.current < 64M`` is written ``memory.current <
67108864``; see docs/manifests.md, "Metric expressions")."""

import math
import re

__all__ = ["parse_prometheus", "find_metric", "flatten", "Expression", "parse_expression"]

_SERIES = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$')
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')


def _unescape(v):
    out, i = [], 0
    while i < len(v):
        c = v[i]
        if c == "\\" and i + 1 < len(v):
            n = v[i + 1]
            out.append({"n": "\n", "\\": "\\", '"': '"'}.get(n, "\\" + n))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _number(text):
    t = text.strip()
    if t in ("+Inf", "Inf"):
        return math.inf
    if t == "-Inf":
        return -math.inf
    if t == "NaN":
        return math.nan
    return float(t)


def parse_prometheus(text):
    """The series of a Prometheus text exposition (version 0.0.4) as a
    list of ``(name, labels, value)``; comments and blank lines skipped.
    A line that is not a series raises ``ValueError`` naming it."""
    series = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = _SERIES.match(line)
        if not m:
            raise ValueError("metrics line %d: not a series: %r" % (n, line[:120]))
        labels = {}
        body = m.group(2)
        if body:
            pos = 0
            while pos < len(body):
                lm = _LABEL.match(body, pos)
                if not lm:
                    raise ValueError("metrics line %d: bad labels: %r" % (n, body[:120]))
                labels[lm.group(1)] = _unescape(lm.group(2))
                pos = lm.end()
        series.append((m.group(1), labels, _number(m.group(3))))
    return series


def find_metric(series, name, **labels):
    """The value of the first series named ``name`` whose labels include
    ``labels``; None when there is none."""
    for n, l, v in series:
        if n == name and all(l.get(k) == str(want) for k, want in labels.items()):
            return v
    return None


def flatten(sample, prefix=""):
    """A sample (or any nested dict) as ``{"memory.events.oom_kill": 0,
    ...}``: the keys of docs/samples.md's CSV format."""
    out = {}
    for k, v in sample.items():
        key = prefix + str(k)
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


_OPS = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<=": lambda a, b: a <= b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    ">": lambda a, b: a > b,
}
_EXPR = re.compile(r"^\s*(increase\(\s*([A-Za-z0-9_.:-]+)\s*\)|([A-Za-z0-9_.:-]+))\s*"
                   r"(==|!=|<=|>=|<|>)\s*(\S+)\s*$")


class Expression:
    """``KEY OP NUMBER`` or ``increase(KEY) OP NUMBER``: KEY a flattened
    sample key, OP one of ``== != < <= > >=``, NUMBER a number or
    ``max`` (an unlimited limit)."""

    def __init__(self, text, key, op, value, increase):
        self.text = text
        self.key = key
        self.op = op
        self.value = value
        self.increase = increase

    def __repr__(self):
        return "Expression(%r)" % self.text

    def evaluate(self, sample, first=None):
        """(holds, value, why): whether the expression holds on ``sample``,
        as duress's own metric probe decides it: ``max`` is infinity; a key
        the sample lacks does not hold (absent is not zero);
        ``increase(KEY)`` counts from ``first`` (from the sample itself
        when ``first`` lacks the key)."""
        v = _lookup(sample, self.key)
        if v is None:
            return False, None, ("%s: not in the sample (absent is not zero: the kernel or the "
                                 "target does not offer it)" % self.key)
        if self.increase:
            base = _lookup(first, self.key) if first is not None else None
            v = v - (v if base is None else base)
        holds = _OPS[self.op](v, self.value)
        shown = "max" if v == math.inf else _fmt(v)
        return holds, ("max" if v == math.inf else v), "%s: %s is %s" % (self.text, self.key,
                                                                          shown)


def _lookup(sample, key):
    """A flattened key's number ("max": infinity), or None."""
    v = flatten(sample).get(key)
    if v == "max":
        return math.inf
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return v


def _fmt(v):
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def parse_expression(text):
    """An :class:`Expression` from its text; ``ValueError`` naming what is
    wrong."""
    if not isinstance(text, str):
        raise ValueError("check: expected a text like \"memory.events.oom_kill == 0\"")
    m = _EXPR.match(text)
    if not m:
        raise ValueError("check: %r: expected KEY OP NUMBER or increase(KEY) OP NUMBER, OP one "
                         "of == != < <= > >=" % text)
    key = m.group(2) or m.group(3)
    raw = m.group(5)
    if raw == "max":
        value = math.inf
    else:
        try:
            value = float(raw) if "_" not in raw else math.nan
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise ValueError("check: %r: expected a number (or max) after the comparison, not %r"
                             % (text, raw))
    return Expression(text.strip(), key, m.group(4), value, bool(m.group(2)))
