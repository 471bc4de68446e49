/* Unit tests of the 16550A UART (devices/uart16550.c) through its ports,
 * with a deterministic virtual clock (a fake instruction counter at 1 ns
 * each), a fake IRQ receiver and a fake char backend: reset values, divisor
 * latch, scratch, transmit, loopback and its modem lines, FIFO trigger
 * levels, each interrupt kind and their priority, THRE semantics, the OUT2
 * gate, overruns, the character timeout at the programmed baud rate, and no
 * input lost when the backend has more than the FIFO holds. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cpu/ioport.h"
#include "devices/clock.h"
#include "devices/uart16550.h"

#include "tests/check.h"

#define BASE 0x3F8
enum { RBR = 0, THR = 0, DLL = 0, IER = 1, DLM = 1, IIR = 2, FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7 };

static struct ioports *io;
static struct vclock *clk;
static struct uart16550 uart;
static uint64_t fake_ns;

static uint64_t fake_icount(void *opaque) { return fake_ns; }

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

/* IRQ receiver. */
static int irq_level, irq_rises;
static void irq_recv(void *opaque, int n, int level)
{
    if (level && !irq_level) irq_rises++;
    irq_level = level;
}

/* Fake backend: records output; holds input and delivers it only while the
 * device has room, again whenever the device says its FIFO drained. */
struct fake_chr {
    struct char_backend be;
    uint8_t out[4096];
    size_t out_len;
    uint8_t in[4096];
    size_t in_pos, in_len;
    int over_delivered;
};
static struct fake_chr chr;

static void fake_write(struct char_backend *be, const uint8_t *buf, size_t len)
{
    struct fake_chr *f = (struct fake_chr *)be;
    for (size_t k = 0; k < len && f->out_len < sizeof(f->out); k++) f->out[f->out_len++] = buf[k];
}

static void fake_deliver(struct fake_chr *f)
{
    while (f->in_pos < f->in_len && f->be.can_receive) {
        int room = f->be.can_receive(f->be.rx_opaque);
        if (room <= 0) break;
        size_t n = f->in_len - f->in_pos;
        if (n > (size_t)room) n = (size_t)room;
        f->in_pos += n;
        f->be.receive(f->be.rx_opaque, f->in + f->in_pos - n, n);
    }
}

static void fake_rx_ready(struct char_backend *be) { fake_deliver((struct fake_chr *)be); }

static void host_send(const void *data, size_t len)
{
    memcpy(chr.in + chr.in_len, data, len);
    chr.in_len += len;
    fake_deliver(&chr);
}

static void out8(int reg, uint8_t v) { io_write(io, (uint16_t)(BASE + reg), v, 1); }
static uint8_t in8(int reg) { return (uint8_t)io_read(io, (uint16_t)(BASE + reg), 1); }

static void setup(int with_backend)
{
    if (io) ioports_free(io);
    if (clk) vclock_free(clk);
    io = ioports_new();
    fake_ns = 0;
    clk = vclock_new(VCLOCK_DETERMINISTIC, fake_icount, NULL);
    memset(&chr, 0, sizeof(chr));
    chr.be.write = fake_write;
    chr.be.rx_ready = fake_rx_ready;
    irq_level = irq_rises = 0;
    struct irq_line line = { irq_recv, NULL, 4 };
    if (uart16550_init(&uart, io, BASE, clk, line, with_backend ? &chr.be : NULL))
        check(0, "uart16550_init failed");
}

/* 8N1 at divisor d: 10 bits of d*16 clocks of 1.8432 MHz. */
static int64_t char_ns(int bits, int divisor) { return (int64_t)bits * divisor * 16 * 1000000000 / 1843200; }

static void test_reset_values(void)
{
    setup(1);
    check(in8(IER) == 0, "IER after reset %#x", in8(IER));
    check(in8(IIR) == 0x01, "IIR after reset %#x", in8(IIR));
    check(in8(LCR) == 0, "LCR after reset");
    check(in8(MCR) == 0, "MCR after reset");
    check(in8(LSR) == 0x60, "LSR after reset %#x (THRE|TEMT)", in8(LSR));
    check(in8(MSR) == 0xB0, "MSR with a backend %#x (DCD|DSR|CTS, no deltas)", in8(MSR));
    check(irq_level == 0, "IRQ low after reset");
    setup(0);
    check(in8(MSR) == 0x00, "MSR without a backend %#x", in8(MSR));
    /* Scratch. */
    out8(SCR, 0x5A);
    check(in8(SCR) == 0x5A, "scratch register");
    /* Unused IER/MCR bits read 0. */
    out8(IER, 0xFF);
    check(in8(IER) == 0x0F, "IER bits 7-4 read 0: %#x", in8(IER));
    out8(MCR, 0xFF);
    check(in8(MCR) == 0x1F, "MCR bits 7-5 read 0: %#x", in8(MCR));
}

static void test_divisor_latch(void)
{
    setup(1);
    out8(IER, 0x05);
    out8(LCR, 0x83);          /* DLAB, 8N1 */
    out8(DLL, 0x01);
    out8(DLM, 0x02);
    check(in8(DLL) == 0x01 && in8(DLM) == 0x02, "divisor latch reads back %#x %#x", in8(DLL), in8(DLM));
    check(uart.divisor == 0x0201, "divisor %#x", uart.divisor);
    check(chr.out_len == 0, "DLL write is not a transmit");
    out8(LCR, 0x03);
    check(in8(IER) == 0x05, "IER unchanged by DLM write: %#x", in8(IER));
    out8(THR, 'Q');
    check(chr.out_len == 1 && chr.out[0] == 'Q', "THR with DLAB clear transmits");
    out8(LCR, 0x83);
    check(in8(DLL) == 0x01, "THR write did not touch DLL");
}

static void test_transmit(void)
{
    setup(1);
    const char *msg = "hello, world\r\n";
    for (const char *p = msg; *p; p++) {
        check((in8(LSR) & 0x60) == 0x60, "THRE|TEMT before each byte");
        out8(THR, (uint8_t)*p);
    }
    check(chr.out_len == strlen(msg) && !memcmp(chr.out, msg, strlen(msg)), "bytes reach the backend in order");
    check((in8(LSR) & 0x60) == 0x60, "THRE|TEMT after transmit");
}

static void test_loopback(void)
{
    setup(1);
    out8(MCR, 0x10);
    out8(THR, 0x42);
    check(chr.out_len == 0, "loopback: nothing reaches the backend");
    check(in8(LSR) & 0x01, "loopback: DR set");
    check(in8(RBR) == 0x42, "loopback: byte read back");
    check(!(in8(LSR) & 0x01), "loopback: DR clear after read");
    check(chr.be.can_receive(chr.be.rx_opaque) == 0, "loopback: the backend may not deliver");
    /* Linux's probe: MCR = LOOP|OUT2|RTS reads MSR 0x90 (DCD from OUT2, CTS from RTS). */
    out8(MCR, 0x1A);
    check((in8(MSR) & 0xF0) == 0x90, "loopback MSR %#x want 0x90", in8(MSR) & 0xF0);
    out8(MCR, 0x10);
    in8(MSR);
    out8(MCR, 0x10 | 0x0F);
    uint8_t msr = in8(MSR);
    check((msr & 0xF0) == 0xF0, "loopback MSR all outputs %#x", msr);
    check((msr & 0x0B) == 0x0B, "deltas DCTS/DDSR/DDCD set on change: %#x", msr);
    check((in8(MSR) & 0x0F) == 0, "deltas clear on read");
    out8(MCR, 0x10 | 0x0B);   /* OUT1 (RI) falls: trailing edge */
    check(in8(MSR) & 0x04, "TERI on RI trailing edge");
    out8(MCR, 0x10 | 0x0F);   /* RI rises: no TERI */
    check(!(in8(MSR) & 0x04), "no TERI on a rising edge");
    /* Leaving loopback: modem inputs follow the backend again. */
    out8(MCR, 0x00);
    check((in8(MSR) & 0xF0) == 0xB0, "out of loopback MSR %#x", in8(MSR));
}

static void test_fifo_and_overrun(void)
{
    setup(1);
    out8(FCR, 0x07);   /* FIFO on, clear both */
    check((in8(IIR) & 0xC0) == 0xC0, "IIR bits 7-6 show FIFOs on");
    out8(MCR, 0x10);
    for (int k = 0; k < 16; k++) out8(THR, (uint8_t)(0x30 + k));
    check(!(in8(LSR) & 0x02), "16 bytes fit without overrun");
    out8(THR, 0x99);
    uint8_t lsr = in8(LSR);
    check(lsr & 0x02, "17th byte: OE set (LSR %#x)", lsr);
    check(!(in8(LSR) & 0x02), "OE clears on LSR read");
    int ok = 1;
    for (int k = 0; k < 16; k++) ok &= in8(RBR) == 0x30 + k;
    check(ok, "FIFO kept the first 16 bytes in order");
    check(!(in8(LSR) & 0x01), "FIFO empty after 16 reads");
    /* RX FIFO reset. */
    out8(THR, 1);
    out8(THR, 2);
    out8(FCR, 0x03);
    check(!(in8(LSR) & 0x01), "FCR bit 1 empties the RX FIFO");
    /* FIFOs off: 16450 mode, one byte; an overrun replaces it. */
    out8(FCR, 0x00);
    check((in8(IIR) & 0xC0) == 0, "IIR bits 7-6 clear with FIFOs off");
    out8(THR, 0x11);
    out8(THR, 0x22);
    lsr = in8(LSR);
    check((lsr & 0x03) == 0x03, "16450 mode: second byte overruns (LSR %#x)", lsr);
    check(in8(RBR) == 0x22, "16450 mode: RBR holds the newest byte");
}

static void test_trigger_levels(void)
{
    static const uint8_t levels[4] = { 1, 4, 8, 14 };
    for (int t = 0; t < 4; t++) {
        setup(1);
        out8(LCR, 0x03);
        out8(FCR, (uint8_t)(0x07 | (t << 6)));
        out8(IER, 0x01);
        out8(MCR, 0x08);   /* OUT2: IRQ to the PIC */
        uint8_t buf[16];
        for (int k = 0; k < 16; k++) buf[k] = (uint8_t)k;
        host_send(buf, (size_t)levels[t] - 1);
        check((in8(IIR) & 0x0F) == 0x01, "trigger %d: %d bytes give no interrupt", levels[t], levels[t] - 1);
        check(!irq_level, "trigger %d: IRQ low below the level", levels[t]);
        host_send(buf, 1);
        check((in8(IIR) & 0x0F) == 0x04, "trigger %d: RDA at the level (IIR %#x)", levels[t], in8(IIR));
        check(irq_level, "trigger %d: IRQ high at the level", levels[t]);
        in8(RBR);
        check((in8(IIR) & 0x0F) == 0x01, "trigger %d: RDA clears below the level", levels[t]);
        check(!irq_level, "trigger %d: IRQ drops below the level", levels[t]);
    }
}

static void test_timeout(void)
{
    setup(1);
    out8(LCR, 0x80);
    out8(DLL, 12);     /* 9600 baud */
    out8(DLM, 0);
    out8(LCR, 0x03);   /* 8N1: 10 bits a character */
    out8(FCR, 0xC7);   /* trigger 14 */
    out8(IER, 0x01);
    out8(MCR, 0x08);
    int64_t four = 4 * char_ns(10, 12);
    host_send("abc", 3);
    int64_t t0 = (int64_t)fake_ns;
    run_to_ns(t0 + four - 2000);
    check((in8(IIR) & 0x0F) == 0x01, "no timeout before 4 character times");
    check(!irq_level, "IRQ low before the timeout");
    run_to_ns(t0 + four + 2000);
    check((in8(IIR) & 0x0F) == 0x0C, "timeout after 4 character times (IIR %#x)", in8(IIR));
    check(irq_level, "IRQ on timeout");
    check(in8(RBR) == 'a', "first byte");
    check((in8(IIR) & 0x0F) == 0x01, "reading a byte clears the timeout");
    int64_t t1 = (int64_t)fake_ns;
    run_to_ns(t1 + four - 2000);
    check((in8(IIR) & 0x0F) == 0x01, "timer restarted by the read");
    run_to_ns(t1 + four + 2000);
    check((in8(IIR) & 0x0F) == 0x0C, "timeout again for the remaining bytes");
    in8(RBR);
    in8(RBR);
    run_to_ns((int64_t)fake_ns + 10 * four);
    check((in8(IIR) & 0x0F) == 0x01, "no timeout with an empty FIFO");
    check(!irq_level, "IRQ low with an empty FIFO");

    /* A byte arriving restarts the count. */
    host_send("x", 1);
    int64_t t2 = (int64_t)fake_ns;
    run_to_ns(t2 + four / 2);
    host_send("y", 1);
    int64_t t3 = (int64_t)fake_ns;
    run_to_ns(t2 + four + 2000);
    check((in8(IIR) & 0x0F) == 0x01, "a new byte restarts the timeout count");
    run_to_ns(t3 + four + 2000);
    check((in8(IIR) & 0x0F) == 0x0C, "timeout 4 character times after the last byte");
    in8(RBR);
    in8(RBR);

    /* Slower line, longer characters: 1200 baud, 7E2 = 1+7+1+2 = 11 bits. */
    out8(LCR, 0x80);
    out8(DLL, 96);
    out8(LCR, 0x1E);
    int64_t four_slow = 4 * char_ns(11, 96);
    host_send("z", 1);
    int64_t t4 = (int64_t)fake_ns;
    run_to_ns(t4 + four_slow - 5000);
    check((in8(IIR) & 0x0F) == 0x01, "1200 7E2: no timeout before %lld ns", (long long)four_slow);
    run_to_ns(t4 + four_slow + 5000);
    check((in8(IIR) & 0x0F) == 0x0C, "1200 7E2: timeout at 4 x 11 bit times");
    in8(RBR);

    /* No timeout indication in 16450 mode: RDA instead, at once. */
    out8(FCR, 0x00);
    host_send("q", 1);
    check((in8(IIR) & 0x0F) == 0x04, "16450 mode: RDA for one byte");
    in8(RBR);
}

static void test_thre(void)
{
    setup(1);
    out8(MCR, 0x08);
    out8(IER, 0x02);
    check((in8(LSR) & 0x20), "THR empty");
    check(irq_level, "enabling ETBEI with THR empty raises the IRQ");
    check((in8(IIR) & 0x0F) == 0x02, "IIR reports THRE");
    check(!irq_level, "reading IIR (THRE) drops the IRQ");
    check((in8(IIR) & 0x0F) == 0x01, "THRE cleared by the IIR read");
    out8(THR, 'x');
    check(irq_level && (in8(IIR) & 0x0F) == 0x02, "THRE again once the written byte left");
    out8(THR, 'y');
    out8(IER, 0x00);
    check(!irq_level, "IER 0 drops the IRQ");
    out8(IER, 0x02);
    check(irq_level, "re-enabling ETBEI asserts THRE again (Linux's THRE test)");
    out8(IER, 0x02);
    in8(IIR);
    out8(IER, 0x02);
    check(!irq_level, "rewriting IER with ETBEI already set does not re-arm it");
}

static void test_out2_gate(void)
{
    setup(1);
    out8(IER, 0x01);
    host_send("a", 1);
    check((in8(IIR) & 0x0F) == 0x04, "RDA pending");
    check(!irq_level, "OUT2 clear: no IRQ");
    out8(MCR, 0x08);
    check(irq_level, "OUT2 set: IRQ");
    out8(MCR, 0x18);
    check(!irq_level, "loopback cuts the IRQ (OUT2 pin forced inactive)");
    out8(MCR, 0x08);
    check(irq_level, "IRQ back after loopback");
    in8(RBR);
    check(!irq_level, "IRQ low when the byte is read");
}

static void test_priorities(void)
{
    setup(1);
    out8(FCR, 0x01);   /* FIFO, trigger 1 */
    out8(MCR, 0x10);   /* loopback: IIR works, the IRQ pin is gated off */
    out8(IER, 0x0F);
    in8(IIR);          /* take the THRE from enabling */
    in8(MSR);
    /* Line status (overrun) + received data + THRE + modem status. */
    for (int k = 0; k < 17; k++) out8(THR, (uint8_t)k);   /* 16 in the FIFO, one overruns */
    out8(MCR, 0x11);   /* DTR -> DSR: DDSR */
    check((in8(IIR) & 0x0F) == 0x06, "line status first (IIR %#x)", in8(IIR));
    in8(LSR);
    check((in8(IIR) & 0x0F) == 0x04, "then received data (IIR %#x)", in8(IIR));
    for (int k = 0; k < 16; k++) in8(RBR);
    check((in8(IIR) & 0x0F) == 0x02, "then THR empty");
    check((in8(IIR) & 0x0F) == 0x00, "then modem status (THRE cleared by the IIR read)");
    in8(MSR);
    check((in8(IIR) & 0x0F) == 0x01, "nothing after the MSR read");
    /* Disabled sources do not show. */
    out8(IER, 0x00);
    out8(MCR, 0x10);
    out8(THR, 0x55);
    check((in8(IIR) & 0x0F) == 0x01, "no interrupt with IER 0 despite data and deltas");
}

static void test_no_input_dropped(int fifo)
{
    setup(1);
    if (fifo) out8(FCR, 0x87);
    static uint8_t data[3000];
    for (size_t k = 0; k < sizeof(data); k++) data[k] = (uint8_t)(k * 7 + k / 256);
    host_send(data, sizeof(data));
    check(chr.in_pos == (size_t)(fifo ? 16 : 1), "%s: the backend delivered only what fits (%zu)",
          fifo ? "FIFO" : "16450", chr.in_pos);
    size_t got = 0;
    int ok = 1, spins = 0;
    while (got < sizeof(data) && spins < 100000) {
        spins++;
        if (!(in8(LSR) & 0x01)) continue;
        ok &= in8(RBR) == data[got];
        got++;
    }
    check(got == sizeof(data) && ok, "%s: all %zu bytes arrive in order (got %zu, ok %d)",
          fifo ? "FIFO" : "16450", sizeof(data), got, ok);
    check(!(in8(LSR) & 0x02), "%s: no overrun", fifo ? "FIFO" : "16450");
}

int main(void)
{
    test_reset_values();
    test_divisor_latch();
    test_transmit();
    test_loopback();
    test_fifo_and_overrun();
    test_trigger_levels();
    test_timeout();
    test_thre();
    test_out2_gate();
    test_priorities();
    test_no_input_dropped(1);
    test_no_input_dropped(0);
    printf("RESULT: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
