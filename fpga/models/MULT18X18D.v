// Behavioural simulation model of the Lattice ECP5 MULT18X18D (18x18 multiplier), written from
// the vendor's documented register behaviour (ECP5 sysDSP usage guide, TN1267): optional input
// registers on A and B, an optional pipeline register and an optional output register, each
// with its own clock / clock-enable / reset selection. Only what hwgen instantiates is modelled:
// clock CLK0, clock enables CE0..CE3, resets RST0..RST3 (synchronous), SIGNEDA/SIGNEDB, P[35:0].
// Cascade ports (SRIA/SRIB/ROA/ROB/ROC) and SOURCEA/SOURCEB (always 0 here) are not; the C
// input is accepted (Yosys' DSP inference connects it) and ignored, as it is in multiply mode.
// Unit-tested against a plain multiply in tests/test_fpga_models.py.
`timescale 1ns/1ps
module MULT18X18D (
    input A0, A1, A2, A3, A4, A5, A6, A7, A8, A9, A10, A11, A12, A13, A14, A15, A16, A17,
    input B0, B1, B2, B3, B4, B5, B6, B7, B8, B9, B10, B11, B12, B13, B14, B15, B16, B17,
    input C0, C1, C2, C3, C4, C5, C6, C7, C8, C9, C10, C11, C12, C13, C14, C15, C16, C17,
    input SIGNEDA, SIGNEDB, SOURCEA, SOURCEB,
    input CLK0, CLK1, CLK2, CLK3, CE0, CE1, CE2, CE3, RST0, RST1, RST2, RST3,
    output P0, P1, P2, P3, P4, P5, P6, P7, P8, P9, P10, P11, P12, P13, P14, P15, P16, P17,
    output P18, P19, P20, P21, P22, P23, P24, P25, P26, P27, P28, P29, P30, P31, P32, P33, P34,
    output P35, SIGNEDP
);
    parameter REG_INPUTA_CLK = "NONE";
    parameter REG_INPUTA_CE = "CE0";
    parameter REG_INPUTA_RST = "RST0";
    parameter REG_INPUTB_CLK = "NONE";
    parameter REG_INPUTB_CE = "CE0";
    parameter REG_INPUTB_RST = "RST0";
    parameter REG_INPUTC_CLK = "NONE";
    parameter REG_INPUTC_CE = "CE0";
    parameter REG_INPUTC_RST = "RST0";
    parameter REG_PIPELINE_CLK = "NONE";
    parameter REG_PIPELINE_CE = "CE0";
    parameter REG_PIPELINE_RST = "RST0";
    parameter REG_OUTPUT_CLK = "NONE";
    parameter REG_OUTPUT_CE = "CE0";
    parameter REG_OUTPUT_RST = "RST0";
    parameter CLK0_DIV = "ENABLED";
    parameter CLK1_DIV = "ENABLED";
    parameter CLK2_DIV = "ENABLED";
    parameter CLK3_DIV = "ENABLED";
    parameter HIGHSPEED_CLK = "NONE";
    parameter GSR = "ENABLED";
    parameter CAS_MATCH_REG = "FALSE";
    parameter SOURCEB_MODE = "B_SHIFT";
    parameter MULT_BYPASS = "DISABLED";
    parameter RESETMODE = "SYNC";

    wire [17:0] a = {A17, A16, A15, A14, A13, A12, A11, A10, A9, A8, A7, A6, A5, A4, A3, A2, A1, A0};
    wire [17:0] b = {B17, B16, B15, B14, B13, B12, B11, B10, B9, B8, B7, B6, B5, B4, B3, B2, B1, B0};

    function sel_ce(input [8*4-1:0] name);
        sel_ce = name == "CE0" ? CE0 : name == "CE1" ? CE1 : name == "CE2" ? CE2 : CE3;
    endfunction
    function sel_rst(input [8*4-1:0] name);
        sel_rst = name == "RST0" ? RST0 : name == "RST1" ? RST1 : name == "RST2" ? RST2 : RST3;
    endfunction

    initial begin
        if ((REG_INPUTA_CLK != "NONE" && REG_INPUTA_CLK != "CLK0") ||
            (REG_INPUTB_CLK != "NONE" && REG_INPUTB_CLK != "CLK0") ||
            (REG_PIPELINE_CLK != "NONE" && REG_PIPELINE_CLK != "CLK0") ||
            (REG_OUTPUT_CLK != "NONE" && REG_OUTPUT_CLK != "CLK0") || RESETMODE != "SYNC") begin
            $display("MULT18X18D model: only CLK0 registers and RESETMODE=SYNC are modelled");
            $finish;
        end
    end

    // input stage (SIGNEDA/SIGNEDB are registered with their operand)
    reg [17:0] a_r = 0, b_r = 0;
    reg sa_r = 0, sb_r = 0;
    always @(posedge CLK0) begin
        if (sel_rst(REG_INPUTA_RST)) begin a_r <= 0; sa_r <= 0; end
        else if (sel_ce(REG_INPUTA_CE)) begin a_r <= a; sa_r <= SIGNEDA; end
        if (sel_rst(REG_INPUTB_RST)) begin b_r <= 0; sb_r <= 0; end
        else if (sel_ce(REG_INPUTB_CE)) begin b_r <= b; sb_r <= SIGNEDB; end
    end
    wire [17:0] a_i = REG_INPUTA_CLK == "NONE" ? a : a_r;
    wire [17:0] b_i = REG_INPUTB_CLK == "NONE" ? b : b_r;
    wire sa_i = REG_INPUTA_CLK == "NONE" ? SIGNEDA : sa_r;
    wire sb_i = REG_INPUTB_CLK == "NONE" ? SIGNEDB : sb_r;

    // 36-bit product of the (un)signed operands
    wire signed [18:0] a_x = {sa_i & a_i[17], a_i};
    wire signed [18:0] b_x = {sb_i & b_i[17], b_i};
    wire signed [37:0] prod = a_x * b_x;
    wire sp = sa_i | sb_i;

    reg [35:0] p_pipe = 0, p_out = 0;
    reg s_pipe = 0, s_out = 0;
    wire [35:0] p_m = REG_PIPELINE_CLK == "NONE" ? prod[35:0] : p_pipe;
    wire s_m = REG_PIPELINE_CLK == "NONE" ? sp : s_pipe;
    always @(posedge CLK0) begin
        if (sel_rst(REG_PIPELINE_RST)) begin p_pipe <= 0; s_pipe <= 0; end
        else if (sel_ce(REG_PIPELINE_CE)) begin p_pipe <= prod[35:0]; s_pipe <= sp; end
        if (sel_rst(REG_OUTPUT_RST)) begin p_out <= 0; s_out <= 0; end
        else if (sel_ce(REG_OUTPUT_CE)) begin p_out <= p_m; s_out <= s_m; end
    end
    wire [35:0] p = REG_OUTPUT_CLK == "NONE" ? p_m : p_out;
    assign {P35, P34, P33, P32, P31, P30, P29, P28, P27, P26, P25, P24, P23, P22, P21, P20, P19,
            P18, P17, P16, P15, P14, P13, P12, P11, P10, P9, P8, P7, P6, P5, P4, P3, P2, P1,
            P0} = p;
    assign SIGNEDP = REG_OUTPUT_CLK == "NONE" ? s_m : s_out;
endmodule
