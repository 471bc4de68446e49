/* Motorola MC146818A real-time clock (see mc146818.h).
 *
 * Time is counted in ticks of the 32.768 kHz time base. Update cycles happen
 * at origin + k * 32768; the time registers hold raw bytes in the format the
 * guest chose (BCD or binary, 12 or 24 hour), and an update advances them one
 * second in that format, as the chip does (changing DM does not convert). */
#include <stdio.h>
#include <string.h>

#include "cpu/ioport.h"
#include "devices/mc146818.h"

#define NEVER INT64_MAX
#define NS_PER_SEC 1000000000LL

enum { REG_SEC = 0, REG_SEC_ALARM = 1, REG_MIN = 2, REG_MIN_ALARM = 3, REG_HOUR = 4,
       REG_HOUR_ALARM = 5, REG_DOW = 6, REG_DAY = 7, REG_MONTH = 8, REG_YEAR = 9,
       REG_A = 0x0A, REG_B = 0x0B, REG_C = 0x0C, REG_D = 0x0D, NVRAM_FIRST = 0x0E };

#define A_UIP   0x80
#define A_DV    0x70
#define A_RS    0x0F
#define DV_32K  0x20          /* DV2-0 = 010: 32.768 kHz time base, running */
#define B_SET   0x80
#define B_PIE   0x40
#define B_AIE   0x20
#define B_UIE   0x10
#define B_SQWE  0x08
#define B_DM    0x04          /* binary */
#define B_24H   0x02
#define B_DSE   0x01
#define C_IRQF  0x80
#define C_PF    0x40          /* the flags sit at the same bits as their enables in B */
#define C_AF    0x20
#define C_UF    0x10
#define D_VRT   0x80

#define UIP_TICKS 8           /* 244 us before the update (datasheet, "Update Cycle") */
#define SECONDS_PER_DAY 86400

enum {
    LOG_DSE = 1u << 0,
    LOG_DIVIDER = 1u << 1,
    LOG_NVRAM_INDEX = 1u << 2,
};

static void log_once(struct rtc *r, unsigned what, const char *fmt, unsigned v)
{
    if (r->logged & what) return;
    r->logged |= what;
    fprintf(stderr, "mc146818: ");
    fprintf(stderr, fmt, v);
    fprintf(stderr, " (logged once)\n");
}

/* ---------------------------------------------------------------------------
 * Time base */

static int64_t ticks_at(int64_t ns)
{
    if (ns < 0) ns = 0;
    return (ns / NS_PER_SEC) * RTC_HZ + ((ns % NS_PER_SEC) * RTC_HZ) / NS_PER_SEC;
}

static int64_t ns_of_tick(int64_t tick)
{
    return (tick / RTC_HZ) * NS_PER_SEC + ((tick % RTC_HZ) * NS_PER_SEC + RTC_HZ - 1) / RTC_HZ;
}

static int64_t now_tick(struct rtc *r) { return ticks_at(vclock_ns(r->clock)); }

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int divider_running(const struct rtc *r) { return (r->ram[REG_A] & A_DV) == DV_32K; }

/* Periodic interrupt period in ticks, or 0 (datasheet, table of RS3-RS0). */
static int64_t periodic_ticks(const struct rtc *r)
{
    int rs = r->ram[REG_A] & A_RS;
    if (rs == 0) return 0;
    if (rs <= 2) rs += 7;   /* with a 32.768 kHz base, rates 1 and 2 are 256 and 128 Hz */
    return (int64_t)1 << (rs - 1);
}

static int64_t next_update_tick(const struct rtc *r, int64_t t)
{
    return r->origin + (floor_div(t - r->origin, RTC_HZ) + 1) * RTC_HZ;
}

/* ---------------------------------------------------------------------------
 * Calendar in the register format */

static int binary_mode(const struct rtc *r) { return (r->ram[REG_B] & B_DM) != 0; }

static int decode(const struct rtc *r, uint8_t v)
{
    return binary_mode(r) ? v : (v >> 4) * 10 + (v & 15);
}

static uint8_t encode(const struct rtc *r, int v)
{
    return binary_mode(r) ? (uint8_t)v : (uint8_t)((v / 10) << 4 | v % 10);
}

static int decode_hour(const struct rtc *r, uint8_t v)
{
    if (r->ram[REG_B] & B_24H) return decode(r, v);
    int h = decode(r, v & 0x7F) % 12;   /* 12 AM is 0 */
    return (v & 0x80) ? h + 12 : h;
}

static uint8_t encode_hour(const struct rtc *r, int h)
{
    if (r->ram[REG_B] & B_24H) return encode(r, h);
    int h12 = h % 12 ? h % 12 : 12;
    return (uint8_t)(encode(r, h12) | (h >= 12 ? 0x80 : 0));
}

static int days_in_month(int month, int year)
{
    static const uint8_t days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (month < 1 || month > 12) return 31;
    /* The chip's leap rule: every year divisible by 4 (right for 1901-2099). */
    if (month == 2 && year % 4 == 0) return 29;
    return days[month - 1];
}

static void next_day(struct rtc *r)
{
    int dow = decode(r, r->ram[REG_DOW]) + 1;
    r->ram[REG_DOW] = encode(r, dow > 7 ? 1 : dow);
    int day = decode(r, r->ram[REG_DAY]) + 1;
    int month = decode(r, r->ram[REG_MONTH]);
    int year = decode(r, r->ram[REG_YEAR]);
    if (day <= days_in_month(month, year)) {
        r->ram[REG_DAY] = encode(r, day);
        return;
    }
    r->ram[REG_DAY] = encode(r, 1);
    if (++month <= 12) {
        r->ram[REG_MONTH] = encode(r, month);
        return;
    }
    r->ram[REG_MONTH] = encode(r, 1);
    r->ram[REG_YEAR] = encode(r, year >= 99 ? 0 : year + 1);
}

/* One update cycle's advance; only the fields that carry are rewritten. */
static void advance_second(struct rtc *r)
{
    int sec = decode(r, r->ram[REG_SEC]) + 1;
    if (sec < 60) {
        r->ram[REG_SEC] = encode(r, sec);
        return;
    }
    r->ram[REG_SEC] = encode(r, 0);
    int min = decode(r, r->ram[REG_MIN]) + 1;
    if (min < 60) {
        r->ram[REG_MIN] = encode(r, min);
        return;
    }
    r->ram[REG_MIN] = encode(r, 0);
    int hour = decode_hour(r, r->ram[REG_HOUR]) + 1;
    if (hour < 24) {
        r->ram[REG_HOUR] = encode_hour(r, hour);
        return;
    }
    r->ram[REG_HOUR] = encode_hour(r, 0);
    next_day(r);
}

/* A long absence (host asleep, machine paused): jump whole seconds at once. */
static void advance_seconds_fast(struct rtc *r, int64_t seconds)
{
    int64_t sod = decode_hour(r, r->ram[REG_HOUR]) * 3600 + decode(r, r->ram[REG_MIN]) * 60 +
                  decode(r, r->ram[REG_SEC]) + seconds;
    int64_t days = sod / SECONDS_PER_DAY;
    sod %= SECONDS_PER_DAY;
    r->ram[REG_SEC] = encode(r, (int)(sod % 60));
    r->ram[REG_MIN] = encode(r, (int)(sod / 60 % 60));
    r->ram[REG_HOUR] = encode_hour(r, (int)(sod / 3600));
    for (int64_t k = 0; k < days; k++) next_day(r);
}

static int alarm_field_matches(uint8_t alarm, uint8_t value)
{
    return (alarm & 0xC0) == 0xC0 || alarm == value;   /* 11xxxxxx: don't care */
}

static int alarm_matches(const struct rtc *r)
{
    return alarm_field_matches(r->ram[REG_SEC_ALARM], r->ram[REG_SEC]) &&
           alarm_field_matches(r->ram[REG_MIN_ALARM], r->ram[REG_MIN]) &&
           alarm_field_matches(r->ram[REG_HOUR_ALARM], r->ram[REG_HOUR]);
}

static void run_update_cycles(struct rtc *r, int64_t count)
{
    /* Every alarm time recurs within a day: stepping the last day's seconds sets AF exactly. */
    if (count > SECONDS_PER_DAY) {
        advance_seconds_fast(r, count - SECONDS_PER_DAY);
        count = SECONDS_PER_DAY;
    }
    for (int64_t k = 0; k < count; k++) {
        advance_second(r);
        if (alarm_matches(r)) r->ram[REG_C] |= C_AF;
    }
    r->ram[REG_C] |= C_UF;
}

/* ---------------------------------------------------------------------------
 * Flags, interrupt, timer */

static void update_irq(struct rtc *r)
{
    uint8_t flags = r->ram[REG_C] & (C_PF | C_AF | C_UF);
    int irqf = (flags & r->ram[REG_B] & (B_PIE | B_AIE | B_UIE)) != 0;
    r->ram[REG_C] = (uint8_t)(flags | (irqf ? C_IRQF : 0));
    if (irqf != r->irq_level) {
        r->irq_level = irqf;
        irq_set(&r->irq, irqf);
    }
}

/* Account the update cycles and periodic ticks that happened up to tick t. */
static void rtc_sync(struct rtc *r, int64_t t)
{
    if (t <= r->synced) return;
    if (divider_running(r)) {
        int64_t updates = floor_div(t - r->origin, RTC_HZ) - floor_div(r->synced - r->origin, RTC_HZ);
        if (updates > 0 && !(r->ram[REG_B] & B_SET)) run_update_cycles(r, updates);
        int64_t p = periodic_ticks(r);
        if (p && floor_div(t - r->origin, p) > floor_div(r->synced - r->origin, p)) r->ram[REG_C] |= C_PF;
    }
    r->synced = t;
    update_irq(r);
}

/* Arm the timer for the next event that can raise IRQF (none while it is set). */
static void rtc_schedule(struct rtc *r, int64_t t)
{
    int64_t next = NEVER;
    uint8_t b = r->ram[REG_B];
    if (!(r->ram[REG_C] & C_IRQF) && divider_running(r)) {
        int64_t p = periodic_ticks(r);
        if ((b & B_PIE) && p) next = r->origin + (floor_div(t - r->origin, p) + 1) * p;
        if ((b & (B_AIE | B_UIE)) && !(b & B_SET)) {
            int64_t u = next_update_tick(r, t);
            if (u < next) next = u;
        }
    }
    if (next == NEVER) vtimer_del(&r->timer);
    else vtimer_mod(&r->timer, ns_of_tick(next));
}

static void rtc_timer_fired(void *opaque)
{
    struct rtc *r = opaque;
    int64_t t = now_tick(r);
    rtc_sync(r, t);
    rtc_schedule(r, t);
}

static int update_in_progress(const struct rtc *r, int64_t t)
{
    if (!divider_running(r) || (r->ram[REG_B] & B_SET)) return 0;
    return next_update_tick(r, t) - t <= UIP_TICKS;
}

/* ---------------------------------------------------------------------------
 * Registers */

static void write_reg_a(struct rtc *r, int64_t t, uint8_t v)
{
    int was_running = divider_running(r);
    r->ram[REG_A] = v & (A_DV | A_RS);
    uint8_t dv = v & A_DV;
    if (dv != DV_32K && (dv >> 4) < 6)
        log_once(r, LOG_DIVIDER, "divider DV=%u (not the PC's 32.768 kHz time base): clock stopped", dv >> 4);
    /* Leaving reset, the first update comes half a second later (datasheet, "Divider Chain"). */
    if (!was_running && divider_running(r)) r->origin = t - RTC_HZ / 2;
}

static void write_reg_b(struct rtc *r, uint8_t v)
{
    if (v & B_SET) v &= (uint8_t)~B_UIE;   /* SET going high clears UIE (datasheet, register B) */
    if (v & B_DSE) log_once(r, LOG_DSE, "daylight saving (register B %02x) not implemented", v);
    r->ram[REG_B] = v;
}

static uint8_t read_reg(struct rtc *r, int64_t t, int idx)
{
    uint8_t v;
    switch (idx) {
    case REG_A:
        return (uint8_t)(r->ram[REG_A] | (update_in_progress(r, t) ? A_UIP : 0));
    case REG_C:
        /* Reading C clears every flag and IRQF. */
        v = r->ram[REG_C];
        r->ram[REG_C] = 0;
        update_irq(r);
        return v;
    case REG_D:
        return D_VRT;
    default:
        return r->ram[idx];
    }
}

static void write_reg(struct rtc *r, int64_t t, int idx, uint8_t v)
{
    switch (idx) {
    case REG_A: write_reg_a(r, t, v); break;
    case REG_B: write_reg_b(r, v); break;
    case REG_C: case REG_D: break;    /* read-only */
    default: r->ram[idx] = v; break;
    }
    update_irq(r);
}

static uint32_t rtc_port_read(void *opaque, uint16_t port, int size)
{
    struct rtc *r = opaque;
    if (!(port & 1)) return (uint32_t)(r->index | (r->nmi_disabled ? 0x80 : 0));
    int idx = r->index;
    if (idx >= NVRAM_FIRST) return r->ram[idx];
    int64_t t = now_tick(r);
    rtc_sync(r, t);
    uint8_t v = read_reg(r, t, idx);
    rtc_schedule(r, t);
    return v;
}

static void rtc_port_write(void *opaque, uint16_t port, uint32_t val, int size)
{
    struct rtc *r = opaque;
    if (!(port & 1)) {
        r->index = val & 0x7F;
        r->nmi_disabled = (val & 0x80) != 0;
        return;
    }
    int idx = r->index;
    if (idx >= NVRAM_FIRST) {
        r->ram[idx] = (uint8_t)val;
        return;
    }
    int64_t t = now_tick(r);
    rtc_sync(r, t);
    write_reg(r, t, idx, (uint8_t)val);
    rtc_schedule(r, t);
}

/* ---------------------------------------------------------------------------
 * Set-up */

static int is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

/* Break down seconds since 1970 into the time registers (BCD or binary per B). */
static void set_time(struct rtc *r, int64_t seconds)
{
    if (seconds < 0) seconds = 0;
    int64_t days = seconds / SECONDS_PER_DAY, sod = seconds % SECONDS_PER_DAY;
    int dow = (int)((days + 4) % 7);   /* 1970-01-01 was a Thursday; Sunday is 0 */
    int64_t year = 1970;
    while (days >= (is_leap(year) ? 366 : 365)) days -= is_leap(year++) ? 366 : 365;
    int month = 1;
    for (;;) {
        int len = (month == 2 && is_leap(year)) ? 29 : days_in_month(month, 1);
        if (days < len) break;
        days -= len;
        month++;
    }
    r->ram[REG_SEC] = encode(r, (int)(sod % 60));
    r->ram[REG_MIN] = encode(r, (int)(sod / 60 % 60));
    r->ram[REG_HOUR] = encode_hour(r, (int)(sod / 3600));
    r->ram[REG_DOW] = encode(r, dow + 1);
    r->ram[REG_DAY] = encode(r, (int)days + 1);
    r->ram[REG_MONTH] = encode(r, month);
    r->ram[REG_YEAR] = encode(r, (int)(year % 100));
    int century = (int)(year / 100 % 100);
    r->ram[CMOS_CENTURY] = (uint8_t)((century / 10) << 4 | century % 10);
}

void rtc_reset(struct rtc *r)
{
    int64_t t = now_tick(r);
    rtc_sync(r, t);
    /* RESET clears PIE, AIE, UIE, SQWE and the flags; time, DV, RS, SET, DM, 24/12 stay. */
    r->ram[REG_B] &= (uint8_t)~(B_PIE | B_AIE | B_UIE | B_SQWE);
    r->ram[REG_C] = 0;
    update_irq(r);
    rtc_schedule(r, t);
}

void rtc_nvram_set(struct rtc *r, int index, uint8_t value)
{
    if (index < NVRAM_FIRST || index > 0x7F) {
        log_once(r, LOG_NVRAM_INDEX, "rtc_nvram_set: index %x is not NVRAM", (unsigned)index);
        return;
    }
    r->ram[index] = value;
}

uint8_t rtc_nvram_get(const struct rtc *r, int index)
{
    if (index < NVRAM_FIRST || index > 0x7F) return 0xFF;
    return r->ram[index];
}

void rtc_update_checksum(struct rtc *r)
{
    unsigned sum = 0;
    for (int k = 0x10; k <= 0x2D; k++) sum += r->ram[k];
    r->ram[CMOS_CHECKSUM_HI] = (uint8_t)(sum >> 8);
    r->ram[CMOS_CHECKSUM_LO] = (uint8_t)sum;
}

int rtc_nmi_enabled(const struct rtc *r) { return !r->nmi_disabled; }

int rtc_init(struct rtc *r, struct ioports *io, struct vclock *clock, struct irq_line irq8, int64_t start_time)
{
    static const struct io_handlers h = { rtc_port_read, rtc_port_write, 1 };
    memset(r, 0, sizeof(*r));
    r->clock = clock;
    r->irq = irq8;
    vtimer_init(&r->timer, clock, rtc_timer_fired, r);
    r->ram[REG_A] = DV_32K | 0x06;      /* 1024 Hz periodic rate, the BIOS default */
    r->ram[REG_B] = B_24H;              /* BCD, 24 hour */
    r->ram[REG_D] = D_VRT;
    set_time(r, start_time);
    r->origin = r->synced = now_tick(r);
    r->index = REG_D;
    return ioports_register(io, 0x70, 2, &h, r);
}
