#!/usr/bin/env python3
"""Writes the example deltas of testdata/sync/ and expected.json (the digests a platform computes).

Python 3, standard library only. Deterministic: running it again rewrites the same bytes.
    python3 testdata/sync/generate.py
See README.md in this directory for what each file is.
"""

import base64
import hashlib
import hmac
import json
import math
import struct
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODEL = "w600k_mbf"
DIM = 512
LOCATION = "hq-amsterdam"
SEQ = 41  # sequence of the full synchronisation; 02 follows with 42, as in issue 3's example
MASK = (1 << 64) - 1
FINGER = HERE.parent / "fingerprint" / "fvc2002" / "DB1_B" / "mindtct" / "101_1.iso"


# --- The seeded generator of cli/src/synth.rs: splitmix64 streams, Box-Muller gaussians. ---

def mix(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


class Rng:
    def __init__(self, seed, stream):
        self.state = mix(seed ^ mix((stream + 0x632BE59BD9B4E019) & MASK))
        self.spare = None

    def next_u64(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        return mix(self.state)

    def uniform(self):
        return (self.next_u64() >> 11) * (1.0 / (1 << 53))

    def gaussian(self):
        if self.spare is not None:
            z, self.spare = self.spare, None
            return z
        u1 = 1.0 - self.uniform()
        u2 = self.uniform()
        r = math.sqrt(-2.0 * math.log(u1))
        self.spare = r * math.sin(2.0 * math.pi * u2)
        return r * math.cos(2.0 * math.pi * u2)


SEED = 2026


def embedding(stream, n=DIM):
    """Base64 of n little-endian f32 drawn from the seeded stream (a stand-in for a face model)."""
    r = Rng(SEED, stream)
    return base64.b64encode(struct.pack(f"<{n}f", *(r.gaussian() for _ in range(n)))).decode()


def face(fid, stream, n=DIM):
    return {"id": fid, "model": MODEL, "embedding": embedding(stream, n)}


def code_key():
    """32 bytes from the seeded generator (a platform draws its key from a CSPRNG)."""
    r = Rng(SEED, 0xC0DE)
    return b"".join(struct.pack("<Q", r.next_u64()) for _ in range(4))


CODE_KEY = code_key()


def delta(sequence, kind, changes):
    d = {"format": "edgeid.delta/1", "location": LOCATION, "sequence": sequence, "kind": kind}
    if kind == "full":
        d["code_key"] = base64.b64encode(CODE_KEY).decode()
    d["changes"] = changes
    return d


def upsert(user):
    return {"op": "upsert_user", "user": user}


# --- The contents. ---

SCHEDULE_01 = {"id": "office-hours", "timezone": "Europe/Amsterdam",
               "weekly": {d: [["08:00", "18:00"]] for d in ["mon", "tue", "wed", "thu", "fri"]}}
SCHEDULE_02 = {"id": "office-hours", "timezone": "Europe/Amsterdam",
               "weekly": {"mon": [["07:00", "19:00"]], "tue": [["07:00", "19:00"]]},
               "holidays": ["2026-12-25"]}
DOOR_01 = {"id": "front", "modes": ["face", "card"]}
DOOR_02 = {"id": "front", "modes": ["face", "card+code"]}

ADA_01 = {"id": "u-1001", "name": "Ada Byron", "enabled": True,
          "faces": [face("f1", 1001)],
          "cards": [{"format": "csn", "number": "04A1B2C3D4E5F6"}],
          "codes": ["482913"],
          "rights": [{"doors": ["front"], "schedule": "office-hours"}]}
CHARLES = {"id": "u-1002", "name": "Charles Babbage", "enabled": True,
           "faces": [face("f1", 1002)],
           "cards": [{"format": "csn", "number": "04C0FFEE000002"}],
           "codes": ["730015"],
           "plates": ["CB-42-X"],
           "rights": [{"doors": ["front"]}]}
GRACE = {"id": "u-1003", "name": "Grace Hopper", "enabled": True,
         "valid_from": "2026-01-01T00:00:00Z", "valid_until": "2027-01-01T00:00:00Z",
         "faces": [face("f1", 1003), face("f2", 2003)],
         "cards": [{"format": "wiegand26", "facility": 12, "number": 1003}],
         "codes": ["550377"],
         "plates": ["GH-1906-N"],
         "rights": [{"doors": ["front"], "schedule": "office-hours"}]}


def ada_02():
    if not FINGER.is_file():
        raise SystemExit(f"{FINGER}: missing (the fingerprint record of u-1001)")
    return {"id": "u-1001", "name": "Ada Lovelace", "enabled": True,
            "valid_from": "2026-01-01T00:00:00Z", "valid_until": None,
            "faces": [face("f1", 11001)],
            "fingers": [{"id": "r-index", "position": 2, "format": "iso19794-2:2005",
                         "data": base64.b64encode(FINGER.read_bytes()).decode()}],
            "cards": [{"format": "csn", "number": "04A1B2C3D4E5F6"},
                      {"format": "wiegand26", "facility": 12, "number": 34567}],
            "codes": ["482913"],
            "plates": ["AB-123-C"],
            "rights": [{"doors": ["front", "lab"], "schedule": "office-hours"}]}


# --- The digest as docs/sync-protocol.md defines it (the platform's side). ---

def canon(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def user_hash(user):
    u = dict(user)
    if u.get("codes") is not None:  # "codes": null stays null
        u["codes"] = [hmac.new(CODE_KEY, c.encode(), hashlib.sha256).hexdigest() for c in u["codes"]]
    return hashlib.sha256(canon(u).encode()).hexdigest()


def digest(users, schedules, doors):
    h = lambda x: hashlib.sha256(canon(x).encode()).hexdigest()
    lines = "".join(f"user {u['id']} {user_hash(u)}\n" for u in sorted(users, key=lambda u: u["id"].encode()))
    lines += "".join(f"schedule {s['id']} {h(s)}\n" for s in sorted(schedules, key=lambda s: s["id"].encode()))
    lines += "".join(f"door {d['id']} {h(d)}\n" for d in sorted(doors, key=lambda d: d["id"].encode()))
    return hashlib.sha256(lines.encode()).hexdigest()


def write(name, obj):
    (HERE / name).write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def main():
    ada = ada_02()
    write("01-full.json", delta(SEQ, "full", [
        {"op": "upsert_schedule", "schedule": SCHEDULE_01},
        {"op": "upsert_door", "door": DOOR_01},
        upsert(ADA_01), upsert(CHARLES), upsert(GRACE),
    ]))
    write("02-changes.json", delta(SEQ + 1, "changes", [
        upsert(ada),
        {"op": "delete_user", "id": "u-1002"},
        {"op": "upsert_schedule", "schedule": SCHEDULE_02},
        {"op": "upsert_door", "door": DOOR_02},
    ]))
    write("03-gap.json", delta(SEQ + 3, "changes", [
        upsert({"id": "u-1004", "name": "Alan Turing", "faces": [face("f1", 1004)]}),
    ]))
    write("04-conflict.json", delta(SEQ + 1, "changes", [
        upsert(dict(ada, name="Ada King")),
    ]))
    write("05-bad-embedding.json", delta(SEQ + 2, "changes", [
        upsert({"id": "u-1004", "name": "Alan Turing", "faces": [face("f1", 1004)]}),
        upsert({"id": "u-1005", "name": "Katherine Johnson", "faces": [face("f1", 1005, DIM - 1)]}),
    ]))
    expected = {
        "location": LOCATION,
        "after_01": {"sequence": SEQ, "users": 3, "faces": 4, "fingers": 0,
                     "digest": digest([ADA_01, CHARLES, GRACE], [SCHEDULE_01], [DOOR_01])},
        "after_02": {"sequence": SEQ + 1, "users": 2, "faces": 3, "fingers": 1,
                     "digest": digest([ada, GRACE], [SCHEDULE_02], [DOOR_02])},
    }
    write("expected.json", expected)


if __name__ == "__main__":
    main()
