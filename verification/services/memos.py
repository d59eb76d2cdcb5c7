"""Issuing signed verification memos (an audited export)."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from .. import memo
from ..audit import record_event
from ..models import Case
from ..selectors import User
from ._common import require_member


def case_memo_issue(*, user: User, case: Case, include_internal: bool = False, fmt: str = "memo") -> bytes:
    """A signed memo of the case as it stands, for a memo download or embedded in a report
    (``fmt``: memo, html, pdf). The export is audited first, in the same transaction, so the
    audit chain head the memo carries includes its own issue."""
    require_member(user, case.team)
    details: dict[str, Any] = {"format": fmt}
    if include_internal:
        details["internal"] = True  # internal discussion left the newsroom: worth a search
    with transaction.atomic():
        record_event(action="case.exported", obj=case, actor=user, team=case.team, case=case, details=details)
        content = memo.build(case, issued_by=user.get_username(), include_internal=include_internal)
        return memo.sign(content)
