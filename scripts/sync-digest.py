#!/usr/bin/env python3
"""The platform's side of the edgeid digest, exactly as docs/sync-protocol.md ("The digest") defines it.

Python 3, standard library only. Give it delta files (or directories of them, read in name order);
it applies them the way the document says a terminal does (a `full` replaces a location's state, an
`upsert_*` inserts or replaces, a `delete_*` removes) and prints one line per location:

    <location> <sequence> <digest>

    python3 scripts/sync-digest.py testdata/sync/vectors/01-basic

It checks nothing a terminal checks (a refused delta here is a sender's bug): it computes what the
terminal's digest must be once it has applied the same deltas. `tests/sync_vectors.rs` runs it on
testdata/sync/vectors/ and compares with the engine.
"""

import base64
import hashlib
import hmac
import json
import sys
from pathlib import Path


def no_duplicate_keys(pairs):
    """The format refuses repeated keys (json.loads would keep the last one silently)."""
    obj = {}
    for k, v in pairs:
        if k in obj:
            raise SystemExit(f"duplicate key {k!r}: a terminal refuses this delta")
        obj[k] = v
    return obj


def canon(obj):
    """Canonical JSON: sorted keys, no whitespace, only the escapes JSON requires, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_hex(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def user_hash(user, key):
    """Record hash of a user: each access code (and each duress code, format 2) replaced by
    HMAC-SHA256(code_key, code) in hex. `"codes": null` (or no `codes`) stays as sent."""
    u = dict(user)
    for field in ("codes", "duress_codes"):
        if u.get(field) is not None:
            u[field] = [hmac.new(key, c.encode("utf-8"), hashlib.sha256).hexdigest() for c in u[field]]
    return sha256_hex(canon(u))


def digest(users, schedules, doors, key):
    """Location digest: SHA-256 of the lines `user <id> <hash>`, `schedule ...`, `door ...`, each
    kind sorted by id as UTF-8 bytes, users first."""
    by_id = lambda items: sorted(items.items(), key=lambda kv: kv[0].encode("utf-8"))
    lines = "".join(f"user {i} {user_hash(u, key)}\n" for i, u in by_id(users))
    lines += "".join(f"schedule {i} {sha256_hex(canon(s))}\n" for i, s in by_id(schedules))
    lines += "".join(f"door {i} {sha256_hex(canon(d))}\n" for i, d in by_id(doors))
    return sha256_hex(lines)


class Location:
    def __init__(self):
        self.sequence = 0
        self.key = None
        self.users, self.schedules, self.doors = {}, {}, {}

    def apply(self, delta):
        if delta["kind"] == "full":
            self.users, self.schedules, self.doors = {}, {}, {}
            if delta.get("code_key") is not None:
                self.key = base64.b64decode(delta["code_key"], validate=True)
        for c in delta["changes"]:
            op = c["op"]
            if op == "upsert_user":
                self.users[c["user"]["id"]] = c["user"]
            elif op == "upsert_schedule":
                self.schedules[c["schedule"]["id"]] = c["schedule"]
            elif op == "upsert_door":
                self.doors[c["door"]["id"]] = c["door"]
            elif op == "delete_user":
                del self.users[c["id"]]
            elif op == "delete_schedule":
                del self.schedules[c["id"]]
            elif op == "delete_door":
                del self.doors[c["id"]]
            else:
                raise SystemExit(f"unknown op {op!r}")
        self.sequence = delta["sequence"]

    def digest(self):
        return digest(self.users, self.schedules, self.doors, self.key)


def main(args):
    if not args:
        raise SystemExit(__doc__)
    files = []
    for a in map(Path, args):
        files += sorted(a.glob("*.json")) if a.is_dir() else [a]
    locations = {}
    for f in files:
        delta = json.loads(f.read_text(encoding="utf-8"), object_pairs_hook=no_duplicate_keys)
        locations.setdefault(delta["location"], Location()).apply(delta)
    for name in sorted(locations, key=lambda n: n.encode("utf-8")):
        loc = locations[name]
        print(f"{name} {loc.sequence} {loc.digest()}")


if __name__ == "__main__":
    main(sys.argv[1:])
