"""How audit events read to a person: plain-word search, a one-line details summary, a link to
the object. Shared by the audit page, its CSV and the case history."""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.urls import NoReverseMatch, reverse

from .models import AuditEvent

# Words people type (left) and the actions they mean. A word matches an action by prefix or
# suffix fragment, so new actions of the same family are found without editing this table.
PLAIN_WORDS: dict[str, tuple[str, ...]] = {
    "login": ("user.logged_in", "login.", "user.login"),
    "logins": ("user.logged_in", "login.", "user.login"),
    "logged": ("user.logged_in", "login."),
    "override": ("review.overridden",),
    "overrides": ("review.overridden",),
    "overridden": ("review.overridden",),
    "confirm": ("review.confirmed",),
    "confirmed": ("review.confirmed",),
    "review": ("review.",),
    "reviews": ("review.",),
    "export": (".exported",),
    "exports": (".exported",),
    "exported": (".exported",),
    "download": (".exported",),
    "upload": ("case.submitted",),
    "submit": ("case.submitted",),
    "submitted": ("case.submitted",),
    "finalise": ("case.finalised",),
    "finalize": ("case.finalised",),
    "finalised": ("case.finalised",),
    "reopen": ("case.reopened",),
    "comment": ("comment.",),
    "comments": ("comment.",),
    "assign": ("case.assigned",),
    "train": ("training.",),
    "training": ("training.",),
    "model": ("model.",),
    "promote": ("model.activated",),
    "promotion": ("model.activated",),
    "rollback": ("model.activated",),
    "analysis": ("analysis.",),
    "failed": (".failed",),
    "failure": (".failed",),
    "token": ("token.",),
    "memo": ("memo.",),
    "signed": ("memo.",),
    "people": ("user.", "membership."),
    "role": ("membership.",),
}


def plain_search(q: str) -> Q:
    """A filter for what someone typed: every word must match (action, person, case title, object
    id or a plain word such as "login", "override" or "export")."""
    condition = Q()
    for word in q.split():
        lowered = word.lower()
        match = (Q(action__icontains=word) | Q(actor__username__icontains=word) | Q(actor_name__icontains=word)
                 | Q(object_id=word) | Q(case__title__icontains=word) | Q(object_type__icontains=word))
        for fragment in PLAIN_WORDS.get(lowered, ()):
            match |= Q(action__icontains=fragment)
        condition &= match
    return condition


def _label(value: Any) -> str:
    return str(value).replace("_", " ")


def summary(event: AuditEvent) -> str:
    """The details of one event as a sentence fragment: verdicts, comments, counts."""
    d = event.details or {}
    if event.action.startswith("review."):
        text = f"{d.get('image_name') or 'image ' + str(d.get('image', ''))}: {_label(d.get('verdict', ''))}"
        if d.get("model_label"):
            text += f" (model: {_label(d['model_label'])})"
        if d.get("comment"):
            text += f" — “{d['comment']}”"
        return text
    if event.action == "analysis.done":
        p = d.get("probability_ai")
        return f"model: {_label(d.get('label', ''))}" + (f", P(AI) {float(p):.2f}" if p is not None else "")
    if event.action == "case.finalised":
        text = f"verdict: {_label(d.get('verdict', ''))}"
        if d.get("unreviewed"):
            text += f"; finalised with {d['unreviewed']} unreviewed image(s), confirmed"
        if d.get("comment"):
            text += f" — “{d['comment']}”"
        return text
    parts = []
    for key, value in sorted(d.items()):
        if isinstance(value, dict | list):
            continue
        parts.append(f"{_label(key)}: {value}")
    return "; ".join(parts)[:300]


_LINKS: dict[str, tuple[str, str]] = {
    # object_type -> (url name, argument name)
    "case": ("verification:case_detail", "case_id"),
    "trainingrun": ("verification:training_run", "run_id"),
}


def link(event: AuditEvent) -> str:
    """A page about the event's object, or "" when there is none to show."""
    try:
        if event.object_type in _LINKS:
            name, arg = _LINKS[event.object_type]
            return reverse(name, kwargs={arg: int(event.object_id)})
        if event.object_type in {"modelversion", "modelevaluation"}:
            return reverse("verification:models")
        if event.object_type == "dataset":
            return reverse("verification:datasets")
        if event.case_id:
            return reverse("verification:case_detail", kwargs={"case_id": event.case_id})
    except (NoReverseMatch, ValueError):
        return ""
    return ""
