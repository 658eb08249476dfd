// Verilator harness of sim.fast: a tiny interpreter of bus operations over the Verilated core
// (eqprop_accel), with no Python in the clock loop. It toggles the clock itself, performs each
// AXI4-Lite transaction, and writes every value read and every command's cycle count to a file.
//
// Usage: harness PROGRAM OUTPUT [CONTROL_ADDR]   (CONTROL_ADDR: the CONTROL register's byte offset)
//
// PROGRAM, one operation a line (numbers decimal, or hexadecimal with 0x):
//   W addr v0 v1 ...     write v0 at addr, v1 at addr + 4, ... (WSTRB 0b1111; each answer must be OKAY)
//   R addr count         read count consecutive registers from addr; each value is one line of OUTPUT
//   C word limit         write CONTROL = word, then clock until irq rises (STATUS.DONE) within limit cycles;
//                        the cycles waited go to OUTPUT as "c <cycles>"
//   Z                    reset: rst high for 4 cycles, then 2 cycles low
//   # anything           a comment (a marker naming the case, repeated in error messages)
// OUTPUT ends with "cycles <n>", the simulated clock cycles from the end of the reset.
// A refused access (SLVERR), a bus that does not answer within the cycle limit of an access, or a
// command with no DONE within its limit ends the run with exit status 2 and a message on stderr
// naming the line of PROGRAM and the last marker.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "Veqprop_accel.h"
#include "verilated.h"

static Veqprop_accel* top;
static uint64_t cycles = 0;
static long line_no = 0;
static std::string marker = "(start)";
static const uint64_t BUS_LIMIT = 100000;   // cycles an access may take (the longest is a few hundred)

static void fail(const char* what, uint64_t addr) {
    std::fprintf(stderr, "program line %ld (after marker '%s'): %s at 0x%llx (cycle %llu)\n", line_no,
                 marker.c_str(), what, (unsigned long long)addr, (unsigned long long)cycles);
    std::exit(2);
}

// One clock cycle: the inputs set before it are sampled at the rising edge.
static inline void tick() {
    top->clk = 1;
    top->eval();
    top->clk = 0;
    top->eval();
    ++cycles;
}

static void write_word(uint32_t addr, uint32_t data) {
    top->s_axil_awaddr = addr;
    top->s_axil_wdata = data;
    top->s_axil_wstrb = 0xF;
    top->s_axil_awvalid = 1;
    top->s_axil_wvalid = 1;
    top->s_axil_bready = 1;
    bool aw = false, w = false;
    for (uint64_t n = 0;; ++n) {
        if (n > BUS_LIMIT) fail("the bus did not answer a write", addr);
        top->eval();
        bool aw_fire = top->s_axil_awvalid && top->s_axil_awready;
        bool w_fire = top->s_axil_wvalid && top->s_axil_wready;
        bool b_fire = top->s_axil_bvalid && top->s_axil_bready;
        int bresp = top->s_axil_bresp;
        tick();
        if (aw_fire) { aw = true; top->s_axil_awvalid = 0; }
        if (w_fire) { w = true; top->s_axil_wvalid = 0; }
        if (b_fire && aw && w) {
            if (bresp != 0) fail("write refused (SLVERR)", addr);
            break;
        }
    }
    top->s_axil_bready = 0;
}

static uint32_t read_word(uint32_t addr) {
    top->s_axil_araddr = addr;
    top->s_axil_arvalid = 1;
    top->s_axil_rready = 1;
    bool ar = false;
    uint32_t data = 0;
    for (uint64_t n = 0;; ++n) {
        if (n > BUS_LIMIT) fail("the bus did not answer a read", addr);
        top->eval();
        bool ar_fire = top->s_axil_arvalid && top->s_axil_arready;
        bool r_fire = top->s_axil_rvalid && top->s_axil_rready;
        int rresp = top->s_axil_rresp;
        data = top->s_axil_rdata;
        tick();
        if (ar_fire) { ar = true; top->s_axil_arvalid = 0; }
        if (r_fire && ar) {
            if (rresp != 0) fail("read refused (SLVERR)", addr);
            break;
        }
    }
    top->s_axil_rready = 0;
    return data;
}

// CONTROL write, then wait for irq to rise: it falls when START is taken, so a high irq counts only
// after a low one has been seen. Returns the cycles from the end of the write to DONE.
static uint64_t command(uint32_t control_addr, uint32_t word, uint64_t limit) {
    write_word(control_addr, word);
    uint64_t start = cycles;
    bool seen_low = !top->irq;
    for (;;) {
        if (seen_low && top->irq) break;
        if (cycles - start > limit) fail("no DONE (irq) within the command's cycle limit", control_addr);
        tick();
        if (!top->irq) seen_low = true;
    }
    return cycles - start;
}

static uint64_t number(const char*& p) {
    char* end;
    uint64_t v = std::strtoull(p, &end, 0);
    if (end == p) fail("expected a number", 0);
    p = end;
    return v;
}

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s PROGRAM OUTPUT [CONTROL_ADDR]\n", argv[0]);
        return 1;
    }
    const uint32_t control_addr = argc > 3 ? (uint32_t)std::strtoul(argv[3], nullptr, 0) : 0x8;
    FILE* in = std::fopen(argv[1], "r");
    if (!in) { std::perror(argv[1]); return 1; }
    FILE* out = std::fopen(argv[2], "w");
    if (!out) { std::perror(argv[2]); return 1; }
    static char outbuf[1 << 16];
    std::setvbuf(out, outbuf, _IOFBF, sizeof outbuf);

    VerilatedContext* ctx = new VerilatedContext;
    top = new Veqprop_accel{ctx};
    top->clk = 0;
    top->rst = 0;
    top->eval();
    for (int i = 0; i < 2; ++i) tick();
    top->rst = 1;
    for (int i = 0; i < 4; ++i) tick();
    top->rst = 0;
    for (int i = 0; i < 2; ++i) tick();
    cycles = 0;   // counted from the end of the power-on reset (a Z line's cycles count)

    std::vector<char> buf(1 << 20);
    std::string line;
    while (std::fgets(buf.data(), (int)buf.size(), in)) {
        line = buf.data();
        // a line longer than the buffer: read the rest of it
        while (!line.empty() && line.back() != '\n' && std::fgets(buf.data(), (int)buf.size(), in)) line += buf.data();
        ++line_no;
        const char* p = line.c_str();
        while (*p == ' ') ++p;
        char op = *p;
        if (op == '\0' || op == '\n') continue;
        if (op == '#') {
            marker = std::string(p + 1);
            while (!marker.empty() && (marker.back() == '\n' || marker.back() == '\r')) marker.pop_back();
            while (!marker.empty() && marker.front() == ' ') marker.erase(0, 1);
            continue;
        }
        ++p;
        if (op == 'Z') {
            top->rst = 1;
            for (int i = 0; i < 4; ++i) tick();
            top->rst = 0;
            for (int i = 0; i < 2; ++i) tick();
            continue;
        }
        uint32_t addr = (uint32_t)number(p);
        if (op == 'W') {
            for (;;) {
                while (*p == ' ') ++p;
                if (*p == '\0' || *p == '\n' || *p == '\r') break;
                write_word(addr, (uint32_t)number(p));
                addr += 4;
            }
        } else if (op == 'R') {
            uint64_t count = number(p);
            for (uint64_t i = 0; i < count; ++i, addr += 4) std::fprintf(out, "%u\n", read_word(addr));
        } else if (op == 'C') {
            uint64_t limit = number(p);
            std::fprintf(out, "c %llu\n", (unsigned long long)command(control_addr, addr, limit));
        } else {
            fail("unknown operation", 0);
        }
    }
    std::fprintf(out, "cycles %llu\n", (unsigned long long)cycles);
    std::fclose(out);
    top->final();
    delete top;
    delete ctx;
    return 0;
}
