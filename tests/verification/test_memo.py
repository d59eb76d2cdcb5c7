"""Signed verification memos: what they carry, who may issue them, and that any changed byte is caught."""

from __future__ import annotations

import json
import os
import stat
from io import StringIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from verification import memo, services, signing
from verification.models import AuditEvent


@pytest.fixture(autouse=True)
def _key(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.VERITY_SIGNING_KEY = str(tmp_path / "keys" / "memo.pem")
    return settings.VERITY_SIGNING_KEY


@pytest.fixture
def decided(make_case, crew):  # type: ignore[no-untyped-def]
    case = make_case("Протест у мэрии 抗议", labels=("ai_generated", "real"))
    first, second = case.images.order_by("pk")
    services.review_record(user=crew["owner"], image=first, verdict="real", comment="Original from the agency")
    services.review_record(user=crew["owner"], image=second, verdict="real")
    services.comment_add(user=crew["owner"], case=case, body="Internal: call the photographer first")
    services.case_finalise(user=crew["lead"], case=case, verdict="real", comment="Both photographs are genuine")
    return case


def _body(data: bytes) -> dict:
    text = data.decode()
    return json.loads(text[len(memo.BEGIN):text.index(memo.END)])


def test_the_memo_carries_hashes_model_decisions_and_the_chain_head(client, crew, decided, version) -> None:
    client.force_login(crew["owner"])
    response = client.get(reverse("verification:case_memo", args=[decided.pk]))
    assert response.status_code == 200 and "attachment" in response["Content-Disposition"]
    content = _body(response.content)
    images = decided.images.order_by("pk")
    assert [i["sha256"] for i in content["images"]] == [i.sha256 for i in images]
    assert content["images"][0]["model"]["checkpoint_sha256"] == version.checkpoint_sha256
    assert content["images"][0]["model"]["version"] == version.name
    assert content["images"][0]["decisions"][0] == {**content["images"][0]["decisions"][0], "reviewer": "owner",
                                                    "verdict": "real", "overrode_model": True,
                                                    "comment": "Original from the agency"}
    assert content["case"]["summary"] == "Both photographs are genuine"
    assert "internal_discussion" not in content and "call the photographer" not in response.content.decode()
    export = AuditEvent.objects.filter(action="case.exported").latest("seq")
    assert content["audit"] == {**content["audit"], "chain": export.chain, "head_seq": export.seq,
                                "head_hash": export.hash}
    assert export.details == {"format": "memo"}


def test_internal_discussion_only_when_the_exporter_includes_it(client, crew, decided) -> None:
    client.force_login(crew["owner"])
    data = client.get(reverse("verification:case_memo", args=[decided.pk]), {"internal": "1"}).content
    assert _body(data)["internal_discussion"][0]["body"] == "Internal: call the photographer first"


def test_an_outsider_cannot_issue_a_memo_of_another_teams_case(client, crew, decided) -> None:
    client.force_login(crew["outsider"])
    assert client.get(reverse("verification:case_memo", args=[decided.pk])).status_code == 404
    assert not AuditEvent.objects.filter(action="case.exported", actor=crew["outsider"]).exists()


def test_the_key_is_made_once_outside_the_database_owner_only(crew, decided, _key) -> None:
    first = services.case_memo_issue(user=crew["owner"], case=decided)
    second = services.case_memo_issue(user=crew["owner"], case=decided)
    assert stat.S_IMODE(os.stat(_key).st_mode) == 0o600
    assert signing.key_id() in first.decode() and signing.key_id() in second.decode()


def test_every_single_changed_byte_is_caught(crew, decided) -> None:
    data = services.case_memo_issue(user=crew["owner"], case=decided)
    assert memo.check(data).authentic
    # A sample of positions over the whole file: the memo, the armour, the key and the signature.
    for position in range(0, len(data), max(1, len(data) // 97)):
        changed = bytearray(data)
        changed[position] = changed[position] ^ 0x01
        result = memo.check(bytes(changed))
        assert not result.authentic, position
        assert result.verdict in {"altered", "unreadable"}, position


def test_a_memo_re_signed_with_another_key_is_not_authentic(crew, decided, settings, tmp_path) -> None:
    data = services.case_memo_issue(user=crew["owner"], case=decided)
    settings.VERITY_SIGNING_KEY = str(tmp_path / "other.pem")
    forged = memo.sign({**_body(data), "case": {**_body(data)["case"], "final_verdict": "ai_generated"}})
    settings.VERITY_SIGNING_KEY = str(tmp_path / "keys" / "memo.pem")
    result = memo.check(forged)
    assert (result.authentic, result.verdict) == (False, "other_key")


def test_verify_memo_command(crew, decided, tmp_path) -> None:
    path = tmp_path / "memo.txt"
    path.write_bytes(services.case_memo_issue(user=crew["owner"], case=decided))
    out = StringIO()
    call_command("verify_memo", str(path), stdout=out)
    assert "AUTHENTIC" in out.getvalue() and "still holds event" in out.getvalue()
    path.write_bytes(path.read_bytes().replace(b'"real"', b'"fake"', 1))
    with pytest.raises(CommandError, match="ALTERED"):
        call_command("verify_memo", str(path), stdout=StringIO())


def test_anyone_can_check_a_memo_on_the_public_page(client, crew, decided) -> None:
    data = services.case_memo_issue(user=crew["owner"], case=decided)
    page = client.get(reverse("verification:memo_verify"))
    assert page.status_code == 200 and signing.key_id() in page.content.decode()
    ok = client.post(reverse("verification:memo_verify"), {"memo": SimpleUploadedFile("m.txt", data)})
    assert ok.context["result"].verdict == "authentic" and "Authentic and unchanged" in ok.content.decode()
    bad = client.post(reverse("verification:memo_verify"),
                      {"memo": SimpleUploadedFile("m.txt", data.replace(b"Both", b"Bath"))})
    assert bad.context["result"].verdict == "altered" and "Changed after signing" in bad.content.decode()
