# SPDX-License-Identifier: MIT
"""Chaos Toolkit probes of the duress agent.

``metric`` decides a metric expression of duress's manifests
(``memory.events.oom_kill == 0``, ``increase(memory.events.oom_kill) ==
0``, ``cpu.usage_pct < 95``) on a sample of the target taken now, and
returns true or false: give it ``"tolerance": true``.  ``sample`` returns
that sample, or one value of it (``key``: ``memory.current``) for a range
tolerance.  ``fault_status`` returns a fault's state (``running``,
``stopping``, ``exited``).
"""

import logging
import threading

from duress import errors
from duress.metrics import flatten, parse_expression

from . import client as _client
from . import target as _target

__all__ = ["sample", "metric", "fault_status"]

logger = logging.getLogger("chaostoolkit")

# increase(KEY) counts from the first sample this process took of a target
# through these probes (in a `chaos run`: the run's first probe of it)
_first = {}
_first_lock = threading.Lock()


def _sample_now(cl, spec):
    try:
        s = cl.sample(spec)
    except errors.VersionMismatch:
        # an agent without samples on demand: the last of its own, which
        # exist only for a target under a fault or experiment
        got = cl.samples(target=spec, last=1)
        if not got:
            raise errors.DuressError("no sample of %s yet" % spec) from None
        s = got[-1]
    with _first_lock:
        _first.setdefault((cl.where, spec), s)
    return s


def sample(target: str = None, key: str = None, configuration: dict = None,
           secrets: dict = None):
    """A sample of the target taken now by the agent (the schema of duress's
    docs/samples.md), or with key (a flattened key: memory.current,
    memory.events.oom_kill, cpu.usage_pct, psi.memory.some_avg10) its value.
    A key the sample lacks fails the probe (absent is not zero)."""
    cl = _client(configuration, secrets)
    spec = _target(target, configuration)
    s = _sample_now(cl, spec)
    if key is None:
        return s
    flat = flatten(s)
    if key not in flat:
        raise errors.DuressError("%s: not in the sample of %s (absent is not zero: the kernel "
                                 "or the target does not offer it)" % (key, spec))
    return flat[key]


def metric(check: str, target: str = None, configuration: dict = None,
           secrets: dict = None) -> bool:
    """Whether the metric expression check holds on a sample of the target
    taken now: KEY OP NUMBER or increase(KEY) OP NUMBER, OP one of == != < <=
    > >=, NUMBER a number or max (duress's own metric probe; increase()
    counts from the first sample of the target this process took).  Use it
    with "tolerance": true."""
    expr = parse_expression(check)
    cl = _client(configuration, secrets)
    spec = _target(target, configuration)
    s = _sample_now(cl, spec)
    with _first_lock:
        first = _first.get((cl.where, spec))
    holds, value, why = expr.evaluate(s, first)
    logger.info("duress metric on %s: %s (%s)", spec, why, "holds" if holds else "does not hold")
    return holds


def fault_status(id: str, configuration: dict = None, secrets: dict = None) -> str:
    """The state of fault id: running, stopping or exited (an unknown id
    fails the probe)."""
    return _client(configuration, secrets).get_fault(id).get("state")
