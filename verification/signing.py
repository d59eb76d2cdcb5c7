"""The installation's Ed25519 key, which signs verification memos.

The private key lives outside the database (``VERITY_SIGNING_KEY``, default
``VERITY_DATA_DIR/keys/memo-ed25519.pem``), readable by the owner only, so a database dump or a
database administrator cannot forge memos. It is generated on first use. Back it up: memos signed
with a lost key can still be checked against its public key, but no new memo can be made with it.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings

_lock = threading.Lock()


def key_path() -> Path:
    configured = getattr(settings, "VERITY_SIGNING_KEY", "")
    return Path(configured) if configured else Path(settings.DATA_DIR) / "keys" / "memo-ed25519.pem"


def _create(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    # O_EXCL: of two processes creating the key at once, one wins and the other reads its key.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    try:
        os.link(tmp, path)  # fails if another process got there first; theirs is kept
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)


def private_key() -> Ed25519PrivateKey:
    path = key_path()
    with _lock:
        if not path.exists():
            _create(path)
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)  # tighten a key copied in with loose permissions
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} does not hold an Ed25519 private key; move it away and a new one is made.")
    return key


def public_key() -> Ed25519PublicKey:
    return private_key().public_key()


def public_raw(key: Ed25519PublicKey | None = None) -> bytes:
    return (key or public_key()).public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_pem() -> str:
    return public_key().public_bytes(serialization.Encoding.PEM,
                                     serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def key_id(raw: bytes | None = None) -> str:
    """A short fingerprint people can compare by eye: SHA-256 of the raw public key, grouped."""
    digest = hashlib.sha256(raw if raw is not None else public_raw()).hexdigest()[:32]
    return " ".join(digest[i:i + 4] for i in range(0, 32, 4))


def sign(data: bytes) -> bytes:
    return private_key().sign(data)


def verify(raw_public: bytes, signature: bytes, data: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(raw_public).verify(signature, data)
    except (InvalidSignature, ValueError):
        return False
    return True


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
