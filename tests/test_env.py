"""The typed environment readers behind portal/settings.py fail fast and clearly on bad values."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from portal.env import env_float, env_int


@pytest.mark.parametrize(("raw", "expected"), [(None, 2.0), ("", 2.0), ("0.05", 0.05), ("3", 3.0)])
def test_env_float_reads_numbers_and_defaults_when_unset(monkeypatch, raw, expected):
    if raw is None:
        monkeypatch.delenv("VERITY_X", raising=False)
    else:
        monkeypatch.setenv("VERITY_X", raw)
    assert env_float("VERITY_X", 2.0) == expected


@pytest.mark.parametrize("raw", ["nan", "inf", "-inf", "fast"])
def test_env_float_refuses_what_is_not_a_finite_number(monkeypatch, raw):
    monkeypatch.setenv("VERITY_X", raw)
    with pytest.raises(ImproperlyConfigured, match="VERITY_X"):
        env_float("VERITY_X", 2.0)


def test_env_int_refuses_a_fraction(monkeypatch):
    monkeypatch.setenv("VERITY_N", "2.5")
    with pytest.raises(ImproperlyConfigured, match="VERITY_N must be an integer"):
        env_int("VERITY_N", 1)


@pytest.mark.parametrize(("gone", "instead"), [("VERITY_MAX_ZIP_MEMBERS", "VERITY_MAX_FILES_PER_CASE"),
                                               ("VERITY_MAX_ZIP_UNCOMPRESSED_BYTES", "VERITY_MAX_ARCHIVE_BYTES")])
def test_a_retired_zip_limit_stops_the_portal_at_start_and_names_its_replacement(gone, instead):
    from tests.fresh_settings import run_with_settings

    done = run_with_settings("import django; django.setup()", env={gone: "3"})
    assert done.returncode != 0
    assert f"{gone} is no longer read; set {instead}" in done.stderr
