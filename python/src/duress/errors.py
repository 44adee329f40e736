# SPDX-License-Identifier: MIT
"""The exceptions of the duress client.

Every error the agent's API answers (docs/api.md, "Errors") is raised as
the subclass of :class:`APIError` for its HTTP status, carrying the API's
own message (``str(e)``), the field it is about and, for an invalid
manifest, every problem with its line and column.
"""

__all__ = [
    "DuressError",
    "Unreachable",
    "VersionMismatch",
    "APIError",
    "BadRequest",
    "Unauthorized",
    "NotFound",
    "MethodNotAllowed",
    "Conflict",
    "PayloadTooLarge",
    "Invalid",
    "AgentError",
    "AgentBusy",
    "JobFailed",
    "NotReverted",
    "Deviated",
]


class DuressError(Exception):
    """Base of every error of this package."""


class Unreachable(DuressError):
    """Nothing answers where the agent should be (no socket, connection
    refused, timeout, permission denied).  ``where`` names the address."""

    def __init__(self, message, where=None):
        super().__init__(message)
        self.where = where


class VersionMismatch(DuressError):
    """The agent speaks another version of the API than this client, or
    lacks a feature the client was asked to use."""

    def __init__(self, message, agent_version=None, agent_api=None):
        super().__init__(message)
        self.agent_version = agent_version
        self.agent_api = agent_api


class APIError(DuressError):
    """An error answer of the API: ``status`` (HTTP), ``field`` (the
    request's field it is about, or None), ``message`` (the API's text),
    ``problems`` (an invalid manifest's list of ``{line, column, message,
    unsupported}``) and ``body`` (the whole JSON answer)."""

    status = None

    def __init__(self, message, status=None, field=None, problems=None, body=None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.field = field or None
        self.problems = list(problems or [])
        self.body = body

    def __str__(self):
        if not self.problems:
            return self.message
        lines = [self.message]
        for p in self.problems:
            lines.append("  line %s, column %s: %s" % (p.get("line"), p.get("column"), p.get("message")))
        return "\n".join(lines)


class BadRequest(APIError):
    """400: malformed JSON or YAML."""

    status = 400


class Unauthorized(APIError):
    """401: no bearer token, or a wrong one."""

    status = 401


class NotFound(APIError):
    """404: no such path, job or target under a job."""

    status = 404


class MethodNotAllowed(APIError):
    """405."""

    status = 405


class Conflict(APIError):
    """409: the id is taken, or the target already has that kind of fault
    in force (by this agent or another one)."""

    status = 409


class PayloadTooLarge(APIError):
    """413: a body over 1 MiB."""

    status = 413


class Invalid(APIError):
    """422: a well-formed request with a bad field (an unknown fault or
    option, a value out of range, a target that does not exist or that a
    guard rail refuses, an invalid manifest)."""

    status = 422


class AgentError(APIError):
    """500: the agent could not start the job."""

    status = 500


class AgentBusy(APIError):
    """503: the agent is stopping, or too many jobs run."""

    status = 503


_BY_STATUS = {c.status: c for c in (BadRequest, Unauthorized, NotFound, MethodNotAllowed,
                                    Conflict, PayloadTooLarge, Invalid, AgentError, AgentBusy)}


def api_error(status, body):
    """The exception for an error answer: ``body`` is its parsed JSON (or
    None when the answer was not JSON, e.g. from a proxy: ``text`` then)."""
    if isinstance(body, dict):
        message = body.get("error") or "HTTP %d" % status
        field = body.get("field")
        problems = body.get("problems")
    else:
        message = "HTTP %d: %s" % (status, (body or "").strip()[:300] or "no message")
        field = None
        problems = None
    cls = _BY_STATUS.get(status)
    if cls is None:
        cls = AgentError if status >= 500 else APIError
    return cls(message, status=status, field=field, problems=problems, body=body)


class JobFailed(DuressError):
    """A fault or experiment ended without doing what was asked: it could
    not be applied, its target vanished before it was in force, it was
    killed.  ``job`` is the job as the API shows it (with its ``log``)."""

    def __init__(self, message, job=None):
        super().__init__(message)
        self.job = job or {}


class NotReverted(JobFailed):
    """The job ended with something it changed not reverted (exit 7), or
    was killed (its guardian reverts; see the agent's log)."""


class Deviated(JobFailed):
    """An experiment's hypothesis did not hold (it deviated, was not
    steady before the method, or an abort condition fired)."""
