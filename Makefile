# Every target creates .venv and installs the project into it when it is missing or stale,
# so on a fresh machine `make sim` or `make test` is the only command a user types.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: all venv test test-slow sim demo bench fpga-tiled bench-studies bench-reference bench-golden bench-cycles bench-mnist \
	tracks tracks-full export lint clean fpga test-fpga sim-train sim-mnist fuzz formal bitstream sweep docs

all: test

# Re-install when pyproject.toml changes (the stamp is older than it).
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]'
	@touch $(STAMP)

# Development installs every optional group of pyproject.toml: simulators, FPGA tools, boards, sweeps, LiteX
# and the test and documentation tools (a user of the golden model and the export needs none of them:
# `pip install eqprop-hw`).
EXTRAS := dev,docs,sim,fpga,board,sweep,soc

venv: $(STAMP)

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest -m "not slow and not fpga" -q

test-slow: $(STAMP)
	$(PY) -m pytest -m slow -q

# The FPGA flow's figures against export/fpga_baseline.json (synthesis and place and route, minutes).
test-fpga: $(STAMP)
	$(PY) -m pytest -m fpga -q

# The main job: train and quantise the default digits model, export its Verilog, build it under
# Verilator (SIM=icarus: Icarus Verilog) and co-simulate the whole digits test split and 1,000 random
# and corner-case vectors against the golden model (about 2 minutes). WAVES=1 also writes an FST waveform.
# Writes results/rtl_vs_float.md and .json here; the Verilator build is cached in ~/.cache/eqprop-hw/sim/
# (EQPROP_CACHE=folder puts the builds of sim, sim.fast and the co-simulated board elsewhere).
# NETLIST=ecp5 or ice40: the same vectors on the netlist Yosys synthesises for that family with make fpga's
# script, under Verilator with the vendor cell models (sim/netlist.py; results/netlist_<family>.md).
# TILE=8x10 (SAMPLES=n SLOTS=b): the same design on the tiled core (results/rtl_vs_float_tiled.md).
sim: $(STAMP)
	$(PY) -m sim $(if $(WAVES),--waves) $(if $(NETLIST),--netlist $(NETLIST)) $(if $(TILE),--tile $(TILE)) \
		$(if $(SAMPLES),--samples $(SAMPLES)) $(if $(SLOTS),--slots $(SLOTS))

# On-chip learning on the RTL: the default design trains itself on digits for 3 epochs, every weight
# checked against the golden model after every step (read back through the bus on the Verilator harness of
# sim.fast; ENGINE=cocotb for the cocotb testbench), then classifies the test split.
sim-train: $(STAMP)
	$(PY) -m sim.train $(if $(ENGINE),--engine $(ENGINE)) $(if $(TILE),--tile $(TILE))

# The 784-input core on real MNIST: train and quantise 784-64-10 on mnist5k, co-simulate the 1,000-image test
# split on the Verilator harness of sim.fast, bit for bit against the golden model (results/rtl_vs_float_mnist.md).
sim-mnist: $(STAMP)
	$(PY) -m sim.mnist

# Fuzzed configurations: 50 seeded random HwConfigs (every option of the core), each co-simulated under
# Verilator against the golden model; a failing one is printed and written to results/fuzz/ as a
# reproducer (`python -m sim.fuzz --replay FILE`). SEED=n draws another 50 (about 25 minutes on two cores).
fuzz: $(STAMP)
	$(PY) -m sim.fuzz --count 50 --seed $(or $(SEED),1)

# Formal checks (SymbiYosys, Boolector; bounded proofs of stated depth): the AXI4-Lite slave's protocol,
# responses and refusals, no deadlock, every command ending within the cycle model's bound; and mutants
# (a broken slave, a bound one cycle short) that must fail. About 6 minutes on two cores.
formal: $(STAMP)
	$(PY) -m sim.formal --mutants

# The float reference models: EqProp against backprop, and the INT8 golden model.
demo: $(STAMP)
	$(PY) -m eqprop demo

# Every performance figure as a ratio to a baseline measured in the same run: results/bench.md and .json.
# The FPGA designs' headline ratio is against the careful torch baseline on one thread (bench/careful.py:
# drive once, free phase stopped where the chip stops it); the naive EqPropNet.forward is a second column.
# Fmax and cycles come from results/fpga.json when `make fpga` wrote it, else the default design is measured
# here as make fpga measures it (same seed and router, mean cycles with early exit on digits).
bench: $(STAMP)
	$(PY) -m bench

# The deeper studies (accuracy, gradient checks, precision sweep, cycle tables); each writes
# results/<name>.md and .json. About 15 minutes on two cores.
bench-studies: bench-reference bench-golden bench-cycles

bench-reference: $(STAMP)
	$(PY) -m bench.reference

bench-golden: $(STAMP)
	$(PY) -m bench.golden

bench-cycles: $(STAMP)
	$(PY) -m bench.cycles

# MNIST scale (issue 17), 3 seeds: mnist5k float EqProp 784-256-10 and 784-256-128-10 against the same-size
# backprop MLP, the INT8 golden model against float, ternary with quantisation-aware training against float
# on digits and mnist5k; per-seed figures and PASS/FAIL against the bars in results/mnist.md and .json.
# QUICK=1: 784-128-10 and 784-128-64-10, 10 epochs. JOBS=n: n worker processes.
bench-mnist: $(STAMP)
	$(PY) -m bench.mnist $(if $(QUICK),--quick) --jobs $(or $(JOBS),1)

# The verification tracks: quick mode (about 4 minutes), or --full (three seeds, longer training).
# Track 26 reads the co-simulation results of `make sim`, which runs first when they are missing;
# results of an earlier design are reported STALE (run `make sim` again).
tracks: $(STAMP)
	@test -f results/rtl_vs_float.json || $(PY) -m sim
	$(PY) -m tracks

tracks-full: $(STAMP)
	@test -f results/rtl_vs_float.json || $(PY) -m sim
	$(PY) -m tracks --full

# The default core (zero weights) as Verilog, memory images, manifest and FuseSoC core, linted.
export: $(STAMP)
	$(PY) -m export --out build/eqprop_accel --force --lint

# Synthesise and place-and-route the exported core for ECP5 25k, iCE40 UP5K and (the 784-input cores)
# ECP5 85k (Yosys + nextpnr from PyPI): LUTs, flip-flops, block RAMs, DSPs and Fmax per configuration in
# results/fpga.md and .json.
fpga: $(STAMP)
	$(PY) -m export.fpga

# The tiled core (rtl/tiled_core.py) placed and routed with the same flow, on the ECP5 25k (three inference
# designs) and 85k (the INT8 784-input design and the learning design), its weights trained on the golden
# model and its cycles counted on its data set (digits; mnist5k for the 784-input designs; a learning design's
# TRAIN cycles on 500 training samples): results/tiled.md and .json, which make bench then puts beside make
# fpga's designs. About 10-15 minutes a 25k design and 30-60 or more an 85k one, one after another, on two cores.
fpga-tiled: $(STAMP)
	$(PY) -m export.tiled

# A board's bitstream and its report (resources, Fmax against the board clock) in build/bitstream/$(BOARD)/:
# the UART bridge and the core on BOARD=icebreaker, ulx3s-85f or orangecrab-25f (Yosys, nextpnr and
# icepack/ecppack from PyPI; minutes). Fails, with the numbers, when Fmax is below the board clock.
bitstream: $(STAMP)
	@test -n "$(BOARD)" || { echo "make bitstream needs BOARD=icebreaker, ulx3s-85f or orangecrab-25f"; exit 2; }
	$(PY) -m export.bitstream --board $(BOARD) $(if $(BAUD),--baud $(BAUD))

# A design-space sweep on Ray Tune (local Ray on this machine's cores): every point of the sweep file
# SWEEP (default: weight format x state bits x lanes, golden model and cycle model) trained and measured,
# results/sweep/<name>/ with a table, Pareto fronts and plots. ARGS passes more options (--resume, --workers 2).
SWEEP ?= sweep/examples/precision_lanes.yaml
sweep: $(STAMP)
	$(PY) -m sweep $(SWEEP) $(ARGS)

# The documentation site (MkDocs, Material, mkdocstrings) in build/site, with --strict: a broken link or
# anchor, a page left out of the nav or an unreadable docstring stops it. `make test` builds it too (tests/test_docs.py).
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --site-dir build/site

lint: $(STAMP)
	$(PY) -m ruff check .

clean:
	rm -rf $(VENV) results/*.json .pytest_cache
