"""Atomic outputs: the one way this project writes a file, whole or not at all.

Every report, checkpoint, memory image, plot and notebook goes through `atomic_path`: the content is
written to a temporary file in the destination's folder and renamed over the destination only when
it is complete (``os.replace`` is atomic on POSIX), so an error or Ctrl-C in the middle leaves the
previous file byte for byte, never half of a new one. The temporary file is created 0600 by
``mkstemp``; before the rename it gets the mode ``open()`` would have given it (``0666 & ~umask``),
so every file the project writes has the same permissions. Imports nothing beyond the standard
library (the hardware package uses it and must not load torch).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "file_mode", "write_bytes_atomic", "write_json_atomic", "write_text_atomic"]


def file_mode() -> int:
    """The mode ``open(path, "w")`` gives a new file under the current umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on a clean exit it is renamed to `path`, else removed.

    For writers that want a file name (``torch.save``, ``fig.savefig``)::

        with atomic_path("results/plot.png") as tmp:
            fig.savefig(tmp, format="png")
    """
    path = Path(path)
    folder = path.absolute().parent
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix="-" + path.name)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """`data` to `path`, whole or not at all."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """`text` (UTF-8) to `path`, whole or not at all (a report, a notebook, a baseline)."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | os.PathLike, obj) -> None:
    """`obj` as indented JSON; a value JSON cannot hold raises TypeError before anything is written."""
    write_text_atomic(path, json.dumps(obj, indent=2) + "\n")
