# SPDX-License-Identifier: MIT
"""Faults and experiments as context managers that always revert.

:class:`Fault` starts one fault, returns once it is in force, and stops it
(DELETE: the agent reverts everything and answers once it has) when the
block ends, however it ends: normally, by an exception, by Ctrl-C.  When
the whole process dies (SIGKILL, a CI runner cancelled) its ``lease``
does it: a thread of this process renews the lease, and the agent reverts
the fault once renewals stop for that long (docs/api.md, leases).  The
fault's ``duration`` bounds it in every case.
"""

import threading
import time
import warnings

from . import errors
from .report import fault_lines, fault_properties, experiment_lines, deviation_message

__all__ = ["Fault", "Experiment", "DuressWarning"]

# outcomes of a stopped or ended fault that mean "it ran, and everything is back"
_FAULT_OK = (0, 8)


class DuressWarning(UserWarning):
    """Something a test should know but that is not an error (a fault
    whose duration ran out before its block ended)."""


class _LeaseKeeper(threading.Thread):
    """Renews a job's lease from a thread of its own until stopped, the job
    ends, or the process dies (a daemon thread: it dies with it, and the
    agent reverts once the lease runs out)."""

    def __init__(self, renew, lease_s, name):
        super().__init__(name="duress-lease-" + name, daemon=True)
        self._renew = renew
        self.interval = max(0.2, min(lease_s / 5.0, 2.0))
        self._halt = threading.Event()
        self.last_error = None
        self.renewals = 0

    def run(self):
        while not self._halt.wait(self.interval):
            try:
                job = self._renew()
            except errors.NotFound:
                return
            except errors.DuressError as e:  # the next try may get through
                self.last_error = e
                continue
            self.renewals += 1
            if job.get("state") != "running":
                return

    def stop(self):
        self._halt.set()


def _seconds(v):
    """A lease as seconds (None: no lease)."""
    if v is None or v is False:
        return None
    if isinstance(v, (int, float)):
        return float(v) if v > 0 else None
    text = str(v).strip()
    if text in ("", "0", "0s", "none"):
        return None
    units = (("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0))
    for suffix, mult in units:
        if text.endswith(suffix):
            try:
                return float(text[: -len(suffix)]) * mult
            except ValueError:
                break
    try:
        return float(text)
    except ValueError:
        raise ValueError("lease %r: expected a duration like \"10s\" (or 0 for none)" % v) from None


def _log_tail(job, lines=6):
    log = (job or {}).get("log") or ""
    tail = [line for line in log.strip().splitlines() if line.strip()][-lines:]
    return ("; its log: " + " | ".join(tail)) if tail else ""


class Fault:
    """One fault of the agent, as a context manager and a handle.

    ``with client.fault("memory", target=..., max="64M") as f:`` starts it
    (waiting until it is in force) and stops it at the end of the block.
    In and after the block: ``f.id``, ``f.status()``, ``f.samples()``
    (the job's own samples, with their ``phase``), ``f.target_samples()``
    (the agent's 1 Hz samples of the target); after it: ``f.summary()``
    (before/during usage, OOM kills, throttling, what was reverted).
    """

    def __init__(self, client, kind, target, duration, options, *, lease="10s", force=False,
                 interval=None, baseline=None, id=None, in_force_timeout=60.0, on_end=None):
        self.client = client
        self.kind = kind
        self.target = target
        self.duration = duration
        self.options = dict(options or {})
        self.lease = lease
        self.force = force
        self.interval = interval
        self.baseline = baseline
        self.requested_id = id
        self.in_force_timeout = in_force_timeout
        self.on_end = list(on_end or [])
        self.id = None
        self.job = None  # the latest answer about it
        self.final = None  # the job once it ended (with its summary)
        self.error = None  # what stopping it raised, if anything
        self._keeper = None
        self._block_end = None
        self._ended_cb = False

    def __repr__(self):
        return "<duress.Fault %s %s on %s>" % (self.id or "(not started)", self.kind, self.target)

    # ---- life ----

    def start(self):
        """Start it and wait until it is in force (its first sample in the
        ``during`` phase).  A fault that ends before (it could not be
        applied, its target vanished) raises :class:`~duress.errors.
        JobFailed` with the end of its log."""
        if self.id is not None:
            raise errors.DuressError("fault %s is already started" % self.id)
        if not self.target:
            raise ValueError("%s fault: no target (target=..., --duress-target or DURESS_TARGET)"
                             % self.kind)
        lease_s = _seconds(self.lease)
        self.job = self.client.start_fault(self.kind, self.target, self.duration, self.options,
                                           id=self.requested_id, force=self.force,
                                           interval=self.interval, baseline=self.baseline,
                                           lease=None if lease_s is None else self.lease)
        self.id = self.job["id"]
        if lease_s is not None:
            self._keeper = _LeaseKeeper(lambda: self.client.renew_fault(self.id), lease_s, self.id)
            self._keeper.start()
        try:
            self._wait_in_force()
        except BaseException:
            self._stop_quietly()
            raise
        return self

    def _wait_in_force(self):
        end = time.monotonic() + self.in_force_timeout
        delay = 0.02
        while True:
            job = self.client.get_fault(self.id)
            self.job = job
            if job.get("state") == "exited":
                self._ended(job)
                code = job.get("exit_code")
                summary = job.get("summary") or {}
                if code in _FAULT_OK and summary.get("in_force_s") is not None:
                    return  # so short it already ran out: it was in force
                raise errors.JobFailed(
                    "%s fault %s on %s ended before it was in force: %s (exit %s)%s"
                    % (self.kind, self.id, self.target, job.get("outcome"), code,
                       _log_tail(job)), job)
            if job.get("phase") in ("during", "after"):
                return
            if time.monotonic() >= end:
                raise errors.JobFailed(
                    "%s fault %s on %s: not in force %gs after it started (state %s)%s"
                    % (self.kind, self.id, self.target, self.in_force_timeout,
                       job.get("state"), _log_tail(job)), job)
            time.sleep(delay)
            delay = min(delay * 1.5, 0.25)

    def stop(self):
        """Stop it now (idempotent); returns the job as it ended, with its
        summary.  Raises :class:`~duress.errors.NotReverted` when something
        it changed could not be put back, :class:`~duress.errors.
        JobFailed` when it failed otherwise."""
        if self.final is not None or self.id is None:
            return self.final
        self._block_end = time.monotonic()
        if self._keeper:
            self._keeper.stop()
        job = self.client.stop_fault(self.id)
        if job.get("state") != "exited":  # 202: still reverting after 60 s
            job = self.client.wait(self.id, timeout=120.0)
        self._ended(job)
        self._check(job)
        return job

    def _stop_quietly(self):
        try:
            self.stop()
        except errors.DuressError:
            pass

    def _ended(self, job):
        self.job = job
        self.final = job
        if self._keeper:
            self._keeper.stop()
        if not self._ended_cb:
            self._ended_cb = True
            for cb in self.on_end:
                cb(self)

    def _check(self, job, ended_by_duration_ok=False):
        code, summary = job.get("exit_code"), job.get("summary") or {}
        if job.get("signal"):
            self.error = errors.NotReverted(
                "%s fault %s on %s: the agent's job was killed by signal %s: its guardian "
                "reverts what it changed (check the target)%s"
                % (self.kind, self.id, self.target, job.get("signal"), _log_tail(job)), job)
        elif code == 7 or summary.get("not_reverted"):
            self.error = errors.NotReverted(
                "%s fault %s on %s: NOT REVERTED: %s"
                % (self.kind, self.id, self.target,
                   "; ".join(summary.get("not_reverted") or []) or "see its log" + _log_tail(job)),
                job)
        elif (job.get("lease") or {}).get("expired"):
            k = self._keeper
            self.error = errors.JobFailed(
                "%s fault %s on %s: the agent stopped it before the block ended because its "
                "lease (%s) was not renewed in time (%d renewal(s) got through%s): part of the "
                "block ran without the fault" % (
                    self.kind, self.id, self.target, self.lease, k.renewals if k else 0,
                    "; the last one failed: %s" % k.last_error if k and k.last_error else ""),
                job)
        elif code not in _FAULT_OK:
            self.error = errors.JobFailed(
                "%s fault %s on %s ended %s (exit %s)%s"
                % (self.kind, self.id, self.target, job.get("outcome"), code, _log_tail(job)), job)
        if self.error:
            raise self.error
        if code == 0 and summary.get("ended_by") == "duration" and not ended_by_duration_ok:
            warnings.warn(DuressWarning(
                "%s fault %s on %s ended by its duration (%s) before the block did: the end of "
                "the block ran without it" % (self.kind, self.id, self.target,
                                              summary.get("for", self.duration))), stacklevel=4)

    def __enter__(self):
        if self.id is None:
            self.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        self.stop()
        return False

    # ---- what it did ----

    @property
    def in_force(self):
        """True while the agent keeps it in force."""
        if self.final is not None or self.id is None:
            return False
        job = self.client.get_fault(self.id)
        self.job = job
        if job.get("state") == "exited":
            self._ended(job)
            return False
        return job.get("state") == "running"

    def status(self):
        """The job as the agent shows it now (GET /v1/faults/ID)."""
        self.job = self.client.get_fault(self.id)
        return self.job

    def samples(self, follow=False):
        """The job's own samples (``phase``: before, during, after)."""
        return self.client.samples(job=self.id, follow=follow)

    def target_samples(self, last=None):
        """The agent's own samples of the target (1 Hz, the last 120)."""
        return self.client.samples(target=(self.job or {}).get("target_dir") or self.target,
                                   last=last)

    def summary(self):
        """The summary ``duress inject --summary`` writes: ``before`` and
        ``during`` usage (``memory.peak``, ``memory.events.oom_kill``,
        ``cpu.throttled_usec``, PSI peaks...), ``in_force_s``, ``reverted``,
        ``not_reverted``, ``fault_report``.  Exists once the fault ended."""
        if self.final is None:
            if self.id is not None and self.status().get("state") == "exited":
                self._ended(self.job)
            else:
                raise errors.DuressError(
                    "%s fault %s is still in force: its summary exists once it ends (after the "
                    "with block, or stop())" % (self.kind, self.id))
        return self.final.get("summary") or {}

    def report(self):
        """What the target went through, as lines of text."""
        return fault_lines(self)

    def properties(self, prefix=None):
        """The summary as ``(name, value)`` pairs (JUnit properties)."""
        return fault_properties(self, prefix)


class Experiment:
    """An experiment of the agent around a block of code.

    The block begins once the experiment's method is under way (its
    phase ``during``); at its end the experiment is awaited (``timeout``)
    and :class:`~duress.errors.Deviated` is raised, with the deviation in
    its message, when the hypothesis did not hold.  A block that raises
    stops the experiment (it reverts) instead of waiting for it.
    """

    def __init__(self, client, manifest, *, target=None, lease="10s", id=None, timeout=600.0,
                 start_timeout=120.0, on_end=None):
        self.client = client
        self.manifest = manifest
        self.target = target
        self.lease = lease
        self.requested_id = id
        self.timeout = timeout
        self.start_timeout = start_timeout
        self.on_end = list(on_end or [])
        self.id = None
        self.job = None
        self.final = None
        self._keeper = None
        self._ended_cb = False

    def __repr__(self):
        return "<duress.Experiment %s>" % (self.id or "(not started)")

    def start(self, fail_early=True):
        """Start it and wait until its method is under way.  One that ended
        before (its steady state did not hold before the method) raises
        :class:`~duress.errors.Deviated` at once, unless ``fail_early`` is
        false (then :meth:`check` says it)."""
        lease_s = _seconds(self.lease)
        self.job = self.client.start_experiment(self.manifest, target=self.target,
                                                id=self.requested_id,
                                                lease=None if lease_s is None else self.lease)
        self.id = self.job["id"]
        if lease_s is not None:
            self._keeper = _LeaseKeeper(lambda: self.client.renew_experiment(self.id), lease_s,
                                        self.id)
            self._keeper.start()
        try:
            end = time.monotonic() + self.start_timeout
            while True:
                job = self.client.get_experiment(self.id)
                self.job = job
                if job.get("state") == "exited":
                    self._ended(job)
                    if fail_early:
                        self.check()  # not steady before, or over already: say so
                    return self
                if job.get("phase") in ("during", "after"):
                    return self
                if time.monotonic() >= end:
                    raise errors.JobFailed("experiment %s: its method did not begin within %gs%s"
                                           % (self.id, self.start_timeout, _log_tail(job)), job)
                time.sleep(0.1)
        except BaseException:
            self.stop()
            raise

    def wait(self):
        """Wait for its end (at most ``timeout``, then it is stopped);
        returns the job with its journal."""
        if self.final is not None:
            return self.final
        try:
            job = self.client.wait(self.id, experiment=True, timeout=self.timeout)
        except TimeoutError:
            job = self.stop()
            raise errors.JobFailed("experiment %s did not end within %gs: stopped (reverted)"
                                   % (self.id, self.timeout), job) from None
        self._ended(job)
        return job

    def stop(self):
        """Stop it now (it reverts); returns the job."""
        if self.final is not None or self.id is None:
            return self.final
        if self._keeper:
            self._keeper.stop()
        job = self.client.stop_experiment(self.id)
        if job.get("state") != "exited":
            job = self.client.wait(self.id, experiment=True, timeout=120.0)
        self._ended(job)
        return job

    def _ended(self, job):
        self.job = job
        self.final = job
        if self._keeper:
            self._keeper.stop()
        if not self._ended_cb:
            self._ended_cb = True
            for cb in self.on_end:
                cb(self)

    def journal(self):
        """Its journal (Chaos Toolkit's journal.json plus ``duress``)."""
        return (self.final or self.job or {}).get("journal") or {}

    def verdict(self):
        """``held``, ``deviated``, ``not-steady-before``, ``aborted``,
        ``interrupted`` (None before it ended)."""
        return (self.journal().get("duress") or {}).get("verdict")

    def check(self):
        """Raise :class:`~duress.errors.Deviated` (or :class:`~duress.
        errors.NotReverted`, :class:`~duress.errors.JobFailed`) unless the
        hypothesis held."""
        job = self.final or {}
        code = job.get("exit_code")
        if job.get("signal") or code == 7:
            raise errors.NotReverted("experiment %s: %s%s" % (
                self.id, "killed by signal %s" % job.get("signal") if job.get("signal")
                else "something it changed was NOT REVERTED", _log_tail(job)), job)
        if code == 0:
            return
        if code in (1, 9):
            raise errors.Deviated(deviation_message(self), job)
        raise errors.JobFailed("experiment %s ended %s (exit %s)%s"
                               % (self.id, job.get("outcome"), code, _log_tail(job)), job)

    def report(self):
        return experiment_lines(self)

    def __enter__(self):
        if self.id is None:
            self.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.stop()
            return False
        self.wait()
        self.check()
        return False
