/* Unit tests of the 8254 (devices/pit8254.c) through its ports, with a
 * deterministic virtual clock (a fake instruction counter at 1 ns each) and a
 * fake IRQ 0 receiver: the output waveform and counts of modes 0-5, gates,
 * counter latch and read-back (status, null count), LSB/MSB access, BCD, new
 * counts in the periodic modes, and one timer event per period. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cpu/ioport.h"
#include "devices/clock.h"
#include "devices/pit8254.h"

#include "tests/check.h"

static struct ioports *io;
static struct vclock *clk;
static struct pit pit;
static uint64_t fake_ns;
static long timer_events;

static uint64_t fake_icount(void *opaque) { return fake_ns; }

static int64_t tick_now(void) { return pit_ticks_at(vclock_ns(clk)); }

/* Run the clock to `target` ns, firing each timer at its own deadline. */
static void run_to_ns(int64_t target)
{
    for (;;) {
        int64_t d = vclock_next_deadline(clk);
        if (d > target) break;
        if (d > (int64_t)fake_ns) fake_ns = (uint64_t)d;
        vclock_run_timers(clk);
        timer_events++;
    }
    if (target > (int64_t)fake_ns) fake_ns = (uint64_t)target;
}

static void run_to_tick(int64_t t) { run_to_ns(pit_ns_of_tick(t)); }

/* IRQ 0 receiver. */
static int irq_level, irq_rises;
static int64_t last_rise_tick;

static void irq0_set(void *opaque, int n, int level)
{
    if (level && !irq_level) {
        irq_rises++;
        last_rise_tick = tick_now();
    }
    irq_level = level;
}

static void out8(uint16_t port, uint8_t v) { io_write(io, port, v, 1); }
static uint8_t in8(uint16_t port) { return (uint8_t)io_read(io, port, 1); }

/* Control word for channel `ch`, LSB then MSB, binary. */
static void set_mode(int ch, int mode) { out8(0x43, (uint8_t)(ch << 6 | 0x30 | mode << 1)); }
static void write_count(int ch, uint16_t n)
{
    out8((uint16_t)(0x40 + ch), (uint8_t)n);
    out8((uint16_t)(0x40 + ch), (uint8_t)(n >> 8));
}
static uint16_t latched_count(int ch)
{
    out8(0x43, (uint8_t)(ch << 6));
    uint16_t lo = in8((uint16_t)(0x40 + ch));
    return (uint16_t)(lo | in8((uint16_t)(0x40 + ch)) << 8);
}
static int out_at(int ch, int64_t t)
{
    run_to_tick(t);
    return pit_get_out(&pit, ch);
}
static uint16_t count_at(int ch, int64_t t)
{
    run_to_tick(t);
    return latched_count(ch);
}

static void test_clock_conversion(void)
{
    check(pit_ticks_at(1000000000) == PIT_HZ, "one second is %d ticks", PIT_HZ);
    int ok = 1;
    for (int64_t t = 1; t < 5000; t += 7)
        if (pit_ticks_at(pit_ns_of_tick(t)) != t || pit_ticks_at(pit_ns_of_tick(t) - 1) != t - 1) ok = 0;
    check(ok, "pit_ns_of_tick is the first ns of each tick");
    int64_t big = (int64_t)PIT_HZ * 86400 * 400 + 12345;   /* 400 days: no overflow */
    check(pit_ticks_at(pit_ns_of_tick(big)) == big, "conversion exact after 400 days");
}

/* Mode 2 on channel 0, as Linux programs it for HZ=1000. */
static void test_mode2_periodic(void)
{
    pit_reset(&pit);
    int64_t t0 = tick_now() + 10;
    run_to_tick(t0);
    const int n = 1193;
    irq_rises = 0;
    set_mode(0, 2);
    check(irq_level == 1, "mode 2: OUT high after the control word");
    write_count(0, n);
    irq_rises = 0;
    check(count_at(0, t0 + 1) == n, "loaded on the next clock: %u", latched_count(0));
    check(count_at(0, t0 + 6) == n - 5, "counts down");
    check(out_at(0, t0 + n - 1) == 1, "OUT high while the count is above 1");
    check(out_at(0, t0 + n) == 0 && count_at(0, t0 + n) == 1, "OUT low for the clock the count is 1");
    check(irq_rises == 0, "no edge yet");
    run_to_tick(t0 + n + 1);
    check(irq_rises == 1 && last_rise_tick == t0 + n + 1, "rising edge at reload (rise at %lld, want %lld)",
          (long long)last_rise_tick, (long long)(t0 + n + 1));
    check(latched_count(0) == n, "reloaded with N");

    /* One second: ~1000 interrupts, one timer event each. */
    irq_rises = 0;
    timer_events = 0;
    int64_t start = tick_now();
    run_to_tick(start + PIT_HZ);
    long want = PIT_HZ / n;
    check(irq_rises >= want - 1 && irq_rises <= want + 1, "1000 Hz: %d edges in a second", irq_rises);
    check(timer_events <= irq_rises + 2, "one timer event per period (%ld events, %d edges)", timer_events,
          irq_rises);

    /* A new count takes effect at the end of the current period. */
    int64_t base = last_rise_tick;
    run_to_tick(base + 30);
    write_count(0, 50);
    irq_rises = 0;
    run_to_tick(base + n);
    check(irq_rises == 1 && last_rise_tick == base + n, "old period completes");
    run_to_tick(base + n + 50);
    check(irq_rises == 2 && last_rise_tick == base + n + 50, "then the new period of 50 (rise at +%lld)",
          (long long)(last_rise_tick - base));
    run_to_tick(base + n + 100);
    check(irq_rises == 3, "and again");
}

/* Mode 3 on channel 0 with count 0 (65536), as the BIOS sets it: 18.2 Hz. */
static void test_mode3_bios_rate(void)
{
    pit_reset(&pit);
    set_mode(0, 3);
    out8(0x40, 0);
    out8(0x40, 0);
    irq_rises = 0;
    timer_events = 0;
    int64_t t = tick_now();
    run_to_tick(t + 10LL * PIT_HZ + 2);
    check(irq_rises == 182, "mode 3, count 0: 182 edges in 10 s (got %d)", irq_rises);
    check(timer_events <= irq_rises + 2, "mode 3: one timer event per period (%ld)", timer_events);
}

/* Square wave waveform and count sequence on channel 2 (datasheet, mode 3). */
static void test_mode3_waveform(void)
{
    pit_reset(&pit);
    pit_set_gate(&pit, 2, 1);
    int64_t t = tick_now() + 3;
    run_to_tick(t);
    set_mode(2, 3);
    write_count(2, 5);
    static const int out5[] = { 1, 1, 1, 0, 0, 1, 1, 1, 0, 0, 1 };
    static const uint16_t ce5[] = { 4, 2, 0, 4, 2, 4, 2, 0, 4, 2, 4 };
    int ok_out = 1, ok_ce = 1;
    for (int k = 0; k < 11; k++) {
        if (out_at(2, t + 1 + k) != out5[k]) ok_out = 0;
        if (latched_count(2) != ce5[k]) ok_ce = 0;
    }
    check(ok_out, "odd count 5: high 3 clocks, low 2");
    check(ok_ce, "odd count 5: loads N-1 and counts by two");

    t = tick_now() + 2;
    run_to_tick(t);
    set_mode(2, 3);
    write_count(2, 4);
    static const int out4[] = { 1, 1, 0, 0, 1, 1, 0, 0 };
    static const uint16_t ce4[] = { 4, 2, 4, 2, 4, 2, 4, 2 };
    ok_out = ok_ce = 1;
    for (int k = 0; k < 8; k++) {
        if (out_at(2, t + 1 + k) != out4[k]) ok_out = 0;
        if (latched_count(2) != ce4[k]) ok_ce = 0;
    }
    check(ok_out, "even count 4: high 2 clocks, low 2");
    check(ok_ce, "even count 4: 4, 2, 4, 2");

    /* New count during the high half: takes over at the end of the half-cycle. */
    t = tick_now() + 5;
    run_to_tick(t);
    set_mode(2, 3);
    write_count(2, 10);          /* high t+1..t+5, low t+6..t+10 */
    run_to_tick(t + 3);
    write_count(2, 20);
    check(out_at(2, t + 5) == 1, "current high half continues");
    check(out_at(2, t + 6) == 0, "goes low at the end of the half-cycle");
    check(count_at(2, t + 6) == 20, "new count loaded at the half-cycle (%u)", latched_count(2));
    check(out_at(2, t + 15) == 0, "low half of the new count is 10 clocks");
    check(out_at(2, t + 16) == 1, "then high with the new period");

    /* Gate low forces OUT high and stops; the rising gate reloads. */
    t = tick_now() + 1;
    run_to_tick(t);
    set_mode(2, 3);
    write_count(2, 10);
    check(out_at(2, t + 7) == 0, "low half");
    pit_set_gate(&pit, 2, 0);
    check(pit_get_out(&pit, 2) == 1, "gate low: OUT high at once");
    uint16_t held = latched_count(2);
    check(count_at(2, t + 30) == held, "gate low: count held");
    pit_set_gate(&pit, 2, 1);
    check(count_at(2, t + 31) == 10 && pit_get_out(&pit, 2) == 1, "gate rise reloads on the next clock");
    pit_set_gate(&pit, 2, 0);
}

static void test_mode0(void)
{
    pit_reset(&pit);
    int64_t t = tick_now() + 4;
    run_to_tick(t);
    set_mode(0, 0);
    check(irq_level == 0, "mode 0: OUT low after the control word");
    irq_rises = 0;
    write_count(0, 100);
    check(out_at(0, t + 100) == 0, "still low after N clocks");
    check(count_at(0, t + 100) == 1, "count 1");
    run_to_tick(t + 101);
    check(irq_rises == 1 && last_rise_tick == t + 101 && irq_level == 1, "OUT rises N+1 clocks after the write");
    check(latched_count(0) == 0, "count 0 at terminal count");
    check(count_at(0, t + 102) == 0xFFFF, "keeps counting: wraps to FFFF");
    run_to_tick(t + 500);
    check(irq_rises == 1 && irq_level == 1, "one edge only, OUT stays high");
    write_count(0, 20);
    check(irq_level == 0, "a new count drops OUT at once");
    run_to_tick(t + 500 + 21);
    check(irq_rises == 2, "and it rises again after the new count");

    /* The first byte of a two-byte count stops the counter (datasheet, mode 0). */
    t = tick_now();
    write_count(0, 1000);
    run_to_tick(t + 11);
    out8(0x40, 0x34);
    uint16_t stopped = latched_count(0);
    check(irq_level == 0, "first byte: OUT low");
    check(count_at(0, t + 200) == stopped, "first byte: counting stopped (%u)", stopped);
    out8(0x40, 0x12);
    check(count_at(0, t + 201) == 0x1234, "second byte: new count loaded on the next clock");

    /* Gate (channel 2): counting suspended while low. */
    t = tick_now() + 2;
    run_to_tick(t);
    set_mode(2, 0);
    write_count(2, 50);   /* gate 2 is low after reset */
    check(count_at(2, t + 20) == 50, "gate low: loaded but not counting");
    pit_set_gate(&pit, 2, 1);
    check(count_at(2, t + 30) == 40, "gate high: counts");
    pit_set_gate(&pit, 2, 0);
    check(count_at(2, t + 40) == 40, "gate low again: held");
    pit_set_gate(&pit, 2, 1);
    check(out_at(2, t + 79) == 0 && out_at(2, t + 80) == 1, "terminal count 40 clocks after the gate rose");
    pit_set_gate(&pit, 2, 0);
}

static void test_mode1_and_5(void)
{
    pit_reset(&pit);
    int64_t t = tick_now() + 1;
    run_to_tick(t);
    set_mode(2, 1);
    write_count(2, 10);
    check(out_at(2, t + 20) == 1, "mode 1: OUT high until triggered");
    run_to_tick(t + 30);
    pit_set_gate(&pit, 2, 1);
    check(out_at(2, t + 30) == 1, "trigger takes effect on the next clock");
    check(out_at(2, t + 31) == 0 && count_at(2, t + 31) == 10, "one-shot: OUT low, count loaded");
    check(out_at(2, t + 40) == 0 && out_at(2, t + 41) == 1, "OUT high after N clocks");
    /* Retrigger during the pulse extends it. */
    pit_set_gate(&pit, 2, 0);
    run_to_tick(t + 50);
    pit_set_gate(&pit, 2, 1);
    run_to_tick(t + 55);
    pit_set_gate(&pit, 2, 0);
    pit_set_gate(&pit, 2, 1);
    check(out_at(2, t + 61) == 0 && out_at(2, t + 66) == 1, "retriggered one-shot ends N after the last trigger");
    pit_set_gate(&pit, 2, 0);

    /* Mode 5: hardware-triggered strobe. */
    t = tick_now() + 1;
    run_to_tick(t);
    set_mode(2, 5);
    write_count(2, 8);
    check(out_at(2, t + 20) == 1, "mode 5: idle high");
    pit_set_gate(&pit, 2, 1);
    check(out_at(2, t + 28) == 1 && out_at(2, t + 29) == 0 && out_at(2, t + 30) == 1,
          "mode 5: low for one clock N clocks after the trigger's load");
    pit_set_gate(&pit, 2, 0);
}

static void test_mode4(void)
{
    pit_reset(&pit);
    int64_t t = tick_now() + 1;
    run_to_tick(t);
    set_mode(0, 4);
    check(irq_level == 1, "mode 4: OUT high after the control word");
    irq_rises = 0;
    write_count(0, 10);
    check(out_at(0, t + 10) == 1, "high while counting");
    check(out_at(0, t + 11) == 0 && count_at(0, t + 11) == 0, "strobe: low at terminal count");
    run_to_tick(t + 12);
    check(irq_level == 1 && irq_rises == 1 && last_rise_tick == t + 12, "back high one clock later: one edge");
    run_to_tick(t + 100000);
    check(irq_rises == 1, "a single strobe");
}

static void test_latch_and_readback(void)
{
    pit_reset(&pit);
    int64_t t = tick_now() + 1;
    run_to_tick(t);
    set_mode(0, 2);
    write_count(0, 1000);
    run_to_tick(t + 11);
    out8(0x43, 0x00);   /* latch channel 0: 990 */
    run_to_tick(t + 100);
    out8(0x43, 0x00);   /* ignored: the first latch is still unread */
    uint16_t lo = in8(0x40);
    uint16_t v = (uint16_t)(lo | in8(0x40) << 8);
    check(v == 990, "latched count survives time and a second latch (%u)", v);
    check(count_at(0, t + 101) == 900, "a new latch after reading");
    /* Unlatched reads follow the count, LSB then MSB. */
    run_to_tick(t + 201);
    lo = in8(0x40);
    v = (uint16_t)(lo | in8(0x40) << 8);
    check(v == 800, "unlatched read (%u)", v);

    /* Read-back status of channel 0: OUT, null count, RW/mode/BCD. */
    out8(0x43, 0xE2);
    uint8_t st = in8(0x40);
    check(st == (0x80 | 0x34), "read-back status: OUT high, count loaded, mode 2 LSB/MSB (%02x)", st);
    /* Null count right after writing a count, cleared once loaded. */
    set_mode(1, 2);
    out8(0x43, 0xE4);
    check((in8(0x41) & 0x40) != 0, "null count after the control word");
    t = tick_now();
    write_count(1, 300);
    out8(0x43, 0xE4);
    check((in8(0x41) & 0x40) != 0, "null count before the load");
    run_to_tick(t + 1);
    out8(0x43, 0xE4);
    check((in8(0x41) & 0x40) == 0, "null count cleared after the load");

    /* Read-back of count and status together: status comes first. */
    run_to_tick(t + 51);
    out8(0x43, 0xC4);   /* count and status of channel 1 */
    st = in8(0x41);
    lo = in8(0x41);
    v = (uint16_t)(lo | in8(0x41) << 8);
    check(st == (0x80 | 0x34) && v == 250, "read-back count+status: %02x then %u", st, v);
    /* Read-back of several channels at once. */
    set_mode(2, 0);
    out8(0x43, 0xEE);   /* status of 0, 1 and 2 */
    check(in8(0x40) == 0xB4 && in8(0x41) == 0xB4 && in8(0x42) == 0x70,
          "read-back of all three statuses (mode 0 OUT low, null)");
}

static void test_access_modes_and_bcd(void)
{
    pit_reset(&pit);
    pit_set_gate(&pit, 2, 1);
    int64_t t = tick_now() + 1;
    run_to_tick(t);
    out8(0x43, 0x94);          /* channel 2, LSB only, mode 2 */
    out8(0x42, 0x80);
    run_to_tick(t + 11);
    check(in8(0x42) == 0x76 && in8(0x42) == 0x76, "LSB only: every read is the LSB");
    out8(0x43, 0x80);
    check(in8(0x42) == 0x76, "LSB only latch");

    t = tick_now();
    out8(0x43, 0xA0);          /* channel 2, MSB only, mode 0 */
    out8(0x42, 0x12);
    run_to_tick(t + 1);
    check(in8(0x42) == 0x12, "MSB only: count 1200h");
    run_to_tick(t + 2);
    check(in8(0x42) == 0x11, "MSB only: 11FFh reads 11");

    /* BCD. */
    t = tick_now();
    out8(0x43, 0xB1);          /* channel 2, LSB/MSB, mode 0, BCD */
    write_count(2, 0x1000);
    check(count_at(2, t + 1) == 0x1000, "BCD: 1000 loaded");
    check(count_at(2, t + 2) == 0x0999, "BCD: then 0999");
    check(count_at(2, t + 1001) == 0x0000 && out_at(2, t + 1001) == 1, "BCD: terminal count after 1000 clocks");
    check(count_at(2, t + 1002) == 0x9999, "BCD: wraps to 9999");
    t = tick_now();
    write_count(2, 0);         /* 10000 in BCD */
    check(count_at(2, t + 1) == 0 && count_at(2, t + 2) == 0x9999, "BCD: count 0 is 10000");
    check(out_at(2, t + 10000) == 0 && out_at(2, t + 10001) == 1, "BCD: 10000 clocks");
    pit_set_gate(&pit, 2, 0);

    /* The control port is write-only. */
    check(in8(0x43) == 0xFF, "control port reads FFh");
}

int main(void)
{
    io = ioports_new();
    ioports_set_log(io, stdout, 1);
    clk = vclock_new(VCLOCK_DETERMINISTIC, fake_icount, NULL);
    struct irq_line irq0 = { irq0_set, NULL, 0 };
    if (pit_init(&pit, io, clk, irq0) != 0) {
        printf("pit_init failed\nRESULT: 0 passed, 1 failed\n");
        return 1;
    }
    test_clock_conversion();
    test_mode2_periodic();
    test_mode3_bios_rate();
    test_mode3_waveform();
    test_mode0();
    test_mode1_and_5();
    test_mode4();
    test_latch_and_readback();
    test_access_modes_and_bcd();
    vclock_free(clk);
    ioports_free(io);
    printf("RESULT: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
