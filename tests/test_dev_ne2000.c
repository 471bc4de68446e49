/* NE2000 (DP8390) and RTL8029AS: driven headless through the ports as the
 * Linux ne / ne2k-pci drivers and DOS packet drivers do, with a fake network
 * backend that records sent frames and offers held frames only while the
 * card's can_receive says yes. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/ioport.h"
#include "cpu/memory.h"
#include "devices/clock.h"
#include "devices/ne2000.h"
#include "devices/pci.h"

#include "tests/check.h"

/* ---------------------------------------------------------------------------
 * Fake network backend */

#define QMAX 64

static struct vclock *clk;
static void settle(void);

struct fake_net {
    struct net_backend be;
    uint8_t sent[16][NET_MAX_FRAME];
    size_t sent_len[16];
    int nsent;
    uint8_t q[QMAX][NET_MAX_FRAME];
    size_t qlen[QMAX];
    int qhead, qtail;
    int ready_calls;
    int delivering;
};

static void fake_send(struct net_backend *b, const uint8_t *frame, size_t len)
{
    struct fake_net *f = (struct fake_net *)b;
    if (f->nsent < 16) {
        memcpy(f->sent[f->nsent], frame, len);
        f->sent_len[f->nsent] = len;
    }
    f->nsent++;
}

/* Delivers held frames in order while the card says it has room. */
static void fake_deliver(struct fake_net *f)
{
    if (f->delivering) return;
    f->delivering = 1;
    while (f->qhead != f->qtail && f->be.can_receive &&
           f->be.can_receive(f->be.rx_opaque, f->qlen[f->qhead % QMAX])) {
        int k = f->qhead++ % QMAX;
        f->be.receive(f->be.rx_opaque, f->q[k], f->qlen[k]);
    }
    f->delivering = 0;
}

static void fake_rx_ready(struct net_backend *b)
{
    struct fake_net *f = (struct fake_net *)b;
    f->ready_calls++;
    fake_deliver(f);
}

static void fake_init(struct fake_net *f)
{
    memset(f, 0, sizeof(*f));
    f->be.send = fake_send;
    f->be.rx_ready = fake_rx_ready;
}

static void fake_offer(struct fake_net *f, const uint8_t *frame, size_t len)
{
    int k = f->qtail++ % QMAX;
    memcpy(f->q[k], frame, len);
    f->qlen[k] = len;
    fake_deliver(f);
    settle();
}

static int fake_held(const struct fake_net *f)
{
    return f->qtail - f->qhead;
}

/* Lets virtual time run for up to 50 ms, firing the timers due (the card
 * paces incoming frames at the wire's speed). */
static void settle(void)
{
    int64_t end = vclock_ns(clk) + 50000000;
    for (int k = 0; k < 100000; k++) {
        int64_t d = vclock_next_deadline(clk);
        if (d > end) break;
        if (d > vclock_ns(clk)) vclock_skip_to(clk, d);
        vclock_run_timers(clk);
    }
}

/* ---------------------------------------------------------------------------
 * The ISA card under test */

#define BASE 0x300

static struct ioports *io;
static uint64_t icount;
static struct ne2000 *nic;
static struct fake_net net;
static int irq_level, irq_rises;

static const uint8_t our_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

static uint64_t fake_icount(void *opaque)
{
    return icount;
}

static void fake_irq(void *opaque, int n, int level)
{
    if (level && !irq_level) irq_rises++;
    irq_level = level;
}

static void reg_w(unsigned off, uint8_t v) { io_write(io, (uint16_t)(BASE + off), v, 1); }
static uint8_t reg_r(unsigned off) { return (uint8_t)io_read(io, (uint16_t)(BASE + off), 1); }

static uint8_t page_r(unsigned page, unsigned off)
{
    uint8_t cr = reg_r(0);
    reg_w(0, (uint8_t)((cr & 0x3F) | page << 6));
    uint8_t v = reg_r(off);
    reg_w(0, cr);
    return v;
}

static void page_w(unsigned page, unsigned off, uint8_t v)
{
    uint8_t cr = reg_r(0);
    reg_w(0, (uint8_t)((cr & 0x3F) | page << 6));
    reg_w(off, v);
    reg_w(0, cr);
}

/* The run state bits of CR as they stand, for commands that keep them. */
static uint8_t run_bits(void) { return reg_r(0) & 0x03; }

static void dma_setup(uint16_t addr, uint16_t count, uint8_t cmd)
{
    reg_w(0x00, (uint8_t)(0x20 | run_bits()));
    reg_w(0x0A, (uint8_t)count);
    reg_w(0x0B, (uint8_t)(count >> 8));
    reg_w(0x08, (uint8_t)addr);
    reg_w(0x09, (uint8_t)(addr >> 8));
    reg_w(0x00, (uint8_t)(cmd | run_bits()));
}

/* Word-mode remote write, as ne_block_output does (count rounded up to even). */
static void dma_write(uint16_t addr, const uint8_t *buf, size_t len)
{
    size_t n = (len + 1) & ~(size_t)1;
    dma_setup(addr, (uint16_t)n, 0x10);
    for (size_t i = 0; i < n; i += 2) {
        uint16_t w = (uint16_t)(buf[i] | (i + 1 < len ? buf[i + 1] : 0) << 8);
        io_write(io, BASE + 0x10, w, 2);
    }
}

static void dma_read(uint16_t addr, uint8_t *buf, size_t len)
{
    dma_setup(addr, (uint16_t)len, 0x08);
    for (size_t i = 0; i < len; i += 2) {
        uint16_t w = (uint16_t)io_read(io, BASE + 0x10, 2);
        buf[i] = (uint8_t)w;
        if (i + 1 < len) buf[i + 1] = (uint8_t)(w >> 8);
    }
}

/* NS8390_init(dev, 1) of Linux's 8390 core, with the ring PSTART..PSTOP,
 * BNRY = PSTOP - 1, CURR = PSTART, and the given RCR. */
static void nic_setup(uint8_t pstart, uint8_t pstop, uint8_t rcr)
{
    reg_w(0x00, 0x21);
    reg_w(0x0E, 0x49);
    reg_w(0x0A, 0);
    reg_w(0x0B, 0);
    reg_w(0x0C, 0x20);
    reg_w(0x0D, 0x02);
    reg_w(0x04, 0x40);
    reg_w(0x01, pstart);
    reg_w(0x03, (uint8_t)(pstop - 1));
    reg_w(0x02, pstop);
    reg_w(0x07, 0xFF);
    reg_w(0x0F, 0x00);
    reg_w(0x00, 0x61);
    for (int i = 0; i < 6; i++) reg_w((unsigned)(1 + i), our_mac[i]);
    for (int i = 0; i < 8; i++) reg_w((unsigned)(8 + i), 0);
    reg_w(0x07, pstart);
    reg_w(0x00, 0x21);
    reg_w(0x07, 0xFF);
    reg_w(0x0F, 0x3F);
    reg_w(0x00, 0x22);
    reg_w(0x0D, 0x00);
    reg_w(0x0C, rcr);
}

static void make_frame(uint8_t *f, size_t len, const uint8_t *dst, uint8_t seed)
{
    memcpy(f, dst, 6);
    memcpy(f + 6, "\x02\x00\x00\x00\x00\x01", 6);
    f[12] = 0x08;
    f[13] = 0x00;
    for (size_t i = 14; i < len; i++) f[i] = (uint8_t)(seed + i * 7);
}

/* Reference CRC-32 (bit at a time; independent of the card's nibble table). */
static uint32_t ref_crc32(const uint8_t *p, size_t len)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < len; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (c & 1 ? 0xEDB88320u : 0);
    }
    return ~c;
}

static void fresh_isa(void)
{
    fake_init(&net);
    irq_level = 0;
    irq_rises = 0;
    struct irq_line line = { fake_irq, NULL, 10 };
    ioports_unregister(io, BASE, NE2000_IO_SIZE);
    if (ne2000_init_isa(nic, io, BASE, line, clk, our_mac, &net.be)) {
        printf("cannot set up the ISA card\n");
        exit(1);
    }
}

static int can_take(size_t len)
{
    return net.be.can_receive(net.be.rx_opaque, len);
}

/* ---------------------------------------------------------------------------
 * Tests */

static void test_power_on_and_probe(void)
{
    fresh_isa();
    check(reg_r(0) == 0x21, "power-on CR is 0x21 (STP, remote DMA aborted): %#x", reg_r(0));
    check(reg_r(0x07) == 0x80, "power-on ISR has RST only: %#x", reg_r(0x07));
    check(page_r(2, 0x0F) == 0x00, "power-on IMR is 0");
    check(!can_take(60), "a stopped card takes no frames");
    /* The ne driver's probe (ne_probe1): CR not 0xFF, MAR5 scribbled, CNTR0 clears on read. */
    uint8_t reg0 = reg_r(0);
    check(reg0 != 0xFF, "CR is not floating");
    reg_w(0x00, 0x61);
    (void)reg_r(0x0D);
    reg_w(0x0D, 0xFF);
    reg_w(0x00, 0x20);
    check(reg_r(0) == 0x21, "CR 0x20 (neither STA nor STP) leaves the NIC stopped: %#x", reg_r(0));
    (void)reg_r(0x0D);
    check(reg_r(0x0D) == 0, "CNTR0 reads 0 after a read");
    check(page_r(1, 0x0D) == 0xFF, "MAR5 holds what the probe wrote");
    check(reg_r(0x0A) == 0xFF && reg_r(0x0B) == 0xFF, "ISA NE2000: no RTL8019/8029 ID at page 0 0x0A/0x0B");
}

static void test_reset_port(void)
{
    fresh_isa();
    reg_w(0x00, 0x22);
    check((reg_r(0x07) & 0x80) == 0, "START clears ISR.RST");
    check(reg_r(0) == 0x22, "CR reads started: %#x", reg_r(0));
    reg_w(0x0F, 0x3F);
    (void)reg_r(0x1F);
    check(reg_r(0x07) == 0x80, "a read of the reset port sets ISR.RST: %#x", reg_r(0x07));
    check(reg_r(0) == 0x21, "and stops the NIC: CR %#x", reg_r(0));
    check(page_r(2, 0x0F) == 0, "and masks the interrupts");
    reg_w(0x1F, 0xFF);
    reg_w(0x07, 0xFF);
    check(reg_r(0x07) == 0x80, "RST ignores writes to the ISR");
    (void)reg_r(0x18);
    check(reg_r(0) == 0x21, "the whole 0x18-0x1F range is the reset port");
    reg_w(0x00, 0x21);
    check(reg_r(0x07) == 0x80, "STOP sets RST");
}

static void test_prom(void)
{
    fresh_isa();
    /* ne_probe1: byte-wide DMA of 32 bytes from 0x0000. */
    static const uint8_t seq[][2] = {
        { 0x21, 0x00 }, { 0x48, 0x0E }, { 0x00, 0x0A }, { 0x00, 0x0B }, { 0x00, 0x0F }, { 0xFF, 0x07 },
        { 0x20, 0x0C }, { 0x02, 0x0D }, { 32, 0x0A }, { 0x00, 0x0B }, { 0x00, 0x08 }, { 0x00, 0x09 },
        { 0x0A, 0x00 },
    };
    for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) reg_w(seq[i][1], seq[i][0]);
    uint8_t prom[32];
    int doubled = 1;
    for (int i = 0; i < 32; i++) prom[i] = reg_r(0x10);
    for (int i = 0; i < 32; i += 2) doubled &= prom[i] == prom[i + 1];
    check(doubled, "byte mode: every PROM byte appears twice (a 16-bit card)");
    int mac_ok = 1;
    for (int i = 0; i < 6; i++) mac_ok &= prom[2 * i] == our_mac[i];
    check(mac_ok, "byte mode: the station address");
    check(prom[28] == 0x57 && prom[30] == 0x57, "NE2000 signature 'WW' at PROM bytes 14-15");
    check(reg_r(0x07) & 0x40, "RDC after the 32 bytes");
    check(reg_r(0x08) == 32 && reg_r(0x09) == 0, "CRDA advanced to 0x0020");
    check(!can_take(60), "started in loopback (TCR 0x02): no frames");

    /* Word mode: 16 word reads give each byte in both halves. */
    reg_w(0x0E, 0x49);
    dma_setup(0, 32, 0x08);
    int words_ok = 1;
    for (int i = 0; i < 16; i++) {
        uint16_t w = (uint16_t)io_read(io, BASE + 0x10, 2);
        uint8_t want = i < 6 ? our_mac[i] : i >= 14 ? 0x57 : 0;
        words_ok &= w == (uint16_t)(want | want << 8);
    }
    check(words_ok, "word mode: PROM words are the byte doubled");

    /* ne2k-pci: 32 byte reads in word mode; each moves a word. */
    dma_setup(0, 32, 0x08);
    uint8_t sa[32];
    for (int i = 0; i < 32; i++) sa[i] = reg_r(0x10);
    check(!memcmp(sa, our_mac, 6), "word mode byte reads: SA_prom[0..5] is the MAC (ne2k-pci)");
    check(sa[14] == 0x57 && sa[16] == 0xFF && sa[31] == 0xFF, "the signature at 28, and past the 32-byte PROM reads float high");
    check(reg_r(0x08) == 64, "byte reads in word mode advance CRDA by 2: %#x", reg_r(0x08));

    /* 32-bit reads (what the RTL8029 allows) move two words. */
    dma_setup(0, 32, 0x08);
    uint32_t d0 = io_read(io, BASE + 0x10, 4);
    check(d0 == (uint32_t)(our_mac[0] * 0x0101u | our_mac[1] * 0x01010000u), "dword read: %#x", d0);
}

static void test_remote_dma(void)
{
    fresh_isa();
    reg_w(0x0E, 0x49);
    uint8_t pat[256], back[256];
    for (int i = 0; i < 256; i++) pat[i] = (uint8_t)(i * 13 + 5);
    reg_w(0x07, 0xFF);
    dma_write(0x4000, pat, 256);
    check(reg_r(0x07) & 0x40, "RDC after a remote write");
    check(reg_r(0x08) == 0x00 && reg_r(0x09) == 0x41, "CRDA = start + count after the write");
    reg_w(0x0E, 0x48);
    dma_setup(0x4000, 256, 0x08);
    for (int i = 0; i < 256; i++) back[i] = reg_r(0x10);
    check(!memcmp(pat, back, 256), "written in word mode, read back in byte mode");
    reg_w(0x0E, 0x49);
    memset(back, 0, sizeof(back));
    dma_read(0x4000, back, 256);
    check(!memcmp(pat, back, 256), "and in word mode");

    /* Byte order: DCR.BOS puts the lower address in the high byte. */
    reg_w(0x0E, 0x4B);
    dma_setup(0x4200, 2, 0x10);
    io_write(io, BASE + 0x10, 0x1234, 2);
    reg_w(0x0E, 0x48);
    dma_setup(0x4200, 2, 0x08);
    uint8_t b0 = reg_r(0x10), b1 = reg_r(0x10);
    check(b0 == 0x12 && b1 == 0x34, "BOS=1: word 0x1234 stored as 12 34 (%02x %02x)", b0, b1);

    /* Bounds: RAM ends at 0x7FFF; nothing above, and the PROM is read-only. */
    reg_w(0x0E, 0x49);
    uint8_t ones[32];
    memset(ones, 0xA5, sizeof(ones));
    dma_write(0x7FF0, ones, 32);
    dma_read(0x7FF0, back, 32);
    int bound_ok = 1;
    for (int i = 0; i < 32; i++) bound_ok &= back[i] == (i < 16 ? 0xA5 : 0xFF);
    check(bound_ok, "a write running past 0x7FFF keeps only the RAM part; beyond reads 0xFF");
    dma_write(0x0000, ones, 16);
    dma_read(0x0000, back, 2);
    check(back[0] == our_mac[0], "the PROM ignores writes");
    dma_write(0xC000, ones, 16);
    dma_read(0xC000, back, 4);
    check(back[0] == 0xFF && back[3] == 0xFF, "0xC000: nothing there");
    dma_read(0x3FFE, back, 4);
    check(back[0] == 0xFF && back[1] == 0xFF && back[2] == pat[0] && back[3] == pat[1],
          "0x3FFE-0x3FFF float, 0x4000 is RAM");

    /* The ne driver's IRQ probe: a zero-count read completes at once. */
    reg_w(0x07, 0xFF);
    reg_w(0x0F, 0x50);
    check(irq_level == 0, "no interrupt yet");
    reg_w(0x0A, 0);
    reg_w(0x0B, 0);
    reg_w(0x00, 0x0A);
    check((reg_r(0x07) & 0x40) && irq_level == 1, "RREAD with RBCR 0: RDC and the IRQ at once");
    reg_w(0x0F, 0x00);
    check(irq_level == 0, "masking drops the line");
    reg_w(0x0F, 0x40);
    check(irq_level == 1, "unmasking a pending RDC raises it");
    reg_w(0x07, 0x40);
    check(irq_level == 0 && !(reg_r(0x07) & 0x40), "writing 1 clears RDC and the line");
}

static void test_transmit(void)
{
    fresh_isa();
    nic_setup(0x46, 0x80, 0x04);
    uint8_t f[100];
    static const uint8_t dst[6] = { 0x52, 0x55, 0x0A, 0x00, 0x02, 0x02 };
    make_frame(f, sizeof(f), dst, 3);
    dma_write(0x4000, f, sizeof(f));
    reg_w(0x07, 0xFF);
    reg_w(0x04, 0x40);
    reg_w(0x05, sizeof(f));
    reg_w(0x06, 0);
    int rises = irq_rises;
    reg_w(0x00, 0x26);
    check(net.nsent == 1, "one frame at the backend: %d", net.nsent);
    check(net.sent_len[0] == sizeof(f) && !memcmp(net.sent[0], f, sizeof(f)), "with the bytes written at TPSR");
    check(reg_r(0x07) & 0x02, "ISR.PTX");
    check(reg_r(0x04) & 0x01, "TSR.PTX");
    check((reg_r(0) & 0x04) == 0, "TXP cleared");
    check(irq_level == 1 && irq_rises == rises + 1, "the PTX interrupt");
    reg_w(0x07, 0x02);
    check(irq_level == 0, "acknowledged");
    reg_w(0x00, 0x21);
    reg_w(0x00, 0x25);
    check(net.nsent == 1, "no transmission while stopped");
}

/* What a driver does to take one packet: header at BNRY + 1 (Linux's
 * convention), the data through the remote DMA, then BNRY = next - 1. */
static int take_packet(uint8_t pstart, uint8_t pstop, uint8_t *hdr, uint8_t *data, size_t max)
{
    uint8_t bnry = reg_r(0x03);
    uint8_t this_page = (uint8_t)(bnry + 1 >= pstop ? pstart : bnry + 1);
    if (this_page == page_r(1, 0x07)) return -1;
    dma_read((uint16_t)(this_page << 8), hdr, 4);
    size_t count = (size_t)(hdr[2] | hdr[3] << 8);
    if (count > max) count = max;
    dma_read((uint16_t)((this_page << 8) + 4), data, count);
    uint8_t next = hdr[1];
    reg_w(0x03, (uint8_t)(next == pstart ? pstop - 1 : next - 1));
    settle();
    return (int)count;
}

static void test_receive(void)
{
    fresh_isa();
    nic_setup(0x46, 0x80, 0x04);
    check(can_take(1514), "a started card with an empty ring takes frames");
    uint8_t f[100];
    make_frame(f, sizeof(f), our_mac, 9);
    fake_offer(&net, f, sizeof(f));
    check(fake_held(&net) == 0, "delivered");
    uint8_t hdr[4], data[1600];
    dma_read(0x4600, hdr, 4);
    check(hdr[0] == 0x01 && hdr[1] == 0x47 && hdr[2] == 104 && hdr[3] == 0,
          "header: status PRX, next 0x47, count 104 (%02x %02x %02x %02x)", hdr[0], hdr[1], hdr[2], hdr[3]);
    dma_read(0x4604, data, 104);
    check(!memcmp(data, f, sizeof(f)), "the frame's bytes follow the header");
    uint32_t fcs = ref_crc32(f, sizeof(f));
    check(data[100] == (uint8_t)fcs && data[103] == (uint8_t)(fcs >> 24), "then its FCS");
    check(page_r(1, 0x07) == 0x47, "CURR advanced");
    check((reg_r(0x07) & 0x01) && irq_level == 1, "PRX and the interrupt");
    check(reg_r(0x0C) == 0x01, "RSR: PRX, physical address");

    uint8_t small[42];
    make_frame(small, sizeof(small), our_mac, 1);
    fake_offer(&net, small, sizeof(small));
    dma_read(0x4700, hdr, 4);
    check(hdr[1] == 0x48 && hdr[2] == 64, "a 42-byte frame arrives padded to 60 (+FCS = 64)");
    dma_read(0x4704, data, 64);
    check(!memcmp(data, small, 42) && data[42] == 0 && data[59] == 0, "padded with zeros");

    int n1 = take_packet(0x46, 0x80, hdr, data, sizeof(data));
    check(n1 == 104 && !memcmp(data, f, sizeof(f)), "the driver takes packet 1");
    check(reg_r(0x03) == 0x46, "BNRY = next - 1");
    int n2 = take_packet(0x46, 0x80, hdr, data, sizeof(data));
    check(n2 == 64 && take_packet(0x46, 0x80, hdr, data, sizeof(data)) == -1, "then packet 2, then empty");
}

static void test_wrap(void)
{
    fresh_isa();
    nic_setup(0x46, 0x80, 0x04);
    page_w(1, 0x07, 0x7E);
    reg_w(0x03, 0x7D);
    uint8_t f[600], data[700], hdr[4];
    make_frame(f, sizeof(f), our_mac, 77);
    fake_offer(&net, f, sizeof(f));
    check(fake_held(&net) == 0, "a frame crossing PSTOP is taken");
    dma_read(0x7E00, hdr, 4);
    check(hdr[1] == 0x47 && (hdr[2] | hdr[3] << 8) == 604, "next page wraps to 0x47, count 604");
    check(page_r(1, 0x07) == 0x47, "CURR wrapped");
    dma_read(0x7E04, data, 604);
    check(!memcmp(data, f, sizeof(f)), "the remote DMA wraps from PSTOP to PSTART: the frame reads whole");
    dma_read(0x4600, data, 4);
    check(!memcmp(data, f + (0x8000 - 0x7E04), 4), "the tail sits at PSTART");
    int n = take_packet(0x46, 0x80, hdr, data, sizeof(data));
    check(n == 604 && !memcmp(data, f, sizeof(f)) && reg_r(0x03) == 0x46, "taken by the driver; BNRY 0x46");
}

static void test_filtering(void)
{
    fresh_isa();
    nic_setup(0x46, 0x80, 0x00);
    uint8_t f[64];
    static const uint8_t other[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x57 };
    static const uint8_t bcast[6] = { 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF };
    static const uint8_t mdns[6] = { 0x01, 0x00, 0x5E, 0x00, 0x00, 0xFB };       /* hash 15 */
    static const uint8_t allhosts[6] = { 0x01, 0x00, 0x5E, 0x00, 0x00, 0x01 };   /* hash 31 */
    static const uint8_t v6[6] = { 0x33, 0x33, 0x00, 0x00, 0x00, 0x01 };         /* hash 62 */

    make_frame(f, sizeof(f), other, 0);
    fake_offer(&net, f, sizeof(f));
    check(page_r(1, 0x07) == 0x46 && !(reg_r(0x07) & 0x01), "unicast to another station: filtered");
    reg_w(0x0C, 0x10);
    fake_offer(&net, f, sizeof(f));
    check(page_r(1, 0x07) == 0x47, "PRO: accepted");

    reg_w(0x0C, 0x00);
    make_frame(f, sizeof(f), bcast, 0);
    fake_offer(&net, f, sizeof(f));
    check(page_r(1, 0x07) == 0x47, "broadcast without AB: filtered");
    reg_w(0x0C, 0x04);
    fake_offer(&net, f, sizeof(f));
    uint8_t hdr[4];
    dma_read(0x4700, hdr, 4);
    check(page_r(1, 0x07) == 0x48 && hdr[0] == 0x21, "AB: accepted, status PRX|PHY (%#x)", hdr[0]);

    reg_w(0x0C, 0x08);
    make_frame(f, sizeof(f), mdns, 0);
    fake_offer(&net, f, sizeof(f));
    check(page_r(1, 0x07) == 0x48, "multicast with an empty hash table: filtered");
    page_w(1, 0x08 + 15 / 8, 1 << (15 % 8));
    fake_offer(&net, f, sizeof(f));
    check(page_r(1, 0x07) == 0x49, "01:00:5e:00:00:fb passes with MAR1 bit 7 (hash 15)");
    make_frame(f, sizeof(f), allhosts, 0);
    fake_offer(&net, f, sizeof(f));
    check(page_r(1, 0x07) == 0x49, "01:00:5e:00:00:01 (hash 31) does not");
    page_w(1, 0x08 + 31 / 8, 1 << (31 % 8));
    fake_offer(&net, f, sizeof(f));
    check(page_r(1, 0x07) == 0x4A, "it does with MAR3 bit 7");
    make_frame(f, sizeof(f), v6, 0);
    page_w(1, 0x08 + 62 / 8, 1 << (62 % 8));
    fake_offer(&net, f, sizeof(f));
    check(page_r(1, 0x07) == 0x4B, "33:33:00:00:00:01 with MAR7 bit 6 (hash 62)");
    reg_w(0x0C, 0x00);
    fake_offer(&net, f, sizeof(f));
    check(page_r(1, 0x07) == 0x4B, "AM off: multicast filtered whatever the table");
    check(fake_held(&net) == 0, "filtered frames are consumed, not held");
}

/* 10-page ring; 300-byte frames take 2 pages each: 4 fit before BNRY. */
static void test_backpressure(void)
{
    fresh_isa();
    nic_setup(0x46, 0x50, 0x04);
    uint8_t f[12][300];
    for (int k = 0; k < 12; k++) {
        make_frame(f[k], 300, our_mac, (uint8_t)(k * 31));
        f[k][14] = (uint8_t)k;
        fake_offer(&net, f[k], 300);
    }
    check(fake_held(&net) == 8, "4 frames in the ring, 8 held by the backend: %d held", fake_held(&net));
    check(!can_take(300), "can_receive says no while the ring is full");
    check(can_take(60) == 0, "not even a minimum frame: the next page is BNRY");
    check(!(reg_r(0x07) & 0x10), "no overflow: nothing was offered beyond can_receive");
    check(reg_r(0x0F) == 0, "no missed packets counted");
    int ready0 = net.ready_calls;
    uint8_t hdr[4], data[400];
    int got = 0, in_order = 1;
    for (int guard = 0; guard < 40 && got < 12; guard++) {
        int n = take_packet(0x46, 0x50, hdr, data, sizeof(data));
        if (n < 0) break;
        in_order &= n == 304 && !memcmp(data, f[got], 300);
        got++;
    }
    check(got == 12, "all 12 frames arrived as the driver moved BNRY: %d", got);
    check(in_order, "in order and intact");
    check(net.ready_calls > ready0, "the card called net_rx_ready when room appeared");
    check(fake_held(&net) == 0 && !(reg_r(0x07) & 0x10) && reg_r(0x0F) == 0, "nothing dropped, no OVW");
}

/* Frames arrive no faster than a 10 Mbit/s wire carries them. */
static void test_wire_pacing(void)
{
    fresh_isa();
    nic_setup(0x46, 0x80, 0x04);
    uint8_t f[1514];
    make_frame(f, sizeof(f), our_mac, 1);
    int64_t t0 = vclock_ns(clk);
    for (int k = 0; k < 3; k++) {
        int at = net.qtail++ % QMAX;
        memcpy(net.q[at], f, sizeof(f));
        net.qlen[at] = sizeof(f);
    }
    fake_deliver(&net);
    check(fake_held(&net) == 2, "the first frame at once, the others wait for the wire");
    settle();
    int64_t dt = vclock_ns(clk) - t0;
    /* (1514 + FCS 4 + preamble 8 + gap 12) bytes at 800 ns each, twice. */
    check(fake_held(&net) == 0 && dt == 2 * 1538 * 800, "three 1514-byte frames take 2 x 1.23 ms: %lld ns",
          (long long)dt);
    check(page_r(1, 0x07) == 0x46 + 18, "all three stored (6 pages each)");
}

/* Linux's ei_receive takes at most 9 packets, then acknowledges PRX. If the
 * ring refilled meanwhile and a frame waits for room, nothing would bring
 * the driver back: the card raises OVW once the held frame has had its wire
 * time, the driver's overflow procedure drains the ring, and nothing is lost. */
static void test_held_frame_overflow(void)
{
    fresh_isa();
    nic_setup(0x4C, 0x80, 0x04);
    uint8_t f[60][60];
    for (int k = 0; k < 60; k++) {
        make_frame(f[k], 60, our_mac, (uint8_t)k);
        f[k][14] = (uint8_t)k;
        fake_offer(&net, f[k], 60);
    }
    check(fake_held(&net) == 10, "50 one-page frames fill the ring, 10 wait: %d", fake_held(&net));
    uint8_t hdr[4], data[128];
    int got = 0, in_order = 1;
    for (int k = 0; k < 9; k++) {
        int n = take_packet(0x4C, 0x80, hdr, data, sizeof(data));
        in_order &= n == 64 && data[14] == got;
        got++;
    }
    check(fake_held(&net) == 1, "the 9 pages freed were refilled at once: %d held", fake_held(&net));
    reg_w(0x07, 0x05);
    check(!(reg_r(0x07) & 0x10), "no OVW yet");
    settle();
    check(reg_r(0x07) & 0x10, "after the held frame's wire time: OVW");
    check(fake_held(&net) == 1 && reg_r(0x0F) == 0, "the frame is still held, no missed packet counted");
    /* ei_rx_overrun. */
    reg_w(0x00, 0x21);
    reg_w(0x0A, 0);
    reg_w(0x0B, 0);
    reg_w(0x0D, 0x02);
    reg_w(0x00, 0x22);
    for (int guard = 0; guard < 80; guard++) {
        int n = take_packet(0x4C, 0x80, hdr, data, sizeof(data));
        if (n < 0) break;
        in_order &= n == 64 && data[14] == got;
        got++;
    }
    reg_w(0x07, 0x10);
    reg_w(0x0D, 0x00);
    settle();
    for (int guard = 0; guard < 80; guard++) {
        int n = take_packet(0x4C, 0x80, hdr, data, sizeof(data));
        if (n < 0) break;
        in_order &= n == 64 && data[14] == got;
        got++;
    }
    check(got == 60 && in_order, "all 60 frames, in order: %d", got);
}

static void test_overflow(void)
{
    fresh_isa();
    nic_setup(0x46, 0x50, 0x04);
    uint8_t f[300];
    make_frame(f, sizeof(f), our_mac, 5);
    for (int k = 0; k < 4; k++) fake_offer(&net, f, sizeof(f));
    check(!can_take(300), "ring full");
    uint8_t curr = page_r(1, 0x07);
    /* A backend that ignores can_receive: the DP8390 overflows. */
    net.be.receive(net.be.rx_opaque, f, sizeof(f));
    check(reg_r(0x07) & 0x10, "OVW");
    check(reg_r(0x07) & 0x80, "RST set by the overflow");
    check(reg_r(0x0C) & 0x10, "RSR.MPA");
    check(page_r(1, 0x07) == curr, "nothing stored");
    check(irq_level == 1, "the OVW interrupt");
    /* Linux's ei_rx_overrun. */
    reg_w(0x00, 0x21);
    reg_w(0x0A, 0);
    reg_w(0x0B, 0);
    reg_w(0x0D, 0x02);
    reg_w(0x00, 0x22);
    check(!(reg_r(0x07) & 0x80), "START clears RST");
    check(!can_take(60), "no frames while in loopback");
    uint8_t hdr[4], data[400];
    int n = take_packet(0x46, 0x50, hdr, data, sizeof(data));
    check(n == 304, "the ring is drained in loopback");
    reg_w(0x07, 0x10);
    int ready0 = net.ready_calls;
    reg_w(0x0D, 0x00);
    settle();
    check(net.ready_calls > ready0, "leaving loopback calls net_rx_ready");
    check(can_take(300), "room again");
    check(reg_r(0x0F) == 1, "CNTR2 counted the missed packet");
    check(reg_r(0x0F) == 0, "and clears when read");
}

static void test_counters(void)
{
    fresh_isa();
    nic_setup(0x46, 0x48, 0x04);    /* 2 pages: a 300-byte frame can never fit */
    uint8_t f[300];
    make_frame(f, sizeof(f), our_mac, 5);
    check(can_take(300), "a frame that cannot fit even an empty ring is taken (and lost), not held forever");
    reg_w(0x07, 0xFF);
    for (int k = 0; k < 127; k++) net.be.receive(net.be.rx_opaque, f, sizeof(f));
    check(!(reg_r(0x07) & 0x20), "127 missed packets: no CNT yet");
    net.be.receive(net.be.rx_opaque, f, sizeof(f));
    check(reg_r(0x07) & 0x20, "the 128th sets CNTR2's MSB: CNT");
    for (int k = 0; k < 100; k++) net.be.receive(net.be.rx_opaque, f, sizeof(f));
    check(reg_r(0x0F) == 0xC0, "counters stop at 192");
}

static void test_stopped_and_monitor(void)
{
    fresh_isa();
    nic_setup(0x46, 0x80, 0x04);
    reg_w(0x00, 0x21);
    uint8_t f[80];
    make_frame(f, sizeof(f), our_mac, 2);
    fake_offer(&net, f, sizeof(f));
    check(fake_held(&net) == 1, "a stopped card: the backend holds the frame");
    int ready0 = net.ready_calls;
    reg_w(0x00, 0x22);
    settle();
    check(net.ready_calls > ready0 && fake_held(&net) == 0, "START: net_rx_ready, the frame arrives");
    reg_w(0x0C, 0x20);
    fake_offer(&net, f, sizeof(f));
    check(fake_held(&net) == 1, "monitor mode: held, not thrown away");
    check(reg_r(0x0C) & 0x40, "RSR.DIS in monitor mode");
    reg_w(0x0C, 0x04);
    settle();
    check(fake_held(&net) == 0 && page_r(1, 0x07) == 0x48, "receiving again: delivered");
}

static void test_loopback(void)
{
    fresh_isa();
    nic_setup(0x46, 0x80, 0x04);
    reg_w(0x0D, 0x02);
    uint8_t f[64], data[80], hdr[4];
    make_frame(f, sizeof(f), our_mac, 40);
    dma_write(0x4000, f, sizeof(f));
    reg_w(0x07, 0xFF);
    reg_w(0x04, 0x40);
    reg_w(0x05, sizeof(f));
    reg_w(0x06, 0);
    reg_w(0x00, 0x26);
    check(net.nsent == 0, "loopback: nothing reaches the wire");
    check((reg_r(0x07) & 0x03) == 0x03, "PTX and PRX");
    dma_read(0x4600, hdr, 4);
    check((hdr[2] | hdr[3] << 8) == 68, "received with the transmitter's FCS: 68 bytes");
    dma_read(0x4604, data, 68);
    uint32_t fcs = ref_crc32(f, sizeof(f));
    check(!memcmp(data, f, 64) && data[64] == (uint8_t)fcs && data[67] == (uint8_t)(fcs >> 24), "intact");
    uint8_t fifo[8];
    for (int k = 0; k < 8; k++) fifo[k] = reg_r(0x06);
    check(!memcmp(fifo, data + 60, 8), "the FIFO holds the last 8 bytes");
    /* CRC inhibited: the last 4 bytes are taken as the FCS, and are wrong. */
    reg_w(0x0D, 0x03);
    reg_w(0x07, 0xFF);
    reg_w(0x00, 0x26);
    check((reg_r(0x07) & 0x05) == 0x04, "bad CRC: RXE, not PRX");
    check(reg_r(0x0C) & 0x02, "RSR.CRC");
    check(reg_r(0x0E) == 1, "CNTR1 counts it");
    check(page_r(1, 0x07) == 0x47, "not stored without SEP");
}

/* ---------------------------------------------------------------------------
 * The PCI face */

static int pirq_level[4];

static void fake_pirq(void *opaque, int pirq, int level)
{
    pirq_level[pirq & 3] = level;
}

static uint32_t cfg_read(struct ioports *pio, int devfn, int reg, int size)
{
    io_write(pio, 0xCF8, 0x80000000u | (uint32_t)devfn << 8 | (uint32_t)(reg & 0xFC), 4);
    return io_read(pio, (uint16_t)(0xCFC + (reg & 3)), size);
}

static void cfg_write(struct ioports *pio, int devfn, int reg, uint32_t val, int size)
{
    io_write(pio, 0xCF8, 0x80000000u | (uint32_t)devfn << 8 | (uint32_t)(reg & 0xFC), 4);
    io_write(pio, (uint16_t)(0xCFC + (reg & 3)), val, size);
}

static void test_pci(void)
{
    struct ioports *pio = ioports_new();
    struct memory *mem = memory_new(2u << 20);
    struct pci_bus *bus = calloc(1, sizeof(*bus));
    struct ne2000 *pn = calloc(1, sizeof(*pn));
    struct fake_net *pnet = calloc(1, sizeof(*pnet));
    if (!pio || !mem || !bus || !pn || !pnet || pci_bus_init(bus, pio, mem)) {
        check(0, "PCI setup");
        return;
    }
    ioports_set_log(pio, stdout, 0);
    bus->pirq_set = fake_pirq;
    fake_init(pnet);
    check(ne2000_init_pci(pn, bus, clk, NULL, &pnet->be) == 0, "RTL8029AS joins the bus");
    int devfn = pn->pci.devfn;
    check(cfg_read(pio, devfn, 0x00, 4) == 0x802910ECu, "10ec:8029: %#x", cfg_read(pio, devfn, 0x00, 4));
    check(cfg_read(pio, devfn, 0x08, 4) >> 8 == 0x020000, "class: Ethernet controller");
    check(cfg_read(pio, devfn, 0x2C, 4) == 0x802910ECu, "subsystem 10ec:8029");
    check(cfg_read(pio, devfn, 0x3D, 1) == 1, "interrupt pin A");
    check(cfg_read(pio, devfn, 0x0E, 1) == 0, "header type 0");
    check(cfg_read(pio, devfn, 0x10, 4) == 0x00000001u, "BAR0 is I/O");
    cfg_write(pio, devfn, 0x10, 0xFFFFFFFFu, 4);
    check(cfg_read(pio, devfn, 0x10, 4) == 0xFFFFFFE1u, "BAR0 sizes to 32 ports: %#x", cfg_read(pio, devfn, 0x10, 4));
    cfg_write(pio, devfn, 0x10, 0xC101u, 4);
    cfg_write(pio, devfn, 0x04, 0x0001, 2);
    const uint16_t b = 0xC100;
    check(io_read(pio, b, 1) == 0x21, "registers at the BAR: CR 0x21");
    check(io_read(pio, b + 0x0A, 1) == 'P' && io_read(pio, b + 0x0B, 1) == 'C', "8029ID0/1 'P' 'C'");
    io_write(pio, b, 0xE1, 1);
    check(io_read(pio, b + 0x0E, 1) == 0x29 && io_read(pio, b + 0x0F, 1) == 0x80, "page 3: 8029ASID 0x29 0x80");
    check(io_read(pio, b + 0x03, 1) == 0x00, "CONFIG0: not BNC");
    io_write(pio, b + 0x06, 0x40, 1);
    check(io_read(pio, b + 0x06, 1) == 0x00, "CONFIG3 locked without 9346CR write enable");
    io_write(pio, b + 0x01, 0xC0, 1);
    io_write(pio, b + 0x06, 0x40, 1);
    io_write(pio, b + 0x01, 0x00, 1);
    check(io_read(pio, b + 0x06, 1) == 0x40, "ne2k-pci's full-duplex incantation sets CONFIG3.FUDUP");
    io_write(pio, b, 0x21, 1);

    /* ne2k-pci's PROM read, 32-bit. */
    io_write(pio, b + 0x0E, 0x49, 1);
    io_write(pio, b + 0x0A, 32, 1);
    io_write(pio, b + 0x0B, 0, 1);
    io_write(pio, b + 0x08, 0, 1);
    io_write(pio, b + 0x09, 0, 1);
    io_write(pio, b + 0x00, 0x0A, 1);
    uint8_t sa[16];
    for (int i = 0; i < 4; i++) {
        uint32_t d = io_read(pio, b + 0x10, 4);
        for (int k = 0; k < 4; k++) sa[4 * i + k] = (uint8_t)(d >> (8 * k));
    }
    int ok = 1;
    for (int i = 0; i < 6; i++) ok &= sa[2 * i] == our_mac[i] && sa[2 * i + 1] == our_mac[i];
    check(ok, "32-bit PROM reads: the default MAC 52:54:00:12:34:56, doubled");

    /* INTA through the PIRQ routing. */
    int pirq = pci_pirq_of_slot_pin(devfn, 1);
    io_write(pio, b + 0x07, 0xFF, 1);
    io_write(pio, b + 0x0F, 0x40, 1);
    io_write(pio, b + 0x0A, 0, 1);
    io_write(pio, b + 0x00, 0x0A, 1);
    check(pirq_level[pirq] == 1, "RDC asserts INTA on PIRQ %c", 'A' + pirq);
    check(cfg_read(pio, devfn, 0x06, 2) & 0x0008, "status: interrupt pending");
    io_write(pio, b + 0x07, 0x40, 1);
    check(pirq_level[pirq] == 0, "acknowledged: released");
    cfg_write(pio, devfn, 0x04, 0x0401, 2);
    io_write(pio, b + 0x00, 0x0A, 1);
    check(pirq_level[pirq] == 0, "INTx disable keeps it off the PIRQ");
    cfg_write(pio, devfn, 0x04, 0x0001, 2);
    check(pirq_level[pirq] == 1, "and re-enabling delivers it");

    /* A transmit through the PCI face reaches its backend. */
    uint8_t f[60];
    make_frame(f, sizeof(f), our_mac, 1);
    io_write(pio, b + 0x0A, sizeof(f), 1);
    io_write(pio, b + 0x0B, 0, 1);
    io_write(pio, b + 0x08, 0, 1);
    io_write(pio, b + 0x09, 0x40, 1);
    io_write(pio, b + 0x00, 0x12, 1);
    for (size_t i = 0; i < sizeof(f); i += 4)
        io_write(pio, b + 0x10, (uint32_t)f[i] | (uint32_t)f[i + 1] << 8 | (uint32_t)f[i + 2] << 16 |
                 (uint32_t)f[i + 3] << 24, 4);
    io_write(pio, b + 0x04, 0x40, 1);
    io_write(pio, b + 0x05, sizeof(f), 1);
    io_write(pio, b + 0x06, 0, 1);
    io_write(pio, b + 0x0D, 0x00, 1);
    io_write(pio, b + 0x00, 0x26, 1);
    check(pnet->nsent == 1 && !memcmp(pnet->sent[0], f, sizeof(f)), "32-bit remote write, then TXP: sent");

    pci_bus_reset(bus);
    check(pirq_level[pirq] == 0, "bus reset releases INTA");
    check(cfg_read(pio, devfn, 0x10, 4) == 0x00000001u, "and clears BAR0");
    cfg_write(pio, devfn, 0x10, 0xC101u, 4);
    cfg_write(pio, devfn, 0x04, 0x0001, 2);
    check(io_read(pio, b, 1) == 0x21 && io_read(pio, b + 0x07, 1) == 0x80, "the chip is back to power-on");
    free(pnet);
    free(pn);
    free(bus);
    memory_free(mem);
    ioports_free(pio);
}

int main(void)
{
    io = ioports_new();
    clk = vclock_new(VCLOCK_DETERMINISTIC, fake_icount, NULL);
    nic = calloc(1, sizeof(*nic));
    if (!io || !clk || !nic) return 1;
    ioports_set_log(io, stdout, 0);
    test_power_on_and_probe();
    test_reset_port();
    test_prom();
    test_remote_dma();
    test_transmit();
    test_receive();
    test_wrap();
    test_filtering();
    test_backpressure();
    test_wire_pacing();
    test_held_frame_overflow();
    test_overflow();
    test_counters();
    test_stopped_and_monitor();
    test_loopback();
    test_pci();
    free(nic);
    vclock_free(clk);
    ioports_free(io);
    printf("RESULT: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
