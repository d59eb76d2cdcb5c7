"""Webhooks: the SSRF guard, HMAC signing, queuing on analysis done/failed, delivery and retries.

No test sends network traffic: the resolver is faked (conftest.fake_dns) and the HTTPS POST is
replaced by a recorder."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import pytest

from tests.images import png_bytes
from verification import services, webhooks
from verification.models import ApiToken, DeliveryStatus, WebhookDelivery
from verification.errors import VerityError
from verification.models import Analysis

pytestmark = pytest.mark.django_db

REFUSED = [
    "http://hooks.example.com/verity",       # not https
    "https://127.0.0.1/hook",                # loopback
    "https://[::1]/hook",                    # IPv6 loopback
    "https://10.0.0.1/hook",                 # private
    "https://192.168.0.10/hook",             # private
    "https://172.16.5.4/hook",               # private
    "https://100.64.0.1/hook",               # shared address space (carrier NAT)
    "https://169.254.169.254/latest/meta-data",  # link-local: cloud metadata service
    "https://[fe80::1]/hook",                # IPv6 link-local
    "https://[fc00::1]/hook",                # IPv6 unique local
    "https://[::ffff:127.0.0.1]/hook",       # IPv4-mapped loopback
    "https://224.0.0.1/hook",                # multicast
    "https://0.0.0.0/hook",                  # unspecified
    "https://240.0.0.1/hook",                # reserved
    "https://internal.example.com/hook",     # a name that resolves to a private address
    "https://metadata.example.com/hook",     # a name that resolves to link-local
    "https://mixed.example.com/hook",        # one public and one private answer
    "https://nowhere.example.com/hook",      # does not resolve
    "https://user:pw@hooks.example.com/hook",  # credentials in the URL
]


@pytest.mark.parametrize("url", REFUSED)
def test_webhook_urls_that_could_reach_internal_services_are_refused(url):
    with pytest.raises(webhooks.WebhookRefused):
        webhooks.validate_webhook_url(url)


@pytest.mark.parametrize("url", ["https://hooks.example.com/verity?x=1", "https://hooks6.example.com/v",
                                 "https://93.184.215.14:8443/v"])
def test_public_https_urls_are_accepted(url):
    webhooks.validate_webhook_url(url)


def test_an_admin_setting_allows_private_addresses_but_never_plain_http(settings):
    settings.VERITY_WEBHOOK_ALLOW_PRIVATE = True
    webhooks.validate_webhook_url("https://10.0.0.1/hook")
    webhooks.validate_webhook_url("https://internal.example.com/hook")
    with pytest.raises(webhooks.WebhookRefused):
        webhooks.validate_webhook_url("http://10.0.0.1/hook")


def test_a_token_with_a_refused_webhook_is_not_created(people):
    with pytest.raises(VerityError, match="private"):
        services.token_create(user=people["owner"], name="x", scopes=["read"],
                            webhook_url="https://169.254.169.254/")
    assert not ApiToken.objects.exists()


# --- Signing ----------------------------------------------------------------------------------------

def test_the_signature_is_hmac_sha256_of_timestamp_dot_body():
    body = b'{"event":"analysis.done"}'
    header = webhooks.sign("whsec_k", 1_700_000_000, body)
    expected = hmac.new(b"whsec_k", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"
    assert webhooks.verify("whsec_k", header, body, now=1_700_000_010)


def test_a_changed_body_an_other_secret_or_an_old_timestamp_fail_verification():
    body = b'{"a":1}'
    header = webhooks.sign("whsec_k", 1_700_000_000, body)
    assert not webhooks.verify("whsec_k", header, b'{"a":2}', now=1_700_000_000)
    assert not webhooks.verify("whsec_other", header, body, now=1_700_000_000)
    assert not webhooks.verify("whsec_k", header, body, now=1_700_000_000 + 301)
    assert not webhooks.verify("whsec_k", "garbage", body)


# --- Queuing on analysis done / failed -------------------------------------------------------------------

@pytest.fixture
def hooked_case(people, api, upload, _no_broker):
    """A case submitted through the API with a token that has a webhook."""
    issued = services.token_create(user=people["owner"], name="hooked", scopes=["read", "submit"],
                                 webhook_url="https://hooks.example.com/verity")
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    response = client.post("/api/v1/cases/", {"images": [upload()]}, format="multipart")
    assert response.status_code == 201
    analysis = Analysis.objects.get(image__case_id=response.json()["id"])
    return issued, analysis


def test_a_done_analysis_queues_one_signed_delivery_after_commit(hooked_case, active_version, record_done,
                                                                 _no_broker, django_capture_on_commit_callbacks):
    issued, analysis = hooked_case
    with django_capture_on_commit_callbacks(execute=True):
        record_done(analysis, active_version)
        record_done(analysis, active_version)  # recording twice (a redelivered task) sends nothing new
    delivery = WebhookDelivery.objects.get()
    assert delivery.token == issued.token and delivery.event == "analysis.done"
    assert delivery.url == "https://hooks.example.com/verity" and delivery.status == DeliveryStatus.PENDING
    assert delivery.payload["data"]["analysis"]["label"] == "ai_generated"
    assert delivery.payload["data"]["case"]["id"] == analysis.image.case_id
    assert ("webhook", delivery.pk) in _no_broker


def test_a_failed_analysis_queues_an_analysis_failed_delivery(hooked_case, django_capture_on_commit_callbacks):
    issued, analysis = hooked_case
    with django_capture_on_commit_callbacks(execute=True):
        services.analysis_fail(analysis_id=analysis.pk, reason="The image is corrupt.")
    delivery = WebhookDelivery.objects.get()
    assert delivery.event == "analysis.failed"
    assert delivery.payload["data"]["analysis"]["error"] == "The image is corrupt."


def test_cases_submitted_in_the_portal_or_with_a_token_without_webhook_send_nothing(api, people, upload,
                                                                                   active_version, record_done):
    portal = services.case_submit(user=people["owner"], team=people["team"], title="t", files=[upload()])
    api_case = api("owner").post("/api/v1/cases/", {"images": [upload("other.png", png_bytes(seed=77))]}, format="multipart").json()
    record_done(Analysis.objects.get(image=portal.images[0]), active_version)
    record_done(Analysis.objects.get(image__case_id=api_case["id"]), active_version)
    assert not WebhookDelivery.objects.exists()


# --- Delivery -------------------------------------------------------------------------------------------

class Receiver:
    """Stands in for the HTTPS POST; answers with the given status codes (or raises)."""

    def __init__(self, *answers: int | Exception) -> None:
        self.answers = list(answers)
        self.calls: list[dict[str, Any]] = []

    def __call__(self, url: str, address: str, host: str, port: int, body: bytes, headers: dict[str, str]) -> int:
        self.calls.append({"url": url, "address": address, "host": host, "port": port, "body": body,
                           "headers": headers})
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.fixture
def pending(hooked_case, active_version, record_done, django_capture_on_commit_callbacks) -> WebhookDelivery:
    with django_capture_on_commit_callbacks(execute=True):
        record_done(hooked_case[1], active_version)
    return WebhookDelivery.objects.get()


def test_a_delivery_posts_the_signed_payload_to_the_checked_address(pending, hooked_case, monkeypatch):
    receiver = Receiver(204)
    monkeypatch.setattr(webhooks, "post", receiver)
    attempt = services.webhook_deliver(pending.pk)
    assert attempt.status == DeliveryStatus.SUCCEEDED and not attempt.retry
    call = receiver.calls[0]
    assert call["address"] == "93.184.215.14" and call["host"] == "hooks.example.com" and call["port"] == 443
    assert json.loads(call["body"]) == pending.payload
    assert call["headers"]["Verity-Event"] == "analysis.done"
    assert webhooks.verify(hooked_case[0].webhook_secret, call["headers"]["Verity-Signature"], call["body"],
                           now=time.time())
    row = WebhookDelivery.objects.get(pk=pending.pk)
    assert row.status == DeliveryStatus.SUCCEEDED and row.attempts == 1 and row.response_status == 204
    assert row.delivered_at is not None and row.error == ""
    assert services.webhook_deliver(pending.pk).status == DeliveryStatus.SUCCEEDED and len(receiver.calls) == 1


def test_a_server_error_is_retried_with_growing_delays(pending, monkeypatch):
    monkeypatch.setattr(webhooks, "post", Receiver(503))
    attempt = services.webhook_deliver(pending.pk)
    assert attempt.retry and attempt.attempts == 1
    row = WebhookDelivery.objects.get(pk=pending.pk)
    assert row.status == DeliveryStatus.PENDING and row.response_status == 503 and row.error == "HTTP 503"
    assert [webhooks.backoff_seconds(n) for n in (1, 2, 3, 4, 5, 6)] == [30, 120, 480, 1920, 3600, 3600]


def test_a_client_error_is_not_retried(pending, monkeypatch):
    monkeypatch.setattr(webhooks, "post", Receiver(410))
    attempt = services.webhook_deliver(pending.pk)
    assert not attempt.retry
    row = WebhookDelivery.objects.get(pk=pending.pk)
    assert row.status == DeliveryStatus.FAILED and row.response_status == 410


def test_the_task_retries_until_the_attempts_run_out_then_gives_up(pending, monkeypatch, settings):
    from worker.tasks import deliver_webhook

    settings.VERITY_WEBHOOK_MAX_ATTEMPTS = 3
    receiver = Receiver(ConnectionRefusedError("refused"))
    monkeypatch.setattr(webhooks, "post", receiver)
    deliver_webhook.apply(args=[pending.pk])  # eager: each retry runs at once
    row = WebhookDelivery.objects.get(pk=pending.pk)
    assert len(receiver.calls) == 3 and row.attempts == 3
    assert row.status == DeliveryStatus.FAILED and "gave up after 3 attempts" in row.error


def test_the_task_stops_retrying_once_the_receiver_recovers(pending, monkeypatch):
    from worker.tasks import deliver_webhook

    receiver = Receiver(500, TimeoutError("slow"), 200)
    monkeypatch.setattr(webhooks, "post", receiver)
    deliver_webhook.apply(args=[pending.pk])
    row = WebhookDelivery.objects.get(pk=pending.pk)
    assert len(receiver.calls) == 3 and row.status == DeliveryStatus.SUCCEEDED and row.attempts == 3


def test_a_host_that_moved_to_a_private_address_is_refused_at_send_time(pending, monkeypatch, fake_dns):
    receiver = Receiver(200)
    monkeypatch.setattr(webhooks, "post", receiver)
    monkeypatch.setitem(fake_dns, "hooks.example.com", ["127.0.0.1"])  # DNS rebinding
    attempt = services.webhook_deliver(pending.pk)
    assert attempt.status == DeliveryStatus.FAILED and not attempt.retry and receiver.calls == []
    assert "private" in WebhookDelivery.objects.get(pk=pending.pk).error


def test_a_revoked_tokens_delivery_is_not_sent(pending, hooked_case, monkeypatch, people):
    receiver = Receiver(200)
    monkeypatch.setattr(webhooks, "post", receiver)
    services.token_revoke(user=people["owner"], token_id=hooked_case[0].token.pk)
    assert services.webhook_deliver(pending.pk).status == DeliveryStatus.FAILED and receiver.calls == []


# --- A real HTTPS delivery, on loopback --------------------------------------------------------------

@pytest.fixture
def https_receiver(tmp_path, monkeypatch, fake_dns, settings):  # type: ignore[no-untyped-def]
    """An HTTPS server on 127.0.0.1 with a certificate for hooks.example.com (which the fake resolver
    points at 127.0.0.1; private addresses are allowed for this test only)."""
    import http.server
    import ssl
    import subprocess
    import threading

    import shutil

    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make the test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=hooks.example.com",
                    "-addext", "subjectAltName=DNS:hooks.example.com"], check=True, capture_output=True)
    received: list[dict[str, Any]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"path": self.path, "headers": dict(self.headers), "body": body,
                             "sni": getattr(self.connection, "server_hostname", None)})
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    client_context = ssl.create_default_context(cafile=str(cert))
    monkeypatch.setattr(webhooks, "ssl_context", lambda: client_context)
    monkeypatch.setitem(fake_dns, "hooks.example.com", ["127.0.0.1"])
    monkeypatch.setitem(fake_dns, "wrong-name.example.com", ["127.0.0.1"])
    settings.VERITY_WEBHOOK_ALLOW_PRIVATE = True
    yield server.server_port, received
    server.shutdown()
    server.server_close()


def _delivery_to(url: str, people: Any, upload: Any, active_version: Any, record_done: Any,
                 capture: Any) -> tuple[WebhookDelivery, Any]:
    from rest_framework.test import APIClient

    issued = services.token_create(user=people["owner"], name="tls", scopes=["read", "submit"], webhook_url=url)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    case_id = client.post("/api/v1/cases/", {"images": [upload()]}, format="multipart").json()["id"]
    with capture(execute=True):
        record_done(Analysis.objects.get(image__case_id=case_id), active_version)
    return WebhookDelivery.objects.get(), issued


def test_a_delivery_over_real_https_is_signed_and_checks_the_certificate_name(
        https_receiver, people, upload, active_version, record_done, django_capture_on_commit_callbacks):
    port, received = https_receiver
    delivery, issued = _delivery_to(f"https://hooks.example.com:{port}/in?src=verity", people, upload,
                                    active_version, record_done, django_capture_on_commit_callbacks)
    attempt = services.webhook_deliver(delivery.pk)
    assert attempt.status == DeliveryStatus.SUCCEEDED
    assert WebhookDelivery.objects.get(pk=delivery.pk).response_status == 202
    (request,) = received
    assert request["path"] == "/in?src=verity"
    assert request["headers"]["Host"] == f"hooks.example.com:{port}"
    assert webhooks.verify(issued.webhook_secret, request["headers"]["Verity-Signature"], request["body"])
    assert json.loads(request["body"])["event"] == "analysis.done"


def test_a_certificate_for_another_name_is_not_trusted(https_receiver, people, upload, active_version,
                                                       record_done, django_capture_on_commit_callbacks):
    port, received = https_receiver
    delivery, _ = _delivery_to(f"https://wrong-name.example.com:{port}/in", people, upload, active_version,
                               record_done, django_capture_on_commit_callbacks)
    attempt = services.webhook_deliver(delivery.pk)
    assert attempt.status == DeliveryStatus.PENDING and attempt.retry and received == []
    assert "CERTIFICATE_VERIFY_FAILED" in WebhookDelivery.objects.get(pk=delivery.pk).error
