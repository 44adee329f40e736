# SPDX-License-Identifier: MIT
"""The client against a fake agent: requests as docs/api.md says, every
error of the API as its typed exception with the API's message, the
version check, unreachable agents named, streams."""

import json
import os

import pytest

import duress
from duress import errors
from fakeagent import unused_socket_path


def test_version_and_package_version_are_the_repository_s():
    top = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "VERSION")
    with open(top) as f:
        assert duress.__version__ == f.read().strip()
    assert duress.API_VERSION == 1


def test_default_address_and_environment(tmp_path):
    assert duress.Client(environ={}).where == "unix:/run/duress/duress.sock"
    assert duress.Client(environ={"DURESS_SOCKET": "/x.sock"}).where == "unix:/x.sock"
    c = duress.Client(environ={"DURESS_URL": "http://127.0.0.1:9100", "DURESS_SOCKET": "/x"})
    assert c.where == "http://127.0.0.1:9100"
    assert duress.Client(url="unix:/y.sock", environ={}).where == "unix:/y.sock"
    with pytest.raises(ValueError, match="only scheme, host and port"):
        duress.Client(url="http://127.0.0.1:9100/v1", environ={})
    with pytest.raises(ValueError, match="expected http"):
        duress.Client(url="ftp://x", environ={})
    with pytest.raises(ValueError, match="not both"):
        duress.Client(socket="/a", url="http://b:1", environ={})


def test_version_check_once_then_requests(agent, client):
    assert client.faults() == []
    assert client.faults() == []
    assert len(agent.calls("GET", "/v1/version")) == 1
    assert client.agent_version == "0.1.0"
    assert client.has_feature("lease")
    ua = agent.calls("GET", "/v1/faults")[0]["headers"]["User-Agent"]
    assert ua == "duress-python/%s" % duress.__version__


def test_version_mismatch_names_both(agent, client):
    agent.api = 2
    agent.version = "9.0.0"
    with pytest.raises(errors.VersionMismatch) as e:
        client.faults()
    msg = str(e.value)
    assert "speaks API 2" in msg and "9.0.0" in msg and "speaks API 1" in msg
    assert duress.__version__ in msg
    assert e.value.agent_api == 2 and e.value.agent_version == "9.0.0"
    assert not agent.calls("GET", "/v1/faults"), "nothing else asked of a mismatched agent"


def test_agent_older_than_the_version_endpoint(agent, client):
    agent.routes[("GET", "/v1/version")] = lambda h, q, b: (
        404, {"error": "no such resource (see docs/api.md)", "status": 404})
    with pytest.raises(errors.VersionMismatch, match="has no GET /v1/version: it is older"):
        client.targets()


def test_missing_feature_is_said(agent, client):
    agent.features = []
    with pytest.raises(errors.VersionMismatch, match="'lease' feature"):
        client.start_fault("memory", "cgroup:/x", "1m", {"max": "64M"}, lease="10s")
    assert not agent.calls("POST", "/v1/faults")


def test_check_version_off(agent):
    agent.api = 7
    c = duress.Client(socket=agent.socket, check_version=False, environ={})
    assert c.faults() == []


@pytest.mark.parametrize("status,body,cls", [
    (400, {"error": "body: malformed JSON at line 1 column 9: x", "field": "body", "status": 400},
     errors.BadRequest),
    (404, {"error": "'x': no such job", "field": "id", "status": 404}, errors.NotFound),
    (405, {"error": "method PUT not allowed here (allowed: GET, POST)", "status": 405},
     errors.MethodNotAllowed),
    (409, {"error": "a memory fault is already in force on /sys/fs/cgroup/app (fault flt-1)",
           "field": "target", "status": 409}, errors.Conflict),
    (413, {"error": "body: larger than 1048576 bytes", "field": "body", "status": 413},
     errors.PayloadTooLarge),
    (422, {"error": "options.max: '64Q': unknown size suffix 'Q' (use K, M, G, T or %)",
           "field": "options.max", "status": 422}, errors.Invalid),
    (500, {"error": "fork: Resource temporarily unavailable", "status": 500}, errors.AgentError),
    (503, {"error": "the agent is stopping", "status": 503}, errors.AgentBusy),
])
def test_api_errors_are_typed_with_the_api_message(agent, client, status, body, cls):
    agent.routes[("POST", "/v1/faults")] = lambda h, q, b: (status, body)
    with pytest.raises(cls) as e:
        client.start_fault("memory", "cgroup:/x", "30s", {"max": "64Q"})
    assert isinstance(e.value, errors.APIError) and isinstance(e.value, errors.DuressError)
    assert str(e.value) == body["error"]
    assert e.value.status == status
    assert e.value.field == body.get("field")


def test_invalid_manifest_lists_every_problem(agent, client):
    problems = [{"line": 6, "column": 10, "message": "max: '64Q': unknown size suffix 'Q'",
                 "unsupported": False},
                {"line": 9, "column": 3, "message": "provider: python (m.f) cannot run",
                 "unsupported": True}]
    agent.routes[("POST", "/v1/experiments")] = lambda h, q, b: (422, {
        "error": "manifest.yaml: invalid experiment (2 problems)", "field": "body",
        "status": 422, "problems": problems})
    with pytest.raises(errors.Invalid) as e:
        client.start_experiment("name: x\n")
    assert e.value.problems == problems
    assert "line 6, column 10: max: '64Q'" in str(e.value)
    assert "line 9, column 3" in str(e.value)


def test_an_error_that_is_not_json(agent, client):
    agent.routes[("GET", "/v1/faults")] = lambda h, q, b: (502, "<html>Bad Gateway</html>",
                                                             "text/html")
    with pytest.raises(errors.AgentError, match="HTTP 502: <html>Bad Gateway"):
        client.faults()


def test_no_socket_is_unreachable_and_says_where(tmp_path):
    c = duress.Client(socket=str(tmp_path / "none.sock"), environ={})
    with pytest.raises(errors.Unreachable) as e:
        c.faults()
    assert "no socket at %s" % (tmp_path / "none.sock") in str(e.value)
    assert "duress serve" in str(e.value)
    assert e.value.where == "unix:%s" % (tmp_path / "none.sock")


def test_a_dead_socket_is_connection_refused(tmp_path):
    c = duress.Client(socket=unused_socket_path(tmp_path), environ={})
    with pytest.raises(errors.Unreachable, match="connection refused"):
        c.health()


def test_tcp_with_token(tcp_agent):
    c = duress.Client(url=tcp_agent.url, token="s3cret-token-0123456789", environ={})
    assert c.health()
    assert c.faults() == []
    assert tcp_agent.calls("GET", "/v1/faults")[0]["headers"]["Authorization"] == \
        "Bearer s3cret-token-0123456789"


def test_tcp_wrong_token_is_unauthorized(tcp_agent):
    c = duress.Client(url=tcp_agent.url, token="wrong", environ={})
    with pytest.raises(errors.Unauthorized, match="bearer token is required"):
        c.faults()


def test_token_file_and_environment(tcp_agent, tmp_path):
    tf = tmp_path / "token"
    tf.write_text("  s3cret-token-0123456789  \nsecond line\n")
    c = duress.Client(url=tcp_agent.url, environ={"DURESS_TOKEN_FILE": str(tf)})
    assert c.faults() == []
    c = duress.Client(environ={"DURESS_URL": tcp_agent.url,
                               "DURESS_TOKEN": "s3cret-token-0123456789"})
    assert c.faults() == []
    with pytest.raises(errors.DuressError, match="token file .*: "):
        duress.Client(url=tcp_agent.url, token_file=str(tmp_path / "nope"), environ={})


def test_start_fault_request(agent, client):
    job = client.start_fault("memory", "cgroup:/sys/fs/cgroup/app", 30, {"max": "64M",
                                                                          "hog_once": True},
                             id="t-1", force=True, interval=0.5, baseline="1s", lease="10s")
    assert job["id"] == "t-1" and job["state"] == "running"
    body = json.loads(agent.calls("POST", "/v1/faults")[0]["body"])
    assert body == {"fault": "memory", "target": "cgroup:/sys/fs/cgroup/app", "duration": "30s",
                    "options": {"max": "64M", "hog-once": True}, "id": "t-1", "force": True,
                    "interval": "0.5s", "baseline": "1s", "lease": "10s"}


def test_job_ids_are_checked_before_any_request(agent, client):
    with pytest.raises(ValueError, match="job id"):
        client.get_fault("../../etc")
    with pytest.raises(ValueError):
        client.stop_fault("a" * 33)
    assert not agent.calls("GET", "/v1/faults*")


def test_stop_and_renew(agent, client):
    job = client.start_fault("memory", "cgroup:/x", "5m", {"max": "64M"}, lease="10s")
    assert client.renew_fault(job["id"])["state"] == "running"
    assert agent.renewals[job["id"]] == 1
    end = client.stop_fault(job["id"])
    assert end["state"] == "exited" and end["exit_code"] == 8
    assert end["summary"]["reverted"] == 1


def test_experiment_bodies(agent, client, tmp_path):
    client.start_experiment({"title": "t", "description": "d", "method": []}, target="pid:1",
                            id="e-1", lease=10)
    r = agent.calls("POST", "/v1/experiments")[0]
    assert json.loads(r["body"])["title"] == "t"
    assert r["query"] == {"target": "pid:1", "id": "e-1", "lease": "10s"}
    assert r["headers"]["Content-Type"] == "application/json"
    p = tmp_path / "x.yaml"
    p.write_text("name: from a file\nmethod: []\n")
    client.start_experiment(p)
    r = agent.calls("POST", "/v1/experiments")[1]
    assert r["body"] == b"name: from a file\nmethod: []\n"
    assert r["headers"]["Content-Type"] == "application/yaml"
    with pytest.raises(TypeError):
        client.start_experiment(42)


def test_samples_list_and_stream(agent, client):
    s = client.samples(job="flt-1")
    assert [x["memory"]["current"] for x in s] == [1, 2, 3]
    stream = client.samples(job="flt-1", follow=True)
    got = [x["t"] for x in stream]
    assert got == [0.0, 1.0, 2.0]
    r = agent.calls("GET", "/v1/samples")[-1]
    assert r["query"] == {"job": "flt-1", "follow": "1"}
    with pytest.raises(ValueError):
        client.samples()


def test_sample_now(agent, client):
    s = client.sample("pid:42")
    assert s["target"] == "pid:42" and s["memory"]["current"] == 1000
    assert agent.calls("GET", "/v1/samples")[-1]["query"] == {"target": "pid:42", "now": "1"}


def test_metrics(agent, client):
    assert client.metric("duress_faults_active") == 1
    assert client.metric("duress_target_memory_current_bytes",
                         target="/sys/fs/cgroup/app") == 26431488
    assert client.metric("duress_target_memory_max_bytes") == float("inf")
    assert client.metric("duress_target_memory_current_bytes", target="/other") is None
    assert client.metric("nope") is None


def test_targets_and_wait(agent, client):
    assert client.targets()[0]["id"] == "abc"
    job = client.start_experiment("name: x\n")
    end = client.wait(job["id"], experiment=True, poll=0.01)
    assert end["state"] == "exited"
    agent.experiment_gets_to_end = 10 ** 6
    job = client.start_experiment("name: y\n")
    with pytest.raises(TimeoutError, match="still running"):
        client.wait(job["id"], experiment=True, timeout=0.05, poll=0.01)


def test_a_stream_waits_longer_than_the_request_timeout(agent, tmp_path):
    import duress as d
    agent.samples = [{"t": 0.0}, {"t": 1.0}]
    c = d.Client(socket=agent.socket, timeout=0.3, environ={})
    orig = agent.default

    def slow(h, q, b):
        if q.get("follow"):
            h.stream(agent.samples, delay=0.6)  # slower than the 0.3 s timeout
            return None
        return orig(h, q, b)
    agent.routes[("GET", "/v1/samples")] = slow
    assert [s["t"] for s in c.samples(job="flt-1", follow=True)] == [0.0, 1.0]
    with pytest.raises(errors.Unreachable, match="did not answer in time"):
        list(c.samples(job="flt-1", follow=True, timeout=0.2))
