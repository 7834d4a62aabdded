#!/usr/bin/env python3
"""An events script written to the reference's protocol (exec events), in Python.

Events live in $EVENTS_FILE, one JSON object a line; the seq is assigned under an
flock. The filter on stdin uses the reference's Go field names.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import time

path = os.environ["EVENTS_FILE"]
op = sys.argv[1] if len(sys.argv) > 1 else ""


def read_all():
    try:
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


if op == "ensure-running":
    with open(path + ".ensured", "a") as f:
        f.write("x\n")
elif op == "record":
    event = json.loads(sys.stdin.read())
    with open(path + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        events = read_all()
        event["seq"] = (events[-1]["seq"] if events else 0) + 1
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(event) + "\n")
elif op == "list":
    flt = json.loads(sys.stdin.read() or "{}")
    out = [
        e for e in read_all()
        if e["seq"] > flt.get("AfterSeq", 0)
        and (not flt.get("Type") or e["type"] == flt["Type"])
        and (not flt.get("Actor") or e["actor"] == flt["Actor"])
        and (flt.get("Since", "0001-01-01T00:00:00Z").startswith("0001") or e["ts"] >= flt["Since"])
    ]
    print(json.dumps(out))
elif op == "latest-seq":
    events = read_all()
    print(events[-1]["seq"] if events else 0)
elif op == "watch":
    after = int(sys.argv[2])
    while True:
        for e in read_all():
            if e["seq"] > after:
                print(json.dumps(e), flush=True)
                after = e["seq"]
        time.sleep(0.05)
else:
    sys.exit(2)
