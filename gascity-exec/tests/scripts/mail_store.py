#!/usr/bin/env python3
"""A mail script written to the reference's protocol (exec mail), in Python.

Messages live in $MAIL_FILE (one JSON object: id -> message plus an "archived" flag),
changed under an flock. Ids are strings of the script's own making.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
from datetime import UTC, datetime

path = os.environ["MAIL_FILE"]
op = sys.argv[1] if len(sys.argv) > 1 else ""
arg = sys.argv[2] if len(sys.argv) > 2 else ""


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def public(m: dict) -> dict:
    return {k: v for k, v in m.items() if k not in ("archived", "n")}


def fail(text: str) -> None:
    print(text, file=sys.stderr)
    sys.exit(1)


with open(path + ".lock", "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        with open(path, encoding="utf-8") as f:
            db = json.load(f)
    except FileNotFoundError:
        db = {"next": 1, "messages": {}}
    msgs = db["messages"]
    changed = False

    def new(to: str, letter: dict, thread: str | None, reply_to: str | None) -> dict:
        n = db["next"]
        db["next"] = n + 1
        mid = f"msg-{n:04d}"
        m = {"id": mid, "from": letter["from"], "to": to, "subject": letter["subject"],
             "body": letter["body"], "created_at": now(), "read": False,
             "thread_id": thread or mid, "n": n}
        if reply_to:
            m["reply_to"] = reply_to
        msgs[mid] = m
        return m

    def must(mid: str) -> dict:
        if mid not in msgs:
            fail(f"message {mid} not found")
        return msgs[mid]

    def mine(recipient: str, unread_only: bool) -> list:
        rows = [m for m in msgs.values() if m["to"] == recipient and not m.get("archived")]
        rows = [m for m in rows if not (unread_only and m["read"])]
        return [public(m) for m in sorted(rows, key=lambda m: m["n"])]

    if op == "ensure-running":
        pass
    elif op == "send":
        print(json.dumps(public(new(arg, json.loads(sys.stdin.read()), None, None))))
        changed = True
    elif op == "reply":
        orig = must(arg)
        letter = json.loads(sys.stdin.read())
        print(json.dumps(public(new(orig["from"], letter, orig["thread_id"], arg))))
        changed = True
    elif op in ("inbox", "check"):
        print(json.dumps(mine(arg, True)))
    elif op == "all":
        print(json.dumps(mine(arg, False)))
    elif op == "get":
        print(json.dumps(public(must(arg))))
    elif op == "read":
        must(arg)["read"] = True
        changed = True
        print(json.dumps(public(msgs[arg])))
    elif op in ("mark-read", "mark-unread"):
        must(arg)["read"] = op == "mark-read"
        changed = True
    elif op in ("archive", "delete"):
        if must(arg).get("archived"):
            fail(f"message {arg} already archived")
        msgs[arg]["archived"] = True
        changed = True
    elif op == "thread":
        rows = sorted((m for m in msgs.values() if m["thread_id"] == arg), key=lambda m: m["n"])
        print(json.dumps([public(m) for m in rows]))
    elif op == "count":
        rows = mine(arg, False)
        print(json.dumps({"total": len(rows), "unread": sum(not m["read"] for m in rows)}))
    else:
        sys.exit(2)
    if changed:
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(db, f)
        os.replace(path + ".tmp", path)
