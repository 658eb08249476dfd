# Every target creates .venv and installs the project into it when it is missing or stale,
# so on a fresh machine `make sim` or `make test` is the only command a user types.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: all venv test test-slow sim demo bench bench-reference bench-golden bench-cycles tracks tracks-full \
	export lint clean

all: test

# Re-install when pyproject.toml changes (the stamp is older than it).
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest -m "not slow" -q

test-slow: $(STAMP)
	$(PY) -m pytest -m slow -q

# The main job: train and quantise the default digits model, export its Verilog, build it under
# Verilator and co-simulate the whole digits test split against the golden model (about 3 minutes).
# WAVES=1 also writes a waveform (VCD, from cocotb's Verilator runner).
sim: $(STAMP)
	$(PY) -m sim $(if $(WAVES),--waves)

# The float reference models: EqProp against backprop, and the INT8 golden model.
demo: $(STAMP)
	$(PY) -m eqprop demo

# Every benchmark; each writes results/<name>.md and .json. About 15 minutes on two cores.
bench: bench-reference bench-golden bench-cycles

bench-reference: $(STAMP)
	$(PY) -m bench.reference

bench-golden: $(STAMP)
	$(PY) -m bench.golden

bench-cycles: $(STAMP)
	$(PY) -m bench.cycles

# The verification tracks: quick mode (about 4 minutes), or --full (three seeds, longer training).
# Track 26 reads the co-simulation results of `make sim`, which runs first when they are missing.
tracks: $(STAMP)
	@test -f results/rtl_vs_float.json || $(PY) -m sim
	$(PY) -m tracks

tracks-full: $(STAMP)
	@test -f results/rtl_vs_float.json || $(PY) -m sim
	$(PY) -m tracks --full

# The default core (zero weights) as Verilog, memory images, manifest and FuseSoC core, linted.
export: $(STAMP)
	@mkdir -p build && echo '{}' > build/default-config.json
	$(PY) -m export --config build/default-config.json --out build/eqprop_accel --force --lint

lint: $(STAMP)
	$(PY) -m ruff check .

clean:
	rm -rf $(VENV) results/*.json .pytest_cache
