# SPDX-License-Identifier: MIT
"""The pytest plugin of duress (entry point ``pytest11``: ``duress``).

Fixtures: ``duress`` (a client bound to the test: faults and experiments
it starts are reported with the test and stopped when it ends) and
``duress_client`` (the session's plain :class:`duress.Client`).

Markers: ``@pytest.mark.duress("memory", target=..., max="50%")`` runs the
test function under a fault; ``@pytest.mark.duress_experiment("x.yaml")``
runs it while an experiment's method is under way and fails it when the
hypothesis deviates.

Every fault's summary goes into the test's report (a "duress" section) and
into its JUnit properties.  When the agent cannot be reached, tests that
need it are skipped with the reason (``--duress-required``: they fail).
See docs/python.md.
"""

import os
import pathlib

import pytest

from . import errors
from .client import Client, DEFAULT_SOCKET, option_name
from .jobs import Experiment, Fault
from .report import experiment_properties

_MARK_KEYS = ("target", "duration", "lease", "force", "interval", "baseline", "id",
              "in_force_timeout")
_EXP_KEYS = ("target", "lease", "id", "timeout", "start_timeout")


def pytest_addoption(parser):
    g = parser.getgroup("duress", "faults from the duress agent (docs/python.md)")
    g.addoption("--duress-socket", metavar="PATH", default=None,
                help="the agent's unix socket (default $DURESS_SOCKET, else %s)" % DEFAULT_SOCKET)
    g.addoption("--duress-url", metavar="URL", default=None,
                help="the agent over TCP, http://ADDR:PORT (default $DURESS_URL)")
    g.addoption("--duress-token", metavar="TOKEN", default=None,
                help="the agent's bearer token (default $DURESS_TOKEN; "
                     "prefer --duress-token-file, a command line is visible to others)")
    g.addoption("--duress-token-file", metavar="FILE", default=None,
                help="read the bearer token from FILE's first line (default $DURESS_TOKEN_FILE)")
    g.addoption("--duress-target", metavar="SPEC", default=None,
                help="the target of faults and markers that name none: cgroup:PATH, pid:N, "
                     "container:ID (default $DURESS_TARGET)")
    g.addoption("--duress-lease", metavar="DURATION", default=None,
                help="tie every fault to this test run: the agent reverts it when the run has "
                     "not renewed it for this long, e.g. after a kill -9 (default 10s; 0: off)")
    g.addoption("--duress-required", action="store_true", default=None,
                help="fail, not skip, the tests that need the agent when it cannot be reached "
                     "(default $DURESS_REQUIRED=1)")
    parser.addini("duress_socket", "the agent's unix socket", default=None)
    parser.addini("duress_url", "the agent over TCP, http://ADDR:PORT", default=None)
    parser.addini("duress_target", "the target of faults that name none", default=None)
    parser.addini("duress_lease", "lease of every fault (default 10s; 0: none)", default=None)
    parser.addini("duress_required", "fail instead of skip when the agent is unreachable",
                  type="bool", default=False)


class _Settings:
    """Where the agent is and what to do: the command line first, then the
    environment, then the ini file."""

    def __init__(self, config):
        env = os.environ

        def pick(opt, var, ini):
            v = config.getoption(opt)
            if v is None:
                v = env.get(var) or None
            if v is None and ini:
                v = config.getini(ini) or None
            return v

        self.url = pick("duress_url", "DURESS_URL", "duress_url")
        self.socket = None if self.url else pick("duress_socket", "DURESS_SOCKET", "duress_socket")
        self.token = pick("duress_token", "DURESS_TOKEN", None)
        self.token_file = None if self.token else pick("duress_token_file", "DURESS_TOKEN_FILE",
                                                       None)
        self.target = pick("duress_target", "DURESS_TARGET", "duress_target")
        lease = pick("duress_lease", "DURESS_LEASE", "duress_lease")
        self.lease = "10s" if lease is None else (None if str(lease).strip() in ("0", "0s", "")
                                                 else lease)
        req = config.getoption("duress_required")
        if req is None:
            req = env.get("DURESS_REQUIRED", "").lower() in ("1", "yes", "true")
        self.required = bool(req) or bool(config.getini("duress_required"))

    def where(self):
        if self.url:
            return self.url
        return "unix:" + (self.socket or DEFAULT_SOCKET)


class _Session:
    """The session's client and whether the agent answered."""

    def __init__(self, config):
        self.config = config
        self.settings = _Settings(config)
        self._client = None
        self._problem = None  # (skip?, message) once known bad
        self.ended = []  # (nodeid, handle) of every fault and experiment, for the summary

    def client(self):
        """The client, or skip / fail the test that asks for it."""
        if self._client is None and self._problem is None:
            s = self.settings
            try:
                c = Client(socket=s.socket, url=s.url, token=s.token, token_file=s.token_file)
                c.check()
                self._client = c
            except errors.Unreachable as e:
                self._problem = (True, str(e))
            except errors.Unauthorized as e:
                self._problem = (False, "the duress agent at %s refused the token: %s "
                                        "(--duress-token-file, DURESS_TOKEN)" % (s.where(), e))
            except (errors.DuressError, ValueError) as e:
                self._problem = (False, "duress: %s" % e)
        if self._client is not None:
            return self._client
        skippable, msg = self._problem
        if skippable and not self.settings.required:
            pytest.skip(msg)
        pytest.fail(msg + ("" if not skippable else " (--duress-required)"), pytrace=False)


_SESSION = pytest.StashKey()
_ITEM = pytest.StashKey()


def _session(config):
    return config.stash[_SESSION]


class _ItemState:
    def __init__(self):
        self.when = "setup"
        self.kinds = {}  # fault kind -> how many reported in this test
        self.open = []  # handles started through the fixture, not yet ended


def _item_state(item):
    st = item.stash.get(_ITEM, None)
    if st is None:
        st = item.stash[_ITEM] = _ItemState()
    return st


def _record(item, handle):
    """A fault or experiment ended: its report section and properties."""
    st = _item_state(item)
    text = "\n".join(handle.report())
    item.add_report_section(st.when, "duress", text)
    if isinstance(handle, Fault):
        n = st.kinds.get(handle.kind, 0) + 1
        st.kinds[handle.kind] = n
        prefix = "duress.%s" % handle.kind + ("" if n == 1 else "#%d" % n)
        props = handle.properties(prefix)
    else:
        n = st.kinds.get("experiment", 0) + 1
        st.kinds["experiment"] = n
        props = experiment_properties(handle, "duress.experiment" + ("" if n == 1 else "#%d" % n))
    item.user_properties.extend(props)
    _session(item.config).ended.append((item.nodeid, handle))
    if handle in st.open:
        st.open.remove(handle)


class DuressFixture:
    """The ``duress`` fixture: every method of :class:`duress.Client`, with
    faults and experiments bound to the test (reported with it, stopped
    when it ends, the session's target and lease as defaults)."""

    def __init__(self, client, item, settings):
        self._client = client
        self._item = item
        self._settings = settings

    def __getattr__(self, name):
        return getattr(self._client, name)

    def __repr__(self):
        return "<duress fixture: %r>" % self._client

    @property
    def client(self):
        """The plain client."""
        return self._client

    @property
    def target(self):
        """The session's default target (``--duress-target``), or None."""
        return self._settings.target

    def fault(self, fault, target=None, duration="5m", *, lease=..., **kwargs):
        """``with duress.fault("memory", target=..., max="64M") as f:``: see
        :meth:`duress.Client.fault`; the target defaults to
        ``--duress-target``, the lease to ``--duress-lease``."""
        item = self._item
        h = Fault(self._client, fault, target or self._settings.target, duration,
                  {k: v for k, v in kwargs.items() if k not in _MARK_KEYS},
                  lease=self._settings.lease if lease is ... else lease,
                  on_end=[lambda handle: _record(item, handle)],
                  **{k: v for k, v in kwargs.items() if k in _MARK_KEYS and k != "target"})
        _item_state(item).open.append(h)
        return h

    def start_fault_handle(self, fault, target=None, duration="5m", **kwargs):
        """A fault started now (not in a with block): stopped by the end of
        the test at the latest."""
        return self.fault(fault, target, duration, **kwargs).start()

    def experiment(self, manifest, *, target=None, lease=..., **kwargs):
        """``with duress.experiment("x.yaml"):``: see :meth:`duress.Client.
        experiment`; a str is a path (relative to the test's file first),
        the lease defaults to ``--duress-lease``."""
        item = self._item
        h = Experiment(self._client, _manifest(item, manifest),
                       target=target or self._settings.target,
                       lease=self._settings.lease if lease is ... else lease,
                       on_end=[lambda handle: _record(item, handle)], **kwargs)
        _item_state(item).open.append(h)
        return h


def _manifest(item, manifest):
    """A marker's or the fixture's manifest: a str or Path is a file, looked
    for beside the test's file, then under the rootdir, then as given."""
    if isinstance(manifest, (dict, bytes)) or (isinstance(manifest, str) and "\n" in manifest):
        return manifest
    p = pathlib.Path(manifest)
    if p.is_absolute():
        return p
    for base in (pathlib.Path(str(item.fspath)).parent, pathlib.Path(str(item.config.rootdir)),
                 pathlib.Path.cwd()):
        if (base / p).is_file():
            return base / p
    raise FileNotFoundError("duress_experiment: no manifest %s (looked beside %s, in %s and %s)"
                            % (manifest, item.fspath, item.config.rootdir, pathlib.Path.cwd()))


@pytest.fixture(scope="session")
def duress_client(request):
    """The session's :class:`duress.Client` (skips when the agent cannot be
    reached, unless --duress-required)."""
    return _session(request.config).client()


@pytest.fixture
def duress(request):
    """A :class:`duress.Client` bound to this test: ``duress.fault(...)``
    is a context manager that always reverts; faults started otherwise are
    stopped when the test ends; every summary goes into the report."""
    sess = _session(request.config)
    client = sess.client()
    fx = DuressFixture(client, request.node, sess.settings)
    yield fx
    st = _item_state(request.node)
    problems = []
    for h in list(reversed(st.open)):
        if h.id is None:
            st.open.remove(h)
            continue
        try:
            h.stop()
        except errors.DuressError as e:
            problems.append(str(e))
    if problems:
        pytest.fail("duress: at the end of the test: " + "; ".join(problems), pytrace=False)


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "duress(fault, target=None, duration='5m', lease=None, force=False, **options): run the "
        "test function under this fault of the duress agent, reverted when it ends "
        "(docs/python.md)")
    config.addinivalue_line(
        "markers",
        "duress_experiment(manifest, target=None, timeout=600, lease=None): run the test while "
        "this experiment's method is under way; fail it when the hypothesis does not hold "
        "(docs/python.md)")
    config.stash[_SESSION] = _Session(config)


def pytest_report_header(config):
    s = _session(config).settings
    return "duress: agent at %s%s%s" % (s.where(), ", target %s" % s.target if s.target else "",
                                         ", lease %s" % s.lease if s.lease else ", no lease")


def _marks(item):
    return list(item.iter_markers("duress")), list(item.iter_markers("duress_experiment"))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    st = _item_state(item)
    st.when = "setup"
    faults, exps = _marks(item)
    if faults or exps:
        _session(item.config).client()  # skip (or fail) before the fixtures when unreachable


def _mark_fault(item, mark, sess):
    args, kw = list(mark.args), dict(mark.kwargs)
    kind = args.pop(0) if args else kw.pop("fault", None)
    if not kind:
        raise pytest.UsageError("%s: @pytest.mark.duress needs the fault: "
                                "@pytest.mark.duress(\"memory\", max=\"64M\")" % item.nodeid)
    if args:
        raise pytest.UsageError("%s: @pytest.mark.duress takes one positional argument (the "
                                "fault), options by name" % item.nodeid)
    own = {k: kw.pop(k) for k in list(kw) if k in _MARK_KEYS}
    target = own.pop("target", None) or sess.settings.target
    lease = own.pop("lease", sess.settings.lease)
    duration = own.pop("duration", "5m")
    return Fault(sess.client(), kind, target, duration, {option_name(k): v for k, v in kw.items()},
                 lease=lease, on_end=[lambda h: _record(item, h)], **own)


def _mark_experiment(item, mark, sess):
    args, kw = list(mark.args), dict(mark.kwargs)
    manifest = args.pop(0) if args else kw.pop("manifest", None)
    if manifest is None or args:
        raise pytest.UsageError("%s: @pytest.mark.duress_experiment(\"path/to/x.yaml\", "
                                "target=...) takes the manifest's path" % item.nodeid)
    unknown = set(kw) - set(_EXP_KEYS)
    if unknown:
        raise pytest.UsageError("%s: @pytest.mark.duress_experiment: unknown argument(s) %s "
                                "(%s)" % (item.nodeid, ", ".join(sorted(unknown)),
                                          ", ".join(_EXP_KEYS)))
    kw.setdefault("lease", sess.settings.lease)
    kw["target"] = kw.get("target") or sess.settings.target
    return Experiment(sess.client(), _manifest(item, manifest),
                      on_end=[lambda h: _record(item, h)], **kw)


def _fail_outcome(outcome, exc):
    """Make the call phase fail with exc (pluggy >= 1.1 has force_exception;
    older ones take an exception raised after the yield)."""
    force = getattr(outcome, "force_exception", None)
    if force is not None:
        force(exc)
    else:
        raise exc


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    st = _item_state(item)
    st.when = "call"
    faults, exps = _marks(item)
    if not faults and not exps:
        yield
        return
    sess = _session(item.config)
    started = []
    try:
        for m in faults:
            h = _mark_fault(item, m, sess)
            h.start()
            started.append(h)
        for m in exps:
            x = _mark_experiment(item, m, sess)
            x.start()
            started.append(x)
    except BaseException as e:
        for h in reversed(started):
            try:
                h.stop()
            except errors.DuressError:
                pass
        if isinstance(e, errors.DuressError):
            raise pytest.fail.Exception("duress: %s" % e, pytrace=False) from e
        raise
    outcome = yield
    test_exc = outcome.excinfo[1] if outcome.excinfo else None
    problems = []
    for h in reversed(started):
        try:
            if isinstance(h, Experiment):
                if test_exc is not None:
                    h.stop()
                else:
                    h.wait()
                    h.check()
            else:
                h.stop()
        except errors.DuressError as e:
            problems.append(str(e))
    if problems:
        exc = pytest.fail.Exception("duress: " + "\n".join(problems), pytrace=False)
        if test_exc is not None:
            exc.__context__ = test_exc
        _fail_outcome(outcome, exc)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item):
    _item_state(item).when = "teardown"


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    sess = config.stash.get(_SESSION, None)
    if sess is None or not sess.ended:
        return
    tr = terminalreporter
    nf = sum(1 for _, h in sess.ended if isinstance(h, Fault))
    nx = len(sess.ended) - nf
    bad = [(nid, h) for nid, h in sess.ended if getattr(h, "error", None) is not None]
    tr.section("duress")
    tr.write_line("%d fault(s) and %d experiment(s) from the agent at %s; %s"
                  % (nf, nx, sess.settings.where(),
                     "all reverted" if not bad else "%d with a problem" % len(bad)))
    if config.getoption("verbose") > 0 or bad:
        for nid, h in sess.ended:
            tr.write_line("%s: %s" % (nid, h.report()[0]))
            if len(h.report()) > 1:
                tr.write_line("    " + h.report()[1].strip())
