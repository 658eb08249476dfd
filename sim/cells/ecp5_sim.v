// Simulation models of the two ECP5 primitives that Yosys maps to but ships only as blackboxes
// (share/ecp5/cells_bb.v: MULT18X18D; share/ecp5/cells_sim.v: DP16KD, a parameter list with no body),
// for the netlist co-simulation of sim.netlist. Every other ECP5 cell comes from Yosys's own
// share/ecp5/cells_sim.v.
//
// Each model covers the configurations Yosys's mapping writes (share/lattice/dsp_map_18x18.v and
// brams_map_16kd.v) and stops the simulation with $fatal on any other, so that a netlist using a mode
// the model does not know fails loudly instead of simulating something else:
//
// MULT18X18D: the unregistered 18x18 multiplier (every REG_*_CLK "NONE", SOURCEA = SOURCEB = 0, no
//   bypass): P = A * B, A sign-extended when SIGNEDA is 1 and B when SIGNEDB is 1 (Lattice FPGA-TN-02205,
//   sysDSP usage guide), SIGNEDP = SIGNEDA | SIGNEDB. A signedness mapped wrongly shows in P.
// DP16KD: the true dual-port 18 kbit block RAM without output registers (REGMODE "NOREG"), widths
//   1, 2, 4, 9 and 18 on each port, WRITEMODE NORMAL (read data kept during a write), WRITETHROUGH (new
//   data) and READBEFOREWRITE (old data); and the pseudo dual port at width 36 on both ports (Yosys's
//   PDPW16KD mapping: port A writes {DIB, DIA} with byte enables ADA3..ADA0, port B reads {DOB, DOA}).
//   Read data cleared by RSTx (RESETMODE SYNC at the clock edge, ASYNC at once), chip selects decoded by
//   CSDECODE, clock inversion by CLKAMUX/CLKBMUX. Storage is 1,024 words of 18 bits laid out as the
//   INITVAL parameters lay them out (each 320-bit INITVAL holds 16 words in 20-bit fields, 18 used); a
//   9-bit address selects byte (addr & 1) of word addr >> 1, the 1-, 2- and 4-bit modes address the 8
//   data bits of each byte (the ninth bit of a byte is reached at widths 9, 18 and 36 only), a 36-bit
//   word w is words 2w (low half) and 2w + 1. At width 18, ADx1 and ADx0 are the byte write enables.
//   A read of the word the other port writes in the same cycle returns the old data.

module MULT18X18D(
    input A17, A16, A15, A14, A13, A12, A11, A10, A9, A8, A7, A6, A5, A4, A3, A2, A1, A0,
    input B17, B16, B15, B14, B13, B12, B11, B10, B9, B8, B7, B6, B5, B4, B3, B2, B1, B0,
    input C17, C16, C15, C14, C13, C12, C11, C10, C9, C8, C7, C6, C5, C4, C3, C2, C1, C0,
    input SIGNEDA, SIGNEDB, SOURCEA, SOURCEB,
    input CLK3, CLK2, CLK1, CLK0, CE3, CE2, CE1, CE0, RST3, RST2, RST1, RST0,
    input SRIA17, SRIA16, SRIA15, SRIA14, SRIA13, SRIA12, SRIA11, SRIA10, SRIA9, SRIA8, SRIA7, SRIA6, SRIA5,
    input SRIA4, SRIA3, SRIA2, SRIA1, SRIA0,
    input SRIB17, SRIB16, SRIB15, SRIB14, SRIB13, SRIB12, SRIB11, SRIB10, SRIB9, SRIB8, SRIB7, SRIB6, SRIB5,
    input SRIB4, SRIB3, SRIB2, SRIB1, SRIB0,
    output SROA17, SROA16, SROA15, SROA14, SROA13, SROA12, SROA11, SROA10, SROA9, SROA8, SROA7, SROA6, SROA5,
    output SROA4, SROA3, SROA2, SROA1, SROA0,
    output SROB17, SROB16, SROB15, SROB14, SROB13, SROB12, SROB11, SROB10, SROB9, SROB8, SROB7, SROB6, SROB5,
    output SROB4, SROB3, SROB2, SROB1, SROB0,
    output ROA17, ROA16, ROA15, ROA14, ROA13, ROA12, ROA11, ROA10, ROA9, ROA8, ROA7, ROA6, ROA5, ROA4, ROA3,
    output ROA2, ROA1, ROA0,
    output ROB17, ROB16, ROB15, ROB14, ROB13, ROB12, ROB11, ROB10, ROB9, ROB8, ROB7, ROB6, ROB5, ROB4, ROB3,
    output ROB2, ROB1, ROB0,
    output ROC17, ROC16, ROC15, ROC14, ROC13, ROC12, ROC11, ROC10, ROC9, ROC8, ROC7, ROC6, ROC5, ROC4, ROC3,
    output ROC2, ROC1, ROC0,
    output P35, P34, P33, P32, P31, P30, P29, P28, P27, P26, P25, P24, P23, P22, P21, P20, P19, P18,
    output P17, P16, P15, P14, P13, P12, P11, P10, P9, P8, P7, P6, P5, P4, P3, P2, P1, P0,
    output SIGNEDP
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

    initial begin
        if (REG_INPUTA_CLK != "NONE" || REG_INPUTB_CLK != "NONE" || REG_INPUTC_CLK != "NONE" ||
            REG_PIPELINE_CLK != "NONE" || REG_OUTPUT_CLK != "NONE" || MULT_BYPASS != "DISABLED")
            $fatal(1, "MULT18X18D %m: only the unregistered multiplier is modelled (sim/cells/ecp5_sim.v)");
    end
    always @* if (SOURCEA || SOURCEB) $fatal(1, "MULT18X18D %m: SOURCEA and SOURCEB (shift inputs) are not modelled");

    wire [17:0] a = {A17, A16, A15, A14, A13, A12, A11, A10, A9, A8, A7, A6, A5, A4, A3, A2, A1, A0};
    wire [17:0] b = {B17, B16, B15, B14, B13, B12, B11, B10, B9, B8, B7, B6, B5, B4, B3, B2, B1, B0};
    wire [35:0] a_ext = {{18{SIGNEDA & a[17]}}, a};     // signed or unsigned A, 36 bits
    wire [35:0] b_ext = {{18{SIGNEDB & b[17]}}, b};
    wire [35:0] p = a_ext * b_ext;                       // the low 36 bits of the product: exact either way
    assign {P35, P34, P33, P32, P31, P30, P29, P28, P27, P26, P25, P24, P23, P22, P21, P20, P19, P18,
            P17, P16, P15, P14, P13, P12, P11, P10, P9, P8, P7, P6, P5, P4, P3, P2, P1, P0} = p;
    assign SIGNEDP = SIGNEDA | SIGNEDB;
    // the cascade and register outputs: unused by the unregistered multiplier, driven to 0
    assign {SROA17, SROA16, SROA15, SROA14, SROA13, SROA12, SROA11, SROA10, SROA9, SROA8, SROA7, SROA6, SROA5,
            SROA4, SROA3, SROA2, SROA1, SROA0} = 18'b0;
    assign {SROB17, SROB16, SROB15, SROB14, SROB13, SROB12, SROB11, SROB10, SROB9, SROB8, SROB7, SROB6, SROB5,
            SROB4, SROB3, SROB2, SROB1, SROB0} = 18'b0;
    assign {ROA17, ROA16, ROA15, ROA14, ROA13, ROA12, ROA11, ROA10, ROA9, ROA8, ROA7, ROA6, ROA5, ROA4, ROA3,
            ROA2, ROA1, ROA0} = a;
    assign {ROB17, ROB16, ROB15, ROB14, ROB13, ROB12, ROB11, ROB10, ROB9, ROB8, ROB7, ROB6, ROB5, ROB4, ROB3,
            ROB2, ROB1, ROB0} = b;
    assign {ROC17, ROC16, ROC15, ROC14, ROC13, ROC12, ROC11, ROC10, ROC9, ROC8, ROC7, ROC6, ROC5, ROC4, ROC3,
            ROC2, ROC1, ROC0} = 18'b0;
endmodule


// One port of DP16KD: the bit positions in the 18-bit storage word of a port word of width W at
// address `addr` (14 bits, as on the pins), and its write and read. Shared by ports A and B.
module DP16KD_port_map #(parameter W = 18) (input [13:0] addr, output [9:0] word, output [4:0] lsb);
    generate
        if (W == 18) begin : w18
            assign word = addr[13:4];
            assign lsb = 5'd0;
        end else if (W == 9) begin : w9
            assign word = addr[13:4];
            assign lsb = addr[3] ? 5'd9 : 5'd0;
        end else if (W == 4) begin : w4
            assign word = addr[13:4];
            assign lsb = (addr[3] ? 5'd9 : 5'd0) + (addr[2] ? 5'd4 : 5'd0);
        end else if (W == 2) begin : w2
            assign word = addr[13:4];
            assign lsb = (addr[3] ? 5'd9 : 5'd0) + {2'b0, addr[2:1], 1'b0};
        end else begin : w1
            assign word = addr[13:4];
            assign lsb = (addr[3] ? 5'd9 : 5'd0) + {2'b0, addr[2:0]};
        end
    endgenerate
endmodule


module DP16KD(
    input DIA17, DIA16, DIA15, DIA14, DIA13, DIA12, DIA11, DIA10, DIA9, DIA8, DIA7, DIA6, DIA5, DIA4, DIA3, DIA2, DIA1, DIA0,
    input ADA13, ADA12, ADA11, ADA10, ADA9, ADA8, ADA7, ADA6, ADA5, ADA4, ADA3, ADA2, ADA1, ADA0,
    input CEA, OCEA, CLKA, WEA, RSTA,
    input CSA2, CSA1, CSA0,
    output DOA17, DOA16, DOA15, DOA14, DOA13, DOA12, DOA11, DOA10, DOA9, DOA8, DOA7, DOA6, DOA5, DOA4, DOA3, DOA2, DOA1, DOA0,
    input DIB17, DIB16, DIB15, DIB14, DIB13, DIB12, DIB11, DIB10, DIB9, DIB8, DIB7, DIB6, DIB5, DIB4, DIB3, DIB2, DIB1, DIB0,
    input ADB13, ADB12, ADB11, ADB10, ADB9, ADB8, ADB7, ADB6, ADB5, ADB4, ADB3, ADB2, ADB1, ADB0,
    input CEB, OCEB, CLKB, WEB, RSTB,
    input CSB2, CSB1, CSB0,
    output DOB17, DOB16, DOB15, DOB14, DOB13, DOB12, DOB11, DOB10, DOB9, DOB8, DOB7, DOB6, DOB5, DOB4, DOB3, DOB2, DOB1, DOB0
);
    parameter DATA_WIDTH_A = 18;
    parameter DATA_WIDTH_B = 18;
    parameter REGMODE_A = "NOREG";
    parameter REGMODE_B = "NOREG";
    parameter RESETMODE = "SYNC";
    parameter ASYNC_RESET_RELEASE = "SYNC";
    parameter CSDECODE_A = "0b000";
    parameter CSDECODE_B = "0b000";
    parameter WRITEMODE_A = "NORMAL";
    parameter WRITEMODE_B = "NORMAL";
    parameter CLKAMUX = "CLKA";
    parameter CLKBMUX = "CLKB";
    parameter GSR = "ENABLED";
    parameter INIT_DATA = "STATIC";
    parameter WID = 0;
    parameter [319:0] INITVAL_00 = 0, INITVAL_01 = 0, INITVAL_02 = 0, INITVAL_03 = 0, INITVAL_04 = 0, INITVAL_05 = 0,
        INITVAL_06 = 0, INITVAL_07 = 0, INITVAL_08 = 0, INITVAL_09 = 0, INITVAL_0A = 0, INITVAL_0B = 0, INITVAL_0C = 0,
        INITVAL_0D = 0, INITVAL_0E = 0, INITVAL_0F = 0, INITVAL_10 = 0, INITVAL_11 = 0, INITVAL_12 = 0, INITVAL_13 = 0,
        INITVAL_14 = 0, INITVAL_15 = 0, INITVAL_16 = 0, INITVAL_17 = 0, INITVAL_18 = 0, INITVAL_19 = 0, INITVAL_1A = 0,
        INITVAL_1B = 0, INITVAL_1C = 0, INITVAL_1D = 0, INITVAL_1E = 0, INITVAL_1F = 0, INITVAL_20 = 0, INITVAL_21 = 0,
        INITVAL_22 = 0, INITVAL_23 = 0, INITVAL_24 = 0, INITVAL_25 = 0, INITVAL_26 = 0, INITVAL_27 = 0, INITVAL_28 = 0,
        INITVAL_29 = 0, INITVAL_2A = 0, INITVAL_2B = 0, INITVAL_2C = 0, INITVAL_2D = 0, INITVAL_2E = 0, INITVAL_2F = 0,
        INITVAL_30 = 0, INITVAL_31 = 0, INITVAL_32 = 0, INITVAL_33 = 0, INITVAL_34 = 0, INITVAL_35 = 0, INITVAL_36 = 0,
        INITVAL_37 = 0, INITVAL_38 = 0, INITVAL_39 = 0, INITVAL_3A = 0, INITVAL_3B = 0, INITVAL_3C = 0, INITVAL_3D = 0,
        INITVAL_3E = 0, INITVAL_3F = 0;

    function automatic integer csdecode(input [39:0] s);    // "0bxyz" -> xyz
        csdecode = {s[16], s[8], s[0]};
    endfunction

    initial begin
        if (REGMODE_A != "NOREG" || REGMODE_B != "NOREG")
            $fatal(1, "DP16KD %m: only REGMODE NOREG is modelled (sim/cells/ecp5_sim.v)");
        if (INIT_DATA != "STATIC")
            $fatal(1, "DP16KD %m: only INIT_DATA STATIC is modelled (sim/cells/ecp5_sim.v)");
        if ((DATA_WIDTH_A == 36) != (DATA_WIDTH_B == 36) ||
            !(DATA_WIDTH_A == 1 || DATA_WIDTH_A == 2 || DATA_WIDTH_A == 4 || DATA_WIDTH_A == 9 || DATA_WIDTH_A == 18 ||
              DATA_WIDTH_A == 36) ||
            !(DATA_WIDTH_B == 1 || DATA_WIDTH_B == 2 || DATA_WIDTH_B == 4 || DATA_WIDTH_B == 9 || DATA_WIDTH_B == 18 ||
              DATA_WIDTH_B == 36))
            $fatal(1, "DP16KD %m: DATA_WIDTH must be 1, 2, 4, 9 or 18 on each port, or 36 on both (sim/cells/ecp5_sim.v)");
    end

    reg [17:0] mem [0:1023];
    wire [64*320-1:0] initval = {INITVAL_3F, INITVAL_3E, INITVAL_3D, INITVAL_3C, INITVAL_3B, INITVAL_3A, INITVAL_39,
        INITVAL_38, INITVAL_37, INITVAL_36, INITVAL_35, INITVAL_34, INITVAL_33, INITVAL_32, INITVAL_31, INITVAL_30,
        INITVAL_2F, INITVAL_2E, INITVAL_2D, INITVAL_2C, INITVAL_2B, INITVAL_2A, INITVAL_29, INITVAL_28, INITVAL_27,
        INITVAL_26, INITVAL_25, INITVAL_24, INITVAL_23, INITVAL_22, INITVAL_21, INITVAL_20, INITVAL_1F, INITVAL_1E,
        INITVAL_1D, INITVAL_1C, INITVAL_1B, INITVAL_1A, INITVAL_19, INITVAL_18, INITVAL_17, INITVAL_16, INITVAL_15,
        INITVAL_14, INITVAL_13, INITVAL_12, INITVAL_11, INITVAL_10, INITVAL_0F, INITVAL_0E, INITVAL_0D, INITVAL_0C,
        INITVAL_0B, INITVAL_0A, INITVAL_09, INITVAL_08, INITVAL_07, INITVAL_06, INITVAL_05, INITVAL_04, INITVAL_03,
        INITVAL_02, INITVAL_01, INITVAL_00};
    integer i;
    initial for (i = 0; i < 1024; i = i + 1) mem[i] = initval[i * 20 +: 18];

    wire [13:0] ada = {ADA13, ADA12, ADA11, ADA10, ADA9, ADA8, ADA7, ADA6, ADA5, ADA4, ADA3, ADA2, ADA1, ADA0};
    wire [13:0] adb = {ADB13, ADB12, ADB11, ADB10, ADB9, ADB8, ADB7, ADB6, ADB5, ADB4, ADB3, ADB2, ADB1, ADB0};
    wire [17:0] dia = {DIA17, DIA16, DIA15, DIA14, DIA13, DIA12, DIA11, DIA10, DIA9, DIA8, DIA7, DIA6, DIA5, DIA4,
                       DIA3, DIA2, DIA1, DIA0};
    wire [17:0] dib = {DIB17, DIB16, DIB15, DIB14, DIB13, DIB12, DIB11, DIB10, DIB9, DIB8, DIB7, DIB6, DIB5, DIB4,
                       DIB3, DIB2, DIB1, DIB0};
    wire [9:0] word_a, word_b;
    wire [4:0] lsb_a, lsb_b;
    DP16KD_port_map #(.W(DATA_WIDTH_A)) map_a (.addr(ada), .word(word_a), .lsb(lsb_a));
    DP16KD_port_map #(.W(DATA_WIDTH_B)) map_b (.addr(adb), .word(word_b), .lsb(lsb_b));
    wire sel_a = {CSA2, CSA1, CSA0} == csdecode(CSDECODE_A);
    wire sel_b = {CSB2, CSB1, CSB0} == csdecode(CSDECODE_B);
    // the bits a write changes: the port's width at its position; at width 18, ADx0/ADx1 enable the bytes
    wire [17:0] ones_a = DATA_WIDTH_A == 18 ? {{9{ada[1]}}, {9{ada[0]}}} : (18'h3ffff >> (18 - DATA_WIDTH_A));
    wire [17:0] ones_b = DATA_WIDTH_B == 18 ? {{9{adb[1]}}, {9{adb[0]}}} : (18'h3ffff >> (18 - DATA_WIDTH_B));
    wire [17:0] mask_a = ones_a << lsb_a;
    wire [17:0] mask_b = ones_b << lsb_b;
    wire [17:0] width_a = 18'h3ffff >> (18 - DATA_WIDTH_A);
    wire [17:0] width_b = 18'h3ffff >> (18 - DATA_WIDTH_B);

    reg [17:0] doa = 18'b0, dob = 18'b0;
    assign {DOA17, DOA16, DOA15, DOA14, DOA13, DOA12, DOA11, DOA10, DOA9, DOA8, DOA7, DOA6, DOA5, DOA4, DOA3, DOA2,
            DOA1, DOA0} = doa;
    assign {DOB17, DOB16, DOB15, DOB14, DOB13, DOB12, DOB11, DOB10, DOB9, DOB8, DOB7, DOB6, DOB5, DOB4, DOB3, DOB2,
            DOB1, DOB0} = dob;

    wire clk_a = CLKAMUX == "INV" ? ~CLKA : CLKA;
    wire clk_b = CLKBMUX == "INV" ? ~CLKB : CLKB;
    // RESETMODE ASYNC: the reset clears the read data at once; SYNC: at the clock edge (the branches below)
    wire arst_a = RESETMODE == "ASYNC" && RSTA;
    wire arst_b = RESETMODE == "ASYNC" && RSTB;

    generate
        if (DATA_WIDTH_A == 36) begin : pdp
            // Pseudo dual port, 512 words of 36 bits (Yosys's PDPW16KD mapping): port A writes
            // {DIB, DIA} with byte enables ADA3..ADA0, port B reads {DOB, DOA}; word w is storage words
            // 2w (low half) and 2w + 1.
            wire [9:0] lo_w = {ada[13:5], 1'b0}, hi_w = {ada[13:5], 1'b1};
            wire [9:0] lo_r = {adb[13:5], 1'b0}, hi_r = {adb[13:5], 1'b1};
            wire [17:0] be_lo = {{9{ada[1]}}, {9{ada[0]}}}, be_hi = {{9{ada[3]}}, {9{ada[2]}}};
            always @(posedge clk_a)
                if (!RSTA && CEA && sel_a && WEA) begin
                    mem[lo_w] <= (mem[lo_w] & ~be_lo) | (dia & be_lo);
                    mem[hi_w] <= (mem[hi_w] & ~be_hi) | (dib & be_hi);
                end
            always @(posedge clk_b or posedge arst_b)
                if (arst_b || RSTB) begin
                    doa <= 18'b0;
                    dob <= 18'b0;
                end else if (CEB && sel_b) begin
                    doa <= mem[lo_r];
                    dob <= mem[hi_r];
                end
        end else begin : tdp
            // Port A. A reset clears the read data and blocks the write (Yosys's "rdsrst zero ungated block_wr").
            always @(posedge clk_a or posedge arst_a) begin
                if (arst_a || RSTA) begin
                    doa <= 18'b0;
                end else if (CEA && sel_a) begin
                    if (WEA) begin
                        if (WRITEMODE_A == "WRITETHROUGH")
                            doa <= ((((mem[word_a] & ~mask_a) | ((dia << lsb_a) & mask_a)) >> lsb_a) & width_a);
                        else if (WRITEMODE_A == "READBEFOREWRITE")
                            doa <= (mem[word_a] >> lsb_a) & width_a;
                        mem[word_a] <= (mem[word_a] & ~mask_a) | ((dia << lsb_a) & mask_a);
                    end else begin
                        doa <= (mem[word_a] >> lsb_a) & width_a;
                    end
                end
            end
            always @(posedge clk_b or posedge arst_b) begin
                if (arst_b || RSTB) begin
                    dob <= 18'b0;
                end else if (CEB && sel_b) begin
                    if (WEB) begin
                        if (WRITEMODE_B == "WRITETHROUGH")
                            dob <= ((((mem[word_b] & ~mask_b) | ((dib << lsb_b) & mask_b)) >> lsb_b) & width_b);
                        else if (WRITEMODE_B == "READBEFOREWRITE")
                            dob <= (mem[word_b] >> lsb_b) & width_b;
                        mem[word_b] <= (mem[word_b] & ~mask_b) | ((dib << lsb_b) & mask_b);
                    end else begin
                        dob <= (mem[word_b] >> lsb_b) & width_b;
                    end
                end
            end
        end
    endgenerate
endmodule
