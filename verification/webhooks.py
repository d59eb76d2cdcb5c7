"""Webhooks: tell an integration when an analysis of a case it submitted is done or failed.

Three guards keep a webhook from becoming a way into internal services (SSRF): the URL must be
https, every address its host resolves to must be public (unless VERITY_WEBHOOK_ALLOW_PRIVATE),
and the connection goes to the address that was checked, not to a second DNS answer.

The body is signed with HMAC-SHA256 over ``"<timestamp>.<body>"`` with the token's webhook secret
and sent in ``Verity-Signature: t=<timestamp>,v1=<hex>``; receivers recompute it and reject old
timestamps, which stops replays.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from celery import current_app
from django.conf import settings
from django.utils import timezone

from .models import DeliveryStatus, WebhookDelivery
from .errors import VerityError
from .models import Analysis

logger = logging.getLogger(__name__)

DELIVER_TASK = "worker.tasks.deliver_webhook"
SIGNATURE_HEADER = "Verity-Signature"
USER_AGENT = "Verity-Webhook/1"


# A module-level name so tests can give the guard a fake resolver without touching the socket module.
getaddrinfo = socket.getaddrinfo


class WebhookRefused(VerityError):
    code = "webhook_url_refused"


# --- The URL guard -------------------------------------------------------------------------------

def _address_is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone ("fe80::1%eth0")
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is loopback too
    # is_global is False for private, loopback, link-local, shared (100.64/10), reserved and
    # documentation ranges; multicast is checked apart because some multicast ranges are "global".
    return ip.is_global and not ip.is_multicast and not ip.is_unspecified


def resolve_webhook_url(url: str) -> tuple[str, int, list[str]]:
    """Check ``url`` and return its host, port and the addresses it may be reached at.

    Raises WebhookRefused with the reason. Resolution happens here, so the addresses checked are
    the addresses used.
    """
    parts = urlsplit(url)
    if parts.scheme != "https":
        raise WebhookRefused("Webhook URLs must use https://.")
    if parts.username or parts.password:
        raise WebhookRefused("Webhook URLs must not contain a user name or password.")
    host = parts.hostname
    if not host:
        raise WebhookRefused("The webhook URL has no host.")
    try:
        port = parts.port or 443
    except ValueError:
        raise WebhookRefused("The webhook URL has an invalid port.") from None
    try:
        infos = getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise WebhookRefused(f"The webhook host {host!r} does not resolve.", details={"host": host}) from exc
    addresses = sorted({str(info[4][0]) for info in infos})
    if not addresses:
        raise WebhookRefused(f"The webhook host {host!r} does not resolve.", details={"host": host})
    if not settings.VERITY_WEBHOOK_ALLOW_PRIVATE:
        private = [a for a in addresses if not _address_is_public(a)]
        if private:
            # One private answer is enough to refuse: an attacker controls which one we would use.
            raise WebhookRefused(
                "The webhook host resolves to a private, loopback, link-local, multicast or reserved "
                "address, which webhooks may not reach.", details={"host": host, "addresses": private})
    return host, port, addresses


def validate_webhook_url(url: str) -> None:
    resolve_webhook_url(url)


# --- Signing ---------------------------------------------------------------------------------------

def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes, *, tolerance_s: int = 300, now: float | None = None) -> bool:
    """What a receiver does (also used by the tests and examples/verity_client.py mirrors it)."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
        given = fields["v1"]
    except (ValueError, KeyError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance_s:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, given)


# --- What a delivery carries (services/webhooks.py writes the rows) -----------------------------------

def analysis_payload(analysis: Analysis, event: str) -> dict[str, Any]:
    image = analysis.image
    return {
        "event": event,
        "created_at": timezone.now().isoformat(),
        "data": {
            "analysis": {
                "id": analysis.pk, "status": analysis.status, "label": analysis.label or None,
                "probability_ai": analysis.probability_ai, "confidence": analysis.confidence,
                "threshold": analysis.threshold, "model_version": analysis.model_version_id,
                "by_demo_model": bool(analysis.model_version is not None and analysis.model_version.is_demo),
                "error": analysis.error or None,
            },
            "image": {"id": image.pk, "sha256": image.sha256, "original_name": image.original_name},
            "case": {"id": image.case_id},
        },
    }


def enqueue_delivery(delivery_id: int, *, countdown: float = 0) -> None:
    current_app.send_task(DELIVER_TASK, args=[delivery_id], countdown=countdown or None)


# --- Delivery ---------------------------------------------------------------------------------------

@dataclass
class Attempt:
    status: str  # a DeliveryStatus value
    retry: bool
    attempts: int = 0
    response_status: int | None = None
    error: str = ""


def ssl_context() -> ssl.SSLContext:
    """Certificates are verified against the system's trust store (tests swap in their own CA)."""
    return ssl.create_default_context()


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a checked address, with the certificate and SNI still checked against the host."""

    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        super().__init__(host, port=port, timeout=timeout, context=ssl_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def post(url: str, address: str, host: str, port: int, body: bytes, headers: dict[str, str]) -> int:
    """Send one POST to ``address`` and return the status code. Redirects are not followed."""
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    conn = _PinnedHTTPSConnection(host, address, port, timeout=settings.VERITY_WEBHOOK_TIMEOUT_S)
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        response.read(64 * 1024)  # drain a little; the body is not used
        return response.status
    finally:
        conn.close()


def backoff_seconds(attempts: int) -> int:
    """30 s, 2 min, 8 min, 32 min, then hourly: a receiver that is down for an hour still gets it."""
    return int(min(30 * 4 ** max(0, attempts - 1), 3600))


def attempt(delivery: WebhookDelivery) -> Attempt:
    """Send one pending delivery and say how it went (``attempts`` is filled in by the recorder,
    services.webhook_deliver). Writes nothing."""
    token = delivery.token
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    if token.revoked_at is not None:
        return Attempt(status=DeliveryStatus.FAILED, retry=False, error="The token was revoked.")
    try:
        # Checked again at send time: DNS may have changed since the token was created.
        host, port, addresses = resolve_webhook_url(delivery.url)
        headers = {
            "Content-Type": "application/json", "User-Agent": USER_AGENT,
            "Verity-Event": delivery.event, "Verity-Delivery": str(delivery.pk),
            SIGNATURE_HEADER: sign(token.webhook_secret, int(time.time()), body),
        }
        code = post(delivery.url, addresses[0], host, port, body, headers)
    except WebhookRefused as exc:
        return Attempt(status=DeliveryStatus.FAILED, retry=False, error=exc.message)
    except (OSError, http.client.HTTPException) as exc:
        return Attempt(status=DeliveryStatus.PENDING, retry=True, error=f"{type(exc).__name__}: {exc}")
    if 200 <= code < 300:
        return Attempt(status=DeliveryStatus.SUCCEEDED, retry=False, response_status=code)
    # 4xx other than 408/429 means the receiver rejects this event: retrying won't help.
    retry = code >= 500 or code in (408, 429)
    return Attempt(status=DeliveryStatus.PENDING if retry else DeliveryStatus.FAILED,
                   retry=retry, response_status=code, error=f"HTTP {code}")
