"""Every model write goes through verification/services/ (issue 16): the doors (pages, API views,
the token pages, worker tasks) and the modules whose writes moved into services (tokens, webhooks,
idempotency, case metadata) hold no ``.objects.create(``, ``.save(``, ``.update(``, ``.delete(``
or ``bulk_create`` of their own.

A source scan: it reads the code, so a new write in a door fails here before it ships."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

DOORS = [*sorted((ROOT / "verification" / "views").rglob("*.py")),
         *sorted((ROOT / "verification" / "api").rglob("*.py")),
         ROOT / "verification" / "token_views.py",
         *sorted((ROOT / "worker").rglob("*.py"))]
# Their writes now live in services/tokens.py, services/webhooks.py, services/idempotency.py and
# services/case_metadata.py; what is left of them (or a module that comes back) must not write.
MOVED = [ROOT / "verification" / name for name in ("tokens.py", "webhooks.py", "idempotency.py", "case_metadata.py")]

# Methods that write wherever they are called on a manager or queryset.
_MANAGER_WRITES = {"create", "bulk_create", "bulk_update", "get_or_create", "update_or_create", "update", "delete"}
# A chain through one of these is a queryset (``X.objects...``, ``qs.filter(...).update(...)``).
_QUERYSET_STEPS = {"objects", "filter", "exclude", "all", "select_for_update", "select_related", "only", "defer"}
# Methods that write whatever they are called on (a model instance, a ModelForm).
_ALWAYS_WRITES = {"save", "delete", "bulk_create", "bulk_update"}


def _chain(node: ast.expr) -> list[str]:
    """The attribute and method names a receiver is built from: ``A.objects.filter(x)`` -> [objects, filter]."""
    names: list[str] = []
    while True:
        if isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Attribute):
            names.append(node.attr)
            node = node.value
        else:
            return names


def model_writes(source: str) -> list[tuple[int, str]]:
    """(line, text) of each call that writes a model row, as far as the code's shape shows."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        method, receiver = node.func.attr, _chain(node.func.value)
        on_queryset = method in _MANAGER_WRITES and bool(_QUERYSET_STEPS & set(receiver))
        # ``x.save(...)`` with arguments is a file or an image (PIL, storage), not a model row;
        # a model's save takes keywords only.
        instance_write = method in _ALWAYS_WRITES and not node.args
        if on_queryset or instance_write:
            found.append((node.lineno, ast.unparse(node)[:120]))
    return found


@pytest.mark.parametrize("path", [p for p in DOORS + MOVED if p.exists()], ids=lambda p: str(p.relative_to(ROOT)))
def test_no_model_write_outside_services(path: Path) -> None:
    writes = model_writes(path.read_text())
    assert not writes, f"{path.relative_to(ROOT)} writes rows itself; call verification/services/: {writes}"


@pytest.mark.parametrize("snippet", [
    "ApiToken.objects.create(user=u, name='x')",
    "Case.objects.filter(pk=1).update(notes='')",
    "IdempotencyKey.objects.filter(created_at__lt=t).delete()",
    "record.save(update_fields=['case'])",
    "token.delete()",
    "WebhookDelivery.objects.bulk_create(rows)",
])
def test_the_scan_sees_each_kind_of_write(snippet: str) -> None:
    assert model_writes(snippet), snippet


@pytest.mark.parametrize("snippet", [
    "context.update({'a': 1})", "outcomes.update(x)", "image.save(buffer, format='PNG')", "cache.get('k')",
])
def test_the_scan_leaves_dicts_and_files_alone(snippet: str) -> None:
    assert not model_writes(snippet), snippet


# Reads: the doors run no query of their own either; every read is a selector (issue 16).
_READS = ("objects", "_default_manager", "_base_manager")


def model_reads(source: str) -> list[tuple[int, str]]:
    """(line, text) of each use of a model manager or of raw SQL."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in _READS:
            found.append((node.lineno, ast.unparse(node)[:120]))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr in ("raw", "cursor")):
            found.append((node.lineno, ast.unparse(node)[:120]))
    return found


@pytest.mark.parametrize("path", [p for p in DOORS if p.exists()], ids=lambda p: str(p.relative_to(ROOT)))
def test_no_query_in_a_door(path: Path) -> None:
    reads = model_reads(path.read_text())
    assert not reads, f"{path.relative_to(ROOT)} queries the models itself; add a selector: {reads}"


@pytest.mark.parametrize("snippet", ["CaseImage.objects.in_bulk(ids)", "Team._default_manager.get(pk=1)",
                                     "connection.cursor()", "Case.objects.raw('select 1')"])
def test_the_scan_sees_each_kind_of_read(snippet: str) -> None:
    assert model_reads(snippet), snippet
