"""The page views' one way to call a service on a POST (views._common.attempt): a refusal becomes an
error message and nothing else happens; a result becomes the success message."""

from __future__ import annotations

from django.contrib.messages import get_messages
from django.contrib.messages.storage.fallback import FallbackStorage
from django.contrib.sessions.backends.base import SessionBase
from django.http import HttpRequest
from django.test import RequestFactory

from verification.errors import VerityError
from verification.views._common import attempt


def _request() -> HttpRequest:
    request = RequestFactory().post("/")
    request.session = SessionBase()
    request._messages = FallbackStorage(request)  # type: ignore[attr-defined]
    return request


def _refuse() -> str:
    raise VerityError("Only an admin can do that.")


def test_a_refusal_is_shown_as_an_error_and_gives_none():
    request = _request()
    assert attempt(request, _refuse, "done") is None
    assert [(m.level_tag, m.message) for m in get_messages(request)] == [("error", "Only an admin can do that.")]


def test_a_result_is_returned_and_described_by_the_success_message():
    request = _request()
    assert attempt(request, lambda: "newsroom", lambda name: f"Dataset {name} is being scanned again.") == "newsroom"
    assert attempt(request, lambda: 3, "Cancellation requested.") == 3
    assert [(m.level_tag, m.message) for m in get_messages(request)] == [
        ("success", "Dataset newsroom is being scanned again."), ("success", "Cancellation requested.")]
