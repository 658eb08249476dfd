// Simulation models of the cells nextpnr-ice40 writes into a routed netlist (--write), for the routed
// co-simulation of the board design (sim.netlist.route_board, sim.boardsim with stage "routed").
// sim.netlist.prepare_routed_ice40 renames the routed cells' types with the prefix NEXTPNR_ (SB_GB keeps
// Yosys's model, a wire) and ties every unconnected input to what the hardware reads there (a clock enable
// 1, any other input 0). Yosys's own models of these cells (share/ice40/cells_sim.v) are not usable as they
// stand under Verilator: ICESTORM_LC and ICESTORM_RAM pull their inputs down or up with "x === 1'bz", which
// is tristate logic to the simulator, refused ("Unsupported: tristate in top-level IO"), and SB_IO drives an
// inout PACKAGE_PIN through a tristate. So:
//
// NEXTPNR_ICESTORM_LC: Yosys's ICESTORM_LC without the pull-downs: LUT output LUT_INIT[{I3,I2,I1,I0}]; carry
//   COUT = I1 & I2 | (I1 | I2) & CI with CI = CIN_CONST ? CIN_SET : CIN (0 without CARRY_ENABLE, where Yosys's
//   model gives x); the flip-flop (DFF_ENABLE) on CLK ^ NEG_CLK, enabled by CEN, SR setting it to
//   SET_NORESET synchronously or (ASYNC_SR) asynchronously.
// NEXTPNR_ICESTORM_RAM: Yosys's SB_RAM40_4K with the routed cell's flat pins (RDATA_15 .. RDATA_0 and so
//   on), its clocks inverted by NEG_CLK_R / NEG_CLK_W.
//
// NEXTPNR_SB_IO_INPUT: PIN_TYPE[1:0] = 01, the plain input: D_IN_0 = PACKAGE_PIN.
// NEXTPNR_SB_IO_OUTPUT: PIN_TYPE[5:2] = 0110, the plain output, always enabled: PACKAGE_PIN = D_OUT_0.
// sim.netlist refuses any other PIN_TYPE (registered, DDR, tristate pads are not modelled here).

module NEXTPNR_SB_IO_INPUT(input PACKAGE_PIN, output D_IN_0);
    parameter PIN_TYPE = 6'b000001;
    parameter PULLUP = 1'b0;
    parameter NEG_TRIGGER = 1'b0;
    parameter IO_STANDARD = "SB_LVCMOS";
    assign D_IN_0 = PACKAGE_PIN;
endmodule

module NEXTPNR_SB_IO_OUTPUT(output PACKAGE_PIN, input D_OUT_0);
    parameter PIN_TYPE = 6'b011000;
    parameter PULLUP = 1'b0;
    parameter NEG_TRIGGER = 1'b0;
    parameter IO_STANDARD = "SB_LVCMOS";
    assign PACKAGE_PIN = D_OUT_0;
endmodule

module NEXTPNR_ICESTORM_LC(
    input I0, I1, I2, I3, CIN, CLK, CEN, SR,
    output LO, O, COUT
);
    parameter [15:0] LUT_INIT = 0;
    parameter [0:0] NEG_CLK = 0;
    parameter [0:0] CARRY_ENABLE = 0;
    parameter [0:0] DFF_ENABLE = 0;
    parameter [0:0] SET_NORESET = 0;
    parameter [0:0] ASYNC_SR = 0;
    parameter [0:0] CIN_CONST = 0;
    parameter [0:0] CIN_SET = 0;

    wire ci = CIN_CONST ? CIN_SET : CIN;
    assign COUT = CARRY_ENABLE ? (I1 & I2) | ((I1 | I2) & ci) : 1'b0;
    wire lut_o = LUT_INIT[{I3, I2, I1, I0}];
    assign LO = lut_o;
    wire clk = CLK ^ NEG_CLK;
    reg q = 1'b0;
    generate
        if (ASYNC_SR) begin: async_sr
            always @(posedge clk, posedge SR)
                if (SR) q <= SET_NORESET;
                else if (CEN) q <= lut_o;
        end else begin: sync_sr
            always @(posedge clk)
                if (CEN) q <= SR ? SET_NORESET : lut_o;
        end
    endgenerate
    assign O = DFF_ENABLE ? q : lut_o;
endmodule

module NEXTPNR_ICESTORM_RAM(
    output RDATA_15, RDATA_14, RDATA_13, RDATA_12, RDATA_11, RDATA_10, RDATA_9, RDATA_8, RDATA_7, RDATA_6, RDATA_5,
    output RDATA_4, RDATA_3, RDATA_2, RDATA_1, RDATA_0,
    input RCLK, RCLKE, RE,
    input RADDR_10, RADDR_9, RADDR_8, RADDR_7, RADDR_6, RADDR_5, RADDR_4, RADDR_3, RADDR_2, RADDR_1, RADDR_0,
    input WCLK, WCLKE, WE,
    input WADDR_10, WADDR_9, WADDR_8, WADDR_7, WADDR_6, WADDR_5, WADDR_4, WADDR_3, WADDR_2, WADDR_1, WADDR_0,
    input MASK_15, MASK_14, MASK_13, MASK_12, MASK_11, MASK_10, MASK_9, MASK_8, MASK_7, MASK_6, MASK_5, MASK_4,
    input MASK_3, MASK_2, MASK_1, MASK_0,
    input WDATA_15, WDATA_14, WDATA_13, WDATA_12, WDATA_11, WDATA_10, WDATA_9, WDATA_8, WDATA_7, WDATA_6,
    input WDATA_5, WDATA_4, WDATA_3, WDATA_2, WDATA_1, WDATA_0
);
    parameter WRITE_MODE = 0;
    parameter READ_MODE = 0;
    parameter NEG_CLK_R = 1'b0;
    parameter NEG_CLK_W = 1'b0;
    parameter INIT_0 = 256'h0;
    parameter INIT_1 = 256'h0;
    parameter INIT_2 = 256'h0;
    parameter INIT_3 = 256'h0;
    parameter INIT_4 = 256'h0;
    parameter INIT_5 = 256'h0;
    parameter INIT_6 = 256'h0;
    parameter INIT_7 = 256'h0;
    parameter INIT_8 = 256'h0;
    parameter INIT_9 = 256'h0;
    parameter INIT_A = 256'h0;
    parameter INIT_B = 256'h0;
    parameter INIT_C = 256'h0;
    parameter INIT_D = 256'h0;
    parameter INIT_E = 256'h0;
    parameter INIT_F = 256'h0;

    SB_RAM40_4K #(
        .WRITE_MODE(WRITE_MODE), .READ_MODE(READ_MODE),
        .INIT_0(INIT_0), .INIT_1(INIT_1), .INIT_2(INIT_2), .INIT_3(INIT_3), .INIT_4(INIT_4), .INIT_5(INIT_5),
        .INIT_6(INIT_6), .INIT_7(INIT_7), .INIT_8(INIT_8), .INIT_9(INIT_9), .INIT_A(INIT_A), .INIT_B(INIT_B),
        .INIT_C(INIT_C), .INIT_D(INIT_D), .INIT_E(INIT_E), .INIT_F(INIT_F)
    ) ram (
        .RDATA({RDATA_15, RDATA_14, RDATA_13, RDATA_12, RDATA_11, RDATA_10, RDATA_9, RDATA_8, RDATA_7, RDATA_6,
                RDATA_5, RDATA_4, RDATA_3, RDATA_2, RDATA_1, RDATA_0}),
        .RCLK(RCLK ^ NEG_CLK_R), .RCLKE(RCLKE), .RE(RE),
        .RADDR({RADDR_10, RADDR_9, RADDR_8, RADDR_7, RADDR_6, RADDR_5, RADDR_4, RADDR_3, RADDR_2, RADDR_1, RADDR_0}),
        .WCLK(WCLK ^ NEG_CLK_W), .WCLKE(WCLKE), .WE(WE),
        .WADDR({WADDR_10, WADDR_9, WADDR_8, WADDR_7, WADDR_6, WADDR_5, WADDR_4, WADDR_3, WADDR_2, WADDR_1, WADDR_0}),
        .MASK({MASK_15, MASK_14, MASK_13, MASK_12, MASK_11, MASK_10, MASK_9, MASK_8, MASK_7, MASK_6, MASK_5, MASK_4,
               MASK_3, MASK_2, MASK_1, MASK_0}),
        .WDATA({WDATA_15, WDATA_14, WDATA_13, WDATA_12, WDATA_11, WDATA_10, WDATA_9, WDATA_8, WDATA_7, WDATA_6,
                WDATA_5, WDATA_4, WDATA_3, WDATA_2, WDATA_1, WDATA_0})
    );
endmodule
