#!/usr/bin/env python3
"""The Python onnxruntime face pipeline, stage for stage the one in src/vision/.

Decode (Pillow) -> YuNet letterboxed into SIZE x SIZE (top-left, bilinear, edge-clamped), BGR 0..255
-> decode the strides, score sqrt(cls*obj), greedy NMS, largest face -> least-squares similarity of the
5 landmarks onto the ArcFace 112x112 template -> bilinear warp (zero outside) -> w600k_mbf (RGB,
(x-127.5)/127.5) -> L2-normalised 512-d embedding.

  vision-reference.py embed MODELS_DIR MODEL_CACHE PIXELS_DIR OUT.json IMAGE...
      writes the reference embeddings: `embedding` from the pixels edgeid decoded (PIXELS_DIR/NAME.ppm,
      written by `EDGEID_DUMP_DECODED=DIR cargo test --test vision embeddings`), so that both pipelines
      start from the same pixels, and `embedding_pillow` from Pillow's own JPEG decoding (libjpeg-turbo
      and edgeid's decoder differ by a level or two, which moves the embedding by about 1e-3).
      testdata/face/reference.json is made this way.
  vision-reference.py bench MODELS_DIR MODEL_CACHE ROUNDS IMAGE...
      prints one JSON object: per-stage medians (ms) per image, one intra-op thread

Needs numpy, Pillow and onnxruntime (scripts/python-env.sh makes a venv with the pinned versions).
"""
import json
import math
import os
import statistics
import sys
import time

import numpy as np
import onnxruntime as ort
from PIL import Image

ARCFACE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                    [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float64)


def load_desc(models, name):
    with open(os.path.join(models, name)) as f:
        return json.load(f)


def session(path, threads=1):
    o = ort.SessionOptions()
    o.intra_op_num_threads = threads
    o.inter_op_num_threads = 1
    o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])


def model_path(models, cache, d):
    p = os.path.join(models, d["file"])
    return p if os.path.exists(p) else os.path.join(cache, d["file"])


class Pipeline:
    def __init__(self, models, cache, size=0):
        self.dd = load_desc(models, "yunet.json")
        self.rd = load_desc(models, "w600k_mbf.json")
        self.det = session(model_path(models, cache, self.dd))
        self.rec = session(model_path(models, cache, self.rd))
        self.size = size or self.dd["input"]["width"]
        self.det_in = np.zeros((1, 3, self.size, self.size), np.float32)

    def letterbox(self, img):
        h, w = img.shape[:2]
        S = self.size
        scale = np.float32(min(np.float32(S) / np.float32(w), np.float32(S) / np.float32(h)))
        rw = min(int(round(float(np.float32(w) * scale))), S)
        rh = min(int(round(float(np.float32(h) * scale))), S)
        xs = np.clip((np.arange(rw, dtype=np.float32) + 0.5) / scale - 0.5, 0, w - 1)
        ys = np.clip((np.arange(rh, dtype=np.float32) + 0.5) / scale - 0.5, 0, h - 1)
        x0 = xs.astype(np.int64)
        y0 = ys.astype(np.int64)
        x1 = np.minimum(x0 + 1, w - 1)
        y1 = np.minimum(y0 + 1, h - 1)
        fx = (xs - x0)[None, :, None]
        fy = (ys - y0)[:, None, None]
        f = img.astype(np.float32)
        top = f[y0][:, x0] * (1 - fx) + f[y0][:, x1] * fx
        bot = f[y1][:, x0] * (1 - fx) + f[y1][:, x1] * fx
        out = top * (1 - fy) + bot * fy
        self.det_in.fill(0)
        self.det_in[0, :, :rh, :rw] = out[:, :, ::-1].transpose(2, 0, 1)  # BGR planes
        return float(scale)

    def detect(self, scale):
        outs = self.det.run(None, {self.dd["input"]["name"]: self.det_in})
        return outs

    def decode(self, outs, scale):
        names = [o.name for o in self.det.get_outputs()]
        by = dict(zip(names, outs))
        thr = self.dd["score_threshold"]
        dets = []
        S = self.size
        for s in (8, 16, 32):
            g = S // s
            cls = by[f"cls_{s}"].reshape(-1)
            obj = by[f"obj_{s}"].reshape(-1)
            bbox = by[f"bbox_{s}"].reshape(-1, 4)
            kps = by[f"kps_{s}"].reshape(-1, 10)
            score = np.sqrt(np.clip(cls, 0, 1) * np.clip(obj, 0, 1))
            for i in np.nonzero(score >= thr)[0]:
                row, col = divmod(int(i), g)
                b = bbox[i]
                cx, cy = (col + b[0]) * s, (row + b[1]) * s
                bw, bh = math.exp(b[2]) * s, math.exp(b[3]) * s
                lm = [[(kps[i][2 * j] + col) * s / scale, (kps[i][2 * j + 1] + row) * s / scale] for j in range(5)]
                dets.append({"box": [(cx - bw / 2) / scale, (cy - bh / 2) / scale, bw / scale, bh / scale],
                             "landmarks": lm, "score": float(score[i])})
        dets.sort(key=lambda d: -d["score"])
        keep = []
        for d in dets:
            if all(iou(k["box"], d["box"]) <= self.dd["nms_iou"] for k in keep):
                keep.append(d)
        keep.sort(key=lambda d: -(max(d["box"][2], 0) * max(d["box"][3], 0)))
        return keep

    def align(self, img, lm):
        p = np.array(lm, np.float64)
        q = ARCFACE
        pm, qm = p.mean(0), q.mean(0)
        u, v = p - pm, q - qm
        norm = (u ** 2).sum()
        a = (u * v).sum() / norm
        b = (u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0]).sum() / norm
        tx = qm[0] - (a * pm[0] - b * pm[1])
        ty = qm[1] - (b * pm[0] + a * pm[1])
        d = a * a + b * b
        ia, ib = a / d, -b / d
        itx, ity = -(ia * tx - ib * ty), -(ib * tx + ia * ty)
        uu, vv = np.meshgrid(np.arange(112, dtype=np.float32), np.arange(112, dtype=np.float32))
        sx = np.float32(ia) * uu - np.float32(ib) * vv + np.float32(itx)
        sy = np.float32(ib) * uu + np.float32(ia) * vv + np.float32(ity)
        h, w = img.shape[:2]
        x0 = np.floor(sx)
        y0 = np.floor(sy)
        fx, fy = (sx - x0)[..., None], (sy - y0)[..., None]
        x0 = x0.astype(np.int64)
        y0 = y0.astype(np.int64)
        out = np.zeros((112, 112, 3), np.float32)
        f = img
        for dx, dy, wt in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
            xx, yy = x0 + dx, y0 + dy
            ok = (xx >= 0) & (yy >= 0) & (xx < w) & (yy < h)
            px = np.zeros((112, 112, 3), np.float32)
            px[ok] = f[yy[ok], xx[ok]]
            out += wt * px
        i = self.rd["input"]
        t = (out - i["mean"]) * i["scale"]
        return t.transpose(2, 0, 1)[None].astype(np.float32)

    def embed(self, crop):
        e = self.rec.run(None, {self.rd["input"]["name"]: crop})[0].reshape(-1).astype(np.float64)
        return e / np.linalg.norm(e)


def iou(a, b):
    ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax2, bx2) - max(a[0], b[0]))
    ih = max(0.0, min(ay2, by2) - max(a[1], b[1]))
    inter = iw * ih
    union = max(a[2], 0) * max(a[3], 0) + max(b[2], 0) * max(b[3], 0) - inter
    return 0.0 if union <= 0 else inter / union


def run_one(p, path, t=None, pixels=None):
    t0 = time.perf_counter()
    img = np.asarray(Image.open(pixels or path).convert("RGB"))
    t1 = time.perf_counter()
    scale = p.letterbox(img)
    t2 = time.perf_counter()
    outs = p.detect(scale)
    t3 = time.perf_counter()
    dets = p.decode(outs, scale)
    t4 = time.perf_counter()
    if not dets:
        return None
    crop = p.align(img, dets[0]["landmarks"])
    t5 = time.perf_counter()
    e = p.embed(crop)
    t6 = time.perf_counter()
    if t is not None:
        for k, v in (("decode", t1 - t0), ("detect_prep", t2 - t1), ("detect_model", t3 - t2),
                     ("detect_post", t4 - t3), ("align", t5 - t4), ("embed", t6 - t5), ("total", t6 - t0)):
            t.setdefault(k, []).append(v * 1e3)
    return dets[0], e


def main():
    mode = sys.argv[1]
    if mode == "embed":
        models, cache, pixels, out, images = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6:]
        p = Pipeline(models, cache)
        ref = {"detector_size": p.size, "onnxruntime": ort.__version__, "numpy": np.__version__,
               "made_by": "scripts/vision-reference.py embed", "faces": {}}
        for path in sorted(images):
            name = os.path.splitext(os.path.basename(path))[0]
            r = run_one(p, path, pixels=os.path.join(pixels, name + ".ppm"))
            rp = run_one(p, path)
            if r is None or rp is None:
                ref["faces"][name] = None
                continue
            det, e = r
            ref["faces"][name] = {"box": [round(float(x), 3) for x in det["box"]],
                                  "landmarks": [[round(float(x), 3) for x in l] for l in det["landmarks"]],
                                  "score": round(det["score"], 5),
                                  "embedding": [round(float(x), 6) for x in e],
                                  "embedding_pillow": [round(float(x), 6) for x in rp[1]]}
        with open(out, "w") as f:
            json.dump(ref, f, indent=1)
            f.write("\n")
    elif mode == "bench":
        models, cache, rounds, images = sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5:]
        size = int(os.environ.get("EDGEID_DETECTOR_SIZE", "0"))
        p = Pipeline(models, cache, size)
        for path in images:  # warm-up
            run_one(p, path)
        t = {}
        for _ in range(rounds):
            for path in images:
                run_one(p, path, t)
        import resource
        print(json.dumps({"onnxruntime": ort.__version__, "numpy": np.__version__,
                          "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                          "detector_size": p.size, "images": len(images) * rounds,
                          "median_ms": {k: statistics.median(v) for k, v in t.items()}}))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
