#!/usr/bin/env python3
"""A small Verity API client using only the Python standard library.

    export VERITY_URL=https://verity.example      # or http://127.0.0.1:8000 for the embedded portal
    export VERITY_TOKEN=vty_xxxxxxxx_...          # from /account/tokens/ (read + submit scopes)
    python examples/verity_client.py submit photo.jpg other.png --title "Flood claim" --wait
    python examples/verity_client.py case 42
    python examples/verity_client.py heatmap 97 heatmap.png
    python examples/verity_client.py verify-webhook whsec_... '<Verity-Signature header>' body.json

Submissions send an Idempotency-Key, so retrying after a timeout never creates a second case.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import mimetypes
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any


class VerityError(Exception):
    """An API error: ``status`` is the HTTP status, ``code`` the stable error code."""

    def __init__(self, status: int, code: str, message: str, details: Any) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.details = status, code, message, details


class Client:
    def __init__(self, base_url: str, token: str, timeout: float = 60) -> None:
        self.base_url = base_url.rstrip("/") + "/api/v1"
        self.token = token
        self.timeout = timeout

    # --- transport -------------------------------------------------------------------------------
    def _request(self, method: str, path: str, *, body: bytes | None = None, content_type: str | None = None,
                 headers: dict[str, str] | None = None, raw: bool = False, retries: int = 3) -> Any:
        url = path if path.startswith("http") else self.base_url + path
        all_headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json", **(headers or {})}
        if content_type:
            all_headers["Content-Type"] = content_type
        for attempt in range(retries + 1):
            request = urllib.request.Request(url, data=body, method=method, headers=all_headers)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    data = response.read()
                    return data if raw else json.loads(data or b"null")
            except urllib.error.HTTPError as exc:
                if exc.code == 429 and attempt < retries:  # rate limited: wait as told, then retry
                    time.sleep(float(exc.headers.get("Retry-After", "1")))
                    continue
                try:
                    error = json.loads(exc.read())["error"]
                except (ValueError, KeyError):
                    error = {"code": "http_error", "message": exc.reason, "details": {}}
                raise VerityError(exc.code, error["code"], error["message"], error["details"]) from None
        raise AssertionError("unreachable")

    def get(self, path: str, **params: Any) -> Any:
        query = "&".join(f"{k}={urllib.request.quote(str(v))}" for k, v in params.items() if v is not None)
        return self._request("GET", path + (f"?{query}" if query else ""))

    # --- endpoints -------------------------------------------------------------------------------
    def submit(self, files: list[Path], *, title: str = "", source_url: str = "", notes: str = "",
               team: int | None = None, idempotency_key: str | None = None) -> dict[str, Any]:
        """Create a case from image files (or zips of them). Safe to retry with the same key."""
        fields = {"title": title, "source_url": source_url, "notes": notes}
        if team is not None:
            fields["team"] = str(team)
        body, content_type = _multipart(fields, [("images", f) for f in files])
        key = idempotency_key or str(uuid.uuid4())
        return self._request("POST", "/cases/", body=body, content_type=content_type,
                             headers={"Idempotency-Key": key})

    def case(self, case_id: int) -> dict[str, Any]:
        return self.get(f"/cases/{case_id}/")

    def cases(self, **filters: Any) -> dict[str, Any]:
        """One page of cases; filters: status, verdict, created_after, created_before, search, tag, page."""
        return self.get("/cases/", **filters)

    def tag(self, case_id: int, *tags: str) -> dict[str, Any]:
        return self._request("PATCH", f"/cases/{case_id}/", body=json.dumps({"add_tags": list(tags)}).encode(),
                             content_type="application/json")

    def wait(self, case_id: int, *, every_s: float = 2, timeout_s: float = 300) -> dict[str, Any]:
        """Poll until no analysis of the case is pending (a webhook avoids polling)."""
        deadline = time.monotonic() + timeout_s
        while True:
            case = self.case(case_id)
            if case["status"] != "pending" or time.monotonic() > deadline:
                return case
            time.sleep(every_s)

    def heatmap(self, analysis_id: int) -> bytes:
        return self._request("GET", f"/analyses/{analysis_id}/heatmap/", raw=True, headers={"Accept": "image/png"})


def _multipart(fields: dict[str, str], files: list[tuple[str, Path]]) -> tuple[bytes, str]:
    boundary = f"verity-{uuid.uuid4().hex}"
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, path in files:
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{path.name}"\r\n'
                     f"Content-Type: {mime}\r\n\r\n".encode() + path.read_bytes() + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def verify_webhook(secret: str, signature_header: str, body: bytes, tolerance_s: int = 300) -> bool:
    """Check a webhook's ``Verity-Signature: t=<unix time>,v1=<hex>`` header against its raw body."""
    try:
        fields = dict(part.split("=", 1) for part in signature_header.split(","))
        timestamp, given = int(fields["t"]), fields["v1"]
    except (ValueError, KeyError):
        return False
    if abs(time.time() - timestamp) > tolerance_s:
        return False  # an old (replayed) message
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("submit")
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--title", default="")
    p.add_argument("--source-url", default="")
    p.add_argument("--team", type=int)
    p.add_argument("--wait", action="store_true")
    sub.add_parser("case").add_argument("case_id", type=int)
    p = sub.add_parser("heatmap")
    p.add_argument("analysis_id", type=int)
    p.add_argument("out", type=Path)
    p = sub.add_parser("verify-webhook")
    p.add_argument("secret")
    p.add_argument("signature")
    p.add_argument("body", type=Path)
    args = parser.parse_args(argv)

    if args.command == "verify-webhook":
        ok = verify_webhook(args.secret, args.signature, args.body.read_bytes())
        print("valid" if ok else "INVALID")
        return 0 if ok else 1

    client = Client(os.environ.get("VERITY_URL", "http://127.0.0.1:8000"), os.environ["VERITY_TOKEN"])
    try:
        if args.command == "submit":
            case = client.submit(args.files, title=args.title, source_url=args.source_url, team=args.team)
            for rejected in case["rejected"]:
                print(f"not accepted: {rejected['file']}: {rejected['reason']}", file=sys.stderr)
            if args.wait:
                case = client.wait(case["id"])
            print(json.dumps(case, indent=2))
        elif args.command == "case":
            print(json.dumps(client.case(args.case_id), indent=2))
        elif args.command == "heatmap":
            args.out.write_bytes(client.heatmap(args.analysis_id))
            print(f"wrote {args.out}")
    except VerityError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
