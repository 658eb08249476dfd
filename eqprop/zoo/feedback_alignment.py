"""EqProp with feedback weights that are not the transpose of the forward weights.

Feedback alignment (Lillicrap et al. 2016, "Random synaptic feedback weights support error
backpropagation for deep learning") applied to the layered EqProp network: layer l receives
B_{l+1} s_{l+1} from above instead of W_{l+1}^T s_{l+1}, with B fixed. The nudge still enters at
the output and reaches the hidden layers only through B, and the contrastive update is unchanged.
Without symmetric weights there is no energy function, so the EqProp theorem no longer holds;
whether the network still learns is the experiment (track 6). Modes:

- ``symmetric``: B = W^T (plain `EqPropNet`, the control);
- ``random``: B fixed, drawn once with the same law as the initial W;
- ``zero``: no feedback at all; the hidden layers never see the nudge, so only the top layer learns
  (a read-out-only control).
"""

from __future__ import annotations

import math

import torch

from eqprop.eqpropnet import EqPropConfig, EqPropNet

__all__ = ["FEEDBACK_MODES", "FeedbackAlignmentEqProp"]

FEEDBACK_MODES = ("symmetric", "random", "zero")


class FeedbackAlignmentEqProp(EqPropNet):
    """Seed-compatible ``FeedbackAlignmentEqProp(input_dim, hidden_dim, output_dim, feedback_mode='random')``.

    ``feedback[l]`` (a buffer, shape (n_{l+1}, n_l) like ``weights[l]``) carries layer l+1 down to layer l
    for l >= 1.
    """

    def __init__(self, input_dim: int, hidden_dim: int | list[int], output_dim: int, feedback_mode: str = "random",
                 *, generator: torch.Generator | None = None, **config):
        if feedback_mode not in FEEDBACK_MODES:
            raise ValueError(f"feedback_mode must be one of {', '.join(FEEDBACK_MODES)}, not {feedback_mode!r}")
        hidden = [hidden_dim] if isinstance(hidden_dim, int) else list(hidden_dim)
        super().__init__(EqPropConfig(sizes=[input_dim, *hidden, output_dim], **config), generator=generator)
        self.feedback_mode = feedback_mode
        for l, w in enumerate(self.weights):
            bound = self.config.init_gain / math.sqrt(w.shape[1])
            b = (torch.rand(w.shape, generator=self.generator, dtype=w.dtype) * 2 - 1) * bound
            self.register_buffer(f"feedback_{l}", b if feedback_mode == "random" else torch.zeros_like(w))

    def feedback(self, l: int) -> torch.Tensor:
        """The matrix that carries layer l+1 down to layer l, (n_{l+1}, n_l) (used as s_{l+1} @ B)."""
        if self.feedback_mode == "symmetric":
            return self.weights[l]
        return getattr(self, f"feedback_{l}")

    def alignment(self) -> list[float]:
        """cos(W_l, B_l) for the top-down matrices (l >= 1): feedback alignment predicts it grows."""
        return [torch.nn.functional.cosine_similarity(self.weights[l].detach().flatten(),
                                                      self.feedback(l).flatten(), dim=0).item()
                for l in range(1, len(self.weights))]

    def top_down(self, l: int) -> torch.Tensor:
        """Top-down through B_l, not W_l^T (`EqPropNet.step` calls this)."""
        return self.feedback(l)

    def bptt_gradients(self, *args, **kw):
        raise NotImplementedError("FeedbackAlignmentEqProp trains by EqProp only")
