# hwgen — thin aliases for the CLI and pytest. `make demo` and `make test` do everything.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.hwgen-installed
JOBS   ?= 2
# `make demo PRESET=<name>` demos another preset; `make bench BLOCK=<name>` benches one block
PRESET ?=
BLOCK  ?=

.PHONY: setup tools demo test test-fast test-cocotb test-fpga bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[sim,fpga,dev]'
	touch $(STAMP)

setup: $(STAMP)

## tools: the simulators the tests need; installs Icarus Verilog with apt-get when it is missing
##        (as root), else stops at once naming the command to run
tools: setup
	$(BIN)/hwgen doctor --quiet --install --require icarus --require verilator

## demo: generate the default preset, run its cocotb bench against the golden model, then its
##       benchmark workload as user tensors: cycles and utilization against the model
demo: setup
	$(BIN)/hwgen list
	$(BIN)/hwgen demo $(PRESET)

## test: fast tier (config, golden, amaranth.sim), then cocotb (Icarus + Verilator), then FPGA
test: tools
	$(BIN)/python -m pytest -n $(JOBS) -m "not cocotb and not fpga"
	$(BIN)/python -m pytest -n $(JOBS) -m cocotb
	$(BIN)/python -m pytest -n $(JOBS) -m fpga

test-fast: setup
	$(BIN)/python -m pytest -n $(JOBS) -m "not cocotb and not fpga"

test-cocotb: tools
	$(BIN)/python -m pytest -n $(JOBS) -m cocotb

test-fpga: tools
	$(BIN)/python -m pytest -n $(JOBS) -m fpga

## bench: every block's area / Fmax / cycles tables → bench/results/<block>.md
bench: tools
	$(BIN)/python bench/driver.py $(if $(BLOCK),--block $(BLOCK))

lint: setup
	$(BIN)/ruff check hwgen tests sim bench

clean:
	rm -rf build sim_build .pytest_cache
