/* Motorola MC146818A real-time clock and CMOS RAM: index port 0x70 (bit 7
 * masks NMI), data port 0x71, 128 bytes (14 clock registers + 114 of NVRAM),
 * interrupt on IRQ 8.
 *
 * The clock runs from the virtual clock with a 32.768 kHz time base: the
 * update cycle, the periodic flag and UIP are computed from it when read, and
 * a vtimer is armed only while an enabled interrupt can still be raised. */
#ifndef BUBBLE_MC146818_H
#define BUBBLE_MC146818_H

#include <stdint.h>

#include "devices/clock.h"
#include "devices/irq.h"

struct ioports;

/* Standard PC CMOS fields the machine fills. */
enum {
    CMOS_FLOPPY_TYPES = 0x10,     /* high nibble drive A, low nibble drive B */
    CMOS_DISK_TYPES = 0x12,       /* high nibble disk 0, low nibble disk 1 (0xF: see 0x19/0x1A) */
    CMOS_EQUIPMENT = 0x14,
    CMOS_BASE_MEM_LO = 0x15,      /* KiB */
    CMOS_BASE_MEM_HI = 0x16,
    CMOS_EXT_MEM_LO = 0x17,       /* KiB above 1 MiB, up to 64 MiB */
    CMOS_EXT_MEM_HI = 0x18,
    CMOS_DISK0_EXT_TYPE = 0x19,
    CMOS_DISK1_EXT_TYPE = 0x1A,
    CMOS_CHECKSUM_HI = 0x2E,      /* sum of 0x10-0x2D */
    CMOS_CHECKSUM_LO = 0x2F,
    CMOS_EXT_MEM2_LO = 0x30,      /* copy of 0x17/0x18 */
    CMOS_EXT_MEM2_HI = 0x31,
    CMOS_CENTURY = 0x32,          /* BCD */
    CMOS_MEM_ABOVE_16M_LO = 0x34, /* 64 KiB units above 16 MiB */
    CMOS_MEM_ABOVE_16M_HI = 0x35,
};

#define RTC_HZ 32768

struct rtc {
    uint8_t ram[128];          /* 0x00-0x09 time, 0x0A-0x0D registers A-D, NVRAM above */
    uint8_t index;             /* port 0x70 bits 6-0 */
    uint8_t nmi_disabled;      /* port 0x70 bit 7 */
    struct vclock *clock;
    struct vtimer timer;
    struct irq_line irq;
    int irq_level;
    int64_t origin;            /* 32.768 kHz tick at which the divider chain stood at zero */
    int64_t synced;            /* tick up to which update cycles and PF are accounted */
    unsigned logged;
};

/* `start_time`: the clock's initial reading in seconds since 1970-01-01 00:00
 * of the guest's time zone (the machine passes the host's local time, or a
 * fixed date for repeatable runs). */
int rtc_init(struct rtc *r, struct ioports *io, struct vclock *clock, struct irq_line irq8, int64_t start_time);
/* The chip's RESET pin: interrupt enables and flags cleared; time and RAM kept. */
void rtc_reset(struct rtc *r);

/* NVRAM bytes 0x0E-0x7F. */
void rtc_nvram_set(struct rtc *r, int index, uint8_t value);
uint8_t rtc_nvram_get(const struct rtc *r, int index);
/* Store the checksum of 0x10-0x2D at 0x2E (high) and 0x2F (low). */
void rtc_update_checksum(struct rtc *r);

/* Port 0x70 bit 7 clear: NMIs may reach the CPU. */
int rtc_nmi_enabled(const struct rtc *r);

#endif
