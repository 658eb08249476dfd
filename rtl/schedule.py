"""The schedule of the core: what one relaxation step and one update issue, cycle by cycle, the bank
plan of the states, and the exact cycle model (`cycle_model`) that a test checks against simulation.

One relaxation step visits the weight layers in order; for each block of P neurons of layer l (state
s_{l+1}) the FSM of `rtl.core.Core` issues one memory word per cycle::

    Relax-Load-Bias   acc[0..P) <- b_l[block]                                        1 cycle
    Relax-Top-Down    acc[0..P) += W_{l+1}[j, block] * s_{l+2}[j]   for each j       n_{l+2} cycles (l < L-1)
    Relax-Bottom-Up   acc[i]    += W_l[r, word] . s_l[word]         for each r, word rows x ceil(n_l / P)
    Relax-Finish      s_{l+1}[block] <- mix(s, rho(acc + nudge))                     1 cycle

and the pipeline's drain ends the step (`pipeline`: the operations issued so far reach the state
memories and the argmax). Every step reads the states of one bank and writes another (the
synchronous update of `eqprop.hw.golden.step`); each state memory holds `BANKS` banks. The free phase
alternates banks 0 and 1, the positive phase starts from the free states and alternates 2 and 3, and
the negative phase alternates the two banks the other phases left free, so the free states survive
for the negative phase and the update reads both nudged states directly. The update visits every
bias word of a layer (``Update-Bias``), then every weight word once (``Update-Weights``).
"""

from __future__ import annotations

from amaranth.lib import enum

from eqprop.hw.hwconfig import HwConfig

__all__ = ["ARGMAX_LATENCY", "BANKS", "MEM_LATENCY", "Issue", "Phase", "blocks", "cycle_model", "pipeline"]

BANKS = 4   # state banks per layer: two for each phase's ping-pong, so the free states survive the nudges
MEM_LATENCY = 2      # issue to registered read data: the synchronous read, then the select and a register
ARGMAX_LATENCY = 3   # the block's winner (its first comparator level, the rest), the best of the blocks so far


class Phase(enum.Enum, shape=2):
    """The phase a relaxation step belongs to (also the core's ``phase`` port, for testbenches)."""

    FREE = 0
    PLUS = 1     # nudged at +beta (the one nudged phase of the one-sided estimator)
    MINUS = 2    # nudged at -beta (symmetric estimator)


class Issue(enum.Enum, shape=3):
    """What the FSM asks of the memories in a cycle; the lanes act on it one cycle later."""

    NONE = 0
    LOAD = 1          # bias word into the accumulators
    TOP_DOWN = 2      # W_{l+1}^T word times one broadcast upper state
    BOTTOM_UP = 3     # W_l word times one lower state word
    FINISH = 4        # activation, nudge and mixing of a block; write the new states
    UPD_BIAS = 5      # one bias word of the update
    UPD_WEIGHT = 6    # one shadow/weight word of the update


def blocks(cfg: HwConfig, l: int) -> int:
    """Neuron blocks of weight layer l: ceil(n_{l+1} / P)."""
    return -(-cfg.sizes[l + 1] // cfg.mac_lanes)


def pipeline(cfg: HwConfig) -> dict[str, int]:
    """Where each operation is in the pipeline of `rtl.core.Core`, in cycles after the FSM issues it: the
    sum of the latency constants of the stages (`MEM_LATENCY`, `rtl.mac.mac_latency`,
    `rtl.neuron.NEURON_LATENCY`, `ARGMAX_LATENCY`, `rtl.update.WEIGHT_UPDATE_LATENCY` and
    `BIAS_UPDATE_LATENCY`), which both the core and `cycle_model` use.

    ``mac``: the MAC lanes take the read data; ``neuron``: the neuron lanes take the accumulators;
    ``state_write``: the new states are written; ``best``: the argmax of the block is in the
    best-so-far register; ``weight_write``, ``bias_write``: the update writes; ``step_drain``: cycles
    after a step's last issue before the next step may read its states (and RESULT may be taken);
    ``update_drain``: cycles after the update's last issue before its last write is done;
    ``load_bias_read``, ``neuron_read``, ``shadow_read``, ``update_bias_read``: when the core reads a
    LOAD's bias, a FINISH's old states and targets, an update's shadow and bias word, so that the word
    arrives, registered, at the stage that uses it.
    """
    from rtl.mac import bias_delay, mac_latency
    from rtl.neuron import NEURON_LATENCY
    from rtl.update import BIAS_DELAY, BIAS_UPDATE_LATENCY, SHADOW_DELAY, WEIGHT_UPDATE_LATENCY

    mac = MEM_LATENCY
    neuron = mac + mac_latency(cfg)
    state_write = neuron + NEURON_LATENCY
    best = state_write + ARGMAX_LATENCY
    weight_write, bias_write = MEM_LATENCY + WEIGHT_UPDATE_LATENCY, MEM_LATENCY + BIAS_UPDATE_LATENCY
    return {"mac": mac, "neuron": neuron, "state_write": state_write, "best": best,
            "weight_write": weight_write, "bias_write": bias_write,
            "step_drain": best, "update_drain": max(weight_write, bias_write),
            # late reads: a word a later stage needs is read then, not carried through the stages before
            "load_bias_read": mac + bias_delay(cfg) - MEM_LATENCY, "neuron_read": neuron - MEM_LATENCY,
            "shadow_read": mac + SHADOW_DELAY - MEM_LATENCY, "update_bias_read": mac + BIAS_DELAY - MEM_LATENCY}


def cycle_model(cfg: HwConfig) -> dict[str, int]:
    """Exact clock cycles of each command of `rtl.core.Core` for `cfg` (P = ``cfg.mac_lanes``).

    Returns ``step`` (one relaxation step), ``update`` (the update phase), ``infer`` (INFER and
    RELAX), ``train`` (TRAIN), and ``mac_bound_step``: the MACs of one step over P, the bound
    that the step approaches. Each phase costs one set-up cycle; each neuron block one bias-load and
    one finish cycle; the update one cycle per bias word and per weight word; each step and the update
    end with the pipeline's drain (`pipeline`).
    """
    n, p, L = cfg.sizes, cfg.mac_lanes, cfg.n_layers
    pipe = pipeline(cfg)
    step = pipe["step_drain"]
    update = 1 + pipe["update_drain"]   # set-up and drain
    for l in range(L):
        words = -(-n[l] // p)
        top_down = n[l + 2] if l + 1 < L else 0
        step += blocks(cfg, l) * (2 + top_down) + n[l + 1] * words
        update += blocks(cfg, l) + n[l + 1] * words
    infer = 1 + cfg.free_steps * step
    nudged = (2 if cfg.estimator == "symmetric" else 1) * (1 + cfg.nudge_steps * step)
    return {"step": step, "update": update, "infer": infer, "train": infer + nudged + update,
            "mac_bound_step": -(-cfg.macs_per_step() // p)}


def cycle_table(cfg: HwConfig, lanes=(1, 4, 8, 16)) -> list[dict]:
    """Per P: cycles per inference and per training step next to the MAC bound, and lane utilisation
    (MAC bound / cycles) of the relaxation; the figures of the issue's benchmark."""
    from dataclasses import replace

    rows = []
    for p in lanes:
        c = replace(cfg, mac_lanes=p)
        model = cycle_model(c)
        bound = model["mac_bound_step"]
        rows.append({"P": p, "step": model["step"], "mac_bound_step": bound, "infer": model["infer"],
                     "infer_bound": c.free_steps * bound, "train": model["train"], "update": model["update"],
                     "utilisation": bound / model["step"]})
    return rows
