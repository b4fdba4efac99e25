#!/usr/bin/env python3
"""bozorth3 scores for every ordered pair of ISO/IEC 19794-2:2005 templates in each set directory.

The peer of edgeid's fingerprint matcher on the sets that NBIS bozorth3's reference scores do not
cover (the `secugen` templates), through the `nbis-py` wheel from PyPI (NBIS bozorth3 bound from
Rust). Usage: bozorth3.py OUT.tsv SET_DIR... ; writes `db  probe  gallery  score` rows (the columns
of testdata/fingerprint/fvc2002/bozorth3_scores.tsv), `db` being the set directory relative to the
common root given by --root.

What differs from NBIS as released: nbis-py reads its own variant of the ISO 2005 layout (a 26-byte
header, no resolution fields), so each standard record is rewritten into that layout here (same
minutiae, types and angles; qualities 0-100 scaled to its 0-63), and it converts ISO angles to NIST
direction units of 11.25 degrees before bozorth3, where NBIS's own mindtct .xyt keeps whole
degrees. `--check REFERENCE.tsv` compares with the released bozorth3 scores on the pairs both have.
"""
import argparse
import os
import struct
import sys

import nbis


def layout_of_nbis_py(record: bytes) -> bytes:
    """A standard ISO 19794-2:2005 record (one view) in the layout nbis-py parses."""
    if record[:8] != b"FMR\0 20\0" or len(record) < 28:
        raise ValueError("not an ISO 19794-2:2005 record")
    width, height = struct.unpack(">HH", record[14:18])
    n = record[27]
    if len(record) < 28 + 6 * n:
        raise ValueError("truncated record")
    out = bytearray(b"FMR\0 20\0")
    out += struct.pack(">I", 26 + 6 * n) + b"\0\0" + struct.pack(">HH", width, height)
    out += bytes(7) + bytes([n])
    for i in range(n):
        m = bytearray(record[28 + 6 * i : 34 + 6 * i])
        m[2] &= 0x3F  # the two reserved bits above y
        m[5] = min(63, m[5] * 63 // 100)
        out += m
    return bytes(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("sets", nargs="+")
    ap.add_argument("--root", required=True, help="set names are relative to this directory")
    ap.add_argument("--check", help="released bozorth3 scores (TSV) to compare with")
    a = ap.parse_args()
    ex = nbis.new_nbis_extractor(
        nbis.NbisExtractorSettings(
            min_quality=0.0, get_center=False, check_fingerprint=False, compute_nfiq2=False, ppi=None
        )
    )
    ref = {}
    if a.check:
        with open(a.check) as f:
            next(f)
            for line in f:
                db, p, g, s = line.rstrip("\n").split("\t")
                ref[(db, p, g)] = int(s)
    rows = 0
    with open(a.out + ".tmp", "w") as out:
        out.write("db\tprobe\tgallery\tscore\n")
        for d in a.sets:
            name = os.path.relpath(d, a.root)
            files = sorted(f for f in os.listdir(d) if f.endswith(".iso"))
            ms = {}
            for f in files:
                with open(os.path.join(d, f), "rb") as r:
                    ms[f[:-4]] = ex.load_iso_19794_2_2005(layout_of_nbis_py(r.read()))
            same = diff = 0
            rel = 0.0
            for p in ms:
                for g in ms:
                    s = ms[p].compare(ms[g])
                    out.write(f"{name}\t{p}\t{g}\t{s}\n")
                    rows += 1
                    # The released scores name a set by its database only (mindtct templates).
                    r = ref.get((os.path.dirname(name), p, g)) if name.endswith("mindtct") else None
                    if r is not None:
                        same += r == s
                        diff += r != s
                        rel += abs(s - r) / max(r, 1)
            if same + diff:
                print(f"{name}: {same} of {same + diff} scores equal the released bozorth3's, "
                      f"mean relative difference {rel / (same + diff):.3f}", file=sys.stderr)
            print(f"{name}: {len(ms)} templates scored", file=sys.stderr)
    os.replace(a.out + ".tmp", a.out)
    print(f"{rows} scores written to {a.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
