/* Unit tests of the system control ports 61h and 92h (devices/sysctl.c)
 * with the real 8254 behind them and a deterministic clock: fast A20 and its
 * OR with the keyboard controller's gate, the fast reset request, the refresh
 * toggle, PIT channel 2 gate and OUT as BIOS and Linux delay loops use them. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cpu/ioport.h"
#include "cpu/memory.h"
#include "devices/clock.h"
#include "devices/pit8254.h"
#include "devices/sysctl.h"

#include "tests/check.h"

static struct ioports *io;
static struct memory *mem;
static struct vclock *clk;
static struct pit pit;
static struct sysctl sc;
static uint64_t fake_ns;
static int resets;

static uint64_t fake_icount(void *opaque) { return fake_ns; }
static void reset_request(void *opaque) { resets++; }
static void irq0_ignore(void *opaque, int n, int level) {}

static void run_to_ns(int64_t target)
{
    for (;;) {
        int64_t d = vclock_next_deadline(clk);
        if (d > target) break;
        if (d > (int64_t)fake_ns) fake_ns = (uint64_t)d;
        vclock_run_timers(clk);
    }
    if (target > (int64_t)fake_ns) fake_ns = (uint64_t)target;
}

static void out8(uint16_t port, uint8_t v) { io_write(io, port, v, 1); }
static uint8_t in8(uint16_t port) { return (uint8_t)io_read(io, port, 1); }

static void test_a20_and_reset(void)
{
    check(memory_a20(mem) == 1, "A20 follows the memory's power-on state (keyboard controller gate)");
    sysctl_set_kbc_a20(&sc, 0);
    check(memory_a20(mem) == 0 && in8(0x92) == 0x00, "keyboard controller gate off: A20 off");
    out8(0x92, 0x02);
    check(memory_a20(mem) == 1 && in8(0x92) == 0x02, "port 92h bit 1: fast A20 on");
    sysctl_set_kbc_a20(&sc, 1);
    out8(0x92, 0x00);
    check(memory_a20(mem) == 1, "A20 stays on while the keyboard controller enables it");
    sysctl_set_kbc_a20(&sc, 0);
    check(memory_a20(mem) == 0, "both off: A20 off");
    check(resets == 0, "no reset yet");

    out8(0x92, 0x01);
    check(resets == 1, "bit 0 going 0 -> 1 requests a reset");
    out8(0x92, 0x03);
    check(resets == 1, "bit 0 held at 1: no second reset");
    check(memory_a20(mem) == 1, "A20 set in the same write");
    out8(0x92, 0x02);
    out8(0x92, 0x03);
    check(resets == 2, "a new 0 -> 1 transition resets again");

    sysctl_reset(&sc);
    check(in8(0x92) == 0 && memory_a20(mem) == 0, "reset clears port 92h (A20 back to the keyboard controller)");
    sysctl_set_kbc_a20(&sc, 1);
}

/* Without sysctl_set_kbc_a20 (the keyboard controller sets the memory's gate
 * itself), port 92h must not clobber that gate. */
static void test_a20_unwired(void)
{
    struct ioports *io2 = ioports_new();
    struct memory *mem2 = memory_new(2u << 20);
    struct sysctl sc2;
    sysctl_init(&sc2, io2, clk, mem2, &pit, reset_request, NULL);
    memory_set_a20(mem2, 0);                 /* the keyboard controller turns A20 off */
    io_write(io2, 0x92, 0x02, 1);
    check(memory_a20(mem2) == 1, "unwired: fast A20 on");
    io_write(io2, 0x92, 0x00, 1);
    check(memory_a20(mem2) == 0, "unwired: fast A20 off restores the keyboard controller's off");
    memory_set_a20(mem2, 1);                 /* the keyboard controller turns A20 on */
    int before = resets;
    io_write(io2, 0x92, 0x01, 1);
    check(memory_a20(mem2) == 1 && resets == before + 1, "unwired: a reset write leaves A20 alone");
    io_write(io2, 0x92, 0x02, 1);
    io_write(io2, 0x92, 0x00, 1);
    check(memory_a20(mem2) == 1, "unwired: fast A20 off keeps the keyboard controller's on");
    memory_free(mem2);
    ioports_free(io2);
}

static void test_refresh_toggle(void)
{
    int64_t t0 = ((int64_t)fake_ns / SYSCTL_REFRESH_NS + 1) * SYSCTL_REFRESH_NS;
    run_to_ns(t0);
    int b0 = (in8(0x61) >> 4) & 1;
    run_to_ns(t0 + SYSCTL_REFRESH_NS - 1);
    check(((in8(0x61) >> 4) & 1) == b0, "bit 4 steady within one refresh period");
    run_to_ns(t0 + SYSCTL_REFRESH_NS);
    check(((in8(0x61) >> 4) & 1) == !b0, "bit 4 toggles after 15.085 us");
    /* Count toggles over 1 ms sampling every microsecond, as a BIOS delay loop does. */
    int toggles = 0, last = (in8(0x61) >> 4) & 1;
    int64_t start = (int64_t)fake_ns;
    for (int64_t t = start; t < start + 1000000; t += 1000) {
        run_to_ns(t);
        int b = (in8(0x61) >> 4) & 1;
        if (b != last) toggles++;
        last = b;
    }
    check(toggles >= 65 && toggles <= 67, "66 toggles per ms (got %d)", toggles);
}

static void test_channel2(void)
{
    pit_reset(&pit);
    sysctl_reset(&sc);
    check((in8(0x61) & 0x0F) == 0, "port 61h cleared at reset");
    out8(0x61, 0x03);
    check((in8(0x61) & 0x03) == 0x03 && sysctl_speaker_enabled(&sc), "gate and speaker bits read back");
    out8(0x61, 0x01);
    check(!sysctl_speaker_enabled(&sc), "speaker data off");
    out8(0x61, 0xF1);
    check((in8(0x61) & 0x0F) == 0x01, "bits 4-7 are read-only");

    /* Linux's PIT calibration: channel 2 mode 0, poll bit 5. */
    out8(0x61, (uint8_t)((in8(0x61) & ~0x02) | 0x01));
    out8(0x43, 0xB0);
    int64_t t = pit_ticks_at((int64_t)fake_ns);
    out8(0x42, 0x00);
    out8(0x42, 0x01);   /* 256 */
    check((in8(0x61) & 0x20) == 0, "OUT2 low while counting");
    int64_t rose = -1;
    for (int64_t k = 1; k < 400 && rose < 0; k++) {
        run_to_ns(pit_ns_of_tick(t + k));
        if (in8(0x61) & 0x20) rose = k;
    }
    check(rose == 257, "OUT2 (bit 5) rises 257 clocks after the count (got %lld)", (long long)rose);

    /* Gate low (bit 0 clear) holds the count. */
    out8(0x43, 0xB0);
    t = pit_ticks_at((int64_t)fake_ns);
    out8(0x42, 100);
    out8(0x42, 0);
    run_to_ns(pit_ns_of_tick(t + 11));
    out8(0x61, 0x00);
    run_to_ns(pit_ns_of_tick(t + 500));
    check((in8(0x61) & 0x20) == 0, "gate low: no terminal count");
    out8(0x61, 0x01);
    run_to_ns(pit_ns_of_tick(t + 500 + 89));
    check((in8(0x61) & 0x20) == 0, "gate high again: 90 clocks left");
    run_to_ns(pit_ns_of_tick(t + 500 + 91));
    check((in8(0x61) & 0x20) != 0, "terminal count after the rest");

    /* A beep: mode 3 square wave seen in bit 5. */
    out8(0x43, 0xB6);
    out8(0x42, 0xA9);
    out8(0x42, 0x04);   /* 1193: ~1 kHz */
    out8(0x61, 0x03);
    int changes = 0, last = (in8(0x61) >> 5) & 1;
    int64_t start = (int64_t)fake_ns;
    for (int64_t ns = start; ns < start + 10000000; ns += 5000) {
        run_to_ns(ns);
        int b = (in8(0x61) >> 5) & 1;
        if (b != last) changes++;
        last = b;
    }
    check(changes >= 19 && changes <= 21, "1 kHz square wave: 20 changes in 10 ms (%d)", changes);
    out8(0x61, 0x00);
    check((in8(0x61) & 0x20) != 0, "mode 3 gate low: OUT2 forced high");
}

int main(void)
{
    io = ioports_new();
    ioports_set_log(io, stdout, 1);
    mem = memory_new(2u << 20);
    clk = vclock_new(VCLOCK_DETERMINISTIC, fake_icount, NULL);
    struct irq_line irq0 = { irq0_ignore, NULL, 0 };
    if (!mem || pit_init(&pit, io, clk, irq0) != 0 ||
        sysctl_init(&sc, io, clk, mem, &pit, reset_request, NULL) != 0) {
        printf("init failed\nRESULT: 0 passed, 1 failed\n");
        return 1;
    }
    test_a20_and_reset();
    test_a20_unwired();
    test_refresh_toggle();
    test_channel2();
    vclock_free(clk);
    memory_free(mem);
    ioports_free(io);
    printf("RESULT: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
