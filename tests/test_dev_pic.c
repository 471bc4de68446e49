/* Unit tests of the 8259A pair (devices/pic8259.c) through its ports, with a
 * fake CPU INTR pin: initialisation sequences, priorities, EOI variants and
 * rotation, AEOI, poll, special mask and special fully nested modes, edge and
 * level triggering (ICW1 LTIM and the ELCR), the cascade and spurious IR7. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cpu/ioport.h"
#include "devices/pic8259.h"

#include "tests/check.h"

static struct ioports *io;
static struct pic pic;
static int intr;             /* the fake CPU's INTR pin */

static void set_intr(void *opaque, int level)
{
    intr = level;
}

static void out8(uint16_t port, uint8_t v) { io_write(io, port, v, 1); }
static uint8_t in8(uint16_t port) { return (uint8_t)io_read(io, port, 1); }
static void irq(int n, int level) { pic_set_irq(&pic, n, level); }
static void pulse(int n)
{
    struct irq_line l = pic_irq(&pic, n);
    irq_pulse(&l);
}

static uint8_t read_isr(uint16_t base) { out8(base, 0x0B); return in8(base); }
static uint8_t read_irr(uint16_t base) { out8(base, 0x0A); return in8(base); }
static void eoi(uint16_t base) { out8(base, 0x20); }

/* The BIOS/DOS set-up: vectors 08h and 70h, cascade on IR2, 8086 mode. */
static void init_pair(uint8_t master_base, uint8_t slave_base, uint8_t master_icw4, uint8_t slave_icw4)
{
    out8(0x20, 0x11);
    out8(0x21, master_base);
    out8(0x21, 0x04);
    out8(0x21, master_icw4);
    out8(0xA0, 0x11);
    out8(0xA1, slave_base);
    out8(0xA1, 0x02);
    out8(0xA1, slave_icw4);
    out8(0x21, 0x00);
    out8(0xA1, 0x00);
}

static void fresh(void)
{
    for (int n = 0; n < 16; n++)
        if (n != 2) pic_set_irq(&pic, n, 0);
    pic_reset(&pic);
    out8(0x4D0, 0);
    out8(0x4D1, 0);
    init_pair(0x08, 0x70, 0x01, 0x01);
}

static void test_init_and_delivery(void)
{
    fresh();
    check(intr == 0, "no request: INTR low");
    check(in8(0x21) == 0 && in8(0xA1) == 0, "IMR cleared by ICW1 and OCW1");
    pulse(1);
    check(intr == 1, "IRQ 1 raises INTR");
    check(read_irr(0x20) == 0x02, "IRR shows IR1 (got %02x)", read_irr(0x20));
    int v = pic_intr_ack(&pic);
    check(v == 0x09, "IRQ 1 -> vector 09h (got %02x)", v);
    check(read_isr(0x20) == 0x02 && read_irr(0x20) == 0, "ack moves IR1 from IRR to ISR");
    check(intr == 0, "INTR low after ack");
    eoi(0x20);
    check(read_isr(0x20) == 0, "non-specific EOI clears ISR");

    /* Linux's vectors. */
    init_pair(0x20, 0x28, 0x01, 0x01);
    pulse(0);
    check(pic_intr_ack(&pic) == 0x20, "Linux set-up: IRQ 0 -> 20h");
    eoi(0x20);
    pulse(8);
    v = pic_intr_ack(&pic);
    check(v == 0x28, "Linux set-up: IRQ 8 -> 28h (got %02x)", v);
    check(read_isr(0x20) == 0x04 && read_isr(0xA0) == 0x01, "cascade: master ISR2 and slave ISR0 set");
    eoi(0xA0);
    eoi(0x20);
    check(read_isr(0x20) == 0 && read_isr(0xA0) == 0, "slave then master EOI");

    /* Masking. */
    out8(0x21, 0x02);
    check(in8(0x21) == 0x02, "IMR reads back");
    pulse(1);
    check(intr == 0, "masked IRQ 1 does not interrupt");
    check(read_irr(0x20) == 0x02, "masked request still latched in IRR");
    out8(0x21, 0x00);
    check(intr == 1, "unmasking delivers the latched request");
    check(pic_intr_ack(&pic) == 0x21, "vector after unmask");
    eoi(0x20);

    /* The slave's mask holds off its request at the master too. */
    out8(0xA1, 0x10);
    pulse(12);
    check(intr == 0, "masked slave IRQ 12: no INTR");
    out8(0xA1, 0x00);
    check(intr == 1 && pic_intr_ack(&pic) == 0x2C, "IRQ 12 -> 2Ch after unmask");
    eoi(0xA0);
    eoi(0x20);
}

static void test_priority_nesting(void)
{
    fresh();
    pulse(3);
    pulse(1);
    check(pic_intr_ack(&pic) == 0x09, "IR1 beats IR3");
    check(intr == 0, "IR3 held off while IR1 is in service");
    pulse(0);
    check(intr == 1, "IR0 nests over IR1");
    check(pic_intr_ack(&pic) == 0x08, "nested IR0");
    check(read_isr(0x20) == 0x03, "ISR has IR0 and IR1");
    eoi(0x20);
    check(read_isr(0x20) == 0x02, "non-specific EOI clears the highest (IR0)");
    check(intr == 0, "IR3 still held off by IR1");
    eoi(0x20);
    check(intr == 1, "IR3 after IR1's EOI");
    check(pic_intr_ack(&pic) == 0x0B, "IR3 delivered");
    eoi(0x20);

    /* Specific EOI. */
    pulse(5);
    pic_intr_ack(&pic);
    pulse(4);
    pic_intr_ack(&pic);
    check(read_isr(0x20) == 0x30, "IR4 nested in IR5");
    out8(0x20, 0x65);   /* specific EOI, level 5 */
    check(read_isr(0x20) == 0x10, "specific EOI 5 leaves IR4");
    out8(0x20, 0x64);
    check(read_isr(0x20) == 0, "specific EOI 4");

    /* A specific EOI on the slave, then OCW2 no-op. */
    pulse(10);
    check(pic_intr_ack(&pic) == 0x72, "IRQ 10 -> 72h");
    out8(0xA0, 0x62);
    out8(0x20, 0x40);   /* no operation */
    check(read_isr(0xA0) == 0 && read_isr(0x20) == 0x04, "slave specific EOI; master no-op keeps ISR2");
    out8(0x20, 0x62);
    check(read_isr(0x20) == 0, "master specific EOI 2");
}

static void test_rotation(void)
{
    fresh();
    /* Rotate on non-specific EOI: the serviced level becomes the lowest. */
    pulse(0);
    pic_intr_ack(&pic);
    out8(0x20, 0xA0);
    check(read_isr(0x20) == 0, "rotate on EOI clears ISR");
    pulse(0);
    pulse(1);
    check(pic_intr_ack(&pic) == 0x09, "after rotation IR1 beats IR0");
    out8(0x20, 0xA0);   /* now IR1 is lowest: IR2 highest ... IR0, IR1 */
    check(pic_intr_ack(&pic) == 0x08, "then IR0");
    out8(0x20, 0x20);

    /* Set priority: IR4 lowest, so IR5 is the highest. */
    out8(0x20, 0xC4);
    pulse(3);
    pulse(5);
    check(pic_intr_ack(&pic) == 0x0D, "set priority: IR5 first");
    check(intr == 0, "IR3 (priority below IR5 now) waits");
    eoi(0x20);
    check(pic_intr_ack(&pic) == 0x0B, "then IR3");
    eoi(0x20);

    /* Rotate on specific EOI: level 6 becomes lowest, IR7 highest. */
    pulse(6);
    check(pic_intr_ack(&pic) == 0x0E, "IR6");
    out8(0x20, 0xE6);
    check(read_isr(0x20) == 0, "rotate on specific EOI clears IR6");
    pulse(0);
    pulse(7);
    check(pic_intr_ack(&pic) == 0x0F, "after rotating to 6, IR7 beats IR0");
    eoi(0x20);
    check(pic_intr_ack(&pic) == 0x08, "then IR0");
    eoi(0x20);
    out8(0x20, 0xC7);   /* back to the fixed order */
}

static void test_aeoi(void)
{
    fresh();
    init_pair(0x08, 0x70, 0x03, 0x01);   /* master in AEOI */
    pulse(3);
    check(pic_intr_ack(&pic) == 0x0B, "AEOI: IR3");
    check(read_isr(0x20) == 0, "AEOI: no ISR bit");
    pulse(5);
    check(intr == 1, "AEOI: a lower level interrupts at once");
    check(pic_intr_ack(&pic) == 0x0D, "IR5");

    /* Rotate in AEOI mode. */
    out8(0x20, 0x80);
    pulse(0);
    check(pic_intr_ack(&pic) == 0x08, "IR0 (AEOI rotate)");
    pulse(0);
    pulse(1);
    check(pic_intr_ack(&pic) == 0x09, "IR0 became lowest: IR1 first");
    check(pic_intr_ack(&pic) == 0x08, "then IR0");
    out8(0x20, 0x00);   /* clear rotate in AEOI */
    out8(0x20, 0xC7);
    pulse(0);
    pulse(1);
    check(pic_intr_ack(&pic) == 0x08, "fixed priority again: IR0 first");
    pic_intr_ack(&pic);
}

static void test_poll(void)
{
    fresh();
    out8(0x20, 0x0C);
    check(in8(0x20) == 0x00, "poll with nothing pending: 00h");
    pulse(6);
    pulse(4);
    out8(0x20, 0x0C);
    check(in8(0x20) == 0x84, "poll returns 80h | IR4");
    check(read_isr(0x20) == 0x10, "poll acknowledged IR4");
    check(read_irr(0x20) == 0x40, "IR6 still requested");
    check(in8(0x20) == 0x40, "poll is one-shot (IRR read again)");
    eoi(0x20);
    out8(0x20, 0x0C);
    check(in8(0x20) == 0x86, "poll IR6");
    eoi(0x20);
    /* Polling the slave. */
    pulse(13);
    out8(0xA0, 0x0C);
    check(in8(0xA0) == 0x85, "slave poll returns 85h");
    check(read_isr(0xA0) == 0x20, "slave ISR5 set by poll");
    eoi(0xA0);
}

static void test_special_mask(void)
{
    fresh();
    pulse(3);
    pic_intr_ack(&pic);
    pulse(5);
    check(intr == 0, "IR5 held off by IR3 in service");
    out8(0x20, 0x68);   /* set special mask mode */
    out8(0x21, 0x08);   /* mask IR3 */
    check(intr == 1, "special mask: IR5 goes through while IR3 is masked in service");
    check(pic_intr_ack(&pic) == 0x0D, "IR5 in SMM");
    check(read_isr(0x20) == 0x28, "both in service");
    out8(0x20, 0x65);
    out8(0x21, 0x00);
    out8(0x20, 0x48);   /* reset special mask mode */
    pulse(6);
    check(intr == 0, "normal mode: IR6 held off by IR3");
    out8(0x20, 0x63);
    check(intr == 1, "IR6 after EOI 3");
    pic_intr_ack(&pic);
    eoi(0x20);
}

static void test_sfnm(void)
{
    fresh();
    init_pair(0x08, 0x70, 0x11, 0x01);   /* master in special fully nested mode */
    pulse(12);
    check(pic_intr_ack(&pic) == 0x74, "IRQ 12");
    pulse(9);
    check(intr == 1, "SFNM: a higher slave request passes the master's ISR2");
    check(pic_intr_ack(&pic) == 0x71, "IRQ 9 nested in IRQ 12");
    out8(0xA0, 0x20);
    out8(0xA0, 0x20);
    out8(0x20, 0x20);
    check(read_isr(0x20) == 0 && read_isr(0xA0) == 0, "all clear");

    fresh();
    pulse(12);
    pic_intr_ack(&pic);
    pulse(9);
    check(intr == 0, "fully nested: master ISR2 blocks further slave requests");
    out8(0xA0, 0x20);
    check(intr == 0, "still blocked until the master's EOI");
    out8(0x20, 0x20);
    check(intr == 1 && pic_intr_ack(&pic) == 0x71, "IRQ 9 after both EOIs");
    out8(0xA0, 0x20);
    out8(0x20, 0x20);
}

static void test_edge_level(void)
{
    fresh();
    /* Edge: a line held high requests once. */
    irq(4, 1);
    check(pic_intr_ack(&pic) == 0x0C, "edge IR4");
    eoi(0x20);
    check(intr == 0, "edge: held-high line does not request again");
    irq(4, 0);
    check(read_irr(0x20) == 0, "edge: nothing latched after the fall");
    irq(4, 1);
    check(intr == 1, "edge: a new rising edge requests");
    pic_intr_ack(&pic);
    eoi(0x20);
    irq(4, 0);

    /* Level through the ELCR. */
    out8(0x4D0, 0x20);
    check(in8(0x4D0) == 0x20, "ELCR reads back");
    irq(5, 1);
    check(pic_intr_ack(&pic) == 0x0D, "level IR5");
    check(read_irr(0x20) == 0x20, "level: IRR follows the high line");
    eoi(0x20);
    check(intr == 1, "level: still high after EOI requests again");
    pic_intr_ack(&pic);
    irq(5, 0);
    check(read_irr(0x20) == 0, "level: IRR clears with the line");
    eoi(0x20);
    check(intr == 0, "level: no request once low");

    /* Slave level input (IRQ 11, a typical PCI line). */
    out8(0x4D1, 0x08);
    irq(11, 1);
    check(pic_intr_ack(&pic) == 0x73, "level IRQ 11");
    out8(0xA0, 0x20);
    out8(0x20, 0x20);
    check(intr == 1, "level IRQ 11 requests again after EOIs");
    irq(11, 0);
    check(intr == 0, "level IRQ 11 dropped: INTR low");

    /* Reserved ELCR bits (IRQ 0-2, 8, 13 are edge only on PIIX). */
    out8(0x4D0, 0xFF);
    out8(0x4D1, 0xFF);
    check(in8(0x4D0) == 0xF8 && in8(0x4D1) == 0xDE, "ELCR reserved bits read 0 (%02x %02x)",
          in8(0x4D0), in8(0x4D1));
    out8(0x4D0, 0);
    out8(0x4D1, 0);

    /* ICW1 LTIM: the whole chip level triggered. */
    out8(0x20, 0x19);
    out8(0x21, 0x08);
    out8(0x21, 0x04);
    out8(0x21, 0x01);
    irq(6, 1);
    pic_intr_ack(&pic);
    eoi(0x20);
    check(intr == 1, "LTIM: level IR6 requests again");
    irq(6, 0);
    check(intr == 0, "LTIM: dropped");
    fresh();
}

static void test_spurious(void)
{
    fresh();
    out8(0x4D0, 0x20);   /* IRQ 5 level */
    irq(5, 1);
    check(intr == 1, "level IRQ 5 asserted");
    irq(5, 0);           /* gone before the CPU's INTA */
    check(intr == 0, "INTR follows the dropped request");
    int v = pic_intr_ack(&pic);
    check(v == 0x0F, "request gone before INTA: default IR7 (vector 0Fh, got %02x)", v);
    check(read_isr(0x20) == 0, "spurious IR7 sets no ISR bit");
    out8(0x4D0, 0);

    /* A slave request that goes away takes the master's IR2 with it: master IR7. */
    out8(0x4D1, 0x04);   /* IRQ 10 level */
    irq(10, 1);
    irq(10, 0);
    v = pic_intr_ack(&pic);
    check(v == 0x0F, "vanished slave request: master default IR7 (got %02x)", v);
    check(read_isr(0x20) == 0 && read_isr(0xA0) == 0, "no ISR bits");
    out8(0x4D1, 0);

    /* A genuine IR7 does set ISR7, which is how software tells them apart. */
    pulse(7);
    check(pic_intr_ack(&pic) == 0x0F && read_isr(0x20) == 0x80, "real IR7 sets ISR7");
    eoi(0x20);

    /* Masked after INTR rose: INTR drops, an ack anyway is spurious. */
    pulse(3);
    out8(0x21, 0x08);
    check(intr == 0, "masking drops INTR");
    check(pic_intr_ack(&pic) == 0x0F, "ack with the request masked: IR7");
    out8(0x21, 0x00);
    check(pic_intr_ack(&pic) == 0x0B, "the masked request survives");
    eoi(0x20);
}

static void test_icw1_resets(void)
{
    fresh();
    irq(3, 1);           /* held high across initialisation */
    out8(0x21, 0x55);
    out8(0x20, 0x11);
    out8(0x21, 0x08);
    out8(0x21, 0x04);
    out8(0x21, 0x01);
    check(in8(0x21) == 0x00, "ICW1 clears the IMR");
    check(intr == 0 && read_irr(0x20) == 0, "ICW1 resets the edge sense: held line does not request");
    irq(3, 0);
    irq(3, 1);
    check(intr == 1 && pic_intr_ack(&pic) == 0x0B, "a new edge after initialisation requests");
    eoi(0x20);
    irq(3, 0);

    /* ICW3/ICW4 are skipped when ICW1 says single / no ICW4. */
    out8(0xA0, 0x13);    /* single, IC4 */
    out8(0xA1, 0x70);
    out8(0xA1, 0x01);    /* this is ICW4 (no ICW3 in single mode) */
    out8(0xA1, 0xFB);    /* and this is OCW1 */
    check(in8(0xA1) == 0xFB, "single mode: the fourth write is OCW1");
    fresh();

    /* The cascade input is not an external line. */
    pic_set_irq(&pic, 2, 1);
    check(intr == 0, "external IRQ 2 ignored");
}

int main(void)
{
    io = ioports_new();
    ioports_set_log(io, stdout, 1);
    if (pic_init(&pic, io, set_intr, NULL) != 0) {
        printf("pic_init failed\nRESULT: 0 passed, 1 failed\n");
        return 1;
    }
    test_init_and_delivery();
    test_priority_nesting();
    test_rotation();
    test_aeoi();
    test_poll();
    test_special_mask();
    test_sfnm();
    test_edge_level();
    test_spurious();
    test_icw1_resets();
    ioports_free(io);
    printf("RESULT: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
