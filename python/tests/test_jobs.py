# SPDX-License-Identifier: MIT
"""Faults and experiments as context managers against the fake agent: in
force when the block starts, always stopped when it ends (normally, by an
exception, by Ctrl-C), leases renewed, failures with the agent's reasons."""

import time
import warnings

import pytest

import duress
from duress import errors


def test_fault_block_waits_until_in_force_then_reverts(agent, client):
    agent.in_force_after = 3
    with client.fault("memory", target="cgroup:/sys/fs/cgroup/app", max="64M", lease=None) as f:
        assert f.job["phase"] == "during"
        assert len(agent.calls("GET", "/v1/faults/" + f.id)) == 3
        assert not agent.calls("DELETE")
    assert [r["path"] for r in agent.calls("DELETE")] == ["/v1/faults/" + f.id]
    s = f.summary()
    assert s["during"]["memory"]["events"]["oom_kill"] == 1
    assert f.final["exit_code"] == 8


def test_fault_reverted_when_the_block_raises(agent, client):
    with pytest.raises(ZeroDivisionError):
        with client.fault("cpu", target="pid:1", workers=2, lease=None) as f:
            1 / 0
    assert len(agent.calls("DELETE")) == 1
    assert f.final["state"] == "exited"


def test_fault_reverted_on_ctrl_c(agent, client):
    with pytest.raises(KeyboardInterrupt):
        with client.fault("memory", target="pid:1", max="1G", lease=None):
            raise KeyboardInterrupt
    assert len(agent.calls("DELETE")) == 1


def test_summary_only_once_it_ended(agent, client):
    f = client.fault("memory", target="pid:1", max="1G", lease=None).start()
    with pytest.raises(errors.DuressError, match="still in force"):
        f.summary()
    assert f.in_force
    f.stop()
    assert f.stop() is f.final  # idempotent
    assert len(agent.calls("DELETE")) == 1
    assert not f.in_force


def test_lease_renewed_while_the_block_runs(agent, client):
    with client.fault("memory", target="pid:1", max="1G", lease="1s") as f:
        body = agent.calls("POST", "/v1/faults")[0]["body"]
        assert b'"lease": "1s"' in body
        time.sleep(0.7)
        n = agent.renewals.get(f.id, 0)
        assert n >= 2, "renewed every 0.2 s"
    time.sleep(0.5)
    assert agent.renewals.get(f.id, 0) <= n + 1, "renewals stop with the block"


def test_fault_that_ends_before_it_is_in_force(agent, client):
    agent.exit_before_in_force = (4, "unsupported",
                                  "duress: memory: the memory controller is not enabled\n")
    with pytest.raises(errors.JobFailed) as e:
        with client.fault("memory", target="pid:1", max="1G", lease=None):
            pytest.fail("the block must not run")
    msg = str(e.value)
    assert "ended before it was in force: unsupported (exit 4)" in msg
    assert "memory controller is not enabled" in msg
    assert e.value.job["exit_code"] == 4


def test_fault_never_in_force_is_stopped_after_the_timeout(agent, client):
    agent.in_force_after = 10 ** 6
    with pytest.raises(errors.JobFailed, match="not in force 0.3s after"):
        client.fault("memory", target="pid:1", max="1G", lease=None,
                     in_force_timeout=0.3).start()
    assert len(agent.calls("DELETE")) == 1


def test_not_reverted_is_an_error(agent, client):
    agent.delete_exit = 7
    with pytest.raises(errors.NotReverted, match="NOT REVERTED: memory.max of /sys/fs/cgroup/app"):
        with client.fault("memory", target="pid:1", max="1G", lease=None):
            pass


def test_a_fault_whose_duration_ran_out_warns(agent, client):
    def ended_by_duration(h, q, b):
        job = agent.jobs[h.path.rsplit("/", 1)[1]]
        agent._end(job, 0)
        job["summary"]["ended_by"] = "duration"
        job["summary"]["for"] = "1s"
        return 200, agent._public(job, full=True)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        with client.fault("memory", target="pid:1", duration="1s", max="1G", lease=None) as f:
            agent.routes[("DELETE", "/v1/faults/" + f.id)] = ended_by_duration
    assert any(issubclass(x.category, duress.DuressWarning) and "ended by its duration (1s)"
               in str(x.message) for x in w)


def test_no_target_is_said(client):
    with pytest.raises(ValueError, match="no target"):
        client.fault("memory", max="1G").start()


def test_report_and_properties(agent, client):
    with client.fault("memory", target="cgroup:/sys/fs/cgroup/app", max="64M", lease=None) as f:
        pass
    text = "\n".join(f.report())
    assert "memory fault %s on /sys/fs/cgroup/app (max=64M)" % f.id in text
    assert "in force 1.25 s" in text and "0 NOT reverted" in text
    assert "memory.current peak" in text and "60.0 MiB" in text
    props = dict(f.properties())
    assert props["duress.memory.oom_kills"] == "1"
    assert props["duress.memory.memory_peak_bytes"] == "62914560"
    assert props["duress.memory.cpu_throttled_s"] == "0.25"
    assert props["duress.memory.not_reverted"] == "0"
    assert props["duress.memory.psi_memory_some_avg10_peak"] == "40.5"
    assert props["duress.memory.report.hog_restarts"] == "2"
    assert "duress.memory.io_read_bytes" not in props, "absent is not zero"


def test_experiment_block_held(agent, client):
    with client.experiment("name: x\n", target="pid:1", lease=None) as x:
        assert x.job["phase"] == "during"
    assert x.verdict() == "held"
    assert not agent.calls("DELETE"), "waited for its end, not stopped"


def test_experiment_deviated_says_why(agent, client):
    agent.experiment_exit = 1
    with pytest.raises(errors.Deviated) as e:
        with client.experiment("name: x\n", lease=None):
            pass
    assert "deviated" in str(e.value)
    assert "'web answers' (status 503, expected 200)" in str(e.value)


def test_experiment_stopped_when_the_block_raises(agent, client):
    agent.experiment_gets_to_end = 10 ** 6
    with pytest.raises(RuntimeError):
        with client.experiment("name: x\n", lease=None):
            raise RuntimeError("test failed")
    assert len(agent.calls("DELETE")) == 1


def test_a_lease_that_ran_out_is_an_error(agent, client):
    def expired(h, q, b):
        job = agent.jobs[h.path.rsplit("/", 1)[1]]
        agent._end(job, 8)
        job["lease"]["expired"] = True
        return 200, agent._public(job, full=True)
    with pytest.raises(errors.JobFailed, match="lease \\(10s\\) was not renewed in time"):
        with client.fault("memory", target="pid:1", max="1G") as f:
            agent.routes[("DELETE", "/v1/faults/" + f.id)] = expired
