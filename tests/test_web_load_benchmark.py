"""benchmarks/web_load.py fails when a request lands on the login page instead of the page it
measures (issue 18, item 13), and its seeding signs the load user in and issues its API token."""

from __future__ import annotations

import http.server
import importlib.util
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _web_load() -> Any:
    spec = importlib.util.spec_from_file_location("web_load", ROOT / "benchmarks" / "web_load.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Site(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the http.server name
        if self.path.startswith("/login/") or self.headers.get("Cookie") == "sessionid=good":
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"<html>page</html>")
        else:  # as Django's login_required answers a request without a valid session
            self.send_response(302)
            self.send_header("Location", "/login/?next=" + self.path)
            self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def site() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_request_redirected_to_the_login_page_is_counted_as_a_redirect_and_fails_the_run(site):
    web_load = _web_load()
    anonymous = web_load.load(f"{site}/", {}, 6, 2)
    assert anonymous["statuses"] == {302: 6}
    signed_in = web_load.load(f"{site}/", {"Cookie": "sessionid=good"}, 6, 2)
    assert signed_in["statuses"] == {200: 6}
    found = web_load.problems({"case list": anonymous, "case page": signed_in})
    assert len(found) == 1 and found[0].startswith("case list: statuses {302: 6}")


@pytest.mark.django_db
def test_seeding_returns_a_live_session_a_read_token_and_a_case_of_the_load_user():
    from django.contrib.sessions.models import Session

    from verification.models import Case
    from verification.tokens import token_authenticate

    session_key, token, case_id = _web_load().seed(3)
    api_token = token_authenticate(token)
    assert api_token is not None and api_token.user.username == "loadtest" and api_token.scopes == ["read"]
    assert Session.objects.filter(session_key=session_key).exists()
    assert Case.objects.filter(pk=case_id, created_by=api_token.user).exists()
