// Yosys's ECP5 simulation models (share/ecp5/cells_sim.v) less its bodiless DP16KD, whose model is in
// ecp5_sim.v: the same four files cells_sim.v includes, compiled with share/ecp5 on the include path.
`include "common_sim.vh"
`include "ccu2c_sim.vh"
`include "cells_ff.vh"
`include "cells_io.vh"
