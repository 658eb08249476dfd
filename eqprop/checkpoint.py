"""Checkpoint files: what ``python -m eqprop train`` writes, read back and checked, below every model.

A checkpoint is a ``torch.save`` archive of ``{format, train_config, n_in, n_out, state_dict}`` (`KEYS`),
written whole or not at all (`write_checkpoint`, `eqprop.atomic`). `read_checkpoint` checks the file
before anything is built from it: a folder, a text file, an empty file, another program's archive, a
missing key or a bad size each raise an error naming the file and what a checkpoint holds.

This module sits on the lowest floor (docs/layers.md): it knows the file, not the models. Rebuilding the
model a checkpoint describes is `eqprop.train.load_checkpoint`'s work (the float models' floor), and the
quantiser (`eqprop.hw.quantise`) takes the rebuilt net, so neither the specification nor the models
import the other's floor to read a file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from eqprop.atomic import atomic_path
from eqprop.cli_support import check_int

__all__ = ["FORMAT", "KEYS", "Checkpoint", "read_checkpoint", "write_checkpoint"]

FORMAT = "eqprop-checkpoint-1"
KEYS = ("format", "train_config", "n_in", "n_out", "state_dict")
WHAT = (f"a checkpoint holds {', '.join(KEYS)}, as `python -m eqprop train` writes it "
        "with `eqprop.train.save_checkpoint`")


@dataclass(frozen=True)
class Checkpoint:
    """The contents of a checkpoint file, checked (`read_checkpoint`)."""

    path: str
    train_config: dict        # the fields of `eqprop.train.TrainConfig`
    n_in: int                 # input size of the data set it was trained on
    n_out: int                # classes
    state_dict: dict          # the model's tensors (torch)


def write_checkpoint(path: str | os.PathLike, train_config: dict, n_in: int, n_out: int, state_dict: dict) -> None:
    """Save a checkpoint atomically (the file is replaced whole or not at all)."""
    import torch

    payload = {"format": FORMAT, "train_config": train_config, "n_in": n_in, "n_out": n_out,
               "state_dict": state_dict}
    try:
        with atomic_path(path) as tmp:
            torch.save(payload, tmp)
    except RuntimeError as e:       # torch's writer: "PytorchStreamWriter failed writing file ..." (a full disk)
        import shutil

        free = shutil.disk_usage(os.path.dirname(os.path.abspath(path))).free
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise OSError(f"{path}: cannot write the checkpoint ({free / 2**20:.0f} MiB free on its disk; free some "
                      f"space or pass another --out): torch.save: {first}") from e


def read_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """The checked contents of checkpoint `path`.

    Raises
    ------
    FileNotFoundError
        If `path` does not exist.
    ValueError
        If it is a folder, or not a checkpoint (a text file, another program's file, a zip archive whose
        checksums fail), or lacks one of `KEYS` (the message names it and lists what a checkpoint holds), or
        its sizes are not positive integers, or its train_config is not an object, or a tensor is not real
        (bool and complex are refused; integer tensors are read and converted).
    """
    import torch

    path = os.fspath(path)
    if os.path.isdir(path):
        raise ValueError(f"{path}: a folder, not a checkpoint file; pass the checkpoint.pt inside it")
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such checkpoint; train one with `python -m eqprop train`") from None
    # torch.save writes a zip archive (PK\x03\x04), older versions a pickle (\x80 protocol byte)
    if not (head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"):
        kind = "an empty file" if not head else "a text file" if _is_text(head) else "a binary file of another format"
        raise ValueError(f"{path}: not a checkpoint ({kind}); {WHAT}")
    if head.startswith(b"PK\x03\x04"):
        _check_archive(path)        # torch.load does not check the zip's CRC-32: a flipped byte loads silently
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except MemoryError:
        raise ValueError(f"{path}: the checkpoint is too large for this machine's memory "
                         f"({os.path.getsize(path) / 2**20:.0f} MiB on disk)") from None
    except Exception as e:  # torch raises several types for a corrupt or foreign file
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise ValueError(f"{path}: not a readable checkpoint; {WHAT}: torch.load: {type(e).__name__}: {first}"
                         ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path}: not an eqprop checkpoint (missing format tag {FORMAT!r}); {WHAT}")
    for key in KEYS:
        if key not in payload:
            raise ValueError(f"{path}: the checkpoint has no {key!r}; {WHAT}")
    for key in ("n_in", "n_out"):
        try:
            check_int(key, payload[key], lo=1)
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None
    if not isinstance(payload["train_config"], dict):
        raise ValueError(f"{path}: bad train_config in the checkpoint: an object of TrainConfig fields, not "
                         f"{type(payload['train_config']).__name__}")
    _check_tensors(path, payload["state_dict"])
    return Checkpoint(path, payload["train_config"], payload["n_in"], payload["n_out"], payload["state_dict"])


def _check_archive(path: str) -> None:
    """Refuse a checkpoint whose zip archive fails its checksums (a byte changed after `torch.save`)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()          # reads every member and compares its CRC-32 with the archive's
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise ValueError(f"{path}: not a readable checkpoint: its zip archive is damaged (truncated or overwritten); "
                         f"copy it again or train a new one with `python -m eqprop train`: zipfile: {e}") from None
    if bad is not None:
        raise ValueError(f"{path}: the checkpoint is damaged: the checksum of its part {bad!r} does not match its "
                         "contents (the file changed after it was written); copy it again or train a new one")


def _check_tensors(path: str, state: object) -> None:
    """Every value of a checkpoint's state_dict is a real floating-point tensor (an integer one is accepted and
    converted to the model's float type when loaded); bool and complex tensors are refused."""
    import torch

    if not isinstance(state, dict):
        raise ValueError(f"{path}: state_dict must be a mapping of parameter names to tensors, not "
                         f"{type(state).__name__}")
    for name, t in state.items():
        if not isinstance(t, torch.Tensor):
            raise ValueError(f"{path}: state_dict entry {name!r} must be a tensor, not {type(t).__name__}")
        if t.dtype == torch.bool or t.is_complex() or t.is_quantized:     # left: floating point or integer
            raise ValueError(f"{path}: state_dict entry {name!r} must hold real floating-point (or integer) values, "
                             f"not {str(t.dtype).removeprefix('torch.')}")


def _is_text(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"\0" not in head
