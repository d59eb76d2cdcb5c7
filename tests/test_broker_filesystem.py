"""The embedded broker (filesystem://) never hands a worker half a message and never dies on one.

A worker once died in the suite with "Unrecoverable error: JSONDecodeError" after reading a message
file that kombu's transport had created but not yet written."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection

import portal.celery  # noqa: F401  (registers the transport for filesystem://)
from portal import broker_filesystem


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[tuple[Connection, Path]]:
    queue = tmp_path / "queue"
    for sub in ("queue", "processed", "control"):
        (tmp_path / sub).mkdir()
    options = {"data_folder_in": str(queue), "data_folder_out": str(queue),
               "processed_folder": str(tmp_path / "processed"), "control_folder": str(tmp_path / "control"),
               "store_processed": False}
    with Connection("filesystem://", transport_options=options) as conn:
        yield conn, tmp_path


def test_filesystem_urls_use_the_atomic_transport(broker: tuple[Connection, Path]) -> None:
    conn, _ = broker
    assert isinstance(conn.transport, broker_filesystem.Transport)


def test_an_empty_or_corrupt_message_is_set_aside_and_the_next_one_is_delivered(
        broker: tuple[Connection, Path]) -> None:
    conn, root = broker
    # A name of its own: kombu keeps bindings in a process-wide state, which other tests fill.
    name = f"inference-{uuid.uuid4().hex}"
    queue = conn.SimpleQueue(name)
    queue.put({"image": 7})
    (good,) = (root / "queue").glob(f"*.{name}.msg")
    stamp = int(good.name.partition("_")[0])
    # Planted ahead of it in the queue's order (earlier stamps): what a writer caught mid-write used to leave.
    empty, torn = f"{stamp - 2:015d}_empty.{name}.msg", f"{stamp - 1:015d}_torn.{name}.msg"
    (root / "queue" / empty).write_bytes(b"")
    (root / "queue" / torn).write_bytes(b'{"body": "eyJ')
    message = queue.get(timeout=2)
    assert message.payload == {"image": 7}
    message.ack()
    assert sorted(p.name for p in (root / "rejected").iterdir()) == [empty, torn]
    assert not list((root / "queue").glob("*.msg"))
    queue.close()


def test_a_message_is_never_visible_under_its_queue_name_before_it_is_whole(
        broker: tuple[Connection, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    conn, root = broker
    channel = conn.default_channel
    seen: list[tuple[int, bytes]] = []
    real_replace = os.replace

    def replace_and_look(src: Any, dst: Any) -> None:
        # Just before the rename: readers count nothing, and the aside file already holds it all.
        seen.append((channel._size("inference"), Path(src).read_bytes()))
        real_replace(src, dst)

    monkeypatch.setattr(broker_filesystem.os, "replace", replace_and_look)
    channel._put("inference", {"body": "x" * 100_000})
    assert len(seen) == 1
    size_before, content = seen[0]
    assert size_before == 0
    assert json.loads(content) == {"body": "x" * 100_000}
    assert channel._size("inference") == 1
    assert not list((root / "queue").glob(".incoming-*"))


def test_an_exchange_file_is_created_whole_and_an_empty_one_reads_as_no_bindings(
        broker: tuple[Connection, Path]) -> None:
    conn, root = broker
    channel: Any = conn.default_channel
    (root / "control" / "half.exchange").write_bytes(b"")
    assert channel.get_table("half") == []
    channel._queue_bind("fan", "", "", "first")
    channel._queue_bind("fan", "", "", "second")
    assert sorted(q.queue for q in channel.get_table("fan")) == ["first", "second"]
    assert not list((root / "control").glob(".incoming-*"))


def test_messages_come_out_in_the_order_they_went_in_across_a_change_of_digits(
        broker: tuple[Connection, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    conn, _ = broker
    channel: Any = conn.default_channel
    clock = iter([9.999, 10.000])  # 9999 ms, then 10000 ms: unpadded, "10000_" sorts before "9999_"
    monkeypatch.setattr(broker_filesystem, "monotonic", lambda: next(clock))
    channel._put("ordered", {"n": 1})
    channel._put("ordered", {"n": 2})
    assert [channel._get("ordered")["n"], channel._get("ordered")["n"]] == [1, 2]
