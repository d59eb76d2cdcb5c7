"""``python -m portal.launcher``: the embedded Verity in one command.

Migrates the database, creates the first admin account, makes sure a classifier is active
(training the demo model if there is none), then runs the web server and a Celery worker
together: an inference worker (one single-thread process per core on a CPU) and a training
worker that also runs the periodic sweeper. Ctrl-C (or SIGTERM) stops them all.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _data_dir() -> Path:
    return Path(os.environ.get("VERITY_DATA_DIR", ROOT / "var")).resolve()


def _manage(*args: str) -> None:
    subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], check=True, cwd=ROOT)


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    host = os.environ.get("VERITY_HOST", "127.0.0.1")
    port = os.environ.get("VERITY_PORT", "8000")
    try:
        _manage("migrate", "--noinput")
        _manage("ensure_admin")
        _manage("ensure_model")
    except subprocess.CalledProcessError as exc:
        print(f"Start-up step failed ({' '.join(exc.cmd[2:])}); see the messages above.", file=sys.stderr)
        return exc.returncode or 1
    except KeyboardInterrupt:
        return 130

    # Asked of a child process, as the container's entry point does: the check for a GPU imports
    # torch, which this long-lived supervisor should not hold in memory.
    processes, threads = subprocess.run([sys.executable, "-m", "worker.layout"], cwd=ROOT, check=True,
                                        capture_output=True, text=True).stdout.split()
    celery = [sys.executable, "-m", "celery", "-A", "portal", "worker", "--loglevel", "INFO"]
    procs = {
        "web": subprocess.Popen([sys.executable, str(ROOT / "manage.py"), "runserver", f"{host}:{port}",
                                 "--noreload"], cwd=ROOT),
        # Inference: one single-thread process per core on a CPU, one process on a GPU (worker/layout.py).
        "inference worker": subprocess.Popen(
            [*celery, "-Q", "inference", "--concurrency", processes, "--hostname", "inference@%h"],
            cwd=ROOT, env={**os.environ, "VERITY_TORCH_THREADS": threads}),
        # Training with every core, one run at a time; it also runs the periodic sweeper (beat).
        "training worker": subprocess.Popen(
            [*celery, "-Q", "training", "--concurrency", "1", "--hostname", "training@%h",
             "--beat", "--schedule", str(_data_dir() / "celerybeat-schedule")], cwd=ROOT),
    }
    print(f"\nVerity is running at http://{host}:{port}/  (Ctrl-C stops it)\n", flush=True)

    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    try:
        while all(p.poll() is None for p in procs.values()):
            time.sleep(0.5)
        for name, p in procs.items():
            if p.poll() is not None and not stopping:
                print(f"The {name} process exited with code {p.returncode}; stopping the others.", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    stop()
    deadline = time.monotonic() + 20
    for p in procs.values():
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
    print("Verity stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
