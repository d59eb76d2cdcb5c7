"""examples/verity_client.py against a live portal on loopback."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import pytest

from tests.images import png_bytes
from verification import webhooks
from verification.models import Case

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def verity_client():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("verity_client", ROOT / "examples" / "verity_client.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def loopback_url(transactional_db):  # type: ignore[no-untyped-def]
    """The portal's WSGI app served on 127.0.0.1 in a thread.

    (pytest-django's live_server cannot start here: its media handler needs a MEDIA_URL, which
    Verity deliberately leaves unset.)"""
    import threading
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    from portal.wsgi import application

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = make_server("127.0.0.1", 0, application, handler_class=Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_the_example_client_submits_retries_safely_reads_and_tags(loopback_url, verity_client, token_for,
                                                                   tmp_path):
    image = tmp_path / "pier.png"
    image.write_bytes(png_bytes(seed=4))
    client = verity_client.Client(loopback_url, token_for("owner"))
    case = client.submit([image], title="Pier", idempotency_key="example-1")
    again = client.submit([image], title="Pier", idempotency_key="example-1")
    assert again["id"] == case["id"] and Case.objects.count() == 1
    assert client.case(case["id"])["images"][0]["original_name"] == "pier.png"
    assert client.tag(case["id"], "harbour")["tags"] == ["harbour"]
    assert [c["id"] for c in client.cases(tag="harbour")["results"]] == [case["id"]]
    with pytest.raises(verity_client.VerityError) as exc:
        client.case(999_999)
    assert exc.value.status == 404 and exc.value.code == "not_found"


def test_the_example_webhook_check_agrees_with_the_server(verity_client):
    body = b'{"event":"analysis.done"}'
    header = webhooks.sign("whsec_abc", int(time.time()), body)
    assert verity_client.verify_webhook("whsec_abc", header, body)
    assert not verity_client.verify_webhook("whsec_abc", header, body + b" ")
