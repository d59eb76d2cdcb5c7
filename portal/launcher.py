"""``python -m portal.launcher``: the embedded Verity in one command.

Checks that the port is free (before anything slow), migrates the database, creates the first
admin account and starts the web server at once; then makes sure a classifier is active
(training the demo model if there is none: every page shows its progress meanwhile) and starts
the Celery workers: an inference worker (one single-thread process per core on a CPU) and a
training worker that also runs the periodic sweeper. Analyses submitted while the demo model
trains wait in the broker's queue and run as soon as the workers start. Ctrl-C (or SIGTERM)
stops them all.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _data_dir() -> Path:
    return Path(os.environ.get("VERITY_DATA_DIR", ROOT / "var")).resolve()


def _manage(*args: str) -> None:
    subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], check=True, cwd=ROOT)


def port_problem(host: str, port: str) -> str:
    """Why the web server could not listen on host:port, or "" when it can."""
    try:
        number = int(port)
    except ValueError:
        return f"VERITY_PORT must be a number, not {port!r}."
    try:
        infos = socket.getaddrinfo(host, number, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return f"VERITY_HOST {host!r} is not an address of this machine."
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(address)
        except OSError as exc:
            return (f"Port {number} on {host} is not available ({exc.strerror}). Another program (perhaps another "
                    f"Verity) is using it: stop it, or start with another port, e.g. VERITY_PORT=8001 make run.")
    return ""


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    host = os.environ.get("VERITY_HOST", "127.0.0.1")
    port = os.environ.get("VERITY_PORT", "8000")
    # Before any slow step: a busy port found after minutes of training would waste them.
    problem = port_problem(host, port)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    web: subprocess.Popen | None = None
    try:
        _manage("migrate", "--noinput")
        _manage("ensure_admin")
        # The web server first, so the portal is up in seconds; pages show the demo model's training.
        web = subprocess.Popen([sys.executable, str(ROOT / "manage.py"), "runserver", f"{host}:{port}",
                                "--noreload"], cwd=ROOT)
        print(f"\nVerity's web server is starting at http://{host}:{port}/\n", flush=True)
        _manage("ensure_model")
    except subprocess.CalledProcessError as exc:
        print(f"Start-up step failed ({' '.join(exc.cmd[2:])}); see the messages above.", file=sys.stderr)
        _stop_one(web)
        return exc.returncode or 1
    except KeyboardInterrupt:
        _stop_one(web)
        return 130

    # Asked of a child process, as the container's entry point does: the check for a GPU imports
    # torch, which this long-lived supervisor should not hold in memory.
    processes, threads = subprocess.run([sys.executable, "-m", "worker.layout"], cwd=ROOT, check=True,
                                        capture_output=True, text=True).stdout.split()
    celery = [sys.executable, "-m", "celery", "-A", "portal", "worker", "--loglevel", "INFO"]
    assert web is not None
    procs = {
        "web": web,
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


def _stop_one(proc: subprocess.Popen | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    sys.exit(main())
