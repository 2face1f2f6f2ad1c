#!/usr/bin/env python3
"""Checks a weft Chrome trace: it loads (a file cut short by a crash is
closed with "]" first, as trace viewers do), and its times are consistent.

usage: check_trace.py TRACE.json [--tasks N] [--min-tasks N] [--partial]
  --tasks N      exactly N complete events of category "task"
  --min-tasks N  at least N of them
  --partial      the file may lack its closing bracket (a killed run)
Checks, on complete traces: each task event has start >= ready (args.ready)
and ready >= the end of each dependency (flow events); task and launch
slices on one track nest or follow each other, never overlap
partly. Prints "ok: ..." or the first problem
and exits 1."""
import json
import sys


def fail(msg):
    print("check_trace: " + msg)
    sys.exit(1)


def main():
    args = sys.argv[1:]
    if not args:
        fail("no file")
    path, opts = args[0], args[1:]
    want = {"tasks": None, "min-tasks": None}
    partial = False
    i = 0
    while i < len(opts):
        o = opts[i]
        if o == "--partial":
            partial = True
        elif o in ("--tasks", "--min-tasks"):
            want[o[2:]] = int(opts[i + 1])
            i += 1
        else:
            fail("unknown option " + o)
        i += 1
    text = open(path, encoding="utf-8").read()
    try:
        events = json.loads(text)
        closed = True
    except ValueError as e:
        if not partial:
            fail("not valid JSON: %s" % e)
        try:
            events = json.loads(text.rstrip().rstrip(",") + "\n]")
        except ValueError as e2:
            fail("not valid JSON even when closed with ']': %s" % e2)
        closed = False
    if not isinstance(events, list):
        fail("not a JSON array")
    eps = 0.002  # microseconds: the file keeps 3 decimals
    tasks = [e for e in events if e.get("ph") == "X" and e.get("cat") == "task"]
    for e in events:
        if "ph" not in e or "pid" not in e and e["ph"] != "M":
            fail("event without ph/pid: %r" % e)
    # no overlap of top-level slices on one track
    by_tid = {}
    for e in events:
        if e.get("ph") == "X" and e.get("cat") in ("task", "launch"):
            by_tid.setdefault(e["tid"], []).append(e)
    for tid, evs in by_tid.items():
        evs.sort(key=lambda e: (e["ts"], -e["dur"]))
        open_ = []  # enclosing slices: a slice either nests in one or starts after it ends
        for b in evs:
            while open_ and open_[-1]["ts"] + open_[-1]["dur"] <= b["ts"] + eps:
                open_.pop()
            if open_ and b["ts"] + b["dur"] > open_[-1]["ts"] + open_[-1]["dur"] + eps:
                a = open_[-1]
                fail("overlap on track %s: %s [%s +%s] and %s [%s +%s]" %
                     (tid, a["name"], a["ts"], a["dur"], b["name"], b["ts"], b["dur"]))
            open_.append(b)
    if closed:
        for e in tasks:
            r = e["args"].get("ready")
            if r is None:
                fail("task event without args.ready: %r" % e)
            if e["ts"] + eps < r:
                fail("%s starts at %s before it is ready at %s" % (e["name"], e["ts"], r))
        # flows: s at the start of a dependency's last slice, f at the dependent's first
        slices = {}
        for e in events:
            if e.get("ph") == "X" and e.get("cat") in ("task", "launch"):
                slices[(e["tid"], e["ts"])] = e
        starts = {}
        for e in events:
            if e.get("ph") == "s":
                starts[e["id"]] = e
        for e in events:
            if e.get("ph") != "f":
                continue
            s = starts.get(e["id"])
            if s is None:
                fail("flow %s has no start" % e["id"])
            src = slices.get((s["tid"], s["ts"]))
            dst = slices.get((e["tid"], e["ts"]))
            if src is None or dst is None:
                fail("flow %s is not bound to slices" % e["id"])
            if dst["cat"] == "task" and dst["args"]["ready"] + eps < src["ts"] + src["dur"]:
                fail("%s is ready at %s before its dependency %s ends at %s" %
                     (dst["name"], dst["args"]["ready"], src["name"], src["ts"] + src["dur"]))
            if dst["ts"] + eps < src["ts"] + src["dur"]:
                fail("%s starts at %s before its dependency %s ends at %s" %
                     (dst["name"], dst["ts"], src["name"], src["ts"] + src["dur"]))
    if want["tasks"] is not None and len(tasks) != want["tasks"]:
        fail("%d task events, expected %d" % (len(tasks), want["tasks"]))
    if want["min-tasks"] is not None and len(tasks) < want["min-tasks"]:
        fail("%d task events, expected at least %d" % (len(tasks), want["min-tasks"]))
    print("ok: %d events, %d task events%s" % (len(events), len(tasks), "" if closed else " (closed by the check)"))


main()
