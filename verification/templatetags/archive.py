"""Template tags of the archive memory: the unread-notifications count in the navigation bar."""

from __future__ import annotations

from typing import Any

from django import template

from ..selectors import unread_notifications as _unread

register = template.Library()


@register.simple_tag
def unread_notifications(user: Any) -> int:
    return _unread(user)
