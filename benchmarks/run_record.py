"""What every CPU benchmark of the inference path records about its run, and how it writes it."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

import torch

from ml import precision


def cpu_model() -> str:
    """The CPU's model name as /proc/cpuinfo reports it (the VM's CPU changes between sessions)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def header() -> dict[str, Any]:
    """Date, command, torch, machine, CPU features, threads and the load average at the start."""
    return {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "command": " ".join(["python", *sys.argv]), "torch": torch.__version__,
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {cpu_model()}, {platform.platform()}",
            "cpu_features": precision.cpu_features().to_dict(), "threads": torch.get_num_threads(),
            "loadavg_start": os.getloadavg()}


def finish(out: dict[str, Any], path: str) -> None:
    """Add the load average at the end, print the record, and write it to ``path`` if given."""
    out["loadavg_end"] = os.getloadavg()
    print(json.dumps(out, indent=2))
    if path:
        Path(path).write_text(json.dumps(out, indent=2) + "\n")
