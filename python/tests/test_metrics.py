# SPDX-License-Identifier: MIT
"""The Prometheus text parser and the metric expressions (the grammar and
the answers of duress's own metric probe, agent/experiment/probe.c)."""

import math

import pytest

from duress.metrics import find_metric, flatten, parse_expression, parse_prometheus


def test_prometheus_text():
    text = ('# HELP duress_fault_active 1 for each fault\n'
            '# TYPE duress_fault_active gauge\n'
            'duress_fault_active{id="flt-1",kind="fault",fault="memory",target="/a\\"b\\\\c\\nd"} 1\n'
            '\n'
            'duress_target_memory_max_bytes{target="/x"} +Inf\n'
            'duress_sample_cost_seconds 1.5e-05\n'
            'with_timestamp 3 1700000000000\n')
    s = parse_prometheus(text)
    assert s[0] == ("duress_fault_active", {"id": "flt-1", "kind": "fault", "fault": "memory",
                                            "target": '/a"b\\c\nd'}, 1.0)
    assert find_metric(s, "duress_target_memory_max_bytes", target="/x") == math.inf
    assert find_metric(s, "duress_sample_cost_seconds") == 1.5e-05
    assert find_metric(s, "with_timestamp") == 3
    assert find_metric(s, "duress_fault_active", id="flt-2") is None
    with pytest.raises(ValueError, match="line 1: not a series"):
        parse_prometheus("this is not it\n")
    with pytest.raises(ValueError, match="bad labels"):
        parse_prometheus('m{a=b} 1\n')


def test_flatten():
    assert flatten({"memory": {"events": {"oom_kill": 1}}, "t": 2}) == \
        {"memory.events.oom_kill": 1, "t": 2}


@pytest.mark.parametrize("check,sample,first,holds", [
    ("memory.current < 67108864", {"memory": {"current": 1}}, None, True),
    ("memory.current >= 2", {"memory": {"current": 1}}, None, False),
    ("cpu.usage_pct<95", {"cpu": {"usage_pct": 94.5}}, None, True),
    ("memory.max == max", {"memory": {"max": "max"}}, None, True),
    ("memory.max > 1e12", {"memory": {"max": "max"}}, None, True),
    ("memory.max < max", {"memory": {"max": 100}}, None, True),
    ("memory.max != max", {"memory": {"max": 100}}, None, True),
    ("increase(memory.events.oom_kill) == 0", {"memory": {"events": {"oom_kill": 3}}},
     {"memory": {"events": {"oom_kill": 3}}}, True),
    ("increase(memory.events.oom_kill) >= 1", {"memory": {"events": {"oom_kill": 4}}},
     {"memory": {"events": {"oom_kill": 3}}}, True),
    # the first sample lacks the key: counted from the sample itself, as the agent does
    ("increase(memory.events.oom_kill) == 0", {"memory": {"events": {"oom_kill": 4}}}, {}, True),
    ("io.rbytes == 0", {"memory": {}}, None, False),  # absent is not zero
    ("pids.current > 0", {"pids": {"current": True}}, None, False),  # not a number
])
def test_expressions(check, sample, first, holds):
    assert parse_expression(check).evaluate(sample, first)[0] is holds


def test_expression_reasons():
    held, value, why = parse_expression("memory.current < 10").evaluate({"memory": {"current": 20}})
    assert (held, value) == (False, 20)
    assert why == "memory.current < 10: memory.current is 20"
    assert "absent is not zero" in parse_expression("io.rbytes > 0").evaluate({})[2]


@pytest.mark.parametrize("bad", ["memory.current", "memory.current < ", "< 5", "a ~ 5",
                                 "a < inf", "a < nan", "a < 1_000", "a < 5 6", 42])
def test_bad_expressions(bad):
    with pytest.raises(ValueError, match="check"):
        parse_expression(bad)
