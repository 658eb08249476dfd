// Verilator harness of eqprop.device.cosim: the board design (UART bridge + core, rtl.board.BoardDesign)
// with its UART lines connected to a byte stream, so that a host program talks to the simulated board
// exactly as to a real one over a serial port (a pty).
//
// Usage: board_harness DIVISOR FD
//   DIVISOR  clock cycles per UART bit (the design's)
//   FD       a file descriptor open for reading and writing (the master side of a pty): bytes read from
//            it are sent to the design's rx line, 8N1; bytes the design sends on tx are written to it.
// Control on stdin, one command a line, answered on stdout:
//   reset N     assert rst for 4 cycles after the next N bytes have gone onto the rx line (0: now)
//   cycles      print "cycles <simulated cycles>" (they do not advance while the harness waits for the host)
//   quit        exit
// Simulated time stands still while nothing can happen: no byte to send, the tx line idle and the bridge
// idle (its `active` LED, leds[2]) for two bit periods. The harness then blocks until the host writes.
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include "Veqprop_board.h"
#include "verilated.h"

static Veqprop_board* top;
static uint64_t cycles = 0;

static inline void tick() {
    top->clk = 1;
    top->eval();
    top->clk = 0;
    top->eval();
    ++cycles;
}

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s DIVISOR FD\n", argv[0]);
        return 1;
    }
    const uint64_t div = std::strtoull(argv[1], nullptr, 0);
    const int fd = std::atoi(argv[2]);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);

    VerilatedContext* ctx = new VerilatedContext;
    top = new Veqprop_board{ctx};
    top->clk = 0;
    top->rst = 1;
    top->rx = 1;
    top->eval();
    for (int i = 0; i < 4; ++i) tick();
    top->rst = 0;
    tick();

    std::deque<uint8_t> in;
    // rx driver: the bits of the byte being sent (start, 8 data, stop), LSB first
    int rx_bits = 0;            // bits left of the current byte
    uint16_t rx_shift = 0;
    uint64_t rx_timer = 0;
    // tx monitor
    int tx_state = 0;           // 0 idle, 1 receiving
    uint64_t tx_timer = 0;
    int tx_bit = 0;
    uint8_t tx_byte = 0;
    uint64_t quiet = 0;         // cycles with nothing happening
    long reset_after = -1;      // bytes to send before a reset (-1: none pending)
    std::string control;
    uint8_t buf[4096];

    for (;;) {
        // the host's bytes and control commands
        bool idle = in.empty() && rx_bits == 0 && tx_state == 0 && top->tx && !(top->leds & 4);
        quiet = idle ? quiet + 1 : 0;
        if (quiet > 2 * div || (cycles & 255) == 0) {
            struct pollfd p[2] = {{fd, POLLIN, 0}, {0, POLLIN, 0}};
            int wait = quiet > 2 * div ? -1 : 0;
            if (poll(p, 2, wait) < 0 && errno != EINTR) { std::perror("poll"); return 1; }
            if (p[0].revents & POLLIN) {
                ssize_t n = read(fd, buf, sizeof buf);
                for (ssize_t i = 0; i < n; ++i) in.push_back(buf[i]);
            } else if (p[0].revents & (POLLHUP | POLLERR)) {
                // the host closed the port: wait for it to open it again (or for quit on stdin)
                if (wait < 0) usleep(1000);
            }
            if (p[1].revents & (POLLIN | POLLHUP)) {
                ssize_t n = read(0, buf, sizeof buf);
                if (n == 0) return 0;   // stdin closed: the host is gone
                control.append((const char*)buf, n > 0 ? n : 0);
                size_t eol;
                while ((eol = control.find('\n')) != std::string::npos) {
                    std::string cmd = control.substr(0, eol);
                    control.erase(0, eol + 1);
                    if (cmd == "quit") return 0;
                    if (cmd == "cycles") {
                        std::printf("cycles %llu\n", (unsigned long long)cycles);
                        std::fflush(stdout);
                    } else if (cmd.rfind("reset ", 0) == 0) {
                        reset_after = std::atol(cmd.c_str() + 6);
                        std::printf("ok\n");
                        std::fflush(stdout);
                    }
                }
            }
            if (quiet > 2 * div) quiet = 0;
        }
        if (reset_after == 0) {
            top->rst = 1;
            for (int i = 0; i < 4; ++i) tick();
            top->rst = 0;
            reset_after = -1;
            rx_bits = 0;
            top->rx = 1;
        }
        // rx line
        if (rx_bits == 0 && !in.empty()) {
            rx_shift = (uint16_t)(in.front() << 1 | 0x200);   // start 0, data, stop 1
            in.pop_front();
            rx_bits = 10;
            rx_timer = 0;
        }
        if (rx_bits) {
            if (rx_timer == 0) {
                top->rx = rx_shift & 1;
                rx_shift >>= 1;
            }
            if (++rx_timer == div) {
                rx_timer = 0;
                if (--rx_bits == 0 && reset_after > 0) --reset_after;
            }
        } else {
            top->rx = 1;
        }
        tick();
        // tx line: sample each bit in its middle
        if (tx_state == 0) {
            if (!top->tx) { tx_state = 1; tx_timer = 0; tx_bit = 0; tx_byte = 0; }
        } else {
            ++tx_timer;
            if (tx_timer == div / 2 + (uint64_t)(tx_bit + 1) * div) {
                if (tx_bit < 8) {
                    tx_byte |= (uint8_t)(top->tx << tx_bit);
                    ++tx_bit;
                } else {
                    // the stop bit: deliver the byte (a framing error would be a bug of the design)
                    if (!top->tx) std::fprintf(stderr, "board_harness: stop bit low at cycle %llu\n",
                                               (unsigned long long)cycles);
                    ssize_t w;
                    do { w = write(fd, &tx_byte, 1); } while (w < 0 && errno == EAGAIN);
                    tx_state = 0;
                }
            }
        }
    }
}
