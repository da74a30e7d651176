// Behavioural simulation model of the Lattice iCE40 SB_MAC16 (16x16 multiplier with two 16-bit
// adder/accumulators), written from the vendor's documented structure (iCE40 DSP function usage
// guide, TN1295): input registers A, B, C, D with hold inputs; a multiplier pipeline register
// after the 8x8 partial products and one after their 16x16 sum; the top and bottom adders with
// output registers. Only the 16x16 multiply-add configurations hwgen instantiates are modelled:
//   MODE_8x8 = 0, NEG_TRIGGER = 0; the 8x8 product registers (TOP_8x8_MULT_REG,
//   BOT_8x8_MULT_REG, PIPELINE_16x16_MULT_REG1) all on or all off; both adders add the 16x16
//   product (ADDSUB_LOWERINPUT = 2) to C:D or to their own output register (UPPERINPUT 1 / 0,
//   the same for both), the top adder taking the bottom adder's carry (CARRYSELECT 2 / 0); both
//   outputs the adder (0), its register (1) or the product (3), the same for both.
// Anything else stops the simulation; so do ADDSUB, OLOAD, CI or ACCUMCI set at a clock edge.
// (Those checks are left out under SYNTHESIS: hwgen's Yosys script reads this file as the port
// list of a black box.) Resets (IRSTTOP, IRSTBOT, ORSTTOP, ORSTBOT) are asynchronous; the partial-product stage is
// modelled as one register, cleared by either input reset. Registers power up as 0.
// Unit-tested against plain arithmetic (and against Yosys' cell model) in
// tests/test_fpga_models.py.
`timescale 1ns/1ps
module SB_MAC16 (
    input CLK, CE,
    input [15:0] C, A, B, D,
    input AHOLD, BHOLD, CHOLD, DHOLD,
    input IRSTTOP, IRSTBOT, ORSTTOP, ORSTBOT,
    input OLOADTOP, OLOADBOT, ADDSUBTOP, ADDSUBBOT,
    input OHOLDTOP, OHOLDBOT,
    input CI, ACCUMCI, SIGNEXTIN,
    output [31:0] O,
    output CO, ACCUMCO, SIGNEXTOUT
);
    parameter [0:0] NEG_TRIGGER = 0;
    parameter [0:0] C_REG = 0;
    parameter [0:0] A_REG = 0;
    parameter [0:0] B_REG = 0;
    parameter [0:0] D_REG = 0;
    parameter [0:0] TOP_8x8_MULT_REG = 0;
    parameter [0:0] BOT_8x8_MULT_REG = 0;
    parameter [0:0] PIPELINE_16x16_MULT_REG1 = 0;
    parameter [0:0] PIPELINE_16x16_MULT_REG2 = 0;
    parameter [1:0] TOPOUTPUT_SELECT = 0;
    parameter [1:0] TOPADDSUB_LOWERINPUT = 0;
    parameter [0:0] TOPADDSUB_UPPERINPUT = 0;
    parameter [1:0] TOPADDSUB_CARRYSELECT = 0;
    parameter [1:0] BOTOUTPUT_SELECT = 0;
    parameter [1:0] BOTADDSUB_LOWERINPUT = 0;
    parameter [0:0] BOTADDSUB_UPPERINPUT = 0;
    parameter [1:0] BOTADDSUB_CARRYSELECT = 0;
    parameter [0:0] MODE_8x8 = 0;
    parameter [0:0] A_SIGNED = 0;
    parameter [0:0] B_SIGNED = 0;

`ifndef SYNTHESIS
    initial begin
        if (NEG_TRIGGER || MODE_8x8 ||
            TOP_8x8_MULT_REG != BOT_8x8_MULT_REG ||
            TOP_8x8_MULT_REG != PIPELINE_16x16_MULT_REG1 ||
            TOPADDSUB_LOWERINPUT != 2 || BOTADDSUB_LOWERINPUT != 2 ||
            TOPADDSUB_UPPERINPUT != BOTADDSUB_UPPERINPUT ||
            TOPADDSUB_CARRYSELECT != 2 || BOTADDSUB_CARRYSELECT != 0 ||
            TOPOUTPUT_SELECT != BOTOUTPUT_SELECT || TOPOUTPUT_SELECT == 2) begin
            $display("SB_MAC16 model: only the 16x16 multiply-add configurations in its header are modelled");
            $finish;
        end
    end
`endif

    // input registers: A and C belong to the top half (IRSTTOP), B and D to the bottom
    reg [15:0] a_r = 0, b_r = 0, c_r = 0, d_r = 0;
    always @(posedge CLK or posedge IRSTTOP)
        if (IRSTTOP) begin a_r <= 0; c_r <= 0; end
        else if (CE) begin
            if (!AHOLD) a_r <= A;
            if (!CHOLD) c_r <= C;
        end
    always @(posedge CLK or posedge IRSTBOT)
        if (IRSTBOT) begin b_r <= 0; d_r <= 0; end
        else if (CE) begin
            if (!BHOLD) b_r <= B;
            if (!DHOLD) d_r <= D;
        end
    wire [15:0] a_i = A_REG ? a_r : A;
    wire [15:0] b_i = B_REG ? b_r : B;
    wire [31:0] cd_i = {C_REG ? c_r : C, D_REG ? d_r : D};

    // 32-bit product of the (un)signed operands, then its two pipeline stages
    wire signed [16:0] a_x = {A_SIGNED & a_i[15], a_i};
    wire signed [16:0] b_x = {B_SIGNED & b_i[15], b_i};
    wire signed [33:0] prod = a_x * b_x;
    reg [31:0] p1 = 0, p2 = 0;
    always @(posedge CLK or posedge IRSTTOP or posedge IRSTBOT)
        if (IRSTTOP || IRSTBOT) p1 <= 0;
        else if (CE) p1 <= prod[31:0];
    wire [31:0] p1_i = PIPELINE_16x16_MULT_REG1 ? p1 : prod[31:0];
    always @(posedge CLK or posedge IRSTBOT)
        if (IRSTBOT) p2 <= 0;
        else if (CE) p2 <= p1_i;
    wire [31:0] p = PIPELINE_16x16_MULT_REG2 ? p2 : p1_i;

    // adders (bottom carry into top: one 32-bit add) and their output registers
    reg [15:0] q_top = 0, q_bot = 0;
    wire [31:0] upper = TOPADDSUB_UPPERINPUT ? cd_i : {q_top, q_bot};
    wire [32:0] sum = {1'b0, upper} + {1'b0, p};
    always @(posedge CLK or posedge ORSTTOP)
        if (ORSTTOP) q_top <= 0;
        else if (CE && !OHOLDTOP) q_top <= sum[31:16];
    always @(posedge CLK or posedge ORSTBOT)
        if (ORSTBOT) q_bot <= 0;
        else if (CE && !OHOLDBOT) q_bot <= sum[15:0];
`ifndef SYNTHESIS
    always @(posedge CLK)
        if (ADDSUBTOP || ADDSUBBOT || OLOADTOP || OLOADBOT || CI || ACCUMCI) begin
            $display("SB_MAC16 model: ADDSUB, OLOAD, CI and ACCUMCI are not modelled (set at %0t)", $time);
            $finish;
        end
`endif

    assign O = TOPOUTPUT_SELECT == 0 ? sum[31:0] :
               TOPOUTPUT_SELECT == 1 ? {q_top, q_bot} : p;
    assign CO = sum[32];
    assign ACCUMCO = sum[32];
    assign SIGNEXTOUT = p[31];
endmodule
