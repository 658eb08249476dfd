// Simulation models of the cells nextpnr-ecp5 writes into a routed netlist (--write), for the routed
// co-simulation of sim.netlist (stage "routed"). sim.netlist renames the routed cells' types with the prefix
// NEXTPNR_ before Yosys writes the netlist as Verilog, so that these wrappers, not Yosys's models of the
// synthesised cells of the same names, receive them; the wrappers then use Yosys's own models
// (share/ecp5/cells_sim.v) wherever those cover the routed cell:
//
// NEXTPNR_TRELLIS_COMB: Yosys's TRELLIS_COMB for modes LOGIC and DPRAM, and its CCU2 equations written out
//   here (Yosys's own CCU2 branch never drives the carry output FCO); IS_Z1 picks the OFX mux, set by
//   sim.netlist from the cell's placement: the K1 slot of a slice drives its L6MUX21 from FXA/FXB, the K0
//   slot its PFUMX from F1 and F). Mode RAMW_BLOCK marks the two LUT slots of the slice that holds a
//   TRELLIS_RAMW: they compute nothing, and their outputs are driven low. The data inputs DI0/DI1 are not
//   modelled (nextpnr leaves them unconnected here). A write clock or write enable mux other than the plain
//   WCK/WRE stops the simulation: Yosys's DPRAM model ignores them.
// NEXTPNR_TRELLIS_FF: Yosys's TRELLIS_FF, with the slice's data select that Yosys's model lacks: SD "1"
//   takes DI (the LUT output of the slice), SD "0" takes M (from the routing).
// NEXTPNR_TRELLIS_RAMW: the write port of a distributed RAM, a permutation of wires: nextpnr's ECP5 packer
//   moves a RAM's WAD[0..3] to its D0, B0, C0, A0 and DI[0..3] to C1, A1, D1, B1 (dram_to_ramw_split), and
//   its timing arcs (D0 -> WADO0, B0 -> WADO1, C0 -> WADO2, A0 -> WADO3, C1 -> WDO0, A1 -> WDO1,
//   D1 -> WDO2, B1 -> WDO3) bring them back to WADO[i] = WAD[i], WDO[i] = DI[i].
// NEXTPNR_DCCA: the global clock buffer, CE unconnected (high): CLKO = CLKI.
// NEXTPNR_TRELLIS_IO_INPUT, _OUTPUT: the pad buffer, DIR "INPUT" O = B, "OUTPUT" B = I; the tristate T and
//   the IOLOGIC inputs IOLDO, IOLTO are not modelled (sim.netlist refuses a routed netlist that connects any
//   of them, and a bidirectional pad).
//
// Any other cell type of a routed netlist has no model here; sim.netlist names it and stops.

module NEXTPNR_TRELLIS_COMB(
    input A, B, C, D, M, FCI, F1, FXA, FXB, WD, WAD0, WAD1, WAD2, WAD3, WRE, WCK, DI0, DI1,
    output F, FCO, OFX
);
    parameter MODE = "LOGIC";
    parameter INITVAL = 16'h0;
    parameter CCU2_INJECT1 = "NO";
    parameter WREMUX = "WRE";
    parameter WCKMUX = "WCK";
    parameter IS_Z1 = 1'b0;
    generate
        if (MODE == "RAMW_BLOCK") begin: ramw_block
            assign F = 1'b0;
            assign FCO = 1'b0;
            assign OFX = 1'b0;
        end else if (MODE == "CCU2") begin: ccu2
            // Yosys's TRELLIS_COMB (Yosys 0.70) declares FCO again as a wire inside its CCU2 branch, which leaves
            // the output port undriven and breaks every carry chain: its equations, with FCO driven, here
            wire l4o, l2o;
            LUT4 #(.INIT(INITVAL)) lut4 (.A(A), .B(B), .C(C), .D(D), .Z(l4o));
            LUT2 #(.INIT(INITVAL[3:0])) lut2 (.A(A), .B(B), .Z(l2o));
            wire inject1 = CCU2_INJECT1 == "YES";
            assign F = l4o ^ (inject1 ? 1'b0 : FCI);
            assign FCO = (~l4o & (inject1 ? 1'b0 : l2o)) | (l4o & FCI);
            if (IS_Z1)
                L6MUX21 lutx_mux (.D0(FXA), .D1(FXB), .SD(M), .Z(OFX));
            else
                PFUMX lut5_mux (.ALUT(F1), .BLUT(F), .C0(M), .Z(OFX));
        end else begin: comb
            if (WREMUX != "WRE" || WCKMUX != "WCK") begin: unsupported
                initial $fatal(1, "NEXTPNR_TRELLIS_COMB: WREMUX %s, WCKMUX %s not modelled", WREMUX, WCKMUX);
            end
            TRELLIS_COMB #(.MODE(MODE), .INITVAL(INITVAL), .CCU2_INJECT1(CCU2_INJECT1), .WREMUX(WREMUX),
                           .IS_Z1(IS_Z1)) prim (
                .A(A), .B(B), .C(C), .D(D), .M(M), .FCI(FCI), .F1(F1), .FXA(FXA), .FXB(FXB), .WD(WD),
                .WAD0(WAD0), .WAD1(WAD1), .WAD2(WAD2), .WAD3(WAD3), .WRE(WRE), .WCK(WCK),
                .F(F), .FCO(FCO), .OFX(OFX));
        end
    endgenerate
endmodule

module NEXTPNR_TRELLIS_FF(input CLK, LSR, CE, DI, M, output Q);
    parameter GSR = "ENABLED";
    parameter [127:0] CEMUX = "1";
    parameter CLKMUX = "CLK";
    parameter LSRMUX = "LSR";
    parameter SRMODE = "LSR_OVER_CE";
    parameter REGSET = "RESET";
    parameter [127:0] LSRMODE = "LSR";
    parameter [127:0] SD = "1";         // the data select: "1" DI (the slice's LUT), "0" M (the routing)
    TRELLIS_FF #(.GSR(GSR), .CEMUX(CEMUX), .CLKMUX(CLKMUX), .LSRMUX(LSRMUX), .SRMODE(SRMODE), .REGSET(REGSET),
                 .LSRMODE(LSRMODE)) prim (.CLK(CLK), .LSR(LSR), .CE(CE), .DI(SD == "0" ? M : DI), .M(M), .Q(Q));
endmodule

module NEXTPNR_TRELLIS_RAMW(input A0, B0, C0, D0, A1, B1, C1, D1,
                            output WDO0, WDO1, WDO2, WDO3, WADO0, WADO1, WADO2, WADO3);
    assign {WADO3, WADO2, WADO1, WADO0} = {A0, C0, B0, D0};
    assign {WDO3, WDO2, WDO1, WDO0} = {B1, D1, A1, C1};
endmodule

module NEXTPNR_DCCA(input CLKI, CE, output CLKO);
    assign CLKO = CLKI;
endmodule

// the pad buffer as an input (DIR "INPUT") and as an output (DIR "OUTPUT"): sim.netlist gives each TRELLIS_IO the
// type of its direction, so that the pad B is a plain input or output of the model (an inout port driven from
// the top's input port is not something Verilator simulates)
module NEXTPNR_TRELLIS_IO_INPUT(input B, I, T, IOLDO, IOLTO, output O);
    parameter DIR = "INPUT";
    parameter DATAMUX_ODDR = "PADDO";
    parameter DATAMUX_MDDR = "PADDO";
    assign O = B;
endmodule

module NEXTPNR_TRELLIS_IO_OUTPUT(input I, T, IOLDO, IOLTO, output B, O);
    parameter DIR = "OUTPUT";
    parameter DATAMUX_ODDR = "PADDO";
    parameter DATAMUX_MDDR = "PADDO";
    assign B = I;
    assign O = 1'b0;
endmodule
