"""docs/api.md names only endpoints that exist: every method and /api/v1/ path it mentions (endpoint
tables, `METHOD /path` in prose, curl examples) is an operation of the generated OpenAPI schema, so
renaming or removing an endpoint without fixing the docs fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.django_db

API_DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
METHODS = "GET|POST|PUT|PATCH|DELETE"
PATH = r"/api/v1/[^\s\"'`|?)]*"
DOC_PAGES = "/api/v1/schema/"  # the schema and its Swagger and ReDoc pages are not operations of the schema


def _curl_calls(text: str) -> list[tuple[str, str]]:
    """(method, path) of every curl command: -X names the method; -F or -d without -G make it a POST."""
    calls = []
    for command in re.sub(r"\\\n\s*", " ", text).splitlines():
        path = re.search(PATH, command)
        if "curl " not in command or path is None:
            continue
        explicit = re.search(r"\s-X\s*([A-Z]+)", command)
        posts = re.search(r"\s(-F|-d|--data[\w-]*)\s", command) and not re.search(r"\s(-G|--get)\s", command)
        calls.append((explicit.group(1) if explicit else "POST" if posts else "GET", path.group()))
    return calls


def _named(text: str) -> list[tuple[str, str]]:
    """(method, path) in table rows ``| GET | `/api/v1/...` |`` and as ``METHOD /path`` anywhere; a path
    without the /api/v1 prefix (the scope table's) is relative to it."""
    rows = re.findall(rf"^\|\s*({METHODS})\s*\|\s*`({PATH})`", text, re.MULTILINE)
    inline = re.findall(rf"\b({METHODS})\s+(/[^\s`|?]*)", text)
    return rows + [(m, p if p.startswith("/api/v1/") else "/api/v1" + p) for m, p in inline]


def _matches(path: str, template: str) -> bool:
    pattern = "".join("[^/]+" if part.startswith("{") else re.escape(part)
                      for part in re.split(r"(\{[^}]+\})", template))
    return re.fullmatch(pattern, path) is not None


def _missing(text: str, operations: set[tuple[str, str]]) -> list[tuple[str, str]]:
    """The (method, path) pairs that the text names and the schema lacks."""
    return [(method, path) for method, path in _named(text) + _curl_calls(text)
            if not any(m == method.lower() and _matches(path, t) for m, t in operations)]


@pytest.fixture
def operations(spec) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return {(method, path) for path, item in spec["paths"].items() for method in item}


def test_every_endpoint_the_api_docs_name_is_in_the_schema(operations):
    text = API_DOC.read_text()
    assert len(_named(text)) >= 20 and len(_curl_calls(text)) >= 10  # the docs were read, not skipped
    assert _missing(text, operations) == []


def test_every_api_path_the_docs_mention_is_an_operation_or_a_documentation_page(client, operations):
    for path in set(re.findall(PATH, API_DOC.read_text())):
        if path == "/api/v1/":
            continue  # "everything under /api/v1/"
        if path.startswith(DOC_PAGES):
            assert client.get(path).status_code == 200, path
        else:
            assert any(_matches(path, t) for _, t in operations), path


def test_a_renamed_or_wrongly_used_endpoint_is_caught(operations):
    doc = """
| GET | `/api/v1/case/{id}/` | read | renamed |
`DELETE /api/v1/cases/{id}/` and `POST /reviews/{id}/`
curl -sS "$VERITY/api/v1/cases/42/" -H "Authorization: Bearer $TOKEN"
curl -sS -X PATCH "$VERITY/api/v1/images/7/" \\
  -H "Content-Type: application/json" -d '{}'
curl -sS "$VERITY/api/v1/metrics/" -F x=1
"""
    assert _missing(doc, operations) == [("GET", "/api/v1/case/{id}/"), ("DELETE", "/api/v1/cases/{id}/"),
                                         ("POST", "/api/v1/reviews/{id}/"), ("PATCH", "/api/v1/images/7/"),
                                         ("POST", "/api/v1/metrics/")]
