/* Unit tests of the MC146818A (devices/mc146818.c) through ports 0x70/0x71,
 * with a deterministic virtual clock and a fake IRQ 8 receiver: the time
 * from a fixed start date, update cycles and calendar roll-overs, BCD and
 * binary, 12 and 24 hour modes, SET, UIP timing, periodic rates, alarm and
 * update-ended interrupts, register C clearing, divider reset, NVRAM. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cpu/ioport.h"
#include "devices/clock.h"
#include "devices/mc146818.h"

#include "tests/check.h"

#define MS 1000000LL
#define US 1000LL
#define SEC 1000000000LL
#define START_2024_02_28_235958 1709164798LL   /* a Wednesday */

static struct ioports *io;
static struct vclock *clk;
static struct rtc rtc;
static uint64_t fake_ns;
static long timer_events;

static uint64_t fake_icount(void *opaque) { return fake_ns; }

static int irq_level, irq_rises;

static void irq8_set(void *opaque, int n, int level)
{
    if (level && !irq_level) irq_rises++;
    irq_level = level;
}

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

static void run_for(int64_t ns) { run_to_ns((int64_t)fake_ns + ns); }

static uint8_t cmos_read(uint8_t idx)
{
    io_write(io, 0x70, idx, 1);
    return (uint8_t)io_read(io, 0x71, 1);
}

static void cmos_write(uint8_t idx, uint8_t v)
{
    io_write(io, 0x70, idx, 1);
    io_write(io, 0x71, v, 1);
}

/* Set the time with SET held, as a BIOS or OS does. */
static void set_clock(uint8_t b, uint8_t hour, uint8_t min, uint8_t sec, uint8_t day, uint8_t month, uint8_t year)
{
    cmos_write(0x0B, (uint8_t)(b | 0x80));
    cmos_write(0x00, sec);
    cmos_write(0x02, min);
    cmos_write(0x04, hour);
    cmos_write(0x07, day);
    cmos_write(0x08, month);
    cmos_write(0x09, year);
    cmos_write(0x0B, b);
}

/* Move to just after the next update cycle (the updates fall on whole seconds here). */
static void next_second(void)
{
    run_to_ns(((int64_t)fake_ns / SEC + 1) * SEC);
}

static void test_start_date_and_updates(void)
{
    check(cmos_read(0x00) == 0x58 && cmos_read(0x02) == 0x59 && cmos_read(0x04) == 0x23, "start time 23:59:58 BCD");
    check(cmos_read(0x07) == 0x28 && cmos_read(0x08) == 0x02 && cmos_read(0x09) == 0x24, "start date 28-02-24");
    check(cmos_read(0x06) == 4, "Wednesday is day 4");
    check(cmos_read(0x32) == 0x20, "century byte 20");
    check(cmos_read(0x0A) == 0x26 && cmos_read(0x0B) == 0x02 && cmos_read(0x0D) == 0x80, "A=26 B=02 D=80");

    run_to_ns(SEC - 1);
    check(cmos_read(0x00) == 0x58, "no update before the second ends");
    run_to_ns(SEC);
    check(cmos_read(0x00) == 0x59, "update after one second");
    run_to_ns(2 * SEC);
    check(cmos_read(0x00) == 0x00 && cmos_read(0x02) == 0x00 && cmos_read(0x04) == 0x00, "midnight");
    check(cmos_read(0x07) == 0x29 && cmos_read(0x08) == 0x02 && cmos_read(0x06) == 5, "leap day 29-02, Thursday");

    /* UIP: high for the 244 us before each update. */
    run_to_ns(2 * SEC + 500 * MS);
    check(!(cmos_read(0x0A) & 0x80), "UIP low mid-second");
    run_to_ns(3 * SEC - 300 * US);
    check(!(cmos_read(0x0A) & 0x80), "UIP low 300 us before the update");
    run_to_ns(3 * SEC - 200 * US);
    check((cmos_read(0x0A) & 0x80) && cmos_read(0x00) == 0x00, "UIP high 200 us before, time not yet updated");
    run_to_ns(3 * SEC - 1);
    check((cmos_read(0x0A) & 0x80), "UIP high 1 ns before");
    run_to_ns(3 * SEC);
    check(!(cmos_read(0x0A) & 0x80) && cmos_read(0x00) == 0x01, "UIP low after the update, seconds 01");
    /* UIP read-only. */
    cmos_write(0x0A, 0xA6);
    check((cmos_read(0x0A) & 0x7F) == 0x26, "UIP is read-only");

    /* Reading C after updates shows UF (not an interrupt: UIE is off). */
    check((cmos_read(0x0C) & 0x90) == 0x10 && irq_rises == 0, "UF set, IRQF not, no IRQ");
    check(cmos_read(0x0C) == 0, "register C cleared by the read");
}

static void test_calendar(void)
{
    set_clock(0x02, 0x23, 0x59, 0x59, 0x28, 0x02, 0x23);   /* 2023 is not leap */
    next_second();
    check(cmos_read(0x07) == 0x01 && cmos_read(0x08) == 0x03, "28-02-23 -> 01-03-23");
    set_clock(0x02, 0x23, 0x59, 0x59, 0x31, 0x12, 0x99);
    next_second();
    check(cmos_read(0x07) == 0x01 && cmos_read(0x08) == 0x01 && cmos_read(0x09) == 0x00, "31-12-99 -> 01-01-00");
    set_clock(0x02, 0x23, 0x59, 0x59, 0x30, 0x04, 0x24);
    next_second();
    check(cmos_read(0x07) == 0x01 && cmos_read(0x08) == 0x05, "30-04 -> 01-05");
    cmos_write(0x06, 7);
    set_clock(0x02, 0x23, 0x59, 0x59, 0x10, 0x05, 0x24);
    next_second();
    check(cmos_read(0x06) == 1, "day of week 7 -> 1");

    /* Binary mode. */
    set_clock(0x06, 23, 59, 59, 31, 12, 99);
    check(cmos_read(0x0B) == 0x06, "B = binary, 24h");
    next_second();
    check(cmos_read(0x00) == 0 && cmos_read(0x04) == 0 && cmos_read(0x07) == 1 && cmos_read(0x08) == 1 &&
          cmos_read(0x09) == 0, "binary: 23:59:59 31-12-99 -> 00:00:00 01-01-00");
    set_clock(0x06, 9, 8, 9, 5, 5, 5);
    next_second();
    check(cmos_read(0x00) == 10, "binary 9 -> 10 (not 0x10)");

    /* 12 hour mode, BCD. */
    set_clock(0x00, 0x91, 0x59, 0x59, 0x10, 0x05, 0x24);   /* 11:59:59 PM */
    next_second();
    check(cmos_read(0x04) == 0x12 && cmos_read(0x07) == 0x11, "11:59:59 PM -> 12 AM next day (%02x)", cmos_read(0x04));
    set_clock(0x00, 0x11, 0x59, 0x59, 0x10, 0x05, 0x24);   /* 11:59:59 AM */
    next_second();
    check(cmos_read(0x04) == 0x92 && cmos_read(0x07) == 0x10, "11:59:59 AM -> 12 PM (%02x)", cmos_read(0x04));
    set_clock(0x00, 0x92, 0x59, 0x59, 0x10, 0x05, 0x24);
    next_second();
    check(cmos_read(0x04) == 0x81, "12:59:59 PM -> 1 PM");
    set_clock(0x00, 0x12, 0x59, 0x59, 0x10, 0x05, 0x24);
    next_second();
    check(cmos_read(0x04) == 0x01, "12:59:59 AM -> 1 AM");
    /* 12 hour binary. */
    set_clock(0x04, 0x80 | 11, 59, 59, 10, 5, 24);
    next_second();
    check(cmos_read(0x04) == 12 && cmos_read(0x07) == 11, "binary 12h: 11 PM -> 12 AM");

    /* SET stops the updates, clears UIE and UIP. */
    set_clock(0x02, 0x10, 0x20, 0x30, 0x10, 0x05, 0x24);
    cmos_write(0x0B, 0x92);
    check(cmos_read(0x0B) == 0x82, "SET clears UIE");
    run_for(3 * SEC + 999 * MS);
    check(!(cmos_read(0x0A) & 0x80), "no UIP while SET");
    check(cmos_read(0x00) == 0x30, "no updates while SET");
    cmos_write(0x0B, 0x02);
    next_second();
    check(cmos_read(0x00) == 0x31, "updates resume");

    /* A long absence: three days at once. */
    set_clock(0x02, 0x12, 0x00, 0x00, 0x27, 0x02, 0x24);
    run_for(3LL * 86400 * SEC);
    check(cmos_read(0x07) == 0x01 && cmos_read(0x08) == 0x03 && cmos_read(0x04) == 0x12 && cmos_read(0x00) == 0,
          "three days later: 01-03 12:00:00 (%02x-%02x %02x:%02x)", cmos_read(0x07), cmos_read(0x08),
          cmos_read(0x04), cmos_read(0x00));
    cmos_read(0x0C);
}

static void test_periodic(void)
{
    cmos_read(0x0C);
    irq_rises = 0;
    /* 1024 Hz for 100 ms, the handler reading C at each interrupt. */
    cmos_write(0x0A, 0x26);
    cmos_write(0x0B, 0x42);
    timer_events = 0;
    int64_t end = (int64_t)fake_ns + 100 * MS;
    int handled = 0, flags_ok = 1;
    while ((int64_t)fake_ns < end) {
        int64_t d = vclock_next_deadline(clk);
        run_to_ns(d < end ? d : end);
        if (irq_level) {
            uint8_t c = cmos_read(0x0C);
            if ((c & 0xC0) != 0xC0) flags_ok = 0;
            handled++;
            if (irq_level) flags_ok = 0;
        }
    }
    check(handled >= 101 && handled <= 103, "1024 Hz: %d interrupts in 100 ms", handled);
    check(flags_ok, "C reads IRQF|PF and the read drops IRQ 8");
    check(timer_events <= handled + 2, "one timer event per period (%ld)", timer_events);

    /* Without reading C: one edge, IRQ 8 stays high, no timer. */
    irq_rises = 0;
    run_for(50 * MS);
    check(irq_rises == 1 && irq_level == 1, "unread C: a single edge");
    check(!vtimer_pending(&rtc.timer), "no timer while IRQF is set");
    cmos_read(0x0C);
    check(irq_level == 0, "read C drops the line");

    /* 2 Hz. */
    cmos_write(0x0A, 0x2F);
    irq_rises = 0;
    for (int k = 0; k < 8; k++) {
        run_for(250 * MS);
        if (irq_level) cmos_read(0x0C);
    }
    check(irq_rises == 4, "2 Hz: 4 interrupts in 2 s (%d)", irq_rises);

    /* Rates 1 and 2 are 256 and 128 Hz with the 32 kHz time base. */
    cmos_write(0x0A, 0x21);
    cmos_read(0x0C);
    irq_rises = 0;
    end = (int64_t)fake_ns + SEC;
    while ((int64_t)fake_ns < end) {
        int64_t d = vclock_next_deadline(clk);
        run_to_ns(d < end ? d : end);
        if (irq_level) cmos_read(0x0C);
    }
    check(irq_rises >= 255 && irq_rises <= 257, "rate 1: 256 Hz (%d)", irq_rises);

    /* PF is set even with PIE off. */
    cmos_write(0x0B, 0x02);
    cmos_write(0x0A, 0x2F);
    cmos_read(0x0C);
    irq_rises = 0;
    run_for(600 * MS);
    check((cmos_read(0x0C) & 0xC0) == 0x40 && irq_rises == 0, "PF without PIE: flag only");
    /* Enabling PIE with PF pending raises IRQF at once. */
    run_for(600 * MS);
    cmos_write(0x0B, 0x42);
    check(irq_level == 1 && (cmos_read(0x0C) & 0xC0) == 0xC0, "PIE with PF pending: IRQ at once");
    cmos_write(0x0B, 0x02);
    cmos_write(0x0A, 0x20);   /* no periodic */
    run_for(SEC);
    check((cmos_read(0x0C) & 0x40) == 0, "rate 0: no PF");
}

static void test_alarm_and_update_irq(void)
{
    set_clock(0x02, 0x08, 0x00, 0x00, 0x01, 0x06, 0x24);
    cmos_read(0x0C);
    cmos_write(0x01, 0x03);
    cmos_write(0x03, 0x00);
    cmos_write(0x05, 0x08);
    cmos_write(0x0B, 0x22);   /* AIE */
    irq_rises = 0;
    next_second();
    next_second();
    check(irq_rises == 0, "no alarm before 08:00:03");
    next_second();
    check(irq_rises == 1 && cmos_read(0x00) == 0x03, "alarm at 08:00:03");
    uint8_t c = cmos_read(0x0C);
    check(c == 0xB0, "C = IRQF|AF|UF (%02x)", c);
    check(irq_level == 0, "cleared");
    next_second();
    check(irq_rises == 1, "no alarm at 08:00:04");

    /* Don't-care alarm bytes: every second. */
    cmos_write(0x01, 0xC0);
    cmos_write(0x03, 0xFF);
    cmos_write(0x05, 0xC5);
    irq_rises = 0;
    for (int k = 0; k < 3; k++) {
        next_second();
        cmos_read(0x0C);
    }
    check(irq_rises == 3, "don't-care alarm: every second (%d)", irq_rises);

    /* Alarm flag over a long absence (AIE off: no timer runs meanwhile). */
    cmos_write(0x0B, 0x02);
    cmos_write(0x01, 0x00);
    cmos_write(0x03, 0x30);
    cmos_write(0x05, 0x07);
    cmos_read(0x0C);
    run_for(30LL * 3600 * SEC);
    check((cmos_read(0x0C) & 0x20) != 0, "AF set when 07:30:00 passed during 30 hours");

    /* Update-ended interrupt each second. */
    cmos_write(0x0B, 0x12);
    irq_rises = 0;
    next_second();
    check(irq_rises == 1 && cmos_read(0x0C) == 0x90, "update-ended interrupt: C = IRQF|UF");
    next_second();
    check(irq_rises == 2, "and the next second");

    /* RESET pin: enables and flags cleared, time kept. */
    uint8_t sec = cmos_read(0x00);
    rtc_reset(&rtc);
    check(cmos_read(0x0B) == 0x02 && cmos_read(0x0C) == 0 && irq_level == 0 && cmos_read(0x00) == sec,
          "rtc_reset clears UIE and the flags, keeps time");
}

static void test_divider(void)
{
    set_clock(0x02, 0x10, 0x00, 0x00, 0x01, 0x06, 0x24);
    next_second();
    cmos_write(0x0A, 0x76);   /* divider chain in reset */
    run_for(5 * SEC);
    check(cmos_read(0x00) == 0x01, "divider reset: time stands still");
    int64_t released = (int64_t)fake_ns;
    cmos_write(0x0A, 0x26);
    run_to_ns(released + 500 * MS - 1 * MS);
    check(cmos_read(0x00) == 0x01, "no update before half a second");
    run_to_ns(released + 500 * MS + 1 * MS);
    check(cmos_read(0x00) == 0x02, "first update half a second after release");
    run_to_ns(released + 1500 * MS + 1 * MS);
    check(cmos_read(0x00) == 0x03, "then every second");
}

static void test_nvram_and_ports(void)
{
    cmos_write(0x20, 0x5A);
    check(cmos_read(0x20) == 0x5A, "NVRAM byte via ports");
    rtc_nvram_set(&rtc, 0x7F, 0xA5);
    check(cmos_read(0x7F) == 0xA5 && rtc_nvram_get(&rtc, 0x7F) == 0xA5, "rtc_nvram_set / get");
    uint8_t sec = cmos_read(0x00);
    rtc_nvram_set(&rtc, 0x00, 0x99);
    check(cmos_read(0x00) == sec, "rtc_nvram_set refuses the clock registers");
    check(rtc_nvram_get(&rtc, 200) == 0xFF, "out-of-range get");
    unsigned sum = 0;
    for (int k = 0x10; k <= 0x2D; k++) {
        rtc_nvram_set(&rtc, k, (uint8_t)(k * 7));
        sum += (uint8_t)(k * 7);
    }
    rtc_update_checksum(&rtc);
    check(cmos_read(0x2E) == (uint8_t)(sum >> 8) && cmos_read(0x2F) == (uint8_t)sum, "checksum %04x", sum);
    cmos_write(0x0D, 0x00);
    check(cmos_read(0x0D) == 0x80, "D is read-only (VRT)");
    io_write(io, 0x70, 0x8F, 1);
    check(!rtc_nmi_enabled(&rtc), "port 70h bit 7 masks NMI");
    io_write(io, 0x70, 0x0F, 1);
    check(rtc_nmi_enabled(&rtc), "and unmasks");
    /* Bit 7 of the index is the NMI mask: 0x80 | 0x7F selects 0x7F. */
    io_write(io, 0x70, 0xFF, 1);
    check(io_read(io, 0x71, 1) == 0xA5, "index 0xFF is byte 0x7F with NMI masked");
    io_write(io, 0x70, 0x00, 1);
}

int main(void)
{
    io = ioports_new();
    ioports_set_log(io, stdout, 1);
    clk = vclock_new(VCLOCK_DETERMINISTIC, fake_icount, NULL);
    struct irq_line irq8 = { irq8_set, NULL, 8 };
    if (rtc_init(&rtc, io, clk, irq8, START_2024_02_28_235958) != 0) {
        printf("rtc_init failed\nRESULT: 0 passed, 1 failed\n");
        return 1;
    }
    test_start_date_and_updates();
    test_calendar();
    test_periodic();
    test_alarm_and_update_irq();
    test_divider();
    test_nvram_and_ports();
    vclock_free(clk);
    ioports_free(io);
    printf("RESULT: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
