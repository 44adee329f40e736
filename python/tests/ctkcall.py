# SPDX-License-Identifier: MIT
"""Calls an activity of a Chaos Toolkit experiment the way chaostoolkit-
lib's python provider does (chaoslib/provider/python.py, read, not copied),
so that chaosduress is tested as Chaos Toolkit will call it without Chaos
Toolkit installed:

- validation: the module imports, it has a *function* of that name
  (``inspect.isfunction``), and the activity's arguments bind to its
  signature with ``configuration`` and ``secrets`` given as None when the
  signature has them;
- a run: the arguments by keyword; ``configuration`` (the whole loaded
  configuration) when the signature has it; ``secrets`` only when the
  provider names secret groups and the signature has it, as one dict
  merged from those groups; anything the function raises fails the
  activity.

Configuration ``{type: env}`` values and ``${name}`` substitution are done
here as Chaos Toolkit does before the call (environment variables,
defaults; a whole ``${name}`` keeps its type)."""

import importlib
import inspect
import os
import re


class ActivityFailed(Exception):
    pass


class InvalidActivity(Exception):
    pass


def load_configuration(conf):
    out = {}
    for k, v in (conf or {}).items():
        if isinstance(v, dict) and v.get("type") == "env":
            if v["key"] in os.environ:
                out[k] = os.environ[v["key"]]
            elif "default" in v:
                out[k] = v["default"]
            else:
                raise InvalidExperiment("configuration %s: %s is not set" % (k, v["key"]))
        else:
            out[k] = v
    return out


class InvalidExperiment(Exception):
    pass


def load_secrets(secrets):
    out = {}
    for group, values in (secrets or {}).items():
        out[group] = {}
        for k, v in values.items():
            if isinstance(v, dict) and v.get("type") == "env":
                if v["key"] not in os.environ:
                    raise InvalidExperiment("secret %s.%s: %s is not set" % (group, k, v["key"]))
                out[group][k] = os.environ[v["key"]]
            else:
                out[group][k] = v
    return out


_WHOLE = re.compile(r"^\$\{([^}]+)\}$")
_PART = re.compile(r"\$\{([^}]+)\}")


def substitute(value, configuration, secrets):
    flat = dict(configuration or {})
    for group in (secrets or {}).values():
        flat.update(group)
    if isinstance(value, str):
        m = _WHOLE.match(value)
        if m and m.group(1) in flat:
            return flat[m.group(1)]
        return _PART.sub(lambda m: str(flat.get(m.group(1), m.group(0))), value)
    if isinstance(value, dict):
        return {k: substitute(v, configuration, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, configuration, secrets) for v in value]
    return value


def validate(activity):
    prov = activity["provider"]
    try:
        mod = importlib.import_module(prov["module"])
    except ImportError:
        raise InvalidActivity("could not find Python module '%s'" % prov["module"]) from None
    funcs = dict(inspect.getmembers(mod, inspect.isfunction))
    if prov["func"] not in funcs:
        raise InvalidActivity("module %s has no function %s" % (prov["module"], prov["func"]))
    sig = inspect.signature(funcs[prov["func"]])
    args = dict(prov.get("arguments") or {})
    for extra in ("secrets", "configuration"):
        if extra in sig.parameters:
            args[extra] = None
    try:
        sig.bind(**args)
    except TypeError as e:
        raise InvalidActivity("%s: %s" % (activity.get("name"), e)) from None


def run(activity, configuration, secrets):
    prov = activity["provider"]
    func = getattr(importlib.import_module(prov["module"]), prov["func"])
    arguments = dict(prov.get("arguments") or {})
    if configuration or secrets:
        arguments = substitute(arguments, configuration, secrets)
    sig = inspect.signature(func)
    if "secrets" in prov and "secrets" in sig.parameters:
        arguments["secrets"] = {}
        for name in prov["secrets"]:
            arguments["secrets"].update((secrets or {}).get(name, {}))
    if "configuration" in sig.parameters:
        arguments["configuration"] = dict(configuration or {})
    try:
        return func(**arguments)
    except Exception as e:  # the activity fails, with the exception's text
        raise ActivityFailed("%s: %s" % (type(e).__name__, e)) from e


def within_tolerance(tolerance, value):
    """The tolerances chaosduress's probes are meant for: a bool, a string,
    a number, a list, {type: range}."""
    if isinstance(tolerance, bool) or isinstance(tolerance, str):
        return value == tolerance
    if isinstance(tolerance, (int, float)):
        return value == tolerance
    if isinstance(tolerance, list):
        if len(tolerance) == 2 and all(isinstance(t, (int, float)) for t in tolerance):
            return tolerance[0] <= value <= tolerance[1]
        return value in tolerance
    if isinstance(tolerance, dict) and tolerance.get("type") == "range":
        lo, hi = tolerance["range"]
        return lo <= value <= hi
    raise InvalidActivity("tolerance %r: not one this helper knows" % (tolerance,))


def run_experiment(experiment):
    """The run of a whole experiment as `chaos run` orders it: steady state
    before (a probe out of tolerance: not steady), method, rollbacks,
    steady state after (out of tolerance: deviated).  Returns (verdict,
    records); the verdict is duress's word: held, not-steady-before,
    deviated."""
    configuration = load_configuration(experiment.get("configuration"))
    secrets = load_secrets(experiment.get("secrets"))
    records = []

    for section in ("steady-state-hypothesis", "method", "rollbacks"):
        acts = experiment.get(section) or []
        if isinstance(acts, dict):
            acts = acts.get("probes") or []
        for a in acts:
            validate(a)

    def steady(when):
        for p in (experiment.get("steady-state-hypothesis") or {}).get("probes") or []:
            try:
                out = run(p, configuration, secrets)
            except ActivityFailed as e:
                records.append((when, p["name"], "failed", str(e)))
                return False
            ok = within_tolerance(p["tolerance"], out)
            records.append((when, p["name"], "ok" if ok else "out of tolerance", out))
            if not ok:
                return False
        return True

    if not steady("before"):
        return "not-steady-before", records
    for a in experiment.get("method") or []:
        try:
            out = run(a, configuration, secrets)
            records.append(("method", a["name"], "succeeded", out))
        except ActivityFailed as e:
            records.append(("method", a["name"], "failed", str(e)))
    for a in experiment.get("rollbacks") or []:
        try:
            records.append(("rollback", a["name"], "succeeded", run(a, configuration, secrets)))
        except ActivityFailed as e:
            records.append(("rollback", a["name"], "failed", str(e)))
    return ("held" if steady("after") else "deviated"), records
