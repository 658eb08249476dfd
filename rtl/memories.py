"""The core's memories and the host's access to them.

Every memory of `eqprop.hw.formats.memory_layout` is one Amaranth `Memory`, one word of P lanes per row:
the shadow, weight and bias memories of each layer, the input (state 0) and target memories, and a
state memory for each layer k >= 1 holding `rtl.schedule.BANKS` banks of its words. The state
memories have two read ports: port A reads the relaxation's operands (and the positive states of the
update), port B the old states of a finish, the negative states of the update and the host's STATE
window. With ``cfg.samples`` = B > 1 the input, state and drive memories hold the B samples side by side
in each word (sample b in the b-th slice of P lanes): one address reads every sample's word of a block,
so the B samples share each weight read. Every read is synchronous; `rtl.datapath` registers the word
after it selects the layer. With ``cfg.cache_drive`` a drive memory holds the input layer's drive
W_0 x + b_0, one word of P accumulators (per sample) per block of layer 0; only the core reads and
writes it. An inference-only core (``learning=False``) has no
shadow and no target memories.

`host_access` serves the register windows of `rtl.axil` while the core is idle: one cycle to register
the request, one to address the memory, one for its word (selected by layer and registered), one to
pick the lane, one to pick the group of memories; the acknowledgement comes with the value,
`HOST_LATENCY` (five) cycles after the request.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib.memory import Memory, MemoryData
from amaranth.utils import ceil_log2

from eqprop.hw.formats import Window, memory_layout
from eqprop.hw.golden import IntParams
from eqprop.hw.hwconfig import HwConfig
from eqprop.hw.memimage import pack_region
from rtl.schedule import BANKS, MEM_LATENCY, words

__all__ = ["HOST_LATENCY", "Memories", "Ports", "host_access"]

HOST_LATENCY = 1 + MEM_LATENCY + 2   # request to acknowledgement: the request's register, the read and its
                                     # register, the lane's register, the group's register


def stride_bits(cfg: HwConfig, k: int) -> int:
    """Address bits of one state bank of state k (a bank is a power-of-two number of words)."""
    return ceil_log2(words(cfg, k))


@dataclass
class Ports:
    """The ports of the memories once added to a module (lists are per layer l, or per state k)."""

    cfg: HwConfig
    w_rd: list
    w_wr: list
    sh_rd: list
    sh_wr: list
    b_rd: list
    b_wr: list
    in_rd: object
    in_wr: object
    tg_rd: object
    tg_wr: object
    st_a: list      # state k's port A (k = 0: the input memory)
    st_b: list      # state k's port B (k = 0: the input memory)
    st_wr: list     # state k's write port (k = 0: None; the host writes the input)
    dr_rd: object = None    # the drive memory (with cache_drive)
    dr_wr: object = None

    def bank_addr(self, k: int, bank, word):
        """Address of `word` of `bank` in state memory k (the input memory has one bank)."""
        return word if k == 0 else Cat(word[:stride_bits(self.cfg, k)], bank)


class Memories:
    """The contents of the core's memories (`MemoryData`, so testbenches can load and inspect them with
    ``ctx.set`` / ``ctx.get``), initialised from `params` (zeros if None)."""

    def __init__(self, cfg: HwConfig, params: IntParams | None):
        self.cfg = cfg
        L, p, sb = cfg.n_layers, cfg.mac_lanes, cfg.state_bits
        layout = self.layout = memory_layout(cfg)

        def region(name, array=None):
            init = pack_region(layout[name], array) if array is not None else []
            return MemoryData(shape=unsigned(layout[name].word_bits), depth=layout[name].depth, init=init)

        self.weight = [region(f"weight.{l}", params.weights[l] if params else None) for l in range(L)]
        self.shadow = ([region(f"shadow.{l}", params.shadow[l] if params else None) for l in range(L)]
                       if cfg.learning else None)
        self.bias = [region(f"bias.{l}", params.biases[l] if params else None) for l in range(L)]
        B = cfg.samples
        self.input = MemoryData(shape=unsigned(B * layout["state.0"].word_bits), depth=layout["state.0"].depth,
                                init=[])
        self.target = region(f"state.{L}") if cfg.learning else None
        self.state = [None] + [MemoryData(shape=unsigned(B * p * sb), depth=BANKS << stride_bits(cfg, k), init=[])
                               for k in range(1, L + 1)]
        self.drive = (MemoryData(shape=unsigned(B * p * cfg.acc_bits), depth=words(cfg, 1), init=[])
                      if cfg.cache_drive else None)   # one word per block of layer 0

    def state_address(self, k: int, bank: int, word: int) -> int:
        """Row of state memory k holding `word` of `bank`."""
        return bank << stride_bits(self.cfg, k) | word

    def add_to(self, m: Module) -> Ports:
        """Add the memories to `m` as submodules; return their ports (the host writes one lane of a word;
        the datapath writes whole words)."""
        cfg = self.cfg

        def memory(name, mdata, granularity, reads=1):
            m.submodules[name] = mm = Memory(data=mdata)
            return [mm.read_port() for _ in range(reads)], mm.write_port(granularity=granularity)

        ports = {key: [] for key in ("w_rd", "w_wr", "sh_rd", "sh_wr", "b_rd", "b_wr")}
        for l in range(cfg.n_layers):
            for key, name, mdata, bits in (("w", "weight", self.weight, cfg.weight_bits),
                                           ("sh", "shadow", self.shadow, cfg.shadow_bits),
                                           ("b", "bias", self.bias, cfg.bias_bits)):
                if mdata is not None:
                    (rd,), wr = memory(f"{name}_{l}", mdata[l], bits)
                    ports[f"{key}_rd"].append(rd)
                    ports[f"{key}_wr"].append(wr)
        (in_rd,), in_wr = memory("input", self.input, cfg.state_bits)
        (tg_rd,), tg_wr = memory("target", self.target, cfg.state_bits) if cfg.learning else ((None,), None)
        st_a, st_b, st_wr = [in_rd], [in_rd], [None]
        for k in range(1, cfg.n_layers + 1):
            (a, b), w = memory(f"state_{k}", self.state[k], None, reads=2)   # whole words
            st_a.append(a)
            st_b.append(b)
            st_wr.append(w)
        dr_rd = dr_wr = None
        if self.drive is not None:
            (dr_rd,), dr_wr = memory("drive", self.drive, None)
        return Ports(cfg=cfg, **ports, in_rd=in_rd, in_wr=in_wr, tg_rd=tg_rd, tg_wr=tg_wr, st_a=st_a, st_b=st_b,
                     st_wr=st_wr, dr_rd=dr_rd, dr_wr=dr_wr)


def host_access(m: Module, ports: Ports, host, *, busy, cur, cur_zero, derive_weight) -> None:
    """Serve the host bus of `rtl.core.Core` (``req``, ``we``, ``sel``, ``layer``, ``word``, ``lane``,
    ``sample``, ``wdata``; ``ack``, ``rdata``) from the memories while the core is idle (`HOST_LATENCY`).
    ``sample`` picks the sample of the INPUT and STATE windows (with ``cfg.samples`` > 1).

    A write replaces the addressed lane of a word; a shadow write also writes the weight derived from
    it (`derive_weight`). The STATE window reads bank `cur` (zeros while `cur_zero`). Drive the ports
    from this function last: its addresses override the datapath's, which is idle then.
    """
    cfg = ports.cfg
    L, p, sb, B = cfg.n_layers, cfg.mac_lanes, cfg.state_bits, cfg.samples
    # the request is registered before it drives the memories, so that every address and write comes
    # from a register (the state and bias memories are LUT RAM, whose read address is not registered)
    h_go, h_pend, h_ack = Signal(), Signal(HOST_LATENCY - 2), Signal()   # request | reads and selects | ack
    h_we, h_sel, h_layer = Signal(), Signal.like(host.sel), Signal.like(host.layer)
    h_word_addr, h_lane, h_wdata = Signal.like(host.word), Signal(range(p)), Signal(32)
    h_lane_r = Signal(range(p))      # a copy of the lane for the read's lane select (fewer loads on each)
    h_rdata = Signal(32)
    h_sample, h_sample_r = Signal(range(B)), Signal(range(B))   # the sample, and the read side's copy
    m.d.sync += h_sample_r.eq(h_sample)
    m.d.sync += [h_go.eq(0), h_pend.eq(Cat(h_go, h_pend[:-1])), h_ack.eq(h_pend[-1])]
    m.d.comb += [host.ack.eq(h_ack), host.rdata.eq(h_rdata)]
    with m.If(host.req & ~h_go & ~h_pend.any() & ~h_ack & ~busy):
        m.d.sync += [h_go.eq(1), h_we.eq(host.we), h_sel.eq(host.sel), h_layer.eq(host.layer),
                     h_word_addr.eq(host.word), h_lane.eq(host.lane), h_wdata.eq(host.wdata),
                     h_sample.eq(host.sample)]
    with m.If(h_go):
        lane_en = Mux(h_we, Const(1, p) << h_lane, 0)     # write the one addressed lane

        def host_port(rd, wr, bits, value=None):
            value = h_wdata[:bits] if value is None else value
            m.d.comb += [rd.addr.eq(h_word_addr), wr.addr.eq(h_word_addr), wr.data.eq(Cat(*[value] * p)),
                         wr.en.eq(lane_en)]

        with m.Switch(h_sel):
            with m.Case(Window.INPUT):     # the addressed lane of the addressed sample's slice
                m.d.comb += [ports.in_rd.addr.eq(h_word_addr), ports.in_wr.addr.eq(h_word_addr),
                             ports.in_wr.data.eq(Cat(*[h_wdata[:sb]] * (B * p))),
                             ports.in_wr.en.eq(Mux(h_we, Const(1, B * p) << (h_sample * p + h_lane), 0))]
            if cfg.learning:
                with m.Case(Window.TARGET):
                    host_port(ports.tg_rd, ports.tg_wr, sb)
            with m.Case(Window.STATE):
                m.d.comb += ports.in_rd.addr.eq(h_word_addr)
                for k in range(1, L + 1):
                    m.d.comb += ports.st_b[k].addr.eq(ports.bank_addr(k, cur, h_word_addr))
            with m.Case(Window.BIAS):
                for l in range(L):
                    with m.If(h_layer == l):
                        host_port(ports.b_rd[l], ports.b_wr[l], cfg.bias_bits)
            with m.Case(Window.WEIGHT):
                for l in range(L):
                    with m.If(h_layer == l):
                        host_port(ports.w_rd[l], ports.w_wr[l], cfg.weight_bits)
            if cfg.learning:
                with m.Case(Window.SHADOW):
                    derived = Signal(signed(cfg.weight_bits))
                    m.d.comb += derived.eq(derive_weight(cfg, h_wdata[:cfg.shadow_bits].as_signed()))
                    for l in range(L):
                        with m.If(h_layer == l):
                            host_port(ports.sh_rd[l], ports.sh_wr[l], cfg.shadow_bits)
                            m.d.comb += [ports.w_wr[l].addr.eq(h_word_addr),
                                         ports.w_wr[l].data.eq(Cat(*[derived] * p)), ports.w_wr[l].en.eq(lane_en)]

    # the addressed memory's word, selected by layer within its group of memories as it leaves them and
    # registered (one level of logic after a block RAM, whose clock-to-output is slow); then the lane
    # and then the group, each registered, into h_rdata
    def sample_slice(word):      # the addressed sample's P lanes of a word of B samples
        return word if B == 1 else word.word_select(h_sample_r, p * sb)

    vector = {(Window.INPUT, 0): sample_slice(ports.in_rd.data), (Window.STATE, 0): sample_slice(ports.in_rd.data),
              **{(Window.STATE, k): Mux(cur_zero, 0, sample_slice(ports.st_b[k].data)) for k in range(1, L + 1)}}
    if cfg.learning:
        vector[Window.TARGET, 0] = ports.tg_rd.data
    groups = [   # (the word of each (window, layer) of the group, the bits of a lane, signed)
        (vector, sb, False),
        ({(Window.BIAS, l): ports.b_rd[l].data for l in range(L)}, cfg.bias_bits, True),
        ({(Window.WEIGHT, l): ports.w_rd[l].data for l in range(L)}, cfg.weight_bits, True),
    ]
    if cfg.learning:
        groups.append(({(Window.SHADOW, l): ports.sh_rd[l].data for l in range(L)}, cfg.shadow_bits, True))
    # the read side's copies of the window and layer (set a cycle after the request's, so not merged with
    # them): the write decode and the read selects each drive fewer loads
    h_sel_r, h_layer_r = Signal.like(h_sel), Signal.like(h_layer)
    m.d.sync += [h_sel_r.eq(h_sel), h_layer_r.eq(h_layer)]
    words = []
    for sources, bits, _ in groups:
        word = Signal(p * bits, name=f"h_{Window(next(iter(sources))[0]).name.lower()}")
        words.append(word)
        for window in dict.fromkeys(w for w, _ in sources):
            with m.If(h_sel_r == window):
                with m.Switch(h_layer_r):
                    for (w, layer), value in sources.items():
                        if w == window:
                            with m.Case(layer):
                                m.d.sync += word.eq(value)
    # then the addressed lane of each group's word, registered; then the group, into h_rdata
    picked = []
    for (_, bits, signed_lane), word in zip(groups, words, strict=True):
        lane = Signal(signed(bits) if signed_lane else bits, name=f"{word.name}_lane")
        m.d.sync += lane.eq(word.word_select(h_lane_r, bits))
        picked.append(lane)
    m.d.sync += h_lane_r.eq(h_lane)
    with m.Switch(h_sel_r):
        for (sources, _, _), lane in zip(groups, picked, strict=True):
            for window in dict.fromkeys(w for w, _ in sources):
                with m.Case(window):
                    m.d.sync += h_rdata.eq(lane)
