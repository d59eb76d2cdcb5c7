"""Verity's own 404 and 500 pages, DEBUG off unless asked, and API docs that link back to the portal
and load nothing from outside."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

ROOT = Path(__file__).resolve().parent.parent


def test_debug_is_off_unless_a_developer_asks() -> None:
    code = "import django,os;os.environ['DJANGO_SETTINGS_MODULE']='portal.settings';django.setup();" \
           "from django.conf import settings;print(settings.DEBUG)"
    env = {"PATH": "/usr/bin:/bin", "VERITY_DATA_DIR": "/tmp/verity-debug-check"}
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          check=True).stdout.strip() == "False"
    asked = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**env, "DEBUG": "true"},
                           capture_output=True, text=True, check=True)
    assert asked.stdout.strip() == "True"


@pytest.mark.django_db
def test_a_missing_page_is_verity_s_own_404(client) -> None:
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    body = response.content.decode()
    assert "Not found" in body and "your cases" in body and "verity.css" in body


def test_the_500_page_stands_alone() -> None:
    body = (ROOT / "templates" / "500.html").read_text()
    assert "{% extends" not in body and "{% url" not in body and "Back to Verity" in body


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["api:swagger", "api:redoc"])
def test_the_api_docs_link_back_and_load_nothing_from_outside(client, name) -> None:
    response = client.get(reverse(name))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Back to Verity" in body and f'href="{reverse("verification:case_list")}"' in body
    assert not re.search(r'(src|href)="https?://', body)
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "img-src 'self' data: blob:" in csp and "https:" not in csp
