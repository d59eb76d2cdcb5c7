"""Web latency under load with 10,000 cases in PostgreSQL.

Seeds a fresh PostgreSQL database with ``--cases`` cases (one image and one done analysis each,
for one team), starts gunicorn on loopback, and sends a bounded number of requests from a few
concurrent client threads to the case list, a case page and the API's case list. Reports p50/p95
latency and the status codes. Every request goes to 127.0.0.1 only; the run stops by itself.

    .venv/bin/python benchmarks/web_load.py --cases 10000 --requests 300 --concurrency 4

Needs PostgreSQL on 127.0.0.1:5432 (trust auth) and drops/creates the database ``verity_load``.
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
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB = "verity_load"


def percentile(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(values, q * 100))  # linear interpolation between the closest ranks


def fresh_database(host: str) -> str:
    import psycopg

    with psycopg.connect(f"postgresql://postgres@{host}:5432/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB}")
        conn.execute(f"CREATE DATABASE {DB}")
    return f"postgres://postgres@{host}:5432/{DB}"


def seed(n_cases: int) -> tuple[str, str, int]:
    """Create the cases in bulk; return (session cookie, API token, a case id)."""
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.utils import timezone

    from verification import services
    from verification.models import Analysis, AnalysisStatus, Case, CaseImage, Membership, ModelVersion, Role, Team

    user = get_user_model().objects.create_user("loadtest", password="load-test-pw-123")
    team = Team.objects.create(name="Load desk")
    Membership.objects.create(user=user, team=team, role=Role.LEAD)
    version = ModelVersion.objects.create(name="load", checkpoint="/dev/null", checkpoint_sha256="0" * 64,
                                          is_active=True, metrics={})
    now = timezone.now()
    batch = 2000
    for start in range(0, n_cases, batch):
        cases = Case.objects.bulk_create([
            Case(team=team, title=f"Case {i}: photo of the harbour fire", source_url=f"https://example.org/{i}",
                 notes="seeded for the load test", created_by=user) for i in range(start, min(n_cases, start + batch))])
        images = CaseImage.objects.bulk_create([
            CaseImage(case=c, file=f"images/xx/{c.pk:064d}.jpg", sha256=f"{c.pk:064d}", original_name=f"{c.pk}.jpg",
                      format="JPEG", width=1024, height=768, size_bytes=200_000,
                      model_label="ai_generated" if c.pk % 3 else "real") for c in cases])
        Analysis.objects.bulk_create([
            Analysis(image=im, status=AnalysisStatus.DONE, model_version=version,
                     label="ai_generated" if im.case_id % 3 else "real", probability_ai=0.9 if im.case_id % 3 else 0.1,
                     confidence=0.9, threshold=0.5, timings_ms={"inference_gradcam": 300.0},
                     started_at=now, finished_at=now) for im in images])
    services.refresh_model_verdicts(list(Case.objects.values_list("pk", flat=True)))
    from django.db import connection

    with connection.cursor() as cursor:  # what autovacuum does soon after a bulk load in production
        cursor.execute("ANALYZE")
    session = SessionStore()
    session["_auth_user_id"] = str(user.pk)
    session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    session["_auth_user_hash"] = user.get_session_auth_hash()
    session.create()
    assert session.session_key is not None  # create() saved the session under a new key
    token = services.token_create(user=user, name="load", scopes=["read"]).secret
    return session.session_key, token, Case.objects.order_by("-id").values_list("pk", flat=True)[n_cases // 2]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer to count, not to follow: a request sent to the login page instead of
    the measured page must not be timed as if it were that page."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def problems(results: dict[str, dict]) -> list[str]:
    """One sentence per target that did not answer every request with 200 (e.g. 302 to /login/)."""
    return [f"{name}: statuses {r['statuses']} (expected {r['requests']} x 200); its timings do not measure that "
            "page. Check the session cookie or token the run uses." for name, r in results.items()
            if r["statuses"] != {200: r["requests"]}]


def load(url: str, headers: dict[str, str], n: int, concurrency: int) -> dict:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    counter = iter(range(n))

    def worker() -> None:
        while True:
            with lock:
                if next(counter, None) is None:
                    return
            req = urllib.request.Request(url, headers=headers)
            t = time.perf_counter()
            try:
                with _OPENER.open(req, timeout=30) as r:
                    r.read()
                    code = r.status
            except urllib.error.HTTPError as e:
                code = e.code
            elapsed = time.perf_counter() - t
            with lock:
                latencies.append(elapsed)
                statuses[code] = statuses.get(code, 0) + 1

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t0
    return {"requests": n, "requests_per_s": n / wall, "p50_ms": statistics.median(latencies) * 1e3,
            "p95_ms": percentile(latencies, 0.95) * 1e3, "max_ms": max(latencies) * 1e3, "statuses": statuses}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--web-workers", type=int, default=3)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--json", default="")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="verity-load-"))
    env = {**os.environ, "DATABASE_URL": fresh_database(args.host), "VERITY_DATA_DIR": str(work),
           "DEBUG": "false", "DJANGO_SETTINGS_MODULE": "portal.settings",
           "CELERY_BROKER_URL": "memory://"}  # no task is sent by these reads
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    t = time.perf_counter()
    session, token, case_id = seed(args.cases)
    seed_s = time.perf_counter() - t
    call_command("collectstatic", "--noinput", verbosity=0)

    import socket

    with socket.socket() as s:
        s.bind((args.host, 0))
        port = s.getsockname()[1]
    web = subprocess.Popen([sys.executable, "-m", "gunicorn", "portal.wsgi:application", "--bind",
                            f"{args.host}:{port}", "--workers", str(args.web_workers), "--log-level", "warning"],
                           cwd=ROOT, env=env)
    base = f"http://{args.host}:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        cookie = {"Cookie": f"sessionid={session}"}
        targets = {
            "case list (page 1 of 10,000)": (f"{base}/", cookie),
            "case list, searched and filtered": (f"{base}/?q=harbour&model=ai_generated&sort=title", cookie),
            "case page": (f"{base}/cases/{case_id}/", cookie),
            "API case list": (f"{base}/api/v1/cases/", {"Authorization": f"Bearer {token}"}),
        }
        results = {}
        for name, (url, headers) in targets.items():
            load(url, headers, 10, 1)  # warm up every gunicorn worker's connections and caches
            results[name] = load(url, headers, args.requests, args.concurrency)
            print(name, json.dumps(results[name]), flush=True)
    finally:
        web.terminate()
        web.wait(timeout=30)
    report = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "cases": args.cases,
              "seed_s": seed_s, "concurrency": args.concurrency, "web_workers": args.web_workers,
              "results": results}
    failed = problems(results)
    report["problems"] = failed
    print(json.dumps(report, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    for line in failed:
        print(f"error: {line}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
