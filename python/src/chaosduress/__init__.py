# SPDX-License-Identifier: MIT
"""chaosduress: the duress agent as a Chaos Toolkit extension.

Activities (``{"type": "python", "module": "chaosduress.actions", "func":
"inject_fault", "arguments": {...}}``):

- ``chaosduress.actions``: ``inject_fault``, ``stop_fault``,
  ``run_experiment``;
- ``chaosduress.probes``: ``sample``, ``metric``, ``fault_status``.

Each takes its arguments by keyword, plus Chaos Toolkit's
``configuration`` and ``secrets``.  Where the agent is:

- ``configuration.duress_url`` (``http://127.0.0.1:9100``) or
  ``configuration.duress_socket`` (a unix socket), else ``$DURESS_URL``,
  ``$DURESS_SOCKET``, else ``/run/duress/duress.sock``;
- the token: a secret ``duress_token`` (``"secrets": ["duress"]`` on the
  provider, ``{"duress": {"duress_token": {"type": "env", "key":
  "DURESS_TOKEN"}}}`` in the experiment), else
  ``configuration.duress_token_file``, else ``$DURESS_TOKEN``;
- ``configuration.duress_target``: the target of activities that name
  none (else ``$DURESS_TARGET``).

See docs/python.md.
"""

import inspect
import os
import threading

from duress import Client, __version__

__all__ = ["client", "target", "discover", "__version__"]

_clients = {}
_lock = threading.Lock()


def client(configuration=None, secrets=None):
    """The :class:`duress.Client` that ``configuration`` and ``secrets``
    describe (one per address and token in a process, so that the API's
    version is checked once)."""
    c = configuration or {}
    s = secrets or {}
    url = c.get("duress_url") or None
    sock = None if url else (c.get("duress_socket") or None)
    token = s.get("duress_token") or c.get("duress_token") or None
    token_file = None if token else (c.get("duress_token_file") or None)
    key = (url, sock, token, token_file)
    with _lock:
        cl = _clients.get(key)
        if cl is None:
            cl = _clients[key] = Client(socket=sock, url=url, token=token, token_file=token_file)
        return cl


def target(given=None, configuration=None):
    """The target an activity acts on: its own ``target`` argument, else
    ``configuration.duress_target``, else ``$DURESS_TARGET``."""
    t = given or (configuration or {}).get("duress_target") or os.environ.get("DURESS_TARGET")
    if not t:
        raise ValueError("no target: give the activity a target argument, or set "
                         "configuration.duress_target (cgroup:PATH, pid:N, container:ID)")
    return t


def _activities(module, kind):
    out = []
    for name, fn in inspect.getmembers(module, inspect.isfunction):
        if name.startswith("_") or fn.__module__ != module.__name__:
            continue
        args = []
        for p in inspect.signature(fn).parameters.values():
            if p.name in ("configuration", "secrets"):
                continue
            a = {"name": p.name}
            if p.default is not inspect.Parameter.empty:
                a["default"] = p.default
            if p.annotation is not inspect.Parameter.empty:
                a["type"] = getattr(p.annotation, "__name__", str(p.annotation))
            args.append(a)
        out.append({"type": kind, "module": module.__name__, "name": name,
                    "doc": inspect.getdoc(fn) or "", "arguments": args})
    return out


def discover(discover_system=True):
    """What ``chaos discover chaosduress`` lists: the extension and its
    activities with their arguments."""
    from . import actions, probes
    return {
        "extension": {"name": "chaosduress", "version": __version__,
                      "description": "faults, experiments and samples of the duress agent"},
        "activities": _activities(actions, "action") + _activities(probes, "probe"),
        "system": None,
    }
