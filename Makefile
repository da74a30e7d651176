# hwgen — thin aliases for the CLI and pytest. `make demo` and `make test` do everything.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.hwgen-installed
PRESET ?= mxu-4x4-int8
JOBS   ?= 2

.PHONY: setup demo test test-fast test-cocotb test-fpga bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[sim,fpga,dev]'
	touch $(STAMP)

setup: $(STAMP)

## demo: generate the default MXU, run its cocotb bench against the golden model, then a
##       64×256×64 GEMM of your own tensors: cycles and utilization against the model
demo: setup
	$(BIN)/hwgen list
	$(BIN)/hwgen generate $(PRESET) -o build/demo
	$(BIN)/hwgen sim $(PRESET) --seed 1 -o build/demo/sim
	$(BIN)/python -c "import numpy as np; r = np.random.default_rng(1); \
	  np.savez('build/demo/gemm.npz', A=r.integers(-128, 128, (64, 256)), B=r.integers(-128, 128, (256, 64)))"
	$(BIN)/hwgen sim $(PRESET) --inputs build/demo/gemm.npz --outputs build/demo/gemm_out.npz -o build/demo/gemm

## test: fast tier (config, golden, amaranth.sim), then cocotb (Icarus + Verilator), then FPGA
test: setup
	$(BIN)/python -m pytest -n $(JOBS) -m "not cocotb and not fpga"
	$(BIN)/python -m pytest -n $(JOBS) -m cocotb
	$(BIN)/python -m pytest -n $(JOBS) -m fpga

test-fast: setup
	$(BIN)/python -m pytest -n $(JOBS) -m "not cocotb and not fpga"

test-cocotb: setup
	$(BIN)/python -m pytest -n $(JOBS) -m cocotb

test-fpga: setup
	$(BIN)/python -m pytest -n $(JOBS) -m fpga

## bench: area / Fmax / utilization tables → bench/results/*.md
bench: setup
	$(BIN)/python bench/mxu.py

lint: setup
	$(BIN)/ruff check hwgen tests sim bench

clean:
	rm -rf build sim_build .pytest_cache
