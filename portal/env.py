"""Tiny typed readers for settings from the environment. They fail fast on bad values."""

from __future__ import annotations

import math
import os
from typing import overload

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


@overload
def env_str(name: str, default: str) -> str: ...
@overload
def env_str(name: str, default: None = None) -> str | None: ...


def env_str(name: str, default: str | None = None) -> str | None:
    """The variable's value; ``NAME_FILE`` may name a file holding it (for Docker secrets)."""
    file_path = os.environ.get(f"{name}_FILE")
    if file_path:
        with open(file_path) as f:
            return f.read().strip()
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}")


def _env_number(name: str, default: int | float, kind: type[int] | type[float], what: str) -> int | float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return kind(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be {what}, not {raw!r}") from None


def env_int(name: str, default: int) -> int:
    return int(_env_number(name, default, int, "an integer"))


def env_float(name: str, default: float) -> float:
    value = float(_env_number(name, default, float, "a number"))
    if not math.isfinite(value):
        raise ImproperlyConfigured(f"{name} must be a finite number, not {os.environ.get(name)!r}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [part.strip() for part in raw.split(",") if part.strip()]
