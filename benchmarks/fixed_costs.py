"""The pipeline's work outside the model, per image, measured in one process (issue 17).

The whole-pipeline benchmark (``pipeline.py``) gives the fraction of the model-work limit the
pipeline reaches; this one says where the rest goes, with no worker processes and no broker in
between, so each part can be timed alone:

(a) Submission, in the web process, while the workers wait (analyses are queued only once the
    case is committed): ``services.case_submit`` of ``--images`` distinct JPEGs, and inside it the
    archive's two parts, the perceptual hashes of each upload (``ml.phash.fingerprints``, timed
    alone on the same bytes) and the one lookup of all of them (``archive_index.lookup_many``);
    and how long its transaction stays open (on SQLite, the write lock the workers wait for).
(b) The worker: ``worker.tasks.analyse_batch`` on the submitted analyses, in batches of
    ``--batch`` (claimed as a worker claims them), with every model forward timed
    (``ml.wholeimage.tile_forward``, tiles and faithfulness variants): the rest is decoding,
    provenance, cutting tiles, stitching, faithfulness variants, PNG, recording and claiming.

Usage (embedded SQLite unless DATABASE_URL is set; one torch thread, as a default worker):

    .venv/bin/python benchmarks/fixed_costs.py --images 256 --json out.json

The weights are untrained: the work outside the model does not depend on them (the int8
recheck is not involved: the model runs at ``VERITY_INFERENCE_PRECISION``, fp32 unless set).
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=256, help="images submitted in one case")
    parser.add_argument("--worker-images", type=int, default=64, help="of those, how many the worker analyses")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--image-size", default="320x240", help="WxH of the submitted JPEGs (as pipeline.py)")
    parser.add_argument("--rounds", type=int, default=3, help="submissions timed (the median is reported)")
    parser.add_argument("--json", default="", help="write the results here too")
    args = parser.parse_args()
    if args.images < args.batch + 1:
        parser.error("--images must exceed --batch: the worker's first batch only warms up")

    work = Path(tempfile.mkdtemp(prefix="verity-fixed-"))
    os.environ.setdefault("VERITY_DATA_DIR", str(work / "var"))
    os.environ["VERITY_BATCH_SIZE"] = str(args.batch)
    os.environ["VERITY_MAX_FILES_PER_CASE"] = str(max(50, args.images))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import torch

    torch.set_num_threads(1)  # a default worker process's share on a CPU host (worker/layout.py)
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.core.management import call_command
    from django.db import connection, transaction
    from PIL import Image

    call_command("migrate", verbosity=0)
    import ml.wholeimage as wholeimage
    from ml import phash
    from ml.checkpoint import CheckpointMeta, save_checkpoint
    from ml.config import ModelConfig, PreprocessConfig
    from ml.model import build_model
    from tests.images import jpeg_bytes
    from verification import archive_index, queue, services
    from verification.models import Analysis, Membership, Team
    from worker import tasks

    checkpoint = save_checkpoint(work / "bench.pt", build_model(ModelConfig()), CheckpointMeta(
        model=ModelConfig(), preprocess=PreprocessConfig(input_size=224), name="bench"))
    services.model_version_register(checkpoint=checkpoint, name=f"fixed-{work.name}", activate=True)
    user = get_user_model().objects.create_user(f"fixed-{work.name}")
    team = Team.objects.create(name=f"fixed-{work.name}")
    Membership.objects.create(user=user, team=team)
    queue.enqueue_analyses = lambda analysis_ids: len(analysis_ids)  # nothing is sent: the worker part runs in this process
    w, h = (int(v) for v in args.image_size.split("x"))
    n = args.images
    images = [jpeg_bytes((w, h), seed=i) for i in range(1 + n * (args.rounds + 1))]

    # How long the submission's outermost transaction stays open (on SQLite it holds the write
    # lock, during which workers cannot record results): timed around Django's Atomic.
    held: list[float] = []
    opened_at: list[float] = []
    enter, leave = transaction.Atomic.__enter__, transaction.Atomic.__exit__

    def timed_enter(self: transaction.Atomic) -> None:
        if not connection.in_atomic_block:
            opened_at.append(time.perf_counter())
        enter(self)

    def timed_exit(self: transaction.Atomic, *exc: object) -> None:
        leave(self, *exc)  # type: ignore[arg-type]
        if not connection.in_atomic_block and opened_at:
            held.append(time.perf_counter() - opened_at.pop())

    transaction.Atomic.__enter__ = timed_enter  # type: ignore[method-assign]
    transaction.Atomic.__exit__ = timed_exit  # type: ignore[method-assign,assignment]

    def submit(lo: int, hi: int, title: str) -> tuple[float, float, list[int]]:
        files = [SimpleUploadedFile(f"{i}.jpg", images[i], "image/jpeg") for i in range(lo, hi)]
        held.clear()
        t0 = time.perf_counter()
        case = services.case_submit(user=user, team=team, title=title, files=files).case
        seconds, in_transaction = time.perf_counter() - t0, sum(held)
        return seconds, in_transaction, list(Analysis.objects.filter(image__case=case).order_by("pk")
                                             .values_list("pk", flat=True))

    submit(0, 1, "warm-up")
    rounds: list[float] = []
    inside: list[float] = []
    last_ids: list[int] = []
    for r in range(args.rounds):  # each round's case meets the earlier rounds' images in the archive
        seconds, in_transaction, last_ids = submit(1 + r * n, 1 + (r + 1) * n, f"round {r}")
        rounds.append(seconds)
        inside.append(in_transaction)
    transaction.Atomic.__enter__, transaction.Atomic.__exit__ = enter, leave  # type: ignore[method-assign]
    batch = images[1 + args.rounds * n:1 + (args.rounds + 1) * n]
    decoded = []
    for raw in batch:
        with Image.open(io.BytesIO(raw)) as im:
            im.load()
            decoded.append(im.copy())
    t0 = time.perf_counter()
    # (Before ml.phash.fingerprints, intake called the two functions: so an older checkout runs too.)
    fingerprints = getattr(phash, "fingerprints", lambda im: (phash.archive_hashes(im), phash.query_hashes(im)))
    hashed = [fingerprints(im) for im in decoded]
    hash_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    archive_index.lookup_many(team_id=team.pk, queries=[q for _, q in hashed])
    lookup_s = time.perf_counter() - t0
    submit_s = statistics.median(rounds)
    submission = {"images": n, "seconds_per_round": [round(s, 4) for s in rounds], "median_s": round(submit_s, 4),
                  "ms_per_image": round(submit_s * 1e3 / n, 3),
                  "transaction_open_ms_per_image": round(statistics.median(inside) * 1e3 / n, 3),
                  "fingerprints_ms_per_image": round(hash_s * 1e3 / n, 3),
                  "lookup_ms_per_image": round(lookup_s * 1e3 / n, 3),
                  "archive_images_at_lookup": (args.rounds + 1) * n}

    model_s = 0.0
    original = wholeimage.tile_forward

    def timed_forward(*a, **k):  # type: ignore[no-untyped-def]
        nonlocal model_s
        t = time.perf_counter()
        try:
            return original(*a, **k)
        finally:
            model_s += time.perf_counter() - t

    wholeimage.tile_forward = timed_forward  # type: ignore[assignment]
    ids = last_ids[:args.batch + args.worker_images]

    def analyse(chunk: list[int], claimant: str) -> None:
        tasks.analyse_batch(services.analyses_claim(analysis_ids=chunk, claimant=claimant))

    analyse(ids[:args.batch], "warm-up")  # loads the model, measures tiles per forward pass
    model_s = 0.0
    t0 = time.perf_counter()
    for i in range(args.batch, len(ids), args.batch):
        analyse(ids[i:i + args.batch], f"bench-{i}")
    total_s = time.perf_counter() - t0
    done = len(ids) - args.batch
    worker = {"images": done, "batch": args.batch, "total_ms_per_image": round(total_s * 1e3 / done, 3),
              "model_ms_per_image": round(model_s * 1e3 / done, 3),
              "outside_model_ms_per_image": round((total_s - model_s) * 1e3 / done, 3),
              "precision": os.environ.get("VERITY_INFERENCE_PRECISION", "auto")}
    results = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
               "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
               "torch": torch.__version__, "image_size": args.image_size, "submission": submission, "worker": worker}
    print(json.dumps(results, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
