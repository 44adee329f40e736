# SPDX-License-Identifier: MIT
"""The pytest plugin, in pytest sessions of its own (pytester) against the
fake agent: fixtures, markers, faults always stopped (a failing test,
Ctrl-C), report sections, JUnit properties, skip or --duress-required."""

import json
import xml.etree.ElementTree as ET

import pytest


def run(pytester, agent, plugin_args, *args, **kw):
    return pytester.runpytest("--duress-socket", agent.socket, "-p", "no:cacheprovider",
                              *plugin_args, *args, **kw)


def junit_props(path):
    root = ET.parse(str(path)).getroot()
    out = {}
    for tc in root.iter("testcase"):
        out[tc.get("name")] = {p.get("name"): p.get("value") for p in tc.iter("property")}
    return out


def test_fixture_fault_failing_test_is_reverted_and_reported(pytester, agent, plugin_args):
    pytester.makepyfile("""
        def test_under_memory(duress):
            with duress.fault("memory", target="cgroup:/sys/fs/cgroup/app", max="64M") as f:
                assert f.job["phase"] == "during"
                assert False, "the service fell over"

        def test_passes(duress):
            with duress.fault("cpu", target="pid:1", workers=1):
                pass
    """)
    junit = pytester.path / "junit.xml"
    r = run(pytester, agent, plugin_args, "--junitxml", str(junit))
    r.assert_outcomes(failed=1, passed=1)
    assert len(agent.calls("DELETE")) == 2, "both faults stopped, the failing test's too"
    r.stdout.fnmatch_lines(["*the service fell over*", "*Captured duress call*",
                            "memory fault flt-* on /sys/fs/cgroup/app (max=64M)",
                            "*in force 1.25 s*"])
    props = junit_props(junit)
    p = props["test_under_memory"]
    assert p["duress.memory.oom_kills"] == "1"
    assert p["duress.memory.target"] == "/sys/fs/cgroup/app"
    assert p["duress.memory.options"] == "max=64M"
    assert p["duress.memory.outcome"] == "interrupted"
    assert props["test_passes"]["duress.cpu.reverted"] == "1"
    body = json.loads(agent.calls("POST", "/v1/faults")[0]["body"])
    assert body["lease"] == "10s", "tied to the run by default"


def test_marker_wraps_the_test(pytester, agent, plugin_args):
    pytester.makepyfile("""
        import pytest

        @pytest.fixture
        def service():
            yield "up"

        @pytest.mark.duress("memory", max="50%", hog_once=True, duration="1m")
        @pytest.mark.duress(fault="network", delay="100ms", to=["10.0.0.0/8"], lease=0)
        def test_marked(service, record_property):
            record_property("mine", 1)
            assert service == "up"
    """)
    junit = pytester.path / "junit.xml"
    r = run(pytester, agent, plugin_args, "--duress-target", "cgroup:/sys/fs/cgroup/app",
            "--junitxml", str(junit), "-rP")
    r.assert_outcomes(passed=1)
    posts = {p["fault"]: p for p in (json.loads(c["body"])
                                      for c in agent.calls("POST", "/v1/faults"))}
    assert posts["memory"] == {"fault": "memory", "target": "cgroup:/sys/fs/cgroup/app",
                               "duration": "1m", "options": {"max": "50%", "hog-once": True},
                               "lease": "10s"}
    assert "lease" not in posts["network"]
    assert posts["network"]["options"] == {"delay": "100ms", "to": ["10.0.0.0/8"]}
    assert len(agent.calls("DELETE")) == 2
    props = junit_props(junit)["test_marked"]
    assert props["mine"] == "1"
    assert "duress.memory.in_force_s" in props and "duress.network.in_force_s" in props
    r.stdout.fnmatch_lines(["*Captured duress call*", "memory fault *"])


def test_two_faults_of_one_kind_get_numbered_properties(pytester, agent, plugin_args):
    pytester.makepyfile("""
        def test_twice(duress):
            for m in ("64M", "32M"):
                with duress.fault("memory", target="pid:1", max=m):
                    pass
    """)
    junit = pytester.path / "junit.xml"
    run(pytester, agent, plugin_args, "--junitxml", str(junit)).assert_outcomes(passed=1)
    props = junit_props(junit)["test_twice"]
    assert props["duress.memory.options"] == "max=64M"
    assert props["duress.memory#2.options"] == "max=32M"


def test_unreachable_skips_with_the_reason(pytester, plugin_args, tmp_path):
    pytester.makepyfile("""
        import pytest

        def test_fixture(duress):
            pass

        @pytest.mark.duress("memory", target="pid:1", max="1G")
        def test_marker():
            pass

        def test_other():
            pass
    """)
    sock = str(tmp_path / "nobody.sock")
    r = pytester.runpytest("--duress-socket", sock, "-p", "no:cacheprovider", "-rs",
                           *plugin_args)
    r.assert_outcomes(passed=1, skipped=2)
    r.stdout.fnmatch_lines(["*SKIPPED*no socket at %s*" % sock])
    r = pytester.runpytest("--duress-socket", sock, "-p", "no:cacheprovider", "--duress-required",
                           *plugin_args)
    r.assert_outcomes(passed=1, errors=2)
    r.stdout.fnmatch_lines(["*no socket at %s*--duress-required*" % sock])


def test_required_from_the_environment(pytester, plugin_args, tmp_path, monkeypatch):
    pytester.makepyfile("def test_fixture(duress): pass\n")
    monkeypatch.setenv("DURESS_REQUIRED", "1")
    monkeypatch.setenv("DURESS_SOCKET", str(tmp_path / "nobody.sock"))
    r = pytester.runpytest("-p", "no:cacheprovider", *plugin_args)
    r.assert_outcomes(errors=1)


def test_version_mismatch_is_an_error_not_a_skip(pytester, agent, plugin_args):
    agent.api = 2
    pytester.makepyfile("def test_fixture(duress): pass\n")
    r = run(pytester, agent, plugin_args)
    r.assert_outcomes(errors=1)
    r.stdout.fnmatch_lines(["*speaks API 2*speaks API 1*"])


def test_ctrl_c_in_a_fault_block_reverts(pytester, agent, plugin_args):
    pytester.makepyfile("""
        def test_interrupted(duress):
            with duress.fault("memory", target="pid:1", max="1G"):
                raise KeyboardInterrupt

        def test_never_runs():
            pass
    """)
    r = run(pytester, agent, plugin_args, no_reraise_ctrlc=True)
    assert r.ret == pytest.ExitCode.INTERRUPTED
    assert len(agent.calls("DELETE")) == 1


def test_ctrl_c_in_a_marked_test_reverts(pytester, agent, plugin_args):
    pytester.makepyfile("""
        import pytest

        @pytest.mark.duress("memory", target="pid:1", max="1G")
        def test_interrupted():
            raise KeyboardInterrupt
    """)
    r = run(pytester, agent, plugin_args, no_reraise_ctrlc=True)
    assert r.ret == pytest.ExitCode.INTERRUPTED
    assert len(agent.calls("DELETE")) == 1


def test_fault_left_running_is_stopped_at_teardown(pytester, agent, plugin_args):
    pytester.makepyfile("""
        def test_starts_and_forgets(duress):
            f = duress.start_fault_handle("freeze", target="pid:1")
            assert f.in_force
    """)
    run(pytester, agent, plugin_args).assert_outcomes(passed=1)
    assert len(agent.calls("DELETE")) == 1


def test_not_reverted_fails_the_test(pytester, agent, plugin_args):
    agent.delete_exit = 7
    pytester.makepyfile("""
        import pytest

        @pytest.mark.duress("memory", target="pid:1", max="1G")
        def test_marked():
            pass
    """)
    r = run(pytester, agent, plugin_args)
    r.assert_outcomes(failed=1)
    r.stdout.fnmatch_lines(["*duress: memory fault flt-* NOT REVERTED: memory.max*"])


def test_a_fault_that_cannot_start_fails_the_test_with_the_agent_s_reason(pytester, agent,
                                                                          plugin_args):
    agent.routes[("POST", "/v1/faults")] = lambda h, q, b: (422, {
        "error": "options.max: '64Q': unknown size suffix 'Q' (use K, M, G, T or %)",
        "field": "options.max", "status": 422})
    pytester.makepyfile("""
        import pytest

        @pytest.mark.duress("memory", target="pid:1", max="64Q")
        def test_marked():
            pass
    """)
    r = run(pytester, agent, plugin_args)
    r.assert_outcomes(failed=1)
    r.stdout.fnmatch_lines(["*duress: options.max: '64Q': unknown size suffix 'Q'*"])


def test_marker_without_a_fault_is_a_usage_error(pytester, agent, plugin_args):
    pytester.makepyfile("""
        import pytest

        @pytest.mark.duress(max="1G")
        def test_marked():
            pass
    """)
    r = run(pytester, agent, plugin_args)
    assert r.ret != 0
    r.stdout.fnmatch_lines(["*needs the fault*"])


def test_experiment_marker(pytester, agent, plugin_args):
    pytester.makefile(".yaml", exp="name: x\nmethod: []\n")
    pytester.makepyfile("""
        import pytest

        @pytest.mark.duress_experiment("exp.yaml", target="pid:1")
        def test_held():
            pass
    """)
    junit = pytester.path / "junit.xml"
    r = run(pytester, agent, plugin_args, "--junitxml", str(junit))
    r.assert_outcomes(passed=1)
    req = agent.calls("POST", "/v1/experiments")[0]
    assert req["body"].rstrip() == b"name: x\nmethod: []"
    assert req["query"]["target"] == "pid:1" and req["query"]["lease"] == "10s"
    assert junit_props(junit)["test_held"]["duress.experiment.verdict"] == "held"


def test_experiment_marker_deviated_fails_with_the_deviation(pytester, agent, plugin_args):
    agent.experiment_exit = 1
    pytester.makefile(".yaml", exp="name: x\nmethod: []\n")
    pytester.makepyfile("""
        import pytest

        @pytest.mark.duress_experiment("exp.yaml")
        def test_deviates():
            pass
    """)
    r = run(pytester, agent, plugin_args)
    r.assert_outcomes(failed=1)
    r.stdout.fnmatch_lines(["*deviated*'web answers' (status 503, expected 200)*"])


def test_experiment_marker_missing_manifest(pytester, agent, plugin_args):
    pytester.makepyfile("""
        import pytest

        @pytest.mark.duress_experiment("nope.yaml")
        def test_x():
            pass
    """)
    r = run(pytester, agent, plugin_args)
    r.assert_outcomes(failed=1)
    r.stdout.fnmatch_lines(["*no manifest nope.yaml*"])


def test_header_and_summary(pytester, agent, plugin_args):
    pytester.makepyfile("""
        def test_a(duress):
            with duress.fault("memory", target="pid:1", max="1G"):
                pass
    """)
    r = run(pytester, agent, plugin_args, "-v")
    r.stdout.fnmatch_lines(["duress: agent at unix:%s, lease 10s" % agent.socket,
                            "*= duress =*",
                            "1 fault(s) and 0 experiment(s) from the agent at *; all reverted",
                            "*test_a: memory fault*"])
