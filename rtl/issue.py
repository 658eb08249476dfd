"""What the controller asks of the memories in a cycle (`Issue`): the opcode the schedule (`rtl.schedule`)
issues and the lanes (`rtl.mac`, `rtl.datapath`) act on, defined once for both."""

from __future__ import annotations

from amaranth.lib import enum

__all__ = ["Issue"]


class Issue(enum.Enum, shape=3):
    """What the FSM asks of the memories in a cycle; the lanes act on it one cycle later."""

    NONE = 0
    LOAD = 1          # bias word into the accumulators
    TOP_DOWN = 2      # W_{l+1}^T word times one broadcast upper state
    BOTTOM_UP = 3     # W_l word times one lower state word
    FINISH = 4        # activation, nudge and mixing of a block; write the new states
    UPD_BIAS = 5      # one bias word of the update
    UPD_WEIGHT = 6    # one shadow/weight word of the update
    STORE = 7         # the accumulators of a block into the drive memory (the drive pass)
