# SPDX-License-Identifier: MIT
"""duress: a client of the duress agent (``duress serve``), its pytest
plugin and, in the ``chaosduress`` package beside it, its Chaos Toolkit
extension.  Standard library only.  See docs/python.md.

    import duress

    agent = duress.Client()            # /run/duress/duress.sock, $DURESS_URL, $DURESS_SOCKET
    with agent.fault("memory", target="cgroup:/sys/fs/cgroup/app", duration="1m", max="64M") as f:
        ...                            # in force here, reverted afterwards, whatever happens
    print(f.summary()["during"]["memory"]["events"].get("oom_kill"))
"""

from ._version import API_VERSION, __version__
from .client import DEFAULT_SOCKET, Client
from .errors import (AgentBusy, AgentError, APIError, BadRequest, Conflict, Deviated, DuressError,
                     Invalid, JobFailed, MethodNotAllowed, NotFound, NotReverted, PayloadTooLarge,
                     Unauthorized, Unreachable, VersionMismatch)
from .jobs import DuressWarning, Experiment, Fault

__all__ = [
    "__version__", "API_VERSION", "DEFAULT_SOCKET", "Client", "Fault", "Experiment",
    "DuressWarning", "DuressError", "Unreachable", "VersionMismatch", "APIError", "BadRequest",
    "Unauthorized", "NotFound", "MethodNotAllowed", "Conflict", "PayloadTooLarge", "Invalid",
    "AgentError", "AgentBusy", "JobFailed", "NotReverted", "Deviated",
]
