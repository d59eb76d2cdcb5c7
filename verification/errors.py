"""The domain's one error type. Views turn it into a form or page message, the API into JSON."""

from __future__ import annotations

from typing import Any


class VerityError(Exception):
    """An error the user can act on. ``code`` is stable for API clients."""

    code = "invalid"
    status = 400

    def __init__(self, message: str, *, details: dict | list | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class SubmissionRejected(VerityError):
    code = "submission_rejected"


class InvalidTransition(VerityError):
    code = "invalid_transition"
    status = 409


class NoActiveModel(VerityError):
    """The one "no active model" error, for every door: 503, because the portal cannot analyse until
    an admin activates a model, and a client should retry later rather than give up."""

    code = "no_active_model"
    status = 503

    def __init__(self, message: str = "No model version is active. An admin must register and activate a model "
                                      "version (Models page, or POST /api/v1/model-versions/{id}/promote/).",
                 **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
