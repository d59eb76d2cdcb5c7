"""The embedded broker: kombu's filesystem transport, made safe for a reader and a writer at once.

kombu's own transport (5.x) creates each message file under its final name and then writes it,
and its reader neither locks nor retries: a worker that lists the queue folder between the two
steps reads an empty message, fails to decode it and dies ("Unrecoverable error:
JSONDecodeError"), and the message is gone. The exchange files of the control folder have the
same gap between creating and writing. Here:

- a message is written under a temporary name that no reader counts, then renamed into place
  (a rename is atomic on one filesystem), so a reader sees a whole message or none;
- a reader claims a message by renaming it into the processed folder (same filesystem, so two
  workers cannot both claim it), and a file that still does not decode is moved to
  ``rejected/`` beside it and logged, instead of stopping the worker (an analysis whose message
  was set aside is re-sent by the sweeper, ``worker.tasks.requeue_stuck``, like any other
  analysis that no worker is handling);
- an exchange file is created whole (written aside, then linked into place), and an empty one
  reads as no bindings.

Selected for ``filesystem://`` URLs by ``portal.celery``. Redis, the production broker, is
untouched.
"""

from __future__ import annotations

import logging
import os
import uuid
from json import JSONDecodeError
from pathlib import Path
from queue import Empty
from time import monotonic
from typing import Any

from kombu.transport import filesystem
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

logger = logging.getLogger(__name__)

# A name no queue's pattern ("<stamp>_<uuid>.<queue>.msg") matches: kombu's size and purge skip it.
_TEMP_PREFIX = ".incoming-"


def _write_aside(folder: Path, data: bytes) -> Path:
    temp = folder / f"{_TEMP_PREFIX}{uuid.uuid4()}"
    with open(temp, "wb") as handle:
        handle.write(data)
    return temp


def _stamp() -> str:
    """Milliseconds, zero-padded: readers take messages in name order, which is then time order
    (kombu's unpadded stamps put 10000_... before 9999_...)."""
    return f"{int(round(monotonic() * 1000)):015d}"


class Channel(filesystem.Channel):
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]  # kombu's own signature
        folder = Path(self.data_folder_out)
        name = f"{_stamp()}_{uuid.uuid4()}.{queue}.msg"
        temp = _write_aside(folder, str_to_bytes(dumps(payload)))
        try:
            os.replace(temp, folder / name)
        except OSError as exc:
            temp.unlink(missing_ok=True)
            raise filesystem.ChannelError(f"Cannot add a message to {folder}") from exc

    def _get(self, queue: str, timeout: float | None = None) -> Any:
        folder = Path(self.data_folder_in)
        claimed_folder = Path(self.processed_folder)
        pattern = f"{queue}.msg"
        for name in sorted(os.listdir(folder)):
            if name.partition(".")[2] != pattern:
                continue
            claimed = claimed_folder / name
            claimed_folder.mkdir(parents=True, exist_ok=True)
            try:
                os.replace(folder / name, claimed)  # whoever renames it first owns it
            except OSError:
                continue  # another worker claimed it
            try:
                payload = loads(bytes_to_str(claimed.read_bytes()))
            except (OSError, ValueError) as exc:
                self._reject(claimed, exc)
                continue
            if not self.store_processed:
                claimed.unlink(missing_ok=True)
            return payload
        raise Empty()

    def _reject(self, path: Path, exc: Exception) -> None:
        rejected = path.parent.parent / "rejected"
        rejected.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(path, rejected / path.name)
        except OSError:
            logger.exception("could not set aside the unreadable broker message %s", path)
            return
        logger.error("broker message %s could not be read (%s); moved to %s", path.name, exc, rejected)

    def get_table(self, exchange: str) -> list[Any]:
        try:
            return super().get_table(exchange)  # type: ignore[no-any-return]
        except JSONDecodeError:
            return []  # an empty exchange file: no queue is bound to it yet

    def _queue_bind(self, exchange: str, routing_key: str, pattern: str, queue: str) -> None:
        file = self._exchange_file(exchange)
        if not file.exists():
            self.control_folder.mkdir(parents=True, exist_ok=True)
            binding = [filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")]
            temp = _write_aside(self.control_folder, str_to_bytes(dumps(binding)))
            try:
                os.link(temp, file)  # fails if another process created it meanwhile
                return
            except FileExistsError:
                pass  # then add this binding to theirs, below
            finally:
                temp.unlink(missing_ok=True)
        super()._queue_bind(exchange, routing_key, pattern, queue)


class Transport(filesystem.Transport):
    Channel = Channel
