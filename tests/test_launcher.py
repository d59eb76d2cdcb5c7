"""The README's run command, as a newcomer would use it: `python -m portal.launcher` (what
`make run` starts) migrates, creates the admin, trains the demo model, serves a working login
page with a worker beside it, and stops cleanly on Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_run_command_serves_a_login_page_and_stops_on_ctrl_c(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "MEDIA_ROOT")}
    env.update({"VERITY_DATA_DIR": str(tmp_path / "var"), "VERITY_PORT": str(port), "PYTHONUNBUFFERED": "1",
                # A smaller demo than the default keeps this test to seconds; the code path is the same.
                "VERITY_DEMO_PAIRS": "16", "VERITY_DEMO_EPOCHS": "1"})
    log_path = tmp_path / "launcher.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "portal.launcher"], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            body = ""
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=5) as r:
                        body = r.read().decode()
                        break
                except OSError:
                    time.sleep(1)
            output = log_path.read_text()
            assert "Log in to Verity" in body, output[-3000:]
            assert "Created admin account 'admin'" in output and "Its password is:" in output
            # The web server is up before the demo model is trained; the model follows.
            while time.monotonic() < deadline and "Verity is running at" not in output and proc.poll() is None:
                time.sleep(1)
                output = log_path.read_text()
            assert "Active DEMO model" in output, output[-3000:]
            # Ctrl-C reaches the whole foreground process group in a terminal.
            os.killpg(proc.pid, signal.SIGINT)
            assert proc.wait(timeout=60) == 0
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    output = log_path.read_text()
    assert "Verity stopped." in output
    # No web server or worker left behind.
    leftovers = subprocess.run(["pgrep", "-g", str(proc.pid)], capture_output=True, text=True).stdout.split()
    assert leftovers == []
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=2)
