# SPDX-License-Identifier: MIT
"""Fixtures of the package's own tests: a fake agent (tests/fakeagent.py)
on a unix socket or loopback TCP, no real agent, no kernel."""

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
SRC = os.path.join(os.path.dirname(HERE), "src")
if os.path.isdir(SRC) and SRC not in sys.path:
    sys.path.insert(0, SRC)

from fakeagent import FakeAgent  # noqa: E402

pytest_plugins = ["pytester"]


@pytest.fixture
def agent(tmp_path):
    a = FakeAgent(tmp_path)
    yield a
    a.close()


@pytest.fixture
def tcp_agent(tmp_path):
    a = FakeAgent(tmp_path, tcp=True, token="s3cret-token-0123456789")
    yield a
    a.close()


@pytest.fixture
def client(agent):
    import duress
    return duress.Client(socket=agent.socket, environ={})


@pytest.fixture
def plugin_args(request):
    """What an inner pytest (pytester) needs to load the plugin: nothing
    when the package is installed (its pytest11 entry point), else -p."""
    if request.config.pluginmanager.has_plugin("duress.pytest_plugin"):
        return []
    return ["-p", "duress.pytest_plugin"]
