#!/usr/bin/env python3
"""Peer benchmark: edgeid vs FAISS IndexFlatIP vs usearch exact search.

Run through run.sh (it sets up the pinned venv). For each gallery size N this
script generates (or reuses) seeded data in out/N/, measures single-query top-1
latency of each peer in-process, runs the edgeid CLI on the same files, checks
every engine's top-1 against an exact reference, prints a table and writes
out/results.json. See README.md.
"""

from __future__ import annotations

import os
import sys

# Must happen before numpy/faiss load OpenBLAS: these two variables slow it down.
_OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
if any(v in os.environ for v in _OPENBLAS_VARS):
    env = dict(os.environ)
    env.setdefault(
        "PEERS_OPENBLAS_WAS",
        " ".join(f"{v}={os.environ.get(v, '<unset>')}" for v in _OPENBLAS_VARS),
    )
    for v in _OPENBLAS_VARS:
        env.pop(v, None)
    os.execve(sys.executable, [sys.executable, *sys.argv], env)

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DATA_FORMAT = 1  # bump when the generator changes, invalidates out/N/
GEN_CHUNK = 65536  # rows per generation chunk (part of the data definition)
EDGEID_KEYS = (
    "gallery", "dim", "kernel", "open_ms", "p50_ms", "p99_ms", "batch_qps",
    "insert_per_s", "delete_10k_ms", "peak_rss_mb", "exact",
)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- data

def data_meta(n: int, d: int, q: int, seed: int) -> dict:
    return {
        "format": DATA_FORMAT,
        "gallery": n,
        "dim": d,
        "queries": q,
        "seed": seed,
        "noise_sigma": 0.5 / math.sqrt(d),
        "generator": "numpy PCG64 via SeedSequence([seed, N, D]).spawn(2); "
        f"gallery standard_normal f32 in {GEN_CHUNK}-row chunks, L2-normalised; "
        "queries = gallery[src] + N(0, sigma^2), re-normalised",
        "files": {"gallery.f32": "N*D <f4 row-major", "queries.f32": "Q*D <f4 row-major",
                  "truth.u32": "Q <u4, source gallery row of each query"},
    }


def ensure_data(out_dir: Path, n: int, d: int, q: int, seed: int) -> None:
    meta = data_meta(n, d, q, seed)
    files = {"gallery.f32": n * d * 4, "queries.f32": q * d * 4, "truth.u32": q * 4}
    meta_path = out_dir / "meta.json"
    if meta_path.exists():
        try:
            same = json.loads(meta_path.read_text()) == meta
        except ValueError:
            same = False
        if same and all((out_dir / f).is_file() and (out_dir / f).stat().st_size == s
                        for f, s in files.items()):
            log(f"[data] reusing {out_dir}")
            return
    out_dir.mkdir(parents=True, exist_ok=True)
    meta_path.unlink(missing_ok=True)
    t0 = time.perf_counter()
    g_ss, q_ss = np.random.SeedSequence([seed, n, d]).spawn(2)
    g_rng = np.random.default_rng(g_ss)
    tmp = out_dir / "gallery.f32.tmp"
    with open(tmp, "wb") as f:
        for start in range(0, n, GEN_CHUNK):
            rows = min(GEN_CHUNK, n - start)
            x = g_rng.standard_normal((rows, d), dtype=np.float32)
            x /= np.linalg.norm(x, axis=1, keepdims=True)
            x.astype("<f4", copy=False).tofile(f)
    tmp.replace(out_dir / "gallery.f32")

    gallery = load_f32(out_dir / "gallery.f32", n, d)
    q_rng = np.random.default_rng(q_ss)
    src = q_rng.choice(n, size=q, replace=q > n)
    noise = q_rng.standard_normal((q, d)) * meta["noise_sigma"]
    queries = gallery[src].astype(np.float64) + noise
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    queries.astype("<f4").tofile(out_dir / "queries.f32")
    src.astype("<u4").tofile(out_dir / "truth.u32")
    meta_path.write_text(json.dumps(meta, indent=1) + "\n")
    log(f"[data] generated {out_dir} in {time.perf_counter() - t0:.1f}s")


def load_f32(path: Path, rows: int, d: int) -> np.ndarray:
    a = np.fromfile(path, dtype="<f4")
    if a.size != rows * d:
        raise SystemExit(f"{path}: expected {rows}x{d} floats, found {a.size}")
    return a.reshape(rows, d).astype(np.float32, copy=False)


# ---------------------------------------------------------------------- reference

def exact_reference_f64(gallery: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-1 by f64 brute force; also returns the top1-top2 score gap."""
    qd = queries.astype(np.float64)
    nq = qd.shape[0]
    best_s = np.full((nq, 2), -np.inf)
    best_i = np.zeros((nq, 2), dtype=np.int64)
    for start in range(0, gallery.shape[0], GEN_CHUNK):
        s = qd @ gallery[start:start + GEN_CHUNK].astype(np.float64).T
        k = min(2, s.shape[1])
        idx = np.argpartition(-s, k - 1, axis=1)[:, :k] if s.shape[1] > k else np.tile(np.arange(s.shape[1]), (nq, 1))
        cs = np.concatenate([best_s, np.take_along_axis(s, idx, axis=1)], axis=1)
        ci = np.concatenate([best_i, idx + start], axis=1)
        order = np.argsort(-cs, axis=1, kind="stable")[:, :2]
        best_s = np.take_along_axis(cs, order, axis=1)
        best_i = np.take_along_axis(ci, order, axis=1)
    return best_i[:, 0], best_s[:, 0] - best_s[:, 1]


# ------------------------------------------------------------------------ timing

def cpu_snapshot() -> tuple[float, float, float]:
    """(wall s, machine busy CPU s, this process + children CPU s)."""
    import resource

    busy = float("nan")
    try:
        f = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        user, nice, system, _idle, _iowait, irq, softirq = (int(x) for x in f[:7])
        busy = (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        pass
    own = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        r = resource.getrusage(who)
        own += r.ru_utime + r.ru_stime
    return time.perf_counter(), busy, own


def other_cpu_cores(a, b) -> float:
    """Average number of cores used by other processes between two snapshots."""
    wall = b[0] - a[0]
    return max(0.0, ((b[1] - a[1]) - (b[2] - a[2])) / wall) if wall > 0 else float("nan")


def time_single(search_one, queries: np.ndarray, warmup: int) -> tuple[np.ndarray, list]:
    """Latency (ms) of one query at a time; returns (latencies, raw results)."""
    rows = [np.ascontiguousarray(queries[i:i + 1]) for i in range(queries.shape[0])]
    for i in range(min(warmup, len(rows))):
        search_one(rows[i])
    lat = np.empty(len(rows))
    raw = [None] * len(rows)
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for i, r in enumerate(rows):
            t0 = time.perf_counter_ns()
            raw[i] = search_one(r)
            lat[i] = (time.perf_counter_ns() - t0) / 1e6
    finally:
        if gc_was:
            gc.enable()
    return lat, raw


def call_overhead_ms(make_search, d: int, warmup: int) -> float:
    """p50 of the same call on a 16-row gallery: the Python/binding floor."""
    rng = np.random.default_rng(7)
    g = rng.standard_normal((16, d), dtype=np.float32)
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    search_one, _ = make_search(g)
    lat, _ = time_single(search_one, g[:8].copy(), warmup)
    return float(np.median(lat))


# ------------------------------------------------------------------------- peers

def faiss_engine(threads: int):
    import faiss

    def make(gallery):
        faiss.omp_set_num_threads(threads)
        index = faiss.IndexFlatIP(gallery.shape[1])
        index.add(gallery)

        def one(q):
            return index.search(q, 1)[1]

        return one, (lambda raw: int(raw[0, 0]))

    return make


def usearch_engine(dtype: str, metric: str, threads: int):
    from usearch.index import Index

    def make(gallery):
        n, d = gallery.shape
        # exact=True scans every stored vector and never touches the HNSW graph,
        # so the graph is built as cheaply as usearch allows (it cannot be skipped).
        index = Index(ndim=d, metric=metric, dtype=dtype, connectivity=2, expansion_add=1)
        index.add(np.arange(n, dtype=np.uint64), gallery, threads=2)

        def one(q):
            return index.search(q[0], 1, exact=True, threads=threads)

        return one, (lambda raw: int(raw.keys[0]))

    return make


def peer_specs(names: list[str]) -> list[tuple[str, int, str, object]]:
    specs = []
    for name in names:
        for t in (1, 2):
            if name == "faiss":
                specs.append(("faiss-flat-ip-f32", t, "faiss.IndexFlatIP, search(q, 1)", faiss_engine(t)))
            elif name == "usearch-i8":
                specs.append(("usearch-exact-i8", t, "usearch Index(dtype=i8, metric=cos).search(q, 1, exact=True)",
                              usearch_engine("i8", "cos", t)))
            elif name == "usearch-f32":
                specs.append(("usearch-exact-f32", t, "usearch Index(dtype=f32, metric=ip).search(q, 1, exact=True)",
                              usearch_engine("f32", "ip", t)))
            else:
                raise SystemExit(f"unknown engine {name!r}")
    return specs


# ------------------------------------------------------------------------ edgeid

def run_edgeid(out_dir: Path, d: int, timeout: float) -> tuple[dict | None, str | None]:
    if shutil.which("cargo") is None:
        return None, "cargo not found"
    cmd = ["cargo", "run", "--release", "-q", "-p", "edgeid-cli", "--", "bench", "face",
           "--gallery-file", str(out_dir / "gallery.f32"), "--queries-file", str(out_dir / "queries.f32"),
           "--dim", str(d), "--json"]
    log("[edgeid] " + " ".join(cmd))
    try:
        p = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout:.0f}s"
    except OSError as e:
        return None, str(e)
    if p.returncode != 0:
        tail = [ln for ln in p.stderr.strip().splitlines() if ln.strip()]
        return None, f"exit {p.returncode}: {tail[-1].strip() if tail else 'no stderr'}"
    obj = None
    for line in reversed(p.stdout.strip().splitlines()):
        try:
            cand = json.loads(line)
        except ValueError:
            continue
        if isinstance(cand, dict):
            obj = cand
            break
    if obj is None:
        try:
            obj = json.loads(p.stdout)
        except ValueError:
            return None, f"exit 0 but no JSON object on stdout ({len(p.stdout)} bytes)"
    missing = [k for k in EDGEID_KEYS if k not in obj]
    if missing:
        return None, f"JSON lacks keys {missing}"
    return obj, None


# ------------------------------------------------------------------------- main

def fmt(x, spec: str) -> str:
    if x is None:
        return format("-", re.sub(r"(\.\d+)?[a-z%]$", "", spec))
    return format(x, spec)


def env_record() -> dict:
    from threadpoolctl import threadpool_info
    import faiss
    import usearch
    from usearch import compiled as uc

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "python": platform.python_version(),
        "cpu": cpu,
        "nproc": os.cpu_count(),
        "numpy": np.__version__,
        "faiss": faiss.__version__,
        "faiss_simd": faiss.SIMDConfig.get_level_name(),
        "usearch": usearch.__version__,
        "usearch_isa_available": uc.hardware_acceleration_available(),
        "openblas_env_before": os.environ.get("PEERS_OPENBLAS_WAS", "unknown (peers.py run directly)"),
        "openblas_env_now": {v: os.environ.get(v) for v in _OPENBLAS_VARS},
        "threadpools": [{k: tp.get(k) for k in ("user_api", "internal_api", "version", "num_threads",
                                                  "threading_layer", "architecture", "filepath")}
                        for tp in threadpool_info()],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gallery", default="10000,100000", help="comma-separated gallery sizes (1000000 is opt-in: ~2 GB)")
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--warmup", type=int, default=5, help="untimed queries before timing")
    ap.add_argument("--engines", default="faiss,usearch-i8,usearch-f32",
                    help="peers to run: faiss, usearch-i8, usearch-f32 (each at 1 and 2 threads)")
    ap.add_argument("--exact-ref-max", type=int, default=100000,
                    help="largest N whose reference top-1 is f64 brute force; above it FAISS flat is the reference")
    ap.add_argument("--no-edgeid", action="store_true", help="skip the edgeid CLI")
    ap.add_argument("--edgeid-timeout", type=float, default=3600, help="seconds, includes cargo build")
    ap.add_argument("--out", type=Path, default=HERE / "out")
    args = ap.parse_args()

    sizes = [int(s) for s in args.gallery.split(",") if s.strip()]
    if not sizes or min(sizes) < 2 or args.dim < 1 or args.queries < 1:
        ap.error("need gallery sizes >= 2, dim >= 1, queries >= 1")
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    specs = peer_specs(engines)

    env = env_record()
    log(f"[env] python {env['python']}  cpu {env['cpu']} x{env['nproc']}")
    log(f"[env] numpy {env['numpy']}  faiss {env['faiss']} (SIMD {env['faiss_simd']})  "
        f"usearch {env['usearch']} (ISA {env['usearch_isa_available']})")
    log(f"[env] OpenBLAS vars before: {env['openblas_env_before']}; now: {env['openblas_env_now']}")
    for tp in env["threadpools"]:
        log(f"[env] threadpool {tp['user_api']}/{tp['internal_api']} {tp['version']} threads={tp['num_threads']} "
            f"layer={tp['threading_layer']} arch={tp['architecture']} {Path(tp['filepath']).name}")

    results, edgeid_runs, ref_notes = [], [], []
    for n in sizes:
        d, nq = args.dim, args.queries
        out_dir = args.out / str(n)
        ensure_data(out_dir, n, d, nq, args.seed)
        gallery = load_f32(out_dir / "gallery.f32", n, d)
        queries = load_f32(out_dir / "queries.f32", nq, d)
        src = np.fromfile(out_dir / "truth.u32", dtype="<u4").astype(np.int64)
        load0 = os.getloadavg()[0]

        ref, gap, ref_kind = None, None, "faiss-flat-ip-f32 (batch)"
        if n <= args.exact_ref_max:
            t0 = time.perf_counter()
            ref, gap = exact_reference_f64(gallery, queries)
            ref_kind = "f64 brute force"
            log(f"[ref] N={n}: f64 exact top-1 in {time.perf_counter() - t0:.1f}s; "
                f"{int((ref != src).sum())}/{nq} queries' exact top-1 is not their source; "
                f"min top1-top2 gap {gap.min():.4f}")
        else:
            import faiss
            faiss.omp_set_num_threads(2)
            fi = faiss.IndexFlatIP(d)
            fi.add(gallery)
            ref = fi.search(queries, 1)[1][:, 0].astype(np.int64)
            del fi
            log(f"[ref] N={n}: FAISS flat batch search is the reference; "
                f"{int((ref != src).sum())}/{nq} queries' top-1 is not their source")

        rows = []
        snap0 = cpu_snapshot()
        for name, threads, how, make in specs:
            t0 = time.perf_counter()
            search_one, extract = make(gallery)
            build_s = time.perf_counter() - t0
            lat, raw = time_single(search_one, queries, args.warmup)
            top = np.array([extract(r) for r in raw], dtype=np.int64)
            del search_one, raw
            gc.collect()
            overhead = call_overhead_ms(make, d, args.warmup)
            row = {
                "gallery": n, "dim": d, "queries": nq, "engine": name, "threads": threads, "api": how,
                "p50_ms": float(np.percentile(lat, 50)), "p99_ms": float(np.percentile(lat, 99)),
                "mean_ms": float(lat.mean()), "agreement": float((top == ref).mean()),
                "source_recall": float((top == src).mean()), "build_s": build_s,
                "call_overhead_ms": overhead, "x_vs_edgeid": None,
            }
            rows.append(row)
            log(f"[{name} t={threads}] N={n} p50 {row['p50_ms']:.3f} ms  p99 {row['p99_ms']:.3f} ms  "
                f"agree {row['agreement']:.3f}  (index build {build_s:.1f}s, call floor {overhead:.3f} ms)")
            if name.startswith("faiss") and n <= args.exact_ref_max and row["agreement"] != 1.0:
                bad = np.nonzero(top != ref)[0]
                log(f"[warn] FAISS flat disagrees with f64 exact on {bad.size} queries; gaps {gap[bad]}")

        other = other_cpu_cores(snap0, cpu_snapshot())
        load1 = os.getloadavg()[0]
        edge, reason = (None, "skipped (--no-edgeid)") if args.no_edgeid else run_edgeid(out_dir, d, args.edgeid_timeout)
        edge_row = None
        if edge is not None:
            agree = srcr = None
            top1 = edge.get("top1")
            if isinstance(top1, list) and len(top1) == nq:
                t = np.array(top1, dtype=np.int64)
                agree, srcr = float((t == ref).mean()), float((t == src).mean())
            elif isinstance(edge.get("top1_source_agreement"), (int, float)):
                srcr = float(edge["top1_source_agreement"])
            edge_row = {
                "gallery": n, "dim": d, "queries": nq, "engine": "edgeid", "threads": edge.get("threads"),
                "api": f"edgeid-cli bench face (kernel {edge.get('kernel')})",
                "p50_ms": float(edge["p50_ms"]), "p99_ms": float(edge["p99_ms"]), "mean_ms": None,
                "agreement": agree, "source_recall": srcr, "build_s": None, "call_overhead_ms": None,
                "x_vs_edgeid": 1.0,
            }
            if int(edge["gallery"]) != n or int(edge["dim"]) != d:
                log(f"[warn] edgeid reports gallery={edge['gallery']} dim={edge['dim']}, expected {n}/{d}")
            if edge.get("exact") is not True:
                log("[warn] edgeid reports exact != true")
            for r in rows:
                r["x_vs_edgeid"] = r["p50_ms"] / edge_row["p50_ms"] if edge_row["p50_ms"] > 0 else None
            rows.append(edge_row)
        else:
            log(f"edgeid: not available ({reason})")
        edgeid_runs.append({"gallery": n, "raw": edge, "unavailable": reason})
        ref_notes.append({"gallery": n, "reference": ref_kind, "ref_not_source": int((ref != src).sum()),
                          "min_top1_top2_gap": None if gap is None else float(gap.min()),
                          "other_cpu_cores_while_timing": other,
                          "loadavg_1m_before": load0, "loadavg_1m_after": load1})
        if not other < 0.2:
            log(f"[warn] other processes used {other:.2f} cores on average while the peers were timed "
                f"at N={n}: timings are noisy")
        results.extend(rows)
        del gallery, queries
        gc.collect()

    # ---------------------------------------------------------------- report
    hdr = f"{'N':>9} {'engine':<20} {'thr':>3} {'p50 ms':>9} {'p99 ms':>9} {'agree':>6} {'src':>6} {'x edgeid':>9}"
    print()
    print(hdr)
    print("-" * len(hdr))
    for r in results:
        print(f"{r['gallery']:>9} {r['engine']:<20} {fmt(r['threads'], '>3')} {r['p50_ms']:>9.3f} {r['p99_ms']:>9.3f} "
              f"{fmt(r['agreement'], '>6.3f')} {fmt(r['source_recall'], '>6.3f')} {fmt(r['x_vs_edgeid'], '>9.2f')}")
    print()
    for run, note in zip(edgeid_runs, ref_notes):
        n = run["gallery"]
        if run["raw"] is None:
            print(f"N={n}: edgeid: not available ({run['unavailable']})")
        else:
            e = run["raw"]
            print(f"N={n}: edgeid kernel={e['kernel']} exact={e['exact']} open {e['open_ms']} ms, "
                  f"batch {e['batch_qps']} q/s, insert {e['insert_per_s']}/s, delete 10k {e['delete_10k_ms']} ms, "
                  f"peak RSS {e['peak_rss_mb']} MB")
        print(f"N={n}: reference = {note['reference']}; {note['ref_not_source']} queries' exact top-1 != source; "
              f"other processes used {note['other_cpu_cores_while_timing']:.2f} cores while peers were timed")
    print("agree = top-1 equal to the reference; src = top-1 equal to the query's source row; "
          "x edgeid = peer p50 / edgeid p50 (how many times faster edgeid is)")

    args.out.mkdir(parents=True, exist_ok=True)
    doc = {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "config": {"gallery": sizes, "dim": args.dim, "queries": args.queries, "seed": args.seed,
                   "warmup": args.warmup, "engines": engines, "exact_ref_max": args.exact_ref_max,
                   "noise_sigma": 0.5 / math.sqrt(args.dim)},
        "env": env,
        "references": ref_notes,
        "results": results,
        "edgeid": edgeid_runs,
    }
    (args.out / "results.json").write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {args.out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
