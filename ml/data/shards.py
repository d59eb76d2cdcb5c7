"""Reading image files stored as members of uncompressed tar shards (``images-000.tar`` ...).

A source in ``shared/data`` keeps its original image bytes in tar shards beside a
``MANIFEST.csv``. Reading a member must not re-open or re-scan the shard for every image, so a
:class:`ShardReader` opens its file once, scans its headers once into a name -> (offset, size)
index, and then serves each member with one ``os.pread`` at the member's data offset. ``pread``
does not move the shared file position, so a reader inherited by forked DataLoader workers stays
correct without locking.
"""

from __future__ import annotations

import os
import tarfile
import threading
from pathlib import Path

from ..errors import MLError

SHARD_GLOB = "images-*.tar"


def member_key(name: str) -> str:
    """Normalise a tar member name or manifest relpath so the two compare equal ("./a/b" == "a/b")."""
    name = name.replace("\\", "/")
    while name.startswith("./"):
        name = name[2:]
    return name.lstrip("/")


class ShardReader:
    """One open tar shard with an index of its regular-file members."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None
        self.index: dict[str, tuple[int, int]] = self._scan()
        self.opens = 0  # how many times the file was opened for reading members (for tests)

    def _scan(self) -> dict[str, tuple[int, int]]:
        try:
            # "r:" refuses compressed tars: a member of a gzip stream has no byte offset to pread.
            with tarfile.open(self.path, mode="r:") as tar:
                return {member_key(m.name): (m.offset_data, m.size) for m in tar if m.isfile()}
        except FileNotFoundError as exc:
            raise MLError(f"Tar shard not found: {self.path}") from exc
        except tarfile.TarError as exc:
            raise MLError(
                f"Cannot read tar shard {self.path} ({exc}); shards must be uncompressed .tar files."
            ) from exc

    def _file(self) -> int:
        # Opened on first read, not at scan time, so listing a dataset holds no descriptors; a
        # forked worker may keep using the inherited one, because pread is position-free.
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)
            self.opens += 1
        return self._fd

    def __contains__(self, name: str) -> bool:
        return member_key(name) in self.index

    def read(self, name: str) -> bytes:
        key = member_key(name)
        try:
            offset, size = self.index[key]
        except KeyError:
            raise MLError(f"{self.path} has no member {name!r}.") from None
        data = os.pread(self._file(), size, offset)
        if len(data) != size:
            raise MLError(f"{self.path} is truncated: member {name!r} is cut short.")
        return data

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:
        try:
            self.close()
        except OSError:
            pass


_READERS: dict[Path, ShardReader] = {}
_LOCK = threading.Lock()


def shard_reader(path: str | Path) -> ShardReader:
    """The process-wide reader for ``path``: each shard is scanned and opened once."""
    key = Path(path).resolve()
    with _LOCK:
        reader = _READERS.get(key)
        if reader is None:
            reader = _READERS[key] = ShardReader(key)
        return reader


def close_all() -> None:
    """Close every cached shard (tests, or a long-lived process that is done with a dataset)."""
    with _LOCK:
        for reader in _READERS.values():
            reader.close()
        _READERS.clear()


def find_shards(folder: Path) -> list[Path]:
    return sorted(folder.glob(SHARD_GLOB))


def write_shards(files: list[tuple[str, bytes]], folder: str | Path, *,
                 per_shard: int = 1000) -> list[Path]:
    """Write ``(relpath, bytes)`` pairs into ``images-000.tar``, ``images-001.tar``, ... under
    ``folder``, ``per_shard`` files each, bytes untouched. Used by tests and to pack a dataset."""
    import io

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n, start in enumerate(range(0, len(files), per_shard)):
        path = folder / f"images-{n:03d}.tar"
        with tarfile.open(path, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name, data in files[start:start + per_shard]:
                info = tarfile.TarInfo(member_key(name))
                info.size = len(data)
                info.mtime = 0  # reproducible shards
                tar.addfile(info, io.BytesIO(data))
        paths.append(path)
    return paths
