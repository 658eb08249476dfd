"""Event-driven ("lazy") relaxation: a neuron tells its neighbours only when its state has moved.

Each layer keeps, besides its state s_l, the value ŝ_l it last sent. After every step a neuron whose
state differs from its sent value by more than epsilon sends the difference (an event), and each
receiving neuron adds W * difference to its stored drive; the others send nothing. The drive is then
W_l ŝ_{l-1} + W_{l+1}^T ŝ_{l+1} + b_l instead of the same with s, so epsilon = 0 reproduces dense
relaxation (up to rounding) and a larger epsilon trades accuracy for fewer multiply-accumulates. This is the
delta / send-on-delta scheme of event-driven neuromorphic hardware (e.g. O'Connor & Welling 2016,
"Sigma Delta Quantized Networks"), applied to `EqPropNet`'s relaxation; learning is unchanged.

MACs are counted per sample by the functions below, which every count of this project uses
(`LazyEqProp`, tracks 12 and 24): an event of a neuron in layer l costs its fan-out (n_{l+1} up plus
n_{l-1} down; the input sends nothing), while a dense step costs every connection between state
layers in both directions. Both start a phase with one full pass, including the input's drive
W_0 x, which is constant over a phase (the dense baseline caches it too; `EqPropNet.step`
recomputes it every step, so the saving against that code would be larger). That pass is counted
on both sides, so no epsilon saves more than ``1 - setup_macs / dense_macs`` (88% for 64-256-10 over
30 steps): the saving is a share of all the multiply-accumulates of an inference, not of the steps alone.
"""

from __future__ import annotations

import torch

from eqprop.eqpropnet import EqPropConfig, EqPropNet, hard_sigmoid

__all__ = ["LazyEqProp", "dense_macs", "event_macs", "saved_pct", "setup_macs", "step_macs"]


def step_macs(sizes) -> int:
    """MACs of one dense relaxation step of one sample: every connection between state layers, both ways
    (the input's drive W_0 x is constant over a phase and cached)."""
    return sum(2 * sizes[l] * sizes[l + 1] for l in range(1, len(sizes) - 1))


def setup_macs(sizes) -> int:
    """MACs of a phase's first full pass of one sample, which dense and event-driven relaxation both pay:
    one dense step and the input's drive W_0 x."""
    return step_macs(sizes) + sizes[0] * sizes[1]


def dense_macs(sizes, steps: int, samples: int = 1) -> int:
    """MACs of dense relaxation: `samples` phases of `steps` steps each, their first full pass included."""
    return samples * (setup_macs(sizes) + steps * step_macs(sizes))


def event_macs(sizes, layer: int, events: int) -> int:
    """MACs of `events` events of neurons of state layer `layer` (0 = the first hidden layer, size
    ``sizes[layer + 1]``): each reaches the layer above (``sizes[layer + 2]``) and, except from the first
    hidden layer (the input receives nothing), the layer below (``sizes[layer]``)."""
    up = sizes[layer + 2] if layer + 2 < len(sizes) else 0
    down = sizes[layer] if layer > 0 else 0
    return events * (up + down)


def saved_pct(macs_event: int, macs_dense: int) -> float:
    """Percentage of the dense multiply-accumulates that the events avoided (0 when nothing was counted)."""
    return 100.0 * (1 - macs_event / macs_dense) if macs_dense else 0.0


class LazyEqProp(EqPropNet):
    """Seed-compatible ``LazyEqProp(input_dim, hidden_dim, output_dim, epsilon=0.01)``.

    Members
    -------
    macs_event, macs_dense : int
        Multiply-accumulates done by the event-driven relaxation, and what dense relaxation of the
        same steps would have done, since the last `reset_counts`.
    """

    def __init__(self, input_dim: int, hidden_dim: int | list[int], output_dim: int, epsilon: float = 0.01, *,
                 generator: torch.Generator | None = None, **config):
        if not epsilon >= 0:
            raise ValueError(f"epsilon must be >= 0, not {epsilon!r}")
        hidden = [hidden_dim] if isinstance(hidden_dim, int) else list(hidden_dim)
        super().__init__(EqPropConfig(sizes=[input_dim, *hidden, output_dim], **config), generator=generator)
        self.epsilon = epsilon
        self.reset_counts()

    def reset_counts(self) -> None:
        self.macs_event = 0
        self.macs_dense = 0

    def get_flop_savings(self) -> float:
        """Percentage of the dense multiply-accumulates that the events avoided (`saved_pct`)."""
        return saved_pct(self.macs_event, self.macs_dense)

    def relax(self, x, states=None, *, steps, beta=0.0, target=None, trace=None):
        n = len(self.weights)
        sizes = self.sizes
        if states is None:
            states = self.init_states(x.shape[0])
        b = x.shape[0]
        with torch.no_grad():
            sent = [s.clone() for s in states]
            # drives from the sent values; starting a phase costs one dense pass (input part excluded)
            drive_x = x @ self.weights[0].T  # (B, n_1), constant over the phase
            drives = []
            for l in range(n):
                d = (drive_x if l == 0 else sent[l - 1] @ self.weights[l].T) + self.biases[l]
                if l + 1 < n:
                    d = d + sent[l + 1] @ self.weights[l + 1]
                drives.append(d)
            self.macs_dense += dense_macs(sizes, steps, b)
            self.macs_event += b * setup_macs(sizes)  # the phase's first full pass, with W_0 x
            eps = self.config.step_size
            for _ in range(steps):
                new = []
                for l in range(n):
                    d = drives[l]
                    if l == n - 1 and beta != 0.0:
                        d = d + beta * (target - states[l])  # local to the output neuron: no MACs
                    new.append(states[l] + eps * (hard_sigmoid(d) - states[l]))
                states = new
                for l in range(n):  # events: send the change of neurons that moved more than epsilon
                    delta = states[l] - sent[l]
                    fire = delta.abs() > self.epsilon
                    if not fire.any():
                        continue
                    delta = delta * fire
                    sent[l] = sent[l] + delta
                    self.macs_event += event_macs(sizes, l, int(fire.sum()))
                    if l + 1 < n:
                        drives[l + 1] = drives[l + 1] + delta @ self.weights[l + 1].T
                    if l > 0:
                        drives[l - 1] = drives[l - 1] + delta @ self.weights[l]
                if trace is not None:
                    trace.append([s.clone() for s in states])
        return states

    def bptt_gradients(self, *args, **kw):
        raise NotImplementedError("LazyEqProp's event-driven relaxation is trained by EqProp only")
