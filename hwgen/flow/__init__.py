"""Flows that turn a config into artifacts: emit (Verilog + manifest), sim (cocotb), fpga."""
