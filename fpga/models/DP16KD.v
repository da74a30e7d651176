// Behavioural simulation model of the Lattice ECP5 DP16KD (16/18-kbit dual-port block RAM),
// written from the vendor's documented behaviour (ECP5 Memory Usage Guide, TN1264) and the port
// conventions of Yosys' ECP5 block-RAM mapping (which drives it): an 18-kbit array of 1024 rows
// of 18 bits, initialised from INITVAL_00..3F (each 320 bits: 16 rows, one per 20 bits).
//
// Modelled: port widths 18 and 9 on either port (true dual port; in 18-bit mode AD1/AD0 are the
// write byte enables), width 36 as pseudo-dual port (port A writes DIA = bits 17:0 and DIB =
// bits 35:18, byte enables ADA3..ADA0; port B reads DOA = 17:0, DOB = 35:18; word address
// AD13..AD5); CE, WE, chip selects against CSDECODE; WRITEMODE NORMAL / WRITETHROUGH /
// READBEFOREWRITE for a port that reads and writes itself; REGMODE NOREG / OUTREG (with OCE);
// RST (clears the output, sync or async by RESETMODE). A read of a row the other port writes on
// the same edge returns X for the colliding bits (undefined in the device). Both ports must run
// on one clock (or one of them be unused). Widths 1, 2 and 4 and clock inversion are not modelled
// and stop the simulation with a message. Unit-tested in tests/test_fpga_models.py.
`timescale 1ns/1ps
module DP16KD (
    input DIA17, DIA16, DIA15, DIA14, DIA13, DIA12, DIA11, DIA10, DIA9, DIA8, DIA7, DIA6, DIA5, DIA4, DIA3, DIA2, DIA1, DIA0,
    input ADA13, ADA12, ADA11, ADA10, ADA9, ADA8, ADA7, ADA6, ADA5, ADA4, ADA3, ADA2, ADA1, ADA0,
    input CEA, OCEA, CLKA, WEA, RSTA, CSA2, CSA1, CSA0,
    output DOA17, DOA16, DOA15, DOA14, DOA13, DOA12, DOA11, DOA10, DOA9, DOA8, DOA7, DOA6, DOA5, DOA4, DOA3, DOA2, DOA1, DOA0,
    input DIB17, DIB16, DIB15, DIB14, DIB13, DIB12, DIB11, DIB10, DIB9, DIB8, DIB7, DIB6, DIB5, DIB4, DIB3, DIB2, DIB1, DIB0,
    input ADB13, ADB12, ADB11, ADB10, ADB9, ADB8, ADB7, ADB6, ADB5, ADB4, ADB3, ADB2, ADB1, ADB0,
    input CEB, OCEB, CLKB, WEB, RSTB, CSB2, CSB1, CSB0,
    output DOB17, DOB16, DOB15, DOB14, DOB13, DOB12, DOB11, DOB10, DOB9, DOB8, DOB7, DOB6, DOB5, DOB4, DOB3, DOB2, DOB1, DOB0
);
    parameter DATA_WIDTH_A = 18;
    parameter DATA_WIDTH_B = 18;
    parameter REGMODE_A = "NOREG";
    parameter REGMODE_B = "NOREG";
    parameter RESETMODE = "SYNC";
    parameter ASYNC_RESET_RELEASE = "SYNC";
    parameter WRITEMODE_A = "NORMAL";
    parameter WRITEMODE_B = "NORMAL";
    parameter CSDECODE_A = "0b000";
    parameter CSDECODE_B = "0b000";
    parameter CLKAMUX = "CLKA";
    parameter CLKBMUX = "CLKB";
    parameter GSR = "ENABLED";
    parameter INIT_DATA = "STATIC";
    parameter WID = 0;
    parameter INITVAL_00 = 320'h0;
    parameter INITVAL_01 = 320'h0;
    parameter INITVAL_02 = 320'h0;
    parameter INITVAL_03 = 320'h0;
    parameter INITVAL_04 = 320'h0;
    parameter INITVAL_05 = 320'h0;
    parameter INITVAL_06 = 320'h0;
    parameter INITVAL_07 = 320'h0;
    parameter INITVAL_08 = 320'h0;
    parameter INITVAL_09 = 320'h0;
    parameter INITVAL_0A = 320'h0;
    parameter INITVAL_0B = 320'h0;
    parameter INITVAL_0C = 320'h0;
    parameter INITVAL_0D = 320'h0;
    parameter INITVAL_0E = 320'h0;
    parameter INITVAL_0F = 320'h0;
    parameter INITVAL_10 = 320'h0;
    parameter INITVAL_11 = 320'h0;
    parameter INITVAL_12 = 320'h0;
    parameter INITVAL_13 = 320'h0;
    parameter INITVAL_14 = 320'h0;
    parameter INITVAL_15 = 320'h0;
    parameter INITVAL_16 = 320'h0;
    parameter INITVAL_17 = 320'h0;
    parameter INITVAL_18 = 320'h0;
    parameter INITVAL_19 = 320'h0;
    parameter INITVAL_1A = 320'h0;
    parameter INITVAL_1B = 320'h0;
    parameter INITVAL_1C = 320'h0;
    parameter INITVAL_1D = 320'h0;
    parameter INITVAL_1E = 320'h0;
    parameter INITVAL_1F = 320'h0;
    parameter INITVAL_20 = 320'h0;
    parameter INITVAL_21 = 320'h0;
    parameter INITVAL_22 = 320'h0;
    parameter INITVAL_23 = 320'h0;
    parameter INITVAL_24 = 320'h0;
    parameter INITVAL_25 = 320'h0;
    parameter INITVAL_26 = 320'h0;
    parameter INITVAL_27 = 320'h0;
    parameter INITVAL_28 = 320'h0;
    parameter INITVAL_29 = 320'h0;
    parameter INITVAL_2A = 320'h0;
    parameter INITVAL_2B = 320'h0;
    parameter INITVAL_2C = 320'h0;
    parameter INITVAL_2D = 320'h0;
    parameter INITVAL_2E = 320'h0;
    parameter INITVAL_2F = 320'h0;
    parameter INITVAL_30 = 320'h0;
    parameter INITVAL_31 = 320'h0;
    parameter INITVAL_32 = 320'h0;
    parameter INITVAL_33 = 320'h0;
    parameter INITVAL_34 = 320'h0;
    parameter INITVAL_35 = 320'h0;
    parameter INITVAL_36 = 320'h0;
    parameter INITVAL_37 = 320'h0;
    parameter INITVAL_38 = 320'h0;
    parameter INITVAL_39 = 320'h0;
    parameter INITVAL_3A = 320'h0;
    parameter INITVAL_3B = 320'h0;
    parameter INITVAL_3C = 320'h0;
    parameter INITVAL_3D = 320'h0;
    parameter INITVAL_3E = 320'h0;
    parameter INITVAL_3F = 320'h0;

    wire [17:0] dia = {DIA17, DIA16, DIA15, DIA14, DIA13, DIA12, DIA11, DIA10, DIA9, DIA8, DIA7, DIA6, DIA5, DIA4, DIA3, DIA2, DIA1, DIA0};
    wire [17:0] dib = {DIB17, DIB16, DIB15, DIB14, DIB13, DIB12, DIB11, DIB10, DIB9, DIB8, DIB7, DIB6, DIB5, DIB4, DIB3, DIB2, DIB1, DIB0};
    wire [13:0] ada = {ADA13, ADA12, ADA11, ADA10, ADA9, ADA8, ADA7, ADA6, ADA5, ADA4, ADA3, ADA2, ADA1, ADA0};
    wire [13:0] adb = {ADB13, ADB12, ADB11, ADB10, ADB9, ADB8, ADB7, ADB6, ADB5, ADB4, ADB3, ADB2, ADB1, ADB0};
    wire pdp = DATA_WIDTH_A == 36;

    reg [17:0] mem [0:1023];
    integer i;
    initial begin
        if (!((DATA_WIDTH_A == 18 || DATA_WIDTH_A == 9) && (DATA_WIDTH_B == 18 || DATA_WIDTH_B == 9))
            && !(DATA_WIDTH_A == 36 && DATA_WIDTH_B == 36)) begin
            $display("DP16KD model: widths %0d/%0d are not modelled (18, 9, or 36/36)",
                     DATA_WIDTH_A, DATA_WIDTH_B);
            $finish;
        end
        if (CLKAMUX != "CLKA" || CLKBMUX != "CLKB") begin
            $display("DP16KD model: clock inversion is not modelled");
            $finish;
        end
        for (i = 0; i < 16; i = i + 1) mem[0 + i] = INITVAL_00[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[16 + i] = INITVAL_01[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[32 + i] = INITVAL_02[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[48 + i] = INITVAL_03[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[64 + i] = INITVAL_04[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[80 + i] = INITVAL_05[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[96 + i] = INITVAL_06[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[112 + i] = INITVAL_07[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[128 + i] = INITVAL_08[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[144 + i] = INITVAL_09[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[160 + i] = INITVAL_0A[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[176 + i] = INITVAL_0B[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[192 + i] = INITVAL_0C[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[208 + i] = INITVAL_0D[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[224 + i] = INITVAL_0E[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[240 + i] = INITVAL_0F[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[256 + i] = INITVAL_10[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[272 + i] = INITVAL_11[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[288 + i] = INITVAL_12[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[304 + i] = INITVAL_13[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[320 + i] = INITVAL_14[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[336 + i] = INITVAL_15[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[352 + i] = INITVAL_16[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[368 + i] = INITVAL_17[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[384 + i] = INITVAL_18[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[400 + i] = INITVAL_19[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[416 + i] = INITVAL_1A[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[432 + i] = INITVAL_1B[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[448 + i] = INITVAL_1C[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[464 + i] = INITVAL_1D[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[480 + i] = INITVAL_1E[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[496 + i] = INITVAL_1F[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[512 + i] = INITVAL_20[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[528 + i] = INITVAL_21[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[544 + i] = INITVAL_22[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[560 + i] = INITVAL_23[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[576 + i] = INITVAL_24[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[592 + i] = INITVAL_25[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[608 + i] = INITVAL_26[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[624 + i] = INITVAL_27[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[640 + i] = INITVAL_28[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[656 + i] = INITVAL_29[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[672 + i] = INITVAL_2A[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[688 + i] = INITVAL_2B[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[704 + i] = INITVAL_2C[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[720 + i] = INITVAL_2D[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[736 + i] = INITVAL_2E[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[752 + i] = INITVAL_2F[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[768 + i] = INITVAL_30[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[784 + i] = INITVAL_31[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[800 + i] = INITVAL_32[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[816 + i] = INITVAL_33[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[832 + i] = INITVAL_34[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[848 + i] = INITVAL_35[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[864 + i] = INITVAL_36[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[880 + i] = INITVAL_37[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[896 + i] = INITVAL_38[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[912 + i] = INITVAL_39[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[928 + i] = INITVAL_3A[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[944 + i] = INITVAL_3B[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[960 + i] = INITVAL_3C[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[976 + i] = INITVAL_3D[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[992 + i] = INITVAL_3E[i * 20 +: 18];
        for (i = 0; i < 16; i = i + 1) mem[1008 + i] = INITVAL_3F[i * 20 +: 18];
    end

    // the cells a port addresses: row(s) and bit mask within each row
    function [9:0] row_of(input integer width, input [13:0] ad, input hi);
        row_of = width == 36 ? {ad[13:5], hi} : ad[13:4];
    endfunction
    function [17:0] mask_of(input integer width, input [13:0] ad);
        mask_of = width == 9 ? (ad[3] ? 18'h3FE00 : 18'h001FF) : 18'h3FFFF;
    endfunction
    // byte enables of a write: 36 → AD3..AD0 (two per row), 18 → AD1..AD0, 9 → the byte
    function [17:0] wmask_of(input integer width, input [13:0] ad, input hi);
        case (width)
            36: wmask_of = {{9{ad[hi ? 3 : 1]}}, {9{ad[hi ? 2 : 0]}}};
            18: wmask_of = {{9{ad[1]}}, {9{ad[0]}}};
            default: wmask_of = mask_of(9, ad);
        endcase
    endfunction
    function [17:0] place9(input integer width, input [13:0] ad, input [17:0] d);
        place9 = width == 9 ? (ad[3] ? {d[8:0], 9'b0} : {9'b0, d[8:0]}) : d;
    endfunction
    function [17:0] pick9(input integer width, input [13:0] ad, input [17:0] row);
        pick9 = width == 9 ? {9'b0, ad[3] ? row[17:9] : row[8:0]} : row;
    endfunction

    wire sel_a = {CSA2, CSA1, CSA0} == {CSDECODE_A[16], CSDECODE_A[8], CSDECODE_A[0]};
    wire sel_b = {CSB2, CSB1, CSB0} == {CSDECODE_B[16], CSDECODE_B[8], CSDECODE_B[0]};
    // port A writes (36: both rows of the word from DIA/DIB); port B writes only in TDP mode
    wire wr_a = CEA & WEA & sel_a;
    wire wr_b = !pdp & CEB & WEB & sel_b;
    wire rd_a = !pdp & CEA & sel_a;
    wire rd_b = CEB & sel_b;

    reg [35:0] lat_a = 0, lat_b = 0, reg_a = 0, reg_b = 0;
    reg seen_a = 0, seen_b = 0;
    wire clk = CLKA | CLKB;
    reg [9:0] r0, r1;
    reg [17:0] m0, m1, old0, old1, new0, new1, coll0, coll1;
    always @(posedge CLKA) seen_a <= 1;
    always @(posedge CLKB) seen_b <= 1;
    always @(posedge clk) begin
        if (seen_a && seen_b && CLKA !== CLKB) begin
            $display("DP16KD model: CLKA and CLKB must be one clock");
            $finish;
        end
        // reads see the array before this edge's writes
        if (pdp) begin
            r0 = row_of(36, adb, 0); r1 = row_of(36, adb, 1);
            coll0 = (wr_a && row_of(36, ada, 0) == r0) ? wmask_of(36, ada, 0) : 18'h0;
            coll1 = (wr_a && row_of(36, ada, 1) == r1) ? wmask_of(36, ada, 1) : 18'h0;
            if (RESETMODE == "SYNC" && RSTB) lat_b <= 0;
            else if (rd_b) lat_b <= {mem[r1] ^ (coll1 & 18'bx), mem[r0] ^ (coll0 & 18'bx)};
            if (wr_a) begin
                m0 = wmask_of(36, ada, 0); m1 = wmask_of(36, ada, 1);
                mem[row_of(36, ada, 0)] <= (mem[row_of(36, ada, 0)] & ~m0) | (dia & m0);
                mem[row_of(36, ada, 1)] <= (mem[row_of(36, ada, 1)] & ~m1) | (dib & m1);
            end
        end else begin
            r0 = row_of(18, ada, 0); r1 = row_of(18, adb, 0);
            m0 = wmask_of(DATA_WIDTH_A, ada, 0); m1 = wmask_of(DATA_WIDTH_B, adb, 0);
            new0 = place9(DATA_WIDTH_A, ada, dia); new1 = place9(DATA_WIDTH_B, adb, dib);
            old0 = mem[r0] ^ ((wr_b && r1 == r0) ? (m1 & 18'bx) : 18'h0);
            old1 = mem[r1] ^ ((wr_a && r0 == r1) ? (m0 & 18'bx) : 18'h0);
            if (RESETMODE == "SYNC" && RSTA) lat_a <= 0;
            else if (rd_a && !(wr_a && WRITEMODE_A == "NORMAL"))
                lat_a <= pick9(DATA_WIDTH_A, ada, (wr_a && WRITEMODE_A == "WRITETHROUGH")
                                                     ? (old0 & ~m0) | (new0 & m0) : old0);
            if (RESETMODE == "SYNC" && RSTB) lat_b <= 0;
            else if (rd_b && !(wr_b && WRITEMODE_B == "NORMAL"))
                lat_b <= pick9(DATA_WIDTH_B, adb, (wr_b && WRITEMODE_B == "WRITETHROUGH")
                                                     ? (old1 & ~m1) | (new1 & m1) : old1);
            if (wr_a) mem[r0] <= (mem[r0] & ~m0) | (new0 & m0);
            if (wr_b) mem[r1] <= (mem[r1] & ~m1) | (new1 & m1);
        end
        if (RESETMODE == "SYNC" && RSTA) reg_a <= 0; else if (OCEA) reg_a <= lat_a;
        if (RESETMODE == "SYNC" && RSTB) reg_b <= 0; else if (OCEB) reg_b <= lat_b;
    end
    always @(posedge RSTA) if (RESETMODE == "ASYNC") begin lat_a <= 0; reg_a <= 0; end
    always @(posedge RSTB) if (RESETMODE == "ASYNC") begin lat_b <= 0; reg_b <= 0; end

    wire [35:0] out_a = REGMODE_A == "OUTREG" ? reg_a : lat_a;
    wire [35:0] out_b = REGMODE_B == "OUTREG" ? reg_b : lat_b;
    // 36-bit mode: the word comes out on DOA (17:0) and DOB (35:18)
    assign {DOA17, DOA16, DOA15, DOA14, DOA13, DOA12, DOA11, DOA10, DOA9, DOA8, DOA7, DOA6, DOA5, DOA4, DOA3, DOA2, DOA1, DOA0} = pdp ? out_b[17:0] : out_a[17:0];
    assign {DOB17, DOB16, DOB15, DOB14, DOB13, DOB12, DOB11, DOB10, DOB9, DOB8, DOB7, DOB6, DOB5, DOB4, DOB3, DOB2, DOB1, DOB0} = pdp ? out_b[35:18] : out_b[17:0];
endmodule
