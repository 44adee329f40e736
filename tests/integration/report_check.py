#!/usr/bin/env python3
# report_check.py REPORT.html SAMPLES.jsonl CHECK...: structural checks of a
# `duress report` page against the samples it was made from, with the plot
# geometry of include/duress/experiment/report.h.  Prints one line per
# failed check and exits 1 if any failed.  Checks:
#   self-contained          no script, no fetched resource
#   series:KEY              <polyline class="series" data-series="KEY"> exists
#   limit:KEY:SAMPLEKEY     the limit line KEY has a point at (t, value) for
#                           every sample of phase "during" whose SAMPLEKEY is
#                           a number (bytes of memory.max: MiB on the axis)
#   cpu-limit               cpu.max at quota/period*100 for the same samples
#   oom                     one OOM marker per sample whose
#                           memory.events.oom_kill rose, at its t, none else
#   windows:KIND:N          N timeline windows of data-kind KIND
import html.parser
import json
import re
import sys

W, H, L, R, T, B = 900, 200, 170, 16, 12, 26


class P(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.els = []
        self.svg = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "svg":
            self.svg = a
        a["_tag"] = tag
        a["_svg"] = self.svg
        self.els.append(a)


def x_of(svg, t):
    t0, t1 = float(svg["data-tmin"]), float(svg["data-tmax"])
    return L + (t - t0) / (t1 - t0) * (W - L - R)


def y_of(svg, v):
    return T + (1 - v / float(svg["data-ymax"])) * (H - T - B)


def points(el):
    return [tuple(map(float, p.split(","))) for p in el["points"].split()]


def near(pts, x, y):
    return any(abs(px - x) < 0.11 and abs(py - y) < 0.11 for px, py in pts)


def main():
    page = open(sys.argv[1]).read()
    samples = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
    p = P()
    p.feed(page)
    bad = []

    def get(s, key):
        for k in key.split("."):
            if not isinstance(s, dict) or k not in s:
                return None
            s = s[k]
        return s if isinstance(s, (int, float)) else None

    def lines(cls, key):
        return [e for e in p.els if e["_tag"] == "polyline" and e.get("class") == cls
                and e.get("data-series") == key]

    for check in sys.argv[3:]:
        kind, _, arg = check.partition(":")
        if kind == "self-contained":
            if re.search(r"<script|\ssrc=|href=|url\(|@import", page):
                bad.append("self-contained: the page loads or runs something")
        elif kind == "series":
            if not lines("series", arg):
                bad.append(f"series {arg}: no polyline")
        elif kind in ("limit", "cpu-limit"):
            key, _, skey = arg.partition(":")
            if kind == "cpu-limit":
                key = "cpu.max"
            ls = lines("limit", key)
            if not ls:
                bad.append(f"limit {key}: no polyline")
                continue
            pts = [pt for e in ls for pt in points(e)]
            svg = ls[0]["_svg"]
            n = 0
            for s in samples:
                if kind == "cpu-limit":
                    q, per = get(s, "cpu.max.quota"), get(s, "cpu.max.period")
                    v = q / per * 100 if q is not None and per else None
                else:
                    v = get(s, skey)
                    v = v / 1048576 if v is not None else None
                if s.get("phase") != "during" or v is None:
                    continue
                n += 1
                if not near(pts, x_of(svg, s["t"]), y_of(svg, min(v, float(svg["data-ymax"])))):
                    bad.append(f"limit {key}: no point at t={s['t']} v={v}")
            if n == 0:
                bad.append(f"limit {key}: no sample of the method has it")
        elif kind == "oom":
            want = []
            for a, b in zip(samples, samples[1:]):
                ka, kb = get(a, "memory.events.oom_kill"), get(b, "memory.events.oom_kill")
                if ka is not None and kb is not None and kb > ka:
                    want.append(b["t"])
            got = [e for e in p.els if e["_tag"] == "circle" and e.get("class") == "oom"]
            if not want:
                bad.append("oom: the samples saw no OOM kill")
            if len(got) != len(want):
                bad.append(f"oom: {len(got)} markers for {len(want)} samples that saw kills")
            for t, e in zip(want, got):
                if abs(float(e["data-t"]) - t) > 0.0011 or abs(float(e["cx"]) - x_of(e["_svg"], t)) > 0.11:
                    bad.append(f"oom: marker at {e['data-t']}/{e['cx']}, sample t={t}")
        elif kind == "windows":
            k, _, n = arg.partition(":")
            got = sum(1 for e in p.els if e["_tag"] == "rect" and e.get("data-kind") == k)
            if got != int(n):
                bad.append(f"windows {k}: {got}, wanted {n}")
        else:
            bad.append(f"unknown check {check}")
    for b in bad:
        print(b)
    sys.exit(1 if bad else 0)


main()
