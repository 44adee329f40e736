# SPDX-License-Identifier: MIT
"""chaosduress called as Chaos Toolkit's python provider calls it
(tests/ctkcall.py): keyword arguments, the configuration, the secrets of
the groups the provider names; against the fake agent."""

import json
import time

import pytest

import chaosduress
import duress
import ctkcall
from chaosduress import actions, probes


def act(module, func, arguments=None, secrets=None, name="a"):
    prov = {"type": "python", "module": module, "func": func, "arguments": arguments or {}}
    if secrets is not None:
        prov["secrets"] = secrets
    return {"type": "action", "name": name, "provider": prov}


@pytest.fixture(autouse=True)
def fresh():
    chaosduress._clients.clear()
    probes._first.clear()
    actions._running.clear()


def conf(agent, **more):
    c = {"duress_socket": agent.socket, "duress_target": "cgroup:/sys/fs/cgroup/app"}
    c.update(more)
    return c


def test_every_activity_is_a_plain_function_that_binds():
    d = chaosduress.discover()
    names = {(a["module"], a["name"]) for a in d["activities"]}
    assert names == {("chaosduress.actions", "inject_fault"), ("chaosduress.actions", "stop_fault"),
                     ("chaosduress.actions", "run_experiment"), ("chaosduress.probes", "sample"),
                     ("chaosduress.probes", "metric"), ("chaosduress.probes", "fault_status")}
    for a in d["activities"]:
        required = {"inject_fault": {"fault": "memory"}, "stop_fault": {"id": "x"},
                    "run_experiment": {}, "metric": {"check": "a == 1"},
                    "fault_status": {"id": "x"}}.get(a["name"], {})
        ctkcall.validate(act(a["module"], a["name"], required))
    with pytest.raises(ctkcall.InvalidActivity):
        ctkcall.validate(act("chaosduress.actions", "inject_fault", {"fault": "memory", "maxx": 1}))
    assert json.dumps(d)  # chaos discover writes it as JSON


def test_inject_fault_waits_for_the_end_and_returns_the_summary(agent):
    agent.fault_gets_to_end = 3
    out = ctkcall.run(act("chaosduress.actions", "inject_fault",
                          {"fault": "memory", "duration": "2s", "options": {"max": "64M"}}),
                      conf(agent), {})
    body = json.loads(agent.calls("POST", "/v1/faults")[0]["body"])
    assert body["target"] == "cgroup:/sys/fs/cgroup/app", "configuration.duress_target"
    assert body["options"] == {"max": "64M"} and body["duration"] == "2s"
    assert body["lease"] == "10s"
    assert out["state"] == "exited" and out["summary"]["ended_by"] == "duration"
    assert "log" not in out
    assert not agent.calls("DELETE")
    json.dumps(out)  # it goes into the journal


def test_inject_fault_in_background_then_status_then_stop(agent):
    c = conf(agent)
    out = ctkcall.run(act("chaosduress.actions", "inject_fault",
                          {"fault": "network", "id": "ctk-net", "wait": False, "lease": "1s",
                           "options": {"delay": "100ms"}}), c, {})
    assert out["id"] == "ctk-net" and out["state"] == "running"
    assert ctkcall.run(act("chaosduress.probes", "fault_status", {"id": "ctk-net"}), c, {}) == \
        "running"
    time.sleep(0.5)
    assert agent.renewals.get("ctk-net", 0) >= 1, "this process keeps its lease"
    end = ctkcall.run(act("chaosduress.actions", "stop_fault", {"id": "ctk-net"}), c, {})
    assert end["exit_code"] == 8 and end["summary"]["not_reverted"] == []
    assert ctkcall.run(act("chaosduress.probes", "fault_status", {"id": "ctk-net"}), c, {}) == \
        "exited"


def test_stop_fault_of_another_process_and_not_reverted(agent):
    c = conf(agent)
    agent.delete_exit = 7
    # a fault started by another process: stopped through the API alone
    fid = duress.Client(socket=agent.socket, environ={}).start_fault(
        "memory", "pid:1", "1m", {"max": "1G"})["id"]
    with pytest.raises(ctkcall.ActivityFailed, match="NotReverted: fault .* NOT REVERTED"):
        ctkcall.run(act("chaosduress.actions", "stop_fault", {"id": fid}), c, {})
    assert len(agent.calls("DELETE")) == 1


def test_the_token_comes_from_the_named_secrets(tcp_agent):
    c = {"duress_url": tcp_agent.url}
    secrets = {"duress": {"duress_token": "s3cret-token-0123456789"}, "other": {"x": "y"}}
    out = ctkcall.run(act("chaosduress.probes", "sample",
                          {"target": "pid:1", "key": "memory.current"}, secrets=["duress"]),
                      c, secrets)
    assert out == 1000
    assert tcp_agent.calls("GET", "/v1/samples")[0]["headers"]["Authorization"] == \
        "Bearer s3cret-token-0123456789"
    chaosduress._clients.clear()
    with pytest.raises(ctkcall.ActivityFailed, match="Unauthorized"):
        # without "secrets" on the provider, none are passed
        ctkcall.run(act("chaosduress.probes", "sample", {"target": "pid:1"}), c, secrets)


def test_configuration_from_the_environment_and_substitution(agent, monkeypatch):
    monkeypatch.setenv("APP_CGROUP", "/sys/fs/cgroup/web")
    experiment_conf = ctkcall.load_configuration({
        "duress_socket": agent.socket,
        "app": {"type": "env", "key": "APP_CGROUP"}})
    ctkcall.run(act("chaosduress.probes", "sample", {"target": "cgroup:${app}"}),
                experiment_conf, {})
    assert agent.calls("GET", "/v1/samples")[0]["query"]["target"] == "cgroup:/sys/fs/cgroup/web"


def test_sample_and_metric_probes(agent):
    c = conf(agent)
    s = ctkcall.run(act("chaosduress.probes", "sample"), c, {})
    assert s["memory"]["current"] == 1000
    assert ctkcall.run(act("chaosduress.probes", "sample", {"key": "memory.max"}), c, {}) == "max"
    with pytest.raises(ctkcall.ActivityFailed, match="absent is not zero"):
        ctkcall.run(act("chaosduress.probes", "sample", {"key": "io.rbytes"}), c, {})
    m = act("chaosduress.probes", "metric", {"check": "memory.events.oom_kill == 0"})
    assert ctkcall.run(m, c, {}) is True
    assert ctkcall.run(act("chaosduress.probes", "metric", {"check": "memory.max == max"}),
                       c, {}) is True
    assert ctkcall.run(act("chaosduress.probes", "metric", {"check": "cpu.usage_pct < 1"}),
                       c, {}) is False
    with pytest.raises(ctkcall.ActivityFailed, match="expected a number"):
        ctkcall.run(act("chaosduress.probes", "metric", {"check": "memory.current <<"}), c, {})
    # increase() counts from the first sample this process took of the target
    inc = act("chaosduress.probes", "metric", {"check": "increase(memory.events.oom_kill) == 0"})
    assert ctkcall.run(inc, c, {}) is True
    agent.now_sample = json.loads(json.dumps(agent.now_sample))
    agent.now_sample["memory"]["events"]["oom_kill"] = 2
    assert ctkcall.run(inc, c, {}) is False
    assert ctkcall.run(m, c, {}) is False


def test_no_target_anywhere(agent, monkeypatch):
    monkeypatch.delenv("DURESS_TARGET", raising=False)
    with pytest.raises(ctkcall.ActivityFailed, match="no target"):
        ctkcall.run(act("chaosduress.probes", "sample"), {"duress_socket": agent.socket}, {})


def test_run_experiment(agent, tmp_path):
    c = conf(agent)
    p = tmp_path / "x.yaml"
    p.write_text("name: x\nmethod: []\n")
    out = ctkcall.run(act("chaosduress.actions", "run_experiment", {"path": str(p)}), c, {})
    assert out["verdict"] == "held" and out["exit_code"] == 0
    assert agent.calls("POST", "/v1/experiments")[0]["query"]["target"] == \
        "cgroup:/sys/fs/cgroup/app"
    agent.experiment_exit = 1
    with pytest.raises(ctkcall.ActivityFailed, match="Deviated: .*'web answers'"):
        ctkcall.run(act("chaosduress.actions", "run_experiment", {"path": str(p)}), c, {})
    out = ctkcall.run(act("chaosduress.actions", "run_experiment",
                          {"manifest": {"title": "t", "description": "d", "method": []},
                           "fail_on_deviation": False}), c, {})
    assert out["verdict"] == "deviated"


def test_a_whole_experiment_through_the_functions(agent):
    agent.fault_gets_to_end = 3
    experiment = {
        "title": "memory cap", "description": "d",
        "configuration": {"duress_socket": agent.socket,
                          "duress_target": "cgroup:/sys/fs/cgroup/app"},
        "steady-state-hypothesis": {"title": "no OOM kill", "probes": [
            {"type": "probe", "name": "no oom kill", "tolerance": True,
             "provider": {"type": "python", "module": "chaosduress.probes", "func": "metric",
                          "arguments": {"check": "increase(memory.events.oom_kill) == 0"}}}]},
        "method": [
            {"type": "action", "name": "cap memory",
             "provider": {"type": "python", "module": "chaosduress.actions",
                          "func": "inject_fault",
                          "arguments": {"fault": "memory", "duration": "2s",
                                        "options": {"max": "64M"}}}}],
    }
    verdict, records = ctkcall.run_experiment(experiment)
    assert verdict == "held", records
    assert [r[1] for r in records] == ["no oom kill", "cap memory", "no oom kill"]
