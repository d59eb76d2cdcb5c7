"""Changing a case's notes and tags, audited in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import transaction

from ..audit import record_event
from ..errors import VerityError
from ..models import Case, Membership
from ..selectors import User
from ._common import account_id
from .submission import case_tags_set

MAX_TAGS = 20


def case_update(*, user: User, case: Case, notes: str | None = None, tags: Sequence[str] | None = None,
                add_tags: Sequence[str] = (), remove_tags: Sequence[str] = ()) -> Case:
    """Set notes, replace tags (``tags``) or edit them (``add_tags``/``remove_tags``).

    Tags arrive cleaned (lower case, single spaces). Writes one ``case.updated`` event listing
    what changed; a request that changes nothing writes nothing.
    """
    if not Membership.objects.filter(user_id=account_id(user), team_id=case.team_id).exists():
        raise VerityError("You are not a member of that team.")
    with transaction.atomic():
        # Lock the case: two concurrent tag edits must not compute their changes from the same old set.
        case = Case.objects.select_for_update().get(pk=case.pk)
        before = sorted(case.tags.values_list("name", flat=True))
        wanted = set(tags) if tags is not None else (set(before) | set(add_tags)) - set(remove_tags)
        if len(wanted) > MAX_TAGS:
            raise VerityError(f"A case has at most {MAX_TAGS} tags.", details={"tags": sorted(wanted)})
        changes: dict[str, Any] = {}
        if notes is not None and notes != case.notes:
            changes["notes"] = {"before": case.notes, "after": notes}
            case.notes = notes
            case.save(update_fields=["notes"])
        if wanted != set(before):
            case_tags_set(case=case, tags=sorted(wanted))
            changes["tags"] = {"before": before, "after": sorted(wanted)}
        if changes:
            record_event(action="case.updated", obj=case, actor=user, team=case.team, case=case, details=changes)
    return case
