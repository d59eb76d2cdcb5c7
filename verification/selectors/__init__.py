"""Reads. Every query a user can reach is scoped, in one place (.scope), to the user's teams; the
modules here are split by subject and this package re-exports what the doors (pages, API, services,
tasks) use, so they import ``selectors`` and nothing deeper.

Each module names what it exports in its own ``__all__``; this package re-exports exactly those
names, so a new selector is declared once, beside its definition (ruff.toml allows the star imports
here and only here)."""

from . import api_lists, archive, audit, cases, lifecycle, metrics, metrics_provenance, processing, roles, scope, tokens
from .api_lists import *
from .archive import *
from .audit import *
from .cases import *
from .lifecycle import *
from .metrics import *
from .metrics_provenance import *
from .processing import *
from .roles import *
from .scope import *
from .tokens import *

__all__ = [
    *api_lists.__all__, *archive.__all__, *audit.__all__, *cases.__all__, *lifecycle.__all__, *metrics.__all__,
    *metrics_provenance.__all__, *processing.__all__, *roles.__all__, *scope.__all__,
    *tokens.__all__,
]
