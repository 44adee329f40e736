# SPDX-License-Identifier: MIT
"""A client of the duress agent's HTTP API (``duress serve``, docs/api.md).

Standard library only: ``http.client`` over the agent's unix socket (by
default ``/run/duress/duress.sock``) or over TCP with a bearer token.  One
connection per request, so a client may be shared between threads (the
lease keepers of :mod:`duress.jobs` renew from threads of their own).
"""

import http.client
import json
import os
import socket
import ssl
import threading
import time
import urllib.parse

from . import errors
from ._version import API_VERSION, __version__
from .metrics import parse_prometheus, find_metric

DEFAULT_SOCKET = "/run/duress/duress.sock"
STOP_TIMEOUT = 90.0  # a DELETE is answered once the job reverted, at most 60 s (then 202)

__all__ = ["Client", "DEFAULT_SOCKET"]


class _UnixConnection(http.client.HTTPConnection):
    """HTTP over a unix stream socket."""

    def __init__(self, path, timeout):
        super().__init__("duress", timeout=timeout)
        self._path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.settimeout(self.timeout)
            s.connect(self._path)
        except BaseException:
            s.close()
            raise
        self.sock = s


def _read_token_file(path):
    try:
        with open(path, encoding="utf-8") as f:
            token = f.readline().strip()
    except OSError as e:
        raise errors.DuressError("token file %s: %s" % (path, e.strerror or e)) from None
    if not token:
        raise errors.DuressError("token file %s: the first line is empty" % path)
    return token


def _as_duration(v, what):
    """A duration for the API: "30s" as it is, a number as seconds."""
    if v is None:
        return None
    if isinstance(v, bool):
        raise TypeError("%s: expected a duration like \"30s\" or a number of seconds" % what)
    if isinstance(v, (int, float)):
        return "%gs" % v if v == v else None
    if isinstance(v, str):
        return v
    raise TypeError("%s: expected a duration like \"30s\" or a number of seconds, not %r"
                    % (what, v))


def option_name(key):
    """A fault option's name from a Python keyword: ``hog_once`` is
    ``hog-once`` (options are spelled with dashes, as on the command
    line)."""
    return key.replace("_", "-")


class Client:
    """The agent's API.

    ``Client()`` talks to ``$DURESS_URL`` if set, else to the unix socket
    ``$DURESS_SOCKET`` or ``/run/duress/duress.sock``; ``socket=PATH`` or
    ``url="http://127.0.0.1:9100"`` (``https://`` works too, ``unix:PATH``
    is a socket) choose explicitly.  ``token`` (else ``$DURESS_TOKEN``, or
    the first line of ``token_file`` / ``$DURESS_TOKEN_FILE``) is sent as
    ``Authorization: Bearer``.  ``timeout`` bounds each request (a DELETE,
    which the agent answers once the job reverted, gets at least 90 s).

    The first request checks the agent's API version (GET /v1/version)
    and raises :class:`~duress.errors.VersionMismatch` with both versions
    named when they disagree; ``check_version=False`` skips it.
    """

    def __init__(self, socket=None, url=None, token=None, *, token_file=None, timeout=30.0,
                 check_version=True, environ=None):
        env = os.environ if environ is None else environ
        if socket and url:
            raise ValueError("give socket or url, not both")
        if not socket and not url:
            url = env.get("DURESS_URL") or None
            if not url:
                socket = env.get("DURESS_SOCKET") or DEFAULT_SOCKET
        self._scheme = "unix"
        self._path = None
        self._host = None
        self._port = None
        if url and url.startswith("unix:"):
            socket, url = url[5:], None
        if url:
            u = urllib.parse.urlsplit(url)
            if u.scheme not in ("http", "https") or not u.hostname:
                raise ValueError("url %r: expected http://HOST:PORT, https://HOST:PORT or unix:PATH"
                                 % url)
            if u.path not in ("", "/") or u.query or u.fragment:
                raise ValueError("url %r: only scheme, host and port (the API's paths are fixed)"
                                 % url)
            self._scheme = u.scheme
            self._host = u.hostname
            self._port = u.port or (443 if u.scheme == "https" else 80)
            self.where = "%s://%s" % (u.scheme, u.netloc)
        else:
            self._path = os.fspath(socket)
            self.where = "unix:" + self._path
        if token is None:
            token = env.get("DURESS_TOKEN") or None
            if token is None:
                token_file = token_file or env.get("DURESS_TOKEN_FILE") or None
        if token is None and token_file:
            token = _read_token_file(token_file)
        self._token = token
        self.timeout = timeout
        self._check_version = check_version
        self._version = None
        self._version_lock = threading.Lock()

    def __repr__(self):
        return "duress.Client(%s)" % self.where

    # ---- transport ----

    def _connection(self, timeout):
        if self._scheme == "unix":
            return _UnixConnection(self._path, timeout)
        if self._scheme == "https":
            return http.client.HTTPSConnection(self._host, self._port, timeout=timeout,
                                               context=ssl.create_default_context())
        return http.client.HTTPConnection(self._host, self._port, timeout=timeout)

    def _unreachable(self, e):
        where = self.where
        if isinstance(e, FileNotFoundError):
            msg = ("cannot reach the duress agent: no socket at %s (is `duress serve` running? "
                   "--duress-socket, DURESS_SOCKET or DURESS_URL say where)" % self._path)
        elif isinstance(e, ConnectionRefusedError):
            msg = ("cannot reach the duress agent at %s: connection refused (nothing listens; "
                   "is `duress serve` running?)" % where)
        elif isinstance(e, PermissionError):
            msg = ("cannot reach the duress agent at %s: permission denied (the socket is the "
                   "agent's, mode 0600: run as its user, or over TCP with a token)" % where)
        elif isinstance(e, socket.timeout):
            msg = "the duress agent at %s did not answer in time (%s)" % (where, e)
        elif isinstance(e, (http.client.HTTPException, ConnectionError)):
            msg = "the duress agent at %s closed the connection: %s" % (where, e or type(e).__name__)
        else:
            msg = "cannot reach the duress agent at %s: %s" % (where, e)
        return errors.Unreachable(msg, where=where)

    def _send(self, method, path, query=None, body=None, content_type=None, timeout=None,
              stream=False):
        """One request.  Returns (status, headers, data), or with stream
        (conn, response) of a 2xx answer for the caller to read and close
        (stream: True for no limit on each read afterwards, or seconds).
        Raises the API's error as an exception."""
        if query:
            q = {k: v for k, v in query.items() if v is not None}
            if q:
                path = path + "?" + urllib.parse.urlencode(q)
        headers = {"Host": "duress", "Accept": "application/json",
                   "User-Agent": "duress-python/%s" % __version__}
        if self._scheme != "unix":
            headers["Host"] = "%s:%d" % (self._host, self._port)
        if self._token:
            headers["Authorization"] = "Bearer " + self._token
        if body is not None:
            if isinstance(body, str):
                body = body.encode("utf-8")
            headers["Content-Type"] = content_type or "application/json"
            headers["Content-Length"] = str(len(body))
        conn = self._connection(self.timeout if timeout is None else timeout)
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            if stream and 200 <= resp.status < 300:
                # connected and answered within the request's timeout; each
                # line of the stream then waits as long as `stream` says
                conn.sock.settimeout(stream if isinstance(stream, (int, float))
                                     and not isinstance(stream, bool) else None)
                return conn, resp
            data = resp.read()
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            raise self._unreachable(e) from e
        except BaseException:
            conn.close()
            raise
        conn.close()
        if resp.status >= 400:
            text = data.decode("utf-8", "replace")
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = text
            raise errors.api_error(resp.status, parsed)
        return resp.status, resp.headers, data

    def _json(self, method, path, query=None, payload=None, timeout=None, check=True):
        if check:
            self._ensure_version()
        body = None if payload is None else json.dumps(payload)
        status, _, data = self._send(method, path, query=query, body=body, timeout=timeout)
        try:
            return json.loads(data.decode("utf-8")) if data else None
        except ValueError:
            raise errors.DuressError("%s %s: the agent's answer is not JSON: %r"
                                     % (method, path, data[:200])) from None

    # ---- version ----

    def version(self):
        """GET /v1/version: ``{"version": "0.1.0", "api": 1, "features":
        [...]}``.  An agent older than the endpoint raises
        :class:`~duress.errors.VersionMismatch`."""
        try:
            return self._json("GET", "/v1/version", check=False)
        except errors.NotFound:
            raise errors.VersionMismatch(
                "the duress agent at %s has no GET /v1/version: it is older than this client "
                "(duress Python client %s speaks API %d); upgrade the agent, or use the client "
                "of the agent's own release" % (self.where, __version__, API_VERSION)) from None

    def _ensure_version(self):
        if not self._check_version or self._version is not None:
            return
        with self._version_lock:
            if self._version is None:
                v = self.version()
                api = v.get("api") if isinstance(v, dict) else None
                if api != API_VERSION:
                    raise errors.VersionMismatch(
                        "the duress agent at %s (release %s) speaks API %s; this client "
                        "(duress Python client %s) speaks API %d: install the Python client of "
                        "the agent's release (pip install ./python from duress %s)"
                        % (self.where, v.get("version"), api, __version__, API_VERSION,
                           v.get("version")),
                        agent_version=v.get("version"), agent_api=api)
                self._version = v

    @property
    def agent_version(self):
        """The agent's release (checked on first use)."""
        self._ensure_version()
        return (self._version or {}).get("version")

    def has_feature(self, name):
        """Whether the agent's API lists `name` (``"lease"``, ...)."""
        self._ensure_version()
        if self._version is None:  # check_version=False: ask
            return name in (self.version().get("features") or [])
        return name in (self._version.get("features") or [])

    def require_feature(self, name, what):
        if not self.has_feature(name):
            raise errors.VersionMismatch(
                "%s needs the agent's '%s' feature, which the agent at %s (release %s) lacks: "
                "upgrade the agent" % (what, name, self.where, self.agent_version))

    def health(self):
        """GET /healthz: True when the agent answers ``ok`` (no token
        needed); raises :class:`~duress.errors.Unreachable` otherwise."""
        status, _, data = self._send("GET", "/healthz")
        return status == 200 and data.strip() == b"ok"

    def check(self):
        """Reachable, authorized, same API: raise the error that says
        which is not (a cheap call for a test session's start)."""
        self._ensure_version()
        self._json("GET", "/v1/faults")

    # ---- faults ----

    def start_fault(self, fault, target, duration, options=None, *, id=None, force=False,
                    interval=None, baseline=None, lease=None):
        """POST /v1/faults: start one fault; returns the job (``id``,
        ``state``, ...).  ``options`` are the fault's options by their long
        names (``{"max": "64M"}``, ``{"hog-once": True}``, lists for
        repeatable ones); durations as text (``"30s"``) or seconds.
        ``lease`` ties the fault to this client: it must be renewed
        (:meth:`renew_fault`) more often than that, or the agent reverts it
        (:class:`~duress.jobs.Fault` does it for you)."""
        payload = {"fault": fault, "target": target,
                   "duration": _as_duration(duration, "duration")}
        if options:
            payload["options"] = {option_name(k): v for k, v in options.items()}
        if id is not None:
            payload["id"] = id
        if force:
            payload["force"] = True
        if interval is not None:
            payload["interval"] = _as_duration(interval, "interval")
        if baseline is not None:
            payload["baseline"] = _as_duration(baseline, "baseline")
        if lease is not None:
            self.require_feature("lease", "a fault tied to its client (lease)")
            payload["lease"] = _as_duration(lease, "lease")
        return self._json("POST", "/v1/faults", payload=payload)

    def faults(self):
        """GET /v1/faults: every fault job, oldest first."""
        return self._json("GET", "/v1/faults")

    def get_fault(self, id):
        """GET /v1/faults/ID: the job with its ``summary`` (once ended)
        and the end of its ``log``."""
        return self._json("GET", "/v1/faults/" + _job_id(id))

    def stop_fault(self, id):
        """DELETE /v1/faults/ID: stop it early; answered once it has
        reverted (``state: exited``, ``exit_code`` 8, the summary)."""
        return self._json("DELETE", "/v1/faults/" + _job_id(id),
                          timeout=max(self.timeout, STOP_TIMEOUT))

    def renew_fault(self, id):
        """POST /v1/faults/ID/lease: renew its lease; returns the job."""
        return self._json("POST", "/v1/faults/%s/lease" % _job_id(id), payload=None)

    # ---- experiments ----

    def start_experiment(self, manifest, *, target=None, id=None, lease=None):
        """POST /v1/experiments.  ``manifest`` is the manifest's text (YAML
        or JSON, ours or Chaos Toolkit's), a dict (sent as JSON) or a path
        (``pathlib.Path`` or any ``os.PathLike``: the file is read).
        ``target`` overrides the manifest's (as ``-t`` does)."""
        if isinstance(manifest, dict):
            body, ctype = json.dumps(manifest), "application/json"
        elif isinstance(manifest, os.PathLike):
            with open(manifest, "rb") as f:
                body = f.read()
            ctype = "application/json" if body.lstrip()[:1] == b"{" else "application/yaml"
        elif isinstance(manifest, (str, bytes)):
            body = manifest
            head = body.lstrip()[:1]
            ctype = "application/json" if head in ("{", b"{") else "application/yaml"
        else:
            raise TypeError("manifest: expected its text, a dict or a path, not %r"
                            % type(manifest).__name__)
        if lease is not None:
            self.require_feature("lease", "an experiment tied to its client (lease)")
        self._ensure_version()
        _, _, data = self._send("POST", "/v1/experiments", body=body, content_type=ctype,
                                query={"target": target, "id": id,
                                       "lease": _as_duration(lease, "lease")})
        return json.loads(data.decode("utf-8"))

    def experiments(self):
        """GET /v1/experiments."""
        return self._json("GET", "/v1/experiments")

    def get_experiment(self, id):
        """GET /v1/experiments/ID: with its ``journal`` once it ended."""
        return self._json("GET", "/v1/experiments/" + _job_id(id))

    def stop_experiment(self, id):
        """DELETE /v1/experiments/ID (answered once it reverted)."""
        return self._json("DELETE", "/v1/experiments/" + _job_id(id),
                          timeout=max(self.timeout, STOP_TIMEOUT))

    def renew_experiment(self, id):
        """POST /v1/experiments/ID/lease."""
        return self._json("POST", "/v1/experiments/%s/lease" % _job_id(id), payload=None)

    def wait(self, id, experiment=False, timeout=None, poll=0.2):
        """Wait until job ``id`` has exited; returns it (with its summary
        or journal).  Raises ``TimeoutError`` after ``timeout`` seconds."""
        get = self.get_experiment if experiment else self.get_fault
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            job = get(id)
            if job.get("state") == "exited":
                return job
            if end is not None and time.monotonic() >= end:
                raise TimeoutError("%s %s still %s after %gs"
                                   % ("experiment" if experiment else "fault", id,
                                      job.get("state"), timeout))
            time.sleep(poll)

    # ---- what the agent sees ----

    def targets(self):
        """GET /v1/targets: the containers on the host, with their usage
        (``duress targets --format json``)."""
        return self._json("GET", "/v1/targets", timeout=max(self.timeout, 15.0))

    def samples(self, target=None, job=None, *, last=None, follow=False, timeout=None):
        """GET /v1/samples: the samples of a target under a job (the
        agent's own, 1 Hz) or of a job (its own file, with ``phase``), as
        dicts.  Without ``follow``, a list; with ``follow=True``, an
        iterator that yields each sample as it comes and ends with the job
        (close it to stop early).  ``timeout`` bounds the wait for each
        line of a stream (default: none)."""
        if (target is None) == (job is None):
            raise ValueError("samples: give target or job")
        query = {"target": target, "job": job, "last": last}
        if not follow:
            self._ensure_version()
            _, _, data = self._send("GET", "/v1/samples", query=query)
            return [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]
        query["follow"] = "1"
        return self._stream(query, timeout)

    def _stream(self, query, timeout):
        self._ensure_version()
        conn, resp = self._send("GET", "/v1/samples", query=query,
                                stream=timeout if timeout is not None else True)
        try:
            while True:
                try:
                    line = resp.readline()
                except (OSError, http.client.HTTPException) as e:
                    raise self._unreachable(e) from e
                if not line:
                    return
                line = line.strip()
                if line:
                    yield json.loads(line.decode("utf-8"))
        finally:
            conn.close()

    def sample(self, target):
        """One sample of any target taken now by the agent (GET
        /v1/samples?target=SPEC&now=1): the schema of docs/samples.md with
        ``target`` (its cgroup directory) added.  CPU usage (``cpu.
        usage_pct``) is there only when the agent also samples the target
        for a job (it needs a previous sample)."""
        self.require_feature("sample-now", "a sample of any target")
        _, _, data = self._send("GET", "/v1/samples", query={"target": target, "now": "1"})
        lines = [line for line in data.decode("utf-8").splitlines() if line.strip()]
        if not lines:
            raise errors.DuressError("the agent sent no sample of %s" % target)
        return json.loads(lines[-1])

    def metrics(self):
        """GET /metrics: the Prometheus text."""
        self._ensure_version()
        _, _, data = self._send("GET", "/metrics")
        return data.decode("utf-8")

    def metric(self, name, **labels):
        """The value of the first series of metric ``name`` whose labels
        include ``labels`` (``metric("duress_target_memory_current_bytes",
        target="/sys/fs/cgroup/app")``), or None when there is none
        (absent is not zero)."""
        return find_metric(parse_prometheus(self.metrics()), name, **labels)

    # ---- high level: faults and experiments as context managers ----

    def fault(self, fault, target=None, duration="5m", *, lease="10s", force=False, interval=None,
              baseline=None, id=None, in_force_timeout=60.0, **options):
        """A fault as a context manager (:class:`duress.jobs.Fault`):
        started and in force when the block begins, reverted when it ends,
        whatever happens::

            with client.fault("memory", target="cgroup:/sys/fs/cgroup/app", max="64M") as f:
                ...
            print(f.summary()["during"]["memory"]["events"]["oom_kill"])

        Options are keywords (``hog_once=True`` is ``--hog-once``).
        ``duration`` bounds it (the agent reverts it then, the block still
        runs); ``lease`` (None: none) ties it to this process, so that a
        killed test run leaves it in force at most that long."""
        from .jobs import Fault
        return Fault(self, fault, target, duration, options, lease=lease, force=force,
                     interval=interval, baseline=baseline, id=id,
                     in_force_timeout=in_force_timeout)

    def experiment(self, manifest, *, target=None, lease="10s", id=None, timeout=600.0,
                   start_timeout=120.0):
        """An experiment as a context manager (:class:`duress.jobs.
        Experiment`): the block runs while its method is under way; the
        end of the block waits for the experiment's end and raises
        :class:`~duress.errors.Deviated` when its hypothesis did not
        hold."""
        from .jobs import Experiment
        return Experiment(self, manifest, target=target, lease=lease, id=id, timeout=timeout,
                          start_timeout=start_timeout)


def _job_id(id):
    id = str(id)
    if not id or len(id) > 32 or not all(c.isalnum() and c.isascii() or c == "-" for c in id):
        raise ValueError("job id %r: expected 1 to 32 letters, digits or '-'" % id)
    return id
