"""Flows that turn a config into artifacts, lowest first (no flow imports a later one): tools,
reports, emit (Verilog + manifest), synth (targets, Yosys), sim (cocotb), gls (gate level),
harness (self-test top), fpga (bitstream)."""
