"""Atomic outputs: the one way this project writes a file, whole or not at all.

Every report, checkpoint, memory image, plot and notebook goes through `atomic_path`: the content is
written to a temporary file in the destination's folder and renamed over the destination only when
it is complete (``os.replace`` is atomic on POSIX), so an error or Ctrl-C in the middle leaves the
previous file byte for byte, never half of a new one. The temporary file is created 0600 by
``mkstemp``; before the rename it gets the mode ``open()`` would have given it (``0666 & ~umask``),
so every file the project writes has the same permissions. Imports nothing beyond the standard
library (the hardware package uses it and must not load torch).

Output folders follow the same rule. `check_replaceable` decides, before any work, whether an existing
folder may be replaced at all: never the empty path, the current folder or one above it, a home folder,
the file system's root, a project checkout, or a folder holding anything the command cannot recognise as
its own earlier output (a manifest decides). `replace_folder` then puts a complete new folder in place by
an atomic exchange (Linux ``renameat2(RENAME_EXCHANGE)``; elsewhere two renames that are undone on
failure), so the old output stays whole until the new one is complete.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["OutputRefused", "atomic_path", "check_replaceable", "file_mode", "naming", "replace_folder",
           "write_bytes_atomic", "write_json_atomic", "write_text_atomic"]

# the checkout this module is part of: never an output folder, nor any folder above it
_PROJECT = Path(__file__).resolve().parents[1]


class OutputRefused(ValueError):
    """An output folder that must not be replaced; the message says why and what to do instead."""


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
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise naming(e, tmp, path) from e     # the user's path in the message, not .tmp-...
        raise


def naming(e: OSError, tmp: str | os.PathLike, dest: str | os.PathLike) -> OSError:
    """`e` with the temporary path `tmp` (or a file inside that folder) replaced by the user's `dest` in its file
    names, so that an error (a full disk, a permission) names the output the user asked for."""
    def mapped(name):
        if name is None:
            return None
        try:
            rel = Path(os.fsdecode(name)).absolute().relative_to(Path(tmp).absolute())
        except ValueError:
            return name
        return os.fspath(Path(dest) / rel) if rel.parts else os.fspath(dest)

    names = (mapped(e.filename), mapped(e.filename2))
    if e.errno is None or names == (e.filename, e.filename2):
        return e
    return type(e)(e.errno, e.strerror, names[0], None, names[1])


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


def check_replaceable(dest: str | os.PathLike, recognise: Callable[[Path], list[str]], *, name: str = "--out",
                      what: str = "output") -> None:
    """Refuse, before any work, to replace `dest` unless it is missing, empty or this project's own output.

    `recognise(dest)` returns the entries of the existing folder that are *not* the command's own earlier
    output (an empty list when all are); a folder without the command's manifest is foreign as a whole.

    Raises
    ------
    OutputRefused
        For the empty path, the current folder or a folder above it, a home folder, the file system's root,
        a project checkout or a folder above one, a symbolic link, a file, or a folder holding anything
        `recognise` does not claim; the message names the folder and what to do instead.
    """
    text = os.fspath(dest)
    fix = f"pass {name} a new folder (e.g. {name} build/core), or remove or rename the folder yourself"
    if not text.strip():
        raise OutputRefused(f"{name} must name a folder, not the empty path; {fix}")
    dest = Path(text)
    if not dest.exists() and not dest.is_symlink():
        return
    if dest.is_symlink():
        raise OutputRefused(f"{name} {text!r} is a symbolic link; this command replaces only a folder it wrote "
                            f"itself; {fix}")
    real, cwd = dest.resolve(), Path.cwd().resolve()
    if real == cwd or real in cwd.parents:
        where = "is the current folder" if real == cwd else "holds the current folder"
        raise OutputRefused(f"{name} {text!r} {where}; --force never replaces it; {fix}")
    if real == Path(real.anchor) or real == Path.home().resolve():
        raise OutputRefused(f"{name} {text!r} is {'a home folder' if real != Path(real.anchor) else 'the root'}; "
                            f"--force never replaces it; {fix}")
    if real == _PROJECT or real in _PROJECT.parents or (real / "pyproject.toml").exists() or (real / ".git").exists():
        raise OutputRefused(f"{name} {text!r} is a project checkout (or holds one); --force never replaces it; {fix}")
    if not dest.is_dir():
        raise OutputRefused(f"{name} must be a folder, not the existing file {text!r}; pass another {name}")
    foreign = recognise(dest)
    if foreign:
        shown = ", ".join(repr(f) for f in sorted(foreign)[:3]) + (f" and {len(foreign) - 3} more"
                                                                   if len(foreign) > 3 else "")
        raise OutputRefused(f"{name} {text!r} holds {shown}, which this command did not write (or which changed "
                            f"since); --force replaces only its own unchanged {what}; {fix}")


def _exchange(a: Path, b: Path) -> bool:
    """Swap the two paths atomically (Linux renameat2 with RENAME_EXCHANGE); False where that is missing."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):      # kernel or file system without it
        return False
    raise OSError(err, os.strerror(err), os.fspath(b))


def replace_folder(new: str | os.PathLike, dest: str | os.PathLike) -> None:
    """Put the complete folder `new` at `dest` (same file system), replacing what is there in one step.

    `dest` must have passed `check_replaceable`. Where `dest` exists, the two are exchanged atomically and
    the old output, now at `new`, is removed; if that removal fails, the new output is in place all the same
    and the old one stays at `new` (a warning names it). Without an atomic exchange the old folder is renamed
    aside first and renamed back if the new one cannot be moved in, so a failure leaves it as it was.
    """
    new, dest = Path(new), Path(dest)
    if not dest.exists():
        os.rename(new, dest)
        return
    if _exchange(new, dest):
        old = new
    else:
        old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".old", dir=dest.absolute().parent))
        os.rmdir(old)
        os.rename(dest, old)
        try:
            os.rename(new, dest)
        except BaseException:
            os.rename(old, dest)
            raise
    problems: list[str] = []
    if sys.version_info >= (3, 12):
        shutil.rmtree(old, onexc=lambda _fn, path, exc: problems.append(f"{path}: {exc}"))
    else:
        shutil.rmtree(old, onerror=lambda _fn, path, info: problems.append(f"{path}: {info[1]}"))
    if problems:
        print(f"warning: the new output is complete in {os.fspath(dest)!r}, but the previous one, moved to "
              f"{os.fspath(old)!r}, could not be removed ({problems[0]}); remove it yourself", file=sys.stderr)
