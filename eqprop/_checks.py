"""Input validation shared by the reference models: clear errors for wrong shapes and non-finite values."""

from __future__ import annotations

import torch


def check_batch(x: torch.Tensor, n_in: int, what: str) -> None:
    """Raise ValueError unless `x` is a finite (B, n_in) tensor."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{what} must be a torch.Tensor, not {type(x).__name__}")
    if x.ndim != 2 or x.shape[1] != n_in:
        raise ValueError(f"{what} must have shape (batch, {n_in}), not {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        bad = int((~torch.isfinite(x)).sum())
        raise ValueError(f"{what} contains {bad} NaN or infinite values; clean the data before training")
