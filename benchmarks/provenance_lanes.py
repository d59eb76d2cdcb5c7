"""Cost per image of the provenance lanes (verification.provenance.read_lanes), the work the worker
adds beside the model for every image, and what the lanes find on the labelled data.

    python benchmarks/provenance_lanes.py --out benchmarks/results/provenance-lanes.json

Three parts:
1. every file of ../shared/fixtures/c2pa and files this script makes (PNG with AUTOMATIC1111 and
   ComfyUI chunks, JPEG/WebP with XMP, a plain 1280x720 JPEG), each read --repeat times: median
   and p95 of read_lanes, and of the C2PA lane alone;
2. every image of ../shared/data/commons-zimage and the test split of ../shared/data/unsplash-gemini,
   read once from the tar shards (bytes as stored): per-image time distribution, and how many images
   of each class each lane found something in (state "found"), with the provenance summary.

Pure Python, no Django, no network (the C2PA reader never fetches remote manifests)."""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import platform
import statistics
import sys
import tarfile
import time
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402
from PIL.PngImagePlugin import PngInfo  # noqa: E402

from tests.images import photo_like  # noqa: E402
from verification.evidence import provenance_of  # noqa: E402
from verification.provenance import c2pa_lane, read_lanes  # noqa: E402

SHARED = ROOT / ".." / "shared"


def _encode(im: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def made_files() -> dict[str, tuple[bytes, str]]:
    photo = photo_like((1280, 720), seed=1)
    a1111 = PngInfo()
    a1111.add_text("parameters", "a harbour at night\nNegative prompt: blur\nSteps: 30, Sampler: Euler a, "
                                 "CFG scale: 7, Seed: 1234, Size: 1024x1024, Model: sd_xl_base_1.0")
    comfy = PngInfo()
    graph = {str(i): {"class_type": "KSampler", "inputs": {"seed": i, "steps": 20}} for i in range(200)}
    comfy.add_text("prompt", json.dumps(graph))
    comfy.add_text("workflow", json.dumps({"nodes": list(graph.values())}))
    xmp = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description Iptc4xmpExt:DigitalSourceType='
           b'"http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"/></rdf:RDF></x:xmpmeta>')
    small = photo_like((1024, 1024), seed=2)
    return {
        "made/plain-1280x720.jpg": (_encode(photo, "JPEG", quality=90), "JPEG"),
        "made/a1111-1024.png": (_encode(small, "PNG", pnginfo=a1111), "PNG"),
        "made/comfyui-1024.png": (_encode(small, "PNG", pnginfo=comfy), "PNG"),
        "made/xmp-1280x720.jpg": (_encode(photo, "JPEG", quality=90, xmp=xmp), "JPEG"),
        "made/xmp-1280x720.webp": (_encode(photo, "WEBP", quality=85, xmp=xmp), "WEBP"),
    }


def timed(fn, repeat: int) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def cpu_timed(fn, repeat: int) -> list[float]:  # type: ignore[no-untyped-def]
    """CPU time of the process per call (all threads): on a machine shared with other jobs it is
    far steadier than wall time, which counts the time other processes held the cores."""
    out = []
    for _ in range(repeat):
        t = time.process_time()
        fn()
        out.append((time.process_time() - t) * 1000)
    return out


def summary(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)
    return {"n": len(ms), "median_ms": round(statistics.median(ordered), 3),
            "p95_ms": round(ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))], 3),
            "max_ms": round(ordered[-1], 3), "mean_ms": round(statistics.fmean(ordered), 3)}


def dataset_images(source: str, split: str | None):  # type: ignore[no-untyped-def]
    folder = SHARED / "data" / source
    rows = [r for r in csv.DictReader((folder / "MANIFEST.csv").open()) if split is None or r["split"] == split]
    by_shard: defaultdict[str, dict[str, dict[str, str]]] = defaultdict(dict)
    for r in rows:
        by_shard[r["shard"]][r["relpath"]] = r
    for shard, wanted in sorted(by_shard.items()):
        with tarfile.open(folder / shard) as tar:
            for member in tar:
                row = wanted.get(member.name)
                if row is None:
                    continue
                f = tar.extractfile(member)
                if f is not None:
                    yield row, f.read()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "provenance-lanes.json")
    args = parser.parse_args()

    files: dict[str, tuple[bytes, str]] = {}
    for path in sorted((SHARED / "fixtures" / "c2pa").glob("*.jpg")):
        files[f"c2pa/{path.name}"] = (path.read_bytes(), "JPEG")
    files.update(made_files())
    per_file = {}
    for name, (data, fmt) in files.items():
        read_lanes(data, fmt)  # warm-up (first call loads the native library)
        lanes = read_lanes(data, fmt)
        per_file[name] = {
            "bytes": len(data), "format": fmt,
            "read_lanes": summary(timed(lambda data=data, fmt=fmt: read_lanes(data, fmt), args.repeat)),
            "read_lanes_cpu": summary(cpu_timed(lambda data=data, fmt=fmt: read_lanes(data, fmt), args.repeat)),
            "c2pa_lane": summary(timed(lambda data=data, fmt=fmt: c2pa_lane.read(data, fmt), args.repeat)),
            "found": {lane["lane"]: lane["state"] for lane in lanes},
            "c2pa_validation": lanes[0]["found"].get("validation", ""),
            "provenance": provenance_of(lanes),
        }
        print(f"{name:32s} {per_file[name]['read_lanes']['median_ms']:8.2f} ms median "
              f"(c2pa {per_file[name]['c2pa_lane']['median_ms']:.2f})", flush=True)

    datasets = {}
    for source, split in (("commons-zimage", None), ("unsplash-gemini", "test")):
        times: list[float] = []
        cpu: list[float] = []
        found: dict[str, Counter[str]] = defaultdict(Counter)
        summaries: dict[str, Counter[str]] = defaultdict(Counter)
        counts: Counter[str] = Counter()
        errors: Counter[str] = Counter()
        for row, data in dataset_images(source, split):
            fmt = Image.open(io.BytesIO(data)).format or "JPEG"
            t, c = time.perf_counter(), time.process_time()
            lanes = read_lanes(data, fmt)
            times.append((time.perf_counter() - t) * 1000)
            cpu.append((time.process_time() - c) * 1000)
            counts[row["label"]] += 1
            for lane in lanes:
                if lane["state"] == "found":
                    found[row["label"]][lane["lane"]] += 1
                elif lane["state"] == "error":
                    errors[lane["lane"]] += 1
            summaries[row["label"]][provenance_of(lanes) or "none"] += 1
        datasets[f"{source}{'/' + split if split else ''}"] = {
            "images": dict(counts), "read_lanes": summary(times), "read_lanes_cpu": summary(cpu),
            "lane_found_by_label": {k: dict(v) for k, v in found.items()},
            "provenance_by_label": {k: dict(v) for k, v in summaries.items()}, "lane_errors": dict(errors)}
        print(source, datasets[f"{source}{'/' + split if split else ''}"], flush=True)

    import c2pa

    result = {
        "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python " + " ".join([f"benchmarks/{Path(__file__).name}", *sys.argv[1:]]),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "note": "2-core VM shared with seven other engineers' jobs at the time: upper bounds"},
        "load_average_at_end": os.getloadavg(),
        "c2pa_sdk": c2pa.sdk_version(), "repeat": args.repeat, "files": per_file, "datasets": datasets,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
