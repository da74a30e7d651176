"""The behavioural models of hand-instantiated FPGA primitives, checked against plain arithmetic."""

import itertools
import random
import subprocess

import pytest

from hwgen.core.tech import Tech
from hwgen.flow.emit import primitive_models

pytestmark = pytest.mark.cocotb      # needs Icarus


def _model(name, family="ecp5"):
    (path,) = [p for p in primitive_models(Tech(family=family)) if p.stem == name]
    return path


def _run(tmp_path, tb: str, model) -> str:
    (tmp_path / "tb.v").write_text(tb)
    subprocess.run(["iverilog", "-g2012", "-o", str(tmp_path / "tb.vvp"), str(tmp_path / "tb.v"),
                    str(model)], check=True, capture_output=True, text=True)
    out = subprocess.run(["vvp", "-n", str(tmp_path / "tb.vvp")], check=True,
                         capture_output=True, text=True)
    return out.stdout


@pytest.mark.parametrize("reg_in,reg_out,signed_a,signed_b",
                         list(itertools.product([False, True], repeat=4)))
def test_mult18x18d_model(tmp_path, reg_in, reg_out, signed_a, signed_b):
    """P equals the plain product (18-bit operands, each signed or not) after the configured
    register stages; CE1 gates the B input register."""
    rng = random.Random(7)
    n = 64
    vals = []
    for i in range(n):
        a = rng.randrange(1 << 18) if i >= 4 else [0, 0x3FFFF, 0x20000, 0x1FFFF][i]
        b = rng.randrange(1 << 18) if i >= 4 else [0x20000, 0x20000, 0x3FFFF, 0x1FFFF][i]
        ce_b = 1 if rng.random() < 0.7 else 0
        vals.append((a, b, ce_b))
    clk = '"CLK0"' if reg_in else '"NONE"'
    oclk = '"CLK0"' if reg_out else '"NONE"'
    drive = "\n".join(
        f"    a = 18'h{a:05x}; b = 18'h{b:05x}; ce1 = {c}; @(posedge clk); #1 "
        f"$display(\"%0d %0d\", {i}, p);" for i, (a, b, c) in enumerate(vals))
    a_bits = ", ".join(f".A{i}(a[{i}])" for i in range(18))
    b_bits = ", ".join(f".B{i}(b[{i}])" for i in range(18))
    p_bits = ", ".join(f".P{i}(p[{i}])" for i in range(36))
    tb = f"""
`timescale 1ns/1ps
module tb;
  reg clk = 0; always #5 clk = ~clk;
  reg [17:0] a = 0, b = 0; reg ce1 = 1; wire [35:0] p;
  MULT18X18D #(.REG_INPUTA_CLK({clk}), .REG_INPUTB_CLK({clk}), .REG_INPUTB_CE("CE1"),
               .REG_OUTPUT_CLK({oclk})) dut (
    {a_bits}, {b_bits}, {p_bits},
    .SIGNEDA(1'b{int(signed_a)}), .SIGNEDB(1'b{int(signed_b)}), .CLK0(clk), .CE0(1'b1),
    .CE1(ce1), .RST0(1'b0));
  initial begin
{drive}
    $finish;
  end
endmodule
"""
    lines = _run(tmp_path, tb, _model("MULT18X18D")).split()
    got = {int(lines[i]): int(lines[i + 1]) for i in range(0, len(lines), 2)}

    def val(x, s):
        return x - (1 << 18) if s and x >> 17 else x

    # reference: the register stages simulated edge by edge on plain integers; displayed
    # values are those just after edge i
    a_r = b_r = p_r = 0
    for i, (a, b, ce) in enumerate(vals):
        ai, bi = (a_r, b_r) if reg_in else (a, b)          # multiplier inputs before the edge
        p_next = (val(ai, signed_a) * val(bi, signed_b)) & ((1 << 36) - 1)
        a_r, b_r = a, (b if ce else b_r)                    # edge i
        p_r = p_next
        if reg_out:
            expect = p_r
        else:
            ai, bi = (a_r, b_r) if reg_in else (a, b)
            expect = (val(ai, signed_a) * val(bi, signed_b)) & ((1 << 36) - 1)
        assert got[i] == expect, (i, reg_in, reg_out, got[i], expect)


def _pins(port: str, exprs) -> str:
    """``.PORT0(e0), .PORT1(e1), ...`` for the bits of a primitive's bus."""
    return ", ".join(f".{port}{i}({e})" for i, e in enumerate(exprs))


def _dp16kd_run(tmp_path, decls: str, params: str, pins: list[str], drive: str) -> list[str]:
    """Simulate a DP16KD with ``params`` and ``pins`` (clocks, resets and chip selects are
    tied here) under the ``drive`` statements; the printed words."""
    tb = f"""
`timescale 1ns/1ps
module tb;
  reg clk = 0; always #5 clk = ~clk;
  {decls}
  DP16KD #({params}) dut (
    {", ".join(pins)}, .CLKA(clk), .CLKB(clk), .RSTA(1'b0), .RSTB(1'b0),
    .CSA0(1'b0), .CSA1(1'b0), .CSA2(1'b0), .CSB0(1'b0), .CSB1(1'b0), .CSB2(1'b0));
  initial begin
{drive}
    $finish;
  end
endmodule
"""
    return _run(tmp_path, tb, _model("DP16KD")).split()


def _dp16kd_ref(mode, ops, init):
    """Python reference of the DP16KD model for the cycles ``ops``: the read data after each
    edge as a bit string (MSB first, 'x' where a read collided with a write)."""
    mem = list(init)
    lat_a, lat_b, reg_b = "0" * 18, "0" * 36, "0" * 36
    out = []

    def bits(v, n):
        return format(v, f"0{n}b")

    for op in ops:
        if mode == "pdp36":
            wa, be, data, cea, ra, ceb, oce = op
            rows_w = (2 * wa, 2 * wa + 1)
            masks = [((0x3FE00 if be >> 1 & 1 else 0) | (0x1FF if be & 1 else 0)),
                     ((0x3FE00 if be >> 3 & 1 else 0) | (0x1FF if be >> 2 & 1 else 0))]
            halves = []
            for h, r in enumerate((2 * ra, 2 * ra + 1)):
                coll = masks[h] if cea and rows_w[h] == r else 0
                s = bits(mem[r], 18)
                halves.append("".join("x" if coll >> (17 - k) & 1 else s[k] for k in range(18)))
            if ceb:
                lat_new = halves[1] + halves[0]
            else:
                lat_new = lat_b
            if oce:
                reg_b = lat_b
            lat_b = lat_new
            if cea:
                d = [data & 0x3FFFF, data >> 18]
                for h, r in enumerate(rows_w):
                    mem[r] = (mem[r] & ~masks[h]) | (d[h] & masks[h])
            out.append((lat_b, reg_b))
        else:                                   # tdp: port A 18-bit r/w, port B 9-bit read
            wa, be, data, wea, wmode, rb = op
            mask = (0x3FE00 if be >> 1 & 1 else 0) | (0x1FF if be & 1 else 0)
            old = mem[wa]
            new = (old & ~mask) | (data & mask)
            if wea:
                if wmode == "WRITETHROUGH":
                    lat_a = bits(new, 18)
                elif wmode == "READBEFOREWRITE":
                    lat_a = bits(old, 18)
            else:
                lat_a = bits(old, 18)
            row_b, hi = rb >> 1, rb & 1
            s = bits(mem[row_b], 18)
            coll = mask if wea and wa == row_b else 0
            s = "".join("x" if coll >> (17 - k) & 1 else s[k] for k in range(18))
            lat_b = "0" * 27 + (s[:9] if hi else s[9:])
            if wea:
                mem[wa] = new
            out.append((lat_a, lat_b))
    return out


@pytest.mark.parametrize("outreg", [False, True])
def test_dp16kd_model_pdp36(tmp_path, outreg):
    """36-bit pseudo-dual port as Yosys maps it: byte-enabled writes on A, reads on B (NOREG or
    OUTREG), INITVAL contents, and X on a read of a word written on the same edge."""
    rng = random.Random(11)
    init = [rng.randrange(1 << 18) if r < 16 or r >= 1008 else 0 for r in range(1024)]
    ops = []
    for _ in range(300):
        wa = rng.choice([0, 1, 7, 511, rng.randrange(512)])
        ra = wa if rng.random() < 0.1 else rng.choice([0, 1, 7, 504, 511, rng.randrange(512)])
        ops.append((wa, rng.randrange(16), rng.randrange(1 << 36), int(rng.random() < 0.6), ra,
                    int(rng.random() < 0.8), int(rng.random() < 0.8)))
    inits = ", ".join(
        f".INITVAL_{idx:02X}(320'h" + format(sum(init[idx * 16 + i] << (20 * i)
                                                 for i in range(16)), "080x") + ")"
        for idx in (0, 63))
    drive = "\n".join(
        f"    wa = 9'd{wa}; be = 4'h{be:x}; d = 36'h{d:09x}; cea = {cea}; ra = 9'd{ra}; "
        f"ceb = {ceb}; oce = {oce}; @(posedge clk); #1 $display(\"%0d %b\", {i}, q);"
        for i, (wa, be, d, cea, ra, ceb, oce) in enumerate(ops))
    pins = [_pins("ADA", [f"be[{i}]" for i in range(4)] + ["1'b0"]
                  + [f"wa[{i}]" for i in range(9)]),
            _pins("ADB", ["1'b0"] * 5 + [f"ra[{i}]" for i in range(9)]),
            _pins("DIA", [f"d[{i}]" for i in range(18)]),
            _pins("DIB", [f"d[{i + 18}]" for i in range(18)]),
            _pins("DOA", [f"q[{i}]" for i in range(18)]),
            _pins("DOB", [f"q[{i + 18}]" for i in range(18)]),
            ".CEA(cea), .WEA(1'b1), .CEB(ceb), .OCEA(1'b0), .OCEB(oce), .WEB(1'b0)"]
    lines = _dp16kd_run(
        tmp_path,
        "reg [8:0] wa = 0, ra = 0; reg [3:0] be = 0; reg [35:0] d = 0; reg cea = 0, ceb = 0, "
        "oce = 0;\n  wire [35:0] q;",
        f".DATA_WIDTH_A(36), .DATA_WIDTH_B(36), .REGMODE_B(\"{'OUTREG' if outreg else 'NOREG'}\"), "
        f".GSR(\"DISABLED\"), .RESETMODE(\"ASYNC\"), {inits}", pins, drive)
    got = [lines[i + 1] for i in range(0, len(lines), 2)]
    want = [reg if outreg else lat for lat, reg in _dp16kd_ref("pdp36", ops, init)]
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g == w, f"cycle {i}: {ops[i]}: got {g}, expected {w}"
    assert any("x" in w for w in want) and any("x" not in w and "1" in w for w in want)


@pytest.mark.parametrize("wmode", ["NORMAL", "WRITETHROUGH", "READBEFOREWRITE"])
def test_dp16kd_model_tdp(tmp_path, wmode):
    """True dual port: A 18 bits wide reads and writes (byte enables on ADA1/ADA0, each write
    mode), B 9 bits wide reads (ADB3 picks the byte) and collides with A's writes."""
    rng = random.Random(5)
    ops = []
    for _ in range(300):
        wa = rng.choice([0, 3, 1023, rng.randrange(1024)])
        rb = 2 * wa + rng.randrange(2) if rng.random() < 0.15 else rng.randrange(2048)
        ops.append((wa, rng.randrange(4), rng.randrange(1 << 18), int(rng.random() < 0.5),
                    wmode, rb))
    drive = "\n".join(
        f"    wa = 10'd{wa}; be = 2'd{be}; d = 18'h{d:05x}; wea = {we}; rb = 11'd{rb}; "
        f"@(posedge clk); #1 $display(\"%0d %b %b\", {i}, qa, qb);"
        for i, (wa, be, d, we, _, rb) in enumerate(ops))
    pins = [_pins("ADA", ["be[0]", "be[1]", "1'b0", "1'b0"] + [f"wa[{i}]" for i in range(10)]),
            _pins("ADB", ["1'b0"] * 3 + [f"rb[{i}]" for i in range(11)]),
            _pins("DIA", [f"d[{i}]" for i in range(18)]), _pins("DIB", ["1'b0"] * 18),
            _pins("DOA", [f"qa[{i}]" for i in range(18)]),
            _pins("DOB", [f"qb[{i}]" for i in range(18)]),
            ".CEA(1'b1), .WEA(wea), .CEB(1'b1), .OCEA(1'b1), .OCEB(1'b1), .WEB(1'b0)"]
    lines = _dp16kd_run(
        tmp_path,
        "reg [9:0] wa = 0; reg [10:0] rb = 0; reg [1:0] be = 0; reg [17:0] d = 0; "
        "reg wea = 0;\n  wire [17:0] qa, qb;",
        f".DATA_WIDTH_A(18), .DATA_WIDTH_B(9), .WRITEMODE_A(\"{wmode}\")", pins, drive)
    got = [(lines[i + 1], lines[i + 2]) for i in range(0, len(lines), 3)]
    want = [(a, b[-18:]) for a, b in _dp16kd_ref("tdp", ops, [0] * 1024)]
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g == w, f"cycle {i}: {ops[i]}: got {g}, expected {w}"


#: SB_MAC16 configurations the model covers: (name, A_REG/B_REG, 8x8 + REG1 stage, REG2 stage,
#: output select, upper input C:D (1) or accumulate (0)). "hwgen" is what ``core.mult.ice40_mac``
#: instantiates.
MAC16_CONFIGS = [
    ("hwgen", 1, 1, 1, 1, 1),
    ("combinational", 0, 0, 0, 0, 1),
    ("product_out", 1, 0, 1, 3, 1),
    ("accumulate", 0, 1, 0, 1, 0),
]


def _mac16_tb(cfg, signed_a, signed_b, vals) -> str:
    _, in_reg, r1, r2, osel, upper = cfg
    drive = "\n".join(
        f"    a = 16'h{a:04x}; b = 16'h{b:04x}; c = 16'h{c:04x}; d = 16'h{d:04x}; "
        f"ahold = {ah}; bhold = {bh}; ohold = {oh}; @(posedge clk); #1 "
        f"$display(\"%0d %0d\", {i}, o);" for i, (a, b, c, d, ah, bh, oh) in enumerate(vals))
    return f"""
`timescale 1ns/1ps
module tb;
  reg clk = 0; always #5 clk = ~clk;
  reg [15:0] a = 0, b = 0, c = 0, d = 0; reg ahold = 0, bhold = 0, ohold = 0, rst = 0;
  wire [31:0] o; wire co, aco, sxo;
  SB_MAC16 #(
    .A_REG({in_reg}), .B_REG({in_reg}), .C_REG(0), .D_REG(0),
    .TOP_8x8_MULT_REG({r1}), .BOT_8x8_MULT_REG({r1}), .PIPELINE_16x16_MULT_REG1({r1}),
    .PIPELINE_16x16_MULT_REG2({r2}), .TOPOUTPUT_SELECT({osel}), .BOTOUTPUT_SELECT({osel}),
    .TOPADDSUB_LOWERINPUT(2), .BOTADDSUB_LOWERINPUT(2), .TOPADDSUB_UPPERINPUT({upper}),
    .BOTADDSUB_UPPERINPUT({upper}), .TOPADDSUB_CARRYSELECT(2), .BOTADDSUB_CARRYSELECT(0),
    .MODE_8x8(0), .A_SIGNED({int(signed_a)}), .B_SIGNED({int(signed_b)})) dut (
    .CLK(clk), .CE(1'b1), .A(a), .B(b), .C(c), .D(d), .AHOLD(ahold), .BHOLD(bhold),
    .CHOLD(1'b0), .DHOLD(1'b0), .IRSTTOP(rst), .IRSTBOT(rst), .ORSTTOP(rst), .ORSTBOT(rst),
    .OLOADTOP(1'b0), .OLOADBOT(1'b0), .ADDSUBTOP(1'b0), .ADDSUBBOT(1'b0), .OHOLDTOP(ohold),
    .OHOLDBOT(ohold), .CI(1'b0), .ACCUMCI(1'b0), .SIGNEXTIN(1'b0), .O(o), .CO(co),
    .ACCUMCO(aco), .SIGNEXTOUT(sxo));
  initial begin
    #1 rst = 1;             // a reset edge: Yosys' model has no power-up values
    #2 rst = 0;
{drive}
    $finish;
  end
endmodule
"""


def _mac16_vectors(seed, n=96):
    rng = random.Random(seed)
    corner = [0x0000, 0x8000, 0x7FFF, 0xFFFF, 0x0080, 0xFF80]
    vals = []
    for i in range(n):
        a = corner[i % len(corner)] if i < 24 else rng.randrange(1 << 16)
        b = corner[(i // len(corner)) % len(corner)] if i < 24 else rng.randrange(1 << 16)
        c, d = rng.randrange(1 << 16), rng.randrange(1 << 16)
        vals.append((a, b, c, d, int(rng.random() < 0.2), int(rng.random() < 0.3),
                     int(rng.random() < 0.2)))
    return vals


def _mac16_ref(cfg, signed_a, signed_b, vals):
    """O after each edge, from the documented structure: registers edge by edge on integers."""
    _, in_reg, r1, r2, osel, upper = cfg
    mask = (1 << 32) - 1

    def val(x, s):
        return x - (1 << 16) if s and x >> 15 else x

    a_r = b_r = p1 = p2 = q = 0
    out = []
    for a, b, c, d, ah, bh, oh in vals:
        ai, bi = (a_r, b_r) if in_reg else (a, b)
        prod = (val(ai, signed_a) * val(bi, signed_b)) & mask
        p1_i = p1 if r1 else prod
        p = p2 if r2 else p1_i
        s = ((((c << 16) | d) if upper else q) + p) & mask
        # the edge
        if not ah:
            a_r = a
        if not bh:
            b_r = b
        p1, p2 = prod, p1_i
        if not oh:
            q = s
        # after it: the combinational output from the new register values and this cycle's
        # inputs (the testbench changes them only after its $display)
        ai, bi = (a_r, b_r) if in_reg else (a, b)
        prod = (val(ai, signed_a) * val(bi, signed_b)) & mask
        p1_i = p1 if r1 else prod
        p = p2 if r2 else p1_i
        s = ((((c << 16) | d) if upper else q) + p) & mask
        out.append({0: s, 1: q, 3: p}[osel])
    return out


@pytest.mark.parametrize("cfg", MAC16_CONFIGS, ids=[c[0] for c in MAC16_CONFIGS])
@pytest.mark.parametrize("signed_a,signed_b", list(itertools.product([False, True], repeat=2)))
def test_sb_mac16_model(tmp_path, cfg, signed_a, signed_b):
    """hwgen's SB_MAC16 model against the register stages computed on integers: 16×16 products
    (each operand signed or not; corner operands first), the 32-bit add of C:D or of the output
    register, the A/B and output holds."""
    vals = _mac16_vectors(MAC16_CONFIGS.index(cfg) * 4 + 2 * signed_a + signed_b)
    tb = _mac16_tb(cfg, signed_a, signed_b, vals)
    lines = _run(tmp_path, tb, _model("SB_MAC16", "ice40")).split()
    got = [int(lines[i + 1]) for i in range(0, len(lines), 2)]
    assert got == _mac16_ref(cfg, signed_a, signed_b, vals)


@pytest.mark.fpga                    # Yosys' cell models come with the [fpga] extra
@pytest.mark.parametrize("cfg", MAC16_CONFIGS, ids=[c[0] for c in MAC16_CONFIGS])
def test_sb_mac16_model_matches_yosys(tmp_path, cfg):
    """The same vectors through Yosys' SB_MAC16 model (what gate-level checks simulate) give
    the same outputs: the two models (written independently) agree where hwgen uses them."""
    from hwgen.flow.emit import models_for
    from hwgen.flow.gls import cell_models

    files, defines = cell_models("ice40")
    for signed_a, signed_b in itertools.product([False, True], repeat=2):
        tb = _mac16_tb(cfg, signed_a, signed_b, _mac16_vectors(11 + 2 * signed_a + signed_b))
        ((_, yosys_text),) = [m for m in models_for(tb, files) if m[0] == "cells_sim.v"]
        (tmp_path / "yosys").mkdir(exist_ok=True)
        (tmp_path / "yosys" / "sb_mac16.v").write_text(
            "".join(f"`define {k} {v}\n" for k, v in defines.items()) + yosys_text)
        ours = _run(tmp_path, tb, _model("SB_MAC16", "ice40"))
        theirs = _run(tmp_path / "yosys", tb, tmp_path / "yosys" / "sb_mac16.v")
        assert ours == theirs and len(ours.split()) == 2 * 96, (signed_a, signed_b)

