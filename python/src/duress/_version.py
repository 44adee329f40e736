# SPDX-License-Identifier: MIT
"""The package's version: the agent's.

The repository's ``VERSION`` file is the one source (the Makefile gives it
to the agent; ``python/VERSION`` links to it and setuptools reads it when
the package is built).  Run from a checkout (``PYTHONPATH=python/src``) the
file itself is read; installed, the distribution's metadata holds it.
"""

import os

API_VERSION = 1  # the version of the HTTP API this client speaks (GET /v1/version "api")


def _version():
    here = os.path.dirname(os.path.abspath(__file__))
    checkout = os.path.join(here, os.pardir, os.pardir, "VERSION")
    if os.path.isfile(checkout) and os.path.isfile(os.path.join(here, os.pardir, os.pardir,
                                                                "pyproject.toml")):
        with open(checkout, encoding="ascii") as f:
            return f.read().strip()
    try:
        from importlib.metadata import PackageNotFoundError, version
    except ImportError:  # pragma: no cover - python < 3.8
        return "unknown"
    try:
        return version("duress")
    except PackageNotFoundError:
        return "unknown"


__version__ = _version()
