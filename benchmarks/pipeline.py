"""Throughput and latency of the analysis pipeline, measured in one run on this machine.

(a) The bare model loop: ResNet50 forward, and forward + Grad-CAM, on preprocessed tensors at the
    serving input size, in batches of ``--batch``, for ``--loop-seconds`` each, in both CPU
    layouts (one process with every core; one single-thread process per core): the faster is the
    limit any pipeline can reach.
(b) The whole pipeline: ``services.case_submit`` -> Celery (real worker processes, in the layout
    a worker uses by default, see worker/layout.py) -> decode, preprocess, ResNet50 + Grad-CAM,
    heatmap PNG, storage -> a done Analysis row, for cases of
    1, 16 and 256 images submitted at once. Latency is per image, from the Analysis row's
    creation to its finish; throughput is images over the wall time from submission to the
    last finish.

Usage (embedded SQLite + filesystem broker unless DATABASE_URL / CELERY_BROKER_URL are set):

    .venv/bin/python benchmarks/pipeline.py --input-size 224 --sizes 1,16,256 --batch 8

The weights are untrained (throughput does not depend on them); the architecture, input size,
preprocessing and code path are those of a served model.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import cast

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def percentile(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(values, q * 100))  # linear interpolation between the closest ranks


def model_loop(checkpoint: Path, batch: int, seconds: float, start_at: float = 0.0) -> dict:
    """ResNet50 forward, then forward + Grad-CAM, on one preprocessed batch, each for ``seconds``
    after 3 warm-up calls, in this process with its torch threads. ``start_at`` (epoch seconds)
    lines up the timed part of several processes running at once."""
    import torch

    from ml.explain import DecisionTarget, GradCamExplainer
    from ml.predict import Predictor

    # The precision a worker would serve at (VERITY_INFERENCE_PRECISION, ml/precision.py).
    p = Predictor(checkpoint, device=os.environ.get("VERITY_DEVICE", "auto"),
                  precision=os.environ.get("VERITY_INFERENCE_PRECISION", "auto"),
                  calibration_data=os.environ.get("VERITY_INT8_CALIBRATION_DATA") or None)
    size = p.meta.preprocess.input_size
    x = torch.randn(batch, 3, size, size).to(p.device, memory_format=torch.channels_last)
    target = DecisionTarget(p.meta.temperature, p.meta.threshold)

    def timed(step) -> float:  # type: ignore[no-untyped-def]
        for _ in range(3):  # warm-up: the first calls are slower (allocator, oneDNN kernels)
            step()
        while time.time() < start_at:
            time.sleep(0.005)
        t, n = time.perf_counter(), 0
        while time.perf_counter() - t < seconds:
            step()
            n += batch
        if p.device.type == "cuda":
            torch.cuda.synchronize()
        return n / (time.perf_counter() - t)

    out = {"threads": torch.get_num_threads(), "device": str(p.device), "precision": p.precision.to_dict()}
    with torch.inference_mode():
        out["forward_images_per_s"] = timed(lambda: p.model(x))
    with GradCamExplainer(p.model) as cam:
        out["forward_gradcam_images_per_s"] = timed(lambda: cam(x, [target] * batch))
    return out


def model_work(rows: list) -> dict:  # type: ignore[type-arg]
    """Mean tiles, faithfulness forwards and recorded step timings per image of finished Analysis rows."""
    tiles = [len(r.tiles) or 1 for r in rows]
    faith = [(r.faithfulness.get("draws", 0) + 1) if r.faithfulness.get("draws") is not None else 0 for r in rows]
    steps: dict[str, list[float]] = {}
    for r in rows:
        for k, v in (r.timings_ms or {}).items():
            if isinstance(v, (int, float)) and k not in ("batch_size", "tile_batch"):
                steps.setdefault(k, []).append(float(v))
    return {"tiles_per_image": statistics.mean(tiles), "faithfulness_forwards_per_image": statistics.mean(faith),
            "timings_ms_mean": {k: round(statistics.mean(v), 2) for k, v in sorted(steps.items())}}


def loop_limit(checkpoint: Path, batch: int, seconds: float) -> dict:
    """The model loop in the two layouts a worker can use on a CPU: one process with a torch
    thread per core, and one single-thread process per core side by side (summed). The limit is
    the faster of the two, so the pipeline is compared with the best the model alone can do. On a
    GPU only the first layout is measured (one process owns the device)."""
    import torch

    cores = os.cpu_count() or 1
    layouts = [(1, 0)] if torch.cuda.is_available() or cores == 1 else [(1, 0), (cores, 1)]
    out: dict = {"layouts": []}
    for processes, threads in layouts:
        start_at = time.time() + 20 + 5 * processes  # after every process has loaded and warmed up
        env = {**os.environ, "VERITY_TORCH_THREADS": str(threads)}
        procs = [subprocess.Popen([sys.executable, __file__, "--loop-child", str(checkpoint), "--batch", str(batch),
                                   "--loop-seconds", str(seconds), "--start-at", str(start_at)],
                                  env=env, stdout=subprocess.PIPE, text=True) for _ in range(processes)]
        runs = [json.loads(proc.communicate()[0].strip().splitlines()[-1]) for proc in procs]
        layout = {"processes": processes, "threads_per_process": runs[0]["threads"], "device": runs[0]["device"],
                  "precision": [r["precision"]["precision"] for r in runs],
                  "forward_images_per_s": sum(r["forward_images_per_s"] for r in runs),
                  "forward_gradcam_images_per_s": sum(r["forward_gradcam_images_per_s"] for r in runs)}
        out["layouts"].append(layout)
        print(json.dumps(layout), flush=True)
    for key in ("forward_images_per_s", "forward_gradcam_images_per_s"):
        out[key] = max(layout[key] for layout in out["layouts"])
    out["device"] = out["layouts"][0]["device"]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input-size", type=int, default=224)
    parser.add_argument("--sizes", default="1,16,256")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--loop-seconds", type=float, default=10.0,
                        help="how long each model-loop measurement runs (the host's noise averages out)")
    parser.add_argument("--loop-child", default="", help=argparse.SUPPRESS)  # internal: one loop process
    parser.add_argument("--start-at", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--image-size", default="320x240", help="WxH of the submitted JPEGs")
    parser.add_argument("--worker-processes", type=int, default=0,
                        help="Celery worker processes (--concurrency); 0: the shipped default (worker/layout.py)")
    parser.add_argument("--worker-threads", type=int, default=0,
                        help="torch threads per worker process; 0: the shipped default (worker/layout.py)")
    parser.add_argument("--json", default="", help="write the results here too")
    args = parser.parse_args()
    if args.loop_child:
        print(json.dumps(model_loop(Path(args.loop_child), args.batch, args.loop_seconds, args.start_at)))
        return 0

    work = Path(tempfile.mkdtemp(prefix="verity-bench-"))
    os.environ.setdefault("VERITY_DATA_DIR", str(work / "var"))
    os.environ["VERITY_BATCH_SIZE"] = str(args.batch)
    os.environ["VERITY_MAX_FILES_PER_CASE"] = str(max(50, *(int(s) for s in args.sizes.split(","))))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

    from ml.checkpoint import CheckpointMeta, save_checkpoint
    from ml.config import ModelConfig, PreprocessConfig
    from ml.model import build_model

    checkpoint = save_checkpoint(work / "bench.pt", build_model(ModelConfig()), CheckpointMeta(
        model=ModelConfig(), preprocess=PreprocessConfig(input_size=args.input_size), name="bench"))

    results: dict = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                     "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
                     "input_size": args.input_size, "batch": args.batch}
    import torch

    results["torch"] = torch.__version__
    results["threads"] = torch.get_num_threads()
    results["model_loop"] = loop_limit(checkpoint, args.batch, args.loop_seconds)

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from tests.images import jpeg_bytes
    from tests.worker_process import celery_worker
    from verification import services
    from verification.models import Analysis, AnalysisStatus, Membership, Team

    services.model_version_register(checkpoint=checkpoint, name=f"bench-{work.name}", activate=True)
    user = get_user_model().objects.create_user(f"bench-{work.name}")
    team = Team.objects.create(name=f"bench-{work.name}")
    Membership.objects.create(user=user, team=team)
    w, h = (int(v) for v in args.image_size.split("x"))
    sizes = [int(s) for s in args.sizes.split(",")]
    # Distinct images for every submission: a team's repeated bytes are linked as duplicates and
    # not analysed again, which would measure nothing.
    images = [jpeg_bytes((w, h), seed=i) for i in range(1 + sum(sizes))]
    offset = 0

    results["pipeline"] = []
    from worker.layout import inference_layout

    processes, threads = inference_layout(cores=os.cpu_count() or 1, gpu=torch.cuda.is_available(),
                                          processes=args.worker_processes, threads=args.worker_threads)
    results["worker_processes"], results["worker_threads"] = processes, threads
    with celery_worker(work / "worker.log", concurrency=processes,
                       extra_env={"VERITY_BATCH_SIZE": str(args.batch),
                                  "VERITY_TORCH_THREADS": str(threads)}):
        # Warm-up: the worker process starts, preloads the model, serves one image.
        for n in [1] + sizes:
            files = [SimpleUploadedFile(f"{i}.jpg", images[i], "image/jpeg") for i in range(offset, offset + n)]
            offset += n
            t0 = time.time()
            case = services.case_submit(user=user, team=team, title=f"bench {n}", files=files).case
            submit_s = time.time() - t0  # the web request's share: intake, storage, archive fingerprints
            deadline = time.time() + 1800
            while Analysis.objects.filter(image__case=case, status__in=[AnalysisStatus.QUEUED,
                                                                         AnalysisStatus.RUNNING]).exists():
                if time.time() > deadline:
                    raise SystemExit("pipeline did not finish; see " + str(work / "worker.log"))
                time.sleep(0.25)  # timings come from the rows, not from this loop: poll gently
            rows = list(Analysis.objects.filter(image__case=case))
            assert len(rows) == n, f"{len(rows)} analyses for {n} images"
            assert all(r.status == AnalysisStatus.DONE for r in rows), [r.error for r in rows]
            finished = [cast(dt.datetime, r.finished_at) for r in rows]  # set on every done row
            latencies = [(f - r.created_at).total_seconds() for f, r in zip(finished, rows)]
            wall = max(finished).timestamp() - t0
            entry = {"images": n, "images_per_s": n / wall, "wall_s": wall, "submit_s": submit_s,
                     "latency_p50_s": statistics.median(latencies), "latency_p95_s": percentile(latencies, 0.95),
                     **model_work(rows)}
            if n == 1 and "warmup" not in results:
                results["warmup"] = entry
                continue
            results["pipeline"].append(entry)
            print(json.dumps(entry), flush=True)
    loop = results["model_loop"]
    for entry in results["pipeline"]:
        # Per tile: the loop times one 224 px tile through forward + Grad-CAM.
        entry["fraction_of_loop_limit"] = entry["images_per_s"] / loop["forward_gradcam_images_per_s"]
        # Per image: the loop's time for the model work this image really had (its tiles through
        # forward + Grad-CAM, the faithfulness check's variants through a forward), so the
        # fraction measures everything else the pipeline does (decode, provenance, stitching,
        # PNG, storage, queue, database).
        seconds = (entry["tiles_per_image"] / loop["forward_gradcam_images_per_s"]
                   + entry["faithfulness_forwards_per_image"] / loop["forward_images_per_s"])
        entry["model_limit_images_per_s"] = 1 / seconds
        entry["fraction_of_model_limit"] = entry["images_per_s"] * seconds
    print(json.dumps(results, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
