"""Throughput and latency of the analysis pipeline, measured in one run on this machine.

(a) The bare model loop: ResNet50 forward, and forward + Grad-CAM, on preprocessed tensors at the
    serving input size, in batches of ``--batch``: the limit any pipeline can reach.
(b) The whole pipeline: ``services.case_submit`` -> Celery (real worker process) -> decode,
    preprocess, ResNet50 + Grad-CAM, PNG encoding, storage -> a done Analysis row, for cases of
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
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def percentile(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(values, q * 100))  # linear interpolation between the closest ranks


def model_loop(checkpoint: Path, batch: int, iters: int) -> dict:
    import torch

    from ml.explain import DecisionTarget, GradCamExplainer
    from ml.predict import Predictor

    p = Predictor(checkpoint, device=os.environ.get("VERITY_DEVICE", "auto"))
    size = p.meta.preprocess.input_size
    x = torch.randn(batch, 3, size, size).to(p.device, memory_format=torch.channels_last)
    out = {}
    with torch.inference_mode():
        for _ in range(3):  # warm-up: the first calls are slower (allocator, oneDNN kernels)
            p.model(x)
        t = time.perf_counter()
        for _ in range(iters):
            p.model(x)
        if p.device.type == "cuda":
            torch.cuda.synchronize()
        out["forward_images_per_s"] = batch * iters / (time.perf_counter() - t)
    target = DecisionTarget(p.meta.temperature, p.meta.threshold)
    with GradCamExplainer(p.model) as cam:
        for _ in range(3):
            cam(x, [target] * batch)
        t = time.perf_counter()
        for _ in range(iters):
            cam(x, [target] * batch)
        if p.device.type == "cuda":
            torch.cuda.synchronize()
        out["forward_gradcam_images_per_s"] = batch * iters / (time.perf_counter() - t)
    out["device"] = str(p.device)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input-size", type=int, default=224)
    parser.add_argument("--sizes", default="1,16,256")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--iters", type=int, default=6)
    parser.add_argument("--image-size", default="320x240", help="WxH of the submitted JPEGs")
    parser.add_argument("--worker-processes", type=int, default=1,
                        help="Celery worker processes (--concurrency) for the pipeline part")
    parser.add_argument("--worker-threads", type=int, default=0,
                        help="torch threads per worker process (VERITY_TORCH_THREADS; 0: all cores)")
    parser.add_argument("--json", default="", help="write the results here too")
    args = parser.parse_args()

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
    results["model_loop"] = model_loop(checkpoint, args.batch, args.iters)
    print(json.dumps(results["model_loop"], indent=2), flush=True)

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
    results["worker_processes"], results["worker_threads"] = args.worker_processes, args.worker_threads
    with celery_worker(work / "worker.log", concurrency=args.worker_processes,
                       extra_env={"VERITY_BATCH_SIZE": str(args.batch),
                                  "VERITY_TORCH_THREADS": str(args.worker_threads)}):
        # Warm-up: the worker process starts, preloads the model, serves one image.
        for n in [1] + sizes:
            files = [SimpleUploadedFile(f"{i}.jpg", images[i], "image/jpeg") for i in range(offset, offset + n)]
            offset += n
            t0 = time.time()
            case = services.case_submit(user=user, team=team, title=f"bench {n}", files=files).case
            deadline = time.time() + 1800
            while Analysis.objects.filter(image__case=case, status__in=[AnalysisStatus.QUEUED,
                                                                         AnalysisStatus.RUNNING]).exists():
                if time.time() > deadline:
                    raise SystemExit("pipeline did not finish; see " + str(work / "worker.log"))
                time.sleep(0.25)  # timings come from the rows, not from this loop: poll gently
            rows = list(Analysis.objects.filter(image__case=case))
            assert len(rows) == n, f"{len(rows)} analyses for {n} images"
            assert all(r.status == AnalysisStatus.DONE for r in rows), [r.error for r in rows]
            latencies = [(r.finished_at - r.created_at).total_seconds() for r in rows]
            wall = max(r.finished_at for r in rows).timestamp() - t0
            entry = {"images": n, "images_per_s": n / wall, "wall_s": wall,
                     "latency_p50_s": statistics.median(latencies), "latency_p95_s": percentile(latencies, 0.95)}
            if n == 1 and "warmup" not in results:
                results["warmup"] = entry
                continue
            results["pipeline"].append(entry)
            print(json.dumps(entry), flush=True)
    limit = results["model_loop"]["forward_gradcam_images_per_s"]
    for entry in results["pipeline"]:
        entry["fraction_of_loop_limit"] = entry["images_per_s"] / limit
    print(json.dumps(results, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
