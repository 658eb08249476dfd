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
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def read_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """The checked contents of checkpoint `path`.

    Raises
    ------
    FileNotFoundError
        If `path` does not exist.
    ValueError
        If it is a folder, or not a checkpoint (a text file, another program's file), or lacks one of
        `KEYS` (the message names it and lists what a checkpoint holds), or its sizes are not positive
        integers, or its train_config is not an object.
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
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for a corrupt or foreign file
        raise ValueError(f"{path}: not a readable checkpoint ({type(e).__name__}: {e}); {WHAT}") from None
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
    return Checkpoint(path, payload["train_config"], payload["n_in"], payload["n_out"], payload["state_dict"])


def _is_text(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"\0" not in head
