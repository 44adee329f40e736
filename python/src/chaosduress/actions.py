# SPDX-License-Identifier: MIT
"""Chaos Toolkit actions of the duress agent.

``inject_fault`` applies one fault (memory, cpu, io, disk-fill, freeze,
network) to a target and, by default, lasts as long as the fault: it
returns its summary once the fault ended and was reverted, as a fault
action of ``duress run`` does; with ``wait: false`` it returns once the
fault is in force and ``stop_fault`` (or the fault's duration) ends it.
``run_experiment`` runs a whole duress experiment and fails when its
hypothesis does not hold.
"""

import pathlib
import threading

from duress import errors
from duress.jobs import Experiment, Fault

from . import client as _client
from . import target as _target

__all__ = ["inject_fault", "stop_fault", "run_experiment"]

# faults started with wait=False whose lease this process renews, by id
_running = {}
_running_lock = threading.Lock()


def _summary(job):
    """What an action returns: the job as the agent shows it, without the
    log (the journal keeps the summary; the log is in the exception when
    something failed)."""
    return {k: v for k, v in (job or {}).items() if k != "log"}


def inject_fault(fault: str, target: str = None, duration: str = "30s", options: dict = None,
                 id: str = None, force: bool = False, baseline: str = None,
                 interval: str = None, wait: bool = True, lease: str = "10s",
                 configuration: dict = None, secrets: dict = None) -> dict:
    """Apply a fault of the duress agent to a target.

    fault: memory, cpu, io, disk-fill, freeze or network; options: its
    options by their long names, as on duress's command line ({"max":
    "64M"}, {"delay": "100ms", "to": ["10.0.0.0/8"]}); target: cgroup:PATH,
    pid:N or container:ID (default: configuration.duress_target); duration:
    how long it stays in force; id: a job id of your choice, for stop_fault
    and fault_status (default: the agent's); wait: true (default) returns
    the summary once the fault ended and was reverted, false returns once it
    is in force; lease: while this process runs it renews the fault's lease,
    so that a killed `chaos run` does not leave it in force (0: none).

    Returns the fault's job (id, state, with wait its summary: before and
    during usage, OOM kills, throttling, what was reverted).
    """
    cl = _client(configuration, secrets)
    h = Fault(cl, fault, _target(target, configuration), duration, options or {},
              lease=lease if lease else None, force=force, interval=interval,
              baseline=baseline, id=id)
    h.start()
    if not wait:
        with _running_lock:
            _running[h.id] = h
        return _summary(h.job)
    try:
        job = cl.wait(h.id, timeout=None)
    except BaseException:
        # interrupted (Ctrl-C, the run stopped): revert now
        h._stop_quietly()
        raise
    h._ended(job)
    h._check(job, ended_by_duration_ok=True)
    return _summary(job)


def stop_fault(id: str, configuration: dict = None, secrets: dict = None) -> dict:
    """Stop a fault now: the agent reverts everything it changed and answers
    once it has.  Returns its job with the summary; fails when something
    could not be reverted.  A fault that already ended is not an error."""
    with _running_lock:
        h = _running.pop(id, None)
    if h is not None:
        return _summary(h.stop())
    cl = _client(configuration, secrets)
    job = cl.stop_fault(id)
    if job.get("exit_code") == 7 or (job.get("summary") or {}).get("not_reverted"):
        raise errors.NotReverted("fault %s: NOT REVERTED: %s" % (
            id, "; ".join((job.get("summary") or {}).get("not_reverted") or [])), job)
    return _summary(job)


def run_experiment(path: str = None, manifest: dict = None, target: str = None, id: str = None,
                   timeout: float = 600, lease: str = "10s", fail_on_deviation: bool = True,
                   configuration: dict = None, secrets: dict = None) -> dict:
    """Run a duress experiment (a manifest file at path, or the manifest
    itself, ours or Chaos Toolkit's) on the agent and wait for its end.

    Returns {"id", "verdict", "exit_code", "journal"}; with
    fail_on_deviation (default) a hypothesis that did not hold (deviated,
    not steady before, aborted) fails the activity with the reason."""
    if (path is None) == (manifest is None):
        raise ValueError("run_experiment: give path or manifest")
    cl = _client(configuration, secrets)
    x = Experiment(cl, pathlib.Path(path) if path is not None else manifest,
                   target=target or (configuration or {}).get("duress_target"),
                   lease=lease if lease else None, id=id, timeout=timeout)
    x.start(fail_early=False)
    try:
        x.wait()
    except BaseException:
        x.stop()
        raise
    result = {"id": x.id, "verdict": x.verdict(), "exit_code": (x.final or {}).get("exit_code"),
              "journal": x.journal()}
    if fail_on_deviation:
        x.check()
    return result
