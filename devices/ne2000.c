/* NE2000 / RTL8029AS: the National DP8390 core and its ISA and PCI faces
 * (see ne2000.h). References: National DP8390D NIC datasheet (registers,
 * buffer ring management, remote DMA, loopback), Realtek RTL8029AS datasheet
 * (page 3, ID registers). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cpu/ioport.h"
#include "devices/ne2000.h"

/* Command register (CR). */
#define CR_STP   0x01
#define CR_STA   0x02
#define CR_TXP   0x04
#define RD_READ  1
#define RD_WRITE 2
#define RD_SEND  3
#define RD_ABORT 4

/* Interrupt status / mask (ISR, IMR). */
#define ISR_PRX 0x01
#define ISR_PTX 0x02
#define ISR_RXE 0x04
#define ISR_TXE 0x08
#define ISR_OVW 0x10
#define ISR_CNT 0x20
#define ISR_RDC 0x40
#define ISR_RST 0x80

/* Data configuration (DCR). */
#define DCR_WTS 0x01
#define DCR_BOS 0x02

/* Transmit configuration (TCR). */
#define TCR_CRC  0x01     /* inhibit the CRC */
#define TCR_LB   0x06
#define TCR_ATD  0x08
#define TCR_OFST 0x10

/* Receive configuration (RCR). */
#define RCR_SEP 0x01
#define RCR_AR  0x02
#define RCR_AB  0x04
#define RCR_AM  0x08
#define RCR_PRO 0x10
#define RCR_MON 0x20

/* Receive status (RSR, and the status byte of each ring header). */
#define RSR_PRX 0x01
#define RSR_CRC 0x02
#define RSR_MPA 0x10
#define RSR_PHY 0x20
#define RSR_DIS 0x40

/* Transmit status (TSR). */
#define TSR_PTX 0x01
#define TSR_ND  0x02

#define CNTR_FAE 0
#define CNTR_CRC 1
#define CNTR_MPA 2

#define ETH_MIN_FRAME 60   /* without the FCS */
#define ETH_FCS_LEN   4
#define RING_HEADER   4

/* Data port and reset port offsets (NE2000 board decode). */
#define DATA_PORT  0x10
#define RESET_PORT 0x18

static const uint8_t default_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

/* ---------------------------------------------------------------------------
 * Messages */

enum {
    LOG_RD_NOT_ALLOWED = 1u << 0,
    LOG_DMA_DIRECTION = 1u << 1,
    LOG_BYTE_IN_WORD_MODE = 1u << 2,
    LOG_REMOTE_WRITE_OUTSIDE = 1u << 3,
    LOG_LOCAL_WRITE_OUTSIDE = 1u << 4,
    LOG_TX_LENGTH = 1u << 5,
    LOG_TX_STOPPED = 1u << 6,
    LOG_TCR_UNMODELLED = 1u << 7,
    LOG_RX_REFUSED = 1u << 8,
    LOG_RX_GIANT = 1u << 9,
    LOG_RING_INVALID = 1u << 10,
    LOG_NEVER_FITS = 1u << 11,
    LOG_PAGE2_RESERVED = 1u << 12,
    LOG_PAGE3_ISA = 1u << 13,
    LOG_PAGE3_RTL = 1u << 14,
    LOG_EEPROM = 1u << 15,
    LOG_HLTCLK = 1u << 16,
    LOG_CONFIG_LOCKED = 1u << 17,
};

__attribute__((format(printf, 3, 4)))
static void log_once(struct ne2000 *n, uint32_t kind, const char *fmt, ...)
{
    if (n->logged & kind) return;
    n->logged |= kind;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", n->is_pci ? "ne2k_pci" : "ne2k_isa");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (logged once)\n");
    va_end(ap);
}

/* ---------------------------------------------------------------------------
 * CRCs */

/* CRC-32 of IEEE 802.3, reflected, four bits at a time. */
static const uint32_t crc32_nibble[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u, 0x4DB26158u, 0x5005713Cu,
    0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu, 0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu,
};

/* The frame check sequence: sent least significant byte first. */
static uint32_t ether_fcs(const uint8_t *p, size_t len)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < len; i++) {
        c ^= p[i];
        c = (c >> 4) ^ crc32_nibble[c & 0xF];
        c = (c >> 4) ^ crc32_nibble[c & 0xF];
    }
    return ~c;
}

/* The DP8390 hashes a multicast destination through its CRC generator
 * (bits in wire order, register shifting left, not inverted) and indexes
 * MAR0-7 with the top 6 bits: MAR byte = bits 5-3, bit = bits 2-0
 * (DP8390D, multicast address filtering). */
static unsigned multicast_hash(const uint8_t *dst)
{
    uint32_t c = 0xFFFFFFFFu;
    for (int i = 0; i < 6; i++) {
        uint8_t b = dst[i];
        for (int k = 0; k < 8; k++, b >>= 1) {
            uint32_t feedback = (c >> 31) ^ (b & 1u);
            c <<= 1;
            if (feedback) c ^= 0x04C11DB7u;
        }
    }
    return c >> 26;
}

/* ---------------------------------------------------------------------------
 * Buffer memory: the PROM at 0x0000-0x001F, RAM at 0x4000-0x7FFF, nothing
 * else (reads float high, writes go nowhere). */

static uint8_t buf_read(const struct ne2000 *n, uint32_t addr)
{
    addr &= 0xFFFF;
    if (addr < NE2000_PROM_SIZE) return n->prom[addr];
    if (addr >= NE2000_RAM_START && addr < NE2000_RAM_START + NE2000_RAM_SIZE)
        return n->ram[addr - NE2000_RAM_START];
    return 0xFF;
}

/* Returns 0 if nothing is there to write. */
static int buf_write(struct ne2000 *n, uint32_t addr, uint8_t v)
{
    addr &= 0xFFFF;
    if (addr < NE2000_RAM_START || addr >= NE2000_RAM_START + NE2000_RAM_SIZE) return 0;
    n->ram[addr - NE2000_RAM_START] = v;
    return 1;
}

/* The PROM holds 16 bytes (station address, zeros, the NE2000 signature 'WW'
 * at 14-15) on the low byte lane of a 16-bit card that ignores A0: each byte
 * appears twice, which is how drivers tell an NE2000 from an NE1000. */
static void build_prom(struct ne2000 *n)
{
    uint8_t sa[16];
    memset(sa, 0, sizeof(sa));
    memcpy(sa, n->mac, 6);
    sa[14] = sa[15] = 0x57;
    for (int i = 0; i < 16; i++) n->prom[2 * i] = n->prom[2 * i + 1] = sa[i];
}

/* ---------------------------------------------------------------------------
 * Interrupts and counters */

static void update_irq(struct ne2000 *n)
{
    int level = (n->isr & n->imr & 0x7F) != 0;
    if (level == n->irq_level) return;
    n->irq_level = level;
    if (n->is_pci) pci_set_irq(&n->pci, level);
    else irq_set(&n->irq, level);
}

/* Tally counters stop at 192; ISR.CNT rises when a counter's MSB sets
 * (DP8390D, tally counters). */
static void tally(struct ne2000 *n, int which)
{
    if (n->cntr[which] < 0xC0) n->cntr[which]++;
    if (n->cntr[which] & 0x80) n->isr |= ISR_CNT;
}

/* ---------------------------------------------------------------------------
 * Receive ring */

static int ring_valid(const struct ne2000 *n)
{
    return n->pstart < n->pstop;
}

static uint8_t next_page(const struct ne2000 *n, uint8_t p)
{
    p = (uint8_t)(p + 1);
    return p == n->pstop ? n->pstart : p;
}

/* Bytes of a frame on the wire: padded to the minimum, with its FCS. */
static size_t wire_length(size_t len)
{
    return (len < ETH_MIN_FRAME ? ETH_MIN_FRAME : len) + ETH_FCS_LEN;
}

static unsigned frame_pages(size_t wire_len)
{
    return (unsigned)((wire_len + RING_HEADER + 255) / 256);
}

/* The DP8390 aborts a reception when it would link into the BNRY page
 * (DP8390D, linking receive buffer pages). We also refuse to end a frame
 * with CURR on BNRY, where the ring would look empty to the driver. */
static int ring_has_room(const struct ne2000 *n, unsigned pages)
{
    uint8_t p = n->curr;
    for (unsigned k = 0; k < pages; k++) {
        p = next_page(n, p);
        if (p == n->bnry) return 0;
    }
    return 1;
}

/* A frame that would not fit even in an emptied ring (whichever BNRY
 * convention the driver follows): waiting for room would wait forever. */
static int never_fits(const struct ne2000 *n, unsigned pages)
{
    return pages + 1 >= (unsigned)(n->pstop - n->pstart);
}

/* Stores a frame at CURR: header (status, next page, byte count), then the
 * bytes, the local DMA wrapping from PSTOP to PSTART; CURR moves on. */
static void ring_store(struct ne2000 *n, const uint8_t *wire, size_t total, uint8_t status, unsigned pages)
{
    uint8_t next = n->curr;
    for (unsigned k = 0; k < pages; k++) next = next_page(n, next);
    uint32_t a = (uint32_t)n->curr << 8;
    const uint8_t header[RING_HEADER] = { status, next, (uint8_t)total, (uint8_t)(total >> 8) };
    int outside = 0;
    for (int k = 0; k < RING_HEADER; k++) outside |= !buf_write(n, a + (uint32_t)k, header[k]);
    a += RING_HEADER;
    uint32_t wrap_at = (uint32_t)n->pstop << 8;
    for (size_t i = 0; i < total; i++) {
        outside |= !buf_write(n, a, wire[i]);
        a = (a + 1) & 0xFFFF;
        if (a == wrap_at) a = (uint32_t)n->pstart << 8;
    }
    if (outside)
        log_once(n, LOG_LOCAL_WRITE_OUTSIDE, "receive ring (PSTART %#x PSTOP %#x CURR %#x) reaches outside the"
                 " buffer RAM: those bytes are lost", n->pstart, n->pstop, n->curr);
    n->curr = next;
    n->lnpp = next;
    n->clda = (uint16_t)a;
}

enum { ADDR_NONE, ADDR_PHYSICAL, ADDR_GROUP };

/* Address recognition (DP8390D, RCR): broadcast with AB, multicast with AM
 * through the hash filter, physical when it matches PAR0-5 or with PRO. */
static int address_match(const struct ne2000 *n, const uint8_t *dst)
{
    static const uint8_t broadcast[6] = { 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF };
    if (!memcmp(dst, broadcast, 6)) return n->rcr & RCR_AB ? ADDR_GROUP : ADDR_NONE;
    if (dst[0] & 1) {
        unsigned h = multicast_hash(dst);
        return (n->rcr & RCR_AM) && (n->mar[h >> 3] >> (h & 7) & 1) ? ADDR_GROUP : ADDR_NONE;
    }
    if (n->rcr & RCR_PRO) return ADDR_PHYSICAL;
    return memcmp(dst, n->par, 6) ? ADDR_NONE : ADDR_PHYSICAL;
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The receiver: a frame as it comes off the wire (with its FCS). */
static void receive_wire(struct ne2000 *n, const uint8_t *wire, size_t total)
{
    /* Runts (under 64 bytes with the FCS) are rejected unless RCR.AR. */
    if (total < 6 || (total < ETH_MIN_FRAME + ETH_FCS_LEN && !(n->rcr & RCR_AR))) return;
    int kind = address_match(n, wire);
    if (kind == ADDR_NONE) return;
    uint8_t status = kind == ADDR_GROUP ? RSR_PHY : 0;
    int crc_ok = total >= ETH_FCS_LEN && ether_fcs(wire, total - ETH_FCS_LEN) == get_le32(wire + total - ETH_FCS_LEN);
    if (!crc_ok) {
        status |= RSR_CRC;
        tally(n, CNTR_CRC);
    }
    if (n->rcr & RCR_MON) {
        /* Monitor mode: checked and counted as missed, not stored (DP8390D, RCR.MON, RSR.MPA). */
        tally(n, CNTR_MPA);
        n->rsr = status | RSR_MPA;
        n->isr |= ISR_RXE;
        update_irq(n);
        return;
    }
    if (!crc_ok && !(n->rcr & RCR_SEP)) {
        n->rsr = status;
        n->isr |= ISR_RXE;
        update_irq(n);
        return;
    }
    unsigned pages = frame_pages(total);
    if (never_fits(n, pages) || !ring_has_room(n, pages)) {
        /* Ring overflow: the frame is lost, OVW raised, RST set until the
         * driver removes a packet (DP8390D, buffer ring overflow). */
        if (never_fits(n, pages))
            log_once(n, LOG_NEVER_FITS, "a %zu-byte frame cannot fit the %u-page receive ring: dropped",
                     total, (unsigned)(n->pstop - n->pstart));
        tally(n, CNTR_MPA);
        n->rsr = status | RSR_MPA;
        n->isr |= ISR_OVW | ISR_RST;
        update_irq(n);
        return;
    }
    if (crc_ok) status |= RSR_PRX;
    ring_store(n, wire, total, status, pages);
    n->rsr = status;
    n->isr |= crc_ok ? ISR_PRX : ISR_RXE;
    update_irq(n);
}

/* Virtual nanoseconds a frame of `len` bytes (without FCS) occupies the
 * wire: padding, FCS, preamble and the interframe gap at 10 Mbit/s. */
static int64_t wire_ns(size_t len)
{
    return (int64_t)(wire_length(len) + 8 + 12) * NE2000_WIRE_NS_PER_BYTE;
}

static int64_t now_ns(const struct ne2000 *n)
{
    return n->clock ? vclock_ns(n->clock) : 0;
}

enum rx_state { RX_OK, RX_OFF, RX_NO_ROOM, RX_WIRE_BUSY };

/* Whether a frame of `len` bytes could come in now. The card takes frames
 * only while started, out of loopback, out of monitor mode (where it would
 * count them and throw them away), with a sane ring and room in it, and no
 * sooner than the wire brings them. */
static enum rx_state rx_state(struct ne2000 *n, size_t len)
{
    if (!n->running || (n->tcr & TCR_LB) || (n->rcr & RCR_MON)) return RX_OFF;
    if (!ring_valid(n)) {
        log_once(n, LOG_RING_INVALID, "started with an empty receive ring (PSTART %#x, PSTOP %#x):"
                 " frames held back", n->pstart, n->pstop);
        return RX_OFF;
    }
    if (len <= NET_MAX_FRAME) {     /* giants are refused by nic_receive, with a message */
        unsigned pages = frame_pages(wire_length(len));
        if (!never_fits(n, pages) && !ring_has_room(n, pages)) return RX_NO_ROOM;
    }
    if (n->clock && now_ns(n) < n->rx_last_end + wire_ns(len)) return RX_WIRE_BUSY;
    return RX_OK;
}

/* Keeps the earliest of the wake-ups asked for. */
static void rx_arm(struct ne2000 *n, int64_t at)
{
    if (!n->clock) return;
    if (!vtimer_pending(&n->rx_timer) || n->rx_timer.expire > at) vtimer_mod(&n->rx_timer, at);
}

/* Room or the wire may have become free: let the backend deliver what it
 * holds now, or wake up when it can. */
static void rx_kick(struct ne2000 *n)
{
    if (!n->nb) return;
    size_t len = n->rx_waiting ? n->rx_wait_len : ETH_MIN_FRAME;
    switch (rx_state(n, len)) {
    case RX_OK:
        n->rx_waiting = 0;
        net_rx_ready(n->nb);
        break;
    case RX_WIRE_BUSY:
        rx_arm(n, n->rx_last_end + wire_ns(len));
        break;
    case RX_NO_ROOM:
        if (n->rx_waiting) rx_arm(n, now_ns(n) + wire_ns(len));
        break;
    case RX_OFF:
        break;
    }
}

static void rx_timer_fired(void *opaque)
{
    struct ne2000 *n = opaque;
    if (n->rx_waiting && rx_state(n, n->rx_wait_len) == RX_NO_ROOM) {
        /* The held frame has had its time on the wire: the DP8390 would have
         * overflowed the ring (DP8390D, buffer ring overflow). Say so if the
         * driver has no receive interrupt to come back for, so that it drains
         * the ring; the frame stays held, nothing is lost or counted. */
        if (!(n->isr & (ISR_PRX | ISR_RXE | ISR_OVW))) {
            n->isr |= ISR_OVW | ISR_RST;
            update_irq(n);
        }
        rx_arm(n, now_ns(n) + wire_ns(n->rx_wait_len));
        return;
    }
    rx_kick(n);
}

static int nic_can_receive(void *opaque, size_t len)
{
    struct ne2000 *n = opaque;
    switch (rx_state(n, len)) {
    case RX_OK:
        return 1;
    case RX_NO_ROOM:
        /* The backend now holds this frame until the ring drains. */
        n->rx_waiting = 1;
        n->rx_wait_len = (uint16_t)len;
        rx_arm(n, now_ns(n) + wire_ns(len));
        return 0;
    case RX_WIRE_BUSY:
        rx_arm(n, n->rx_last_end + wire_ns(len));
        return 0;
    default:
        return 0;
    }
}

static void nic_receive(void *opaque, const uint8_t *frame, size_t len)
{
    struct ne2000 *n = opaque;
    /* A backend that ignored can_receive: stopped or in loopback the card
     * hears nothing; a full ring overflows in receive_wire. */
    if (!n->running || (n->tcr & TCR_LB) || !ring_valid(n)) {
        log_once(n, LOG_RX_REFUSED, "the backend delivered a frame while the card is stopped, in loopback"
                 " or without a ring: dropped");
        return;
    }
    if (len > NET_MAX_FRAME) {
        log_once(n, LOG_RX_GIANT, "a %zu-byte frame from the backend (over %d): dropped", len, NET_MAX_FRAME);
        return;
    }
    n->rx_waiting = 0;
    n->rx_last_end = now_ns(n);
    uint8_t wire[NET_MAX_FRAME + ETH_FCS_LEN];
    memcpy(wire, frame, len);
    /* The sender pads short frames to the minimum (IEEE 802.3); backends do not. */
    if (len < ETH_MIN_FRAME) {
        memset(wire + len, 0, ETH_MIN_FRAME - len);
        len = ETH_MIN_FRAME;
    }
    uint32_t fcs = ether_fcs(wire, len);
    for (int k = 0; k < ETH_FCS_LEN; k++) wire[len + (size_t)k] = (uint8_t)(fcs >> (8 * k));
    receive_wire(n, wire, len + ETH_FCS_LEN);
}

/* ---------------------------------------------------------------------------
 * Transmit */

/* Loopback: the frame goes to our own receiver (with the FCS the transmitter
 * appends unless TCR.CRC inhibits it) and its last 8 bytes stay in the FIFO
 * (DP8390D, loopback diagnostics). */
static void loopback(struct ne2000 *n, uint8_t *frame, size_t len)
{
    size_t total = len;
    if (!(n->tcr & TCR_CRC)) {
        uint32_t fcs = ether_fcs(frame, len);
        for (int k = 0; k < ETH_FCS_LEN; k++) frame[len + (size_t)k] = (uint8_t)(fcs >> (8 * k));
        total += ETH_FCS_LEN;
    }
    for (int k = 0; k < 8; k++) n->fifo[k] = total >= 8 ? frame[total - 8 + (size_t)k] : 0;
    n->fifo_pos = 0;
    if (n->running && ring_valid(n)) receive_wire(n, frame, total);
}

/* TXP: the frame at TPSR, TBCR bytes long, leaves at once. */
static void transmit(struct ne2000 *n)
{
    uint8_t frame[NET_MAX_FRAME + ETH_FCS_LEN];
    size_t len = n->tbcr;
    if (len == 0 || len > NET_MAX_FRAME) {
        log_once(n, LOG_TX_LENGTH, "transmit of %zu bytes (TBCR): not sent", len);
        len = 0;
    }
    uint32_t start = (uint32_t)n->tpsr << 8;
    for (size_t i = 0; i < len; i++) frame[i] = buf_read(n, start + (uint32_t)i);
    n->clda = (uint16_t)(start + n->tbcr);
    /* No collisions on our wire; ND: the transmission was not deferred. */
    n->tsr = TSR_PTX | TSR_ND;
    n->ncr = 0;
    n->txp = 0;
    n->isr |= ISR_PTX;
    update_irq(n);
    if (!len) return;
    /* Last: the backend may hand us a reply from inside net_send. */
    if (n->tcr & TCR_LB) loopback(n, frame, len);
    else net_send(n->nb, frame, len);
}

/* ---------------------------------------------------------------------------
 * Remote DMA and the data port */

static void remote_dma_complete(struct ne2000 *n)
{
    n->isr |= ISR_RDC;
    update_irq(n);
    if (n->rd == RD_SEND) {
        /* Send Packet: the packet has been taken; BNRY moves past it. */
        n->bnry = n->rnpp;
        rx_kick(n);
    }
}

static void remote_advance(struct ne2000 *n, unsigned step)
{
    n->crda = (uint16_t)(n->crda + step);
    /* The remote DMA wraps from PSTOP to PSTART like the local DMA, so a
     * packet that wrapped reads back in one piece (DP8390D, remote DMA). */
    if (ring_valid(n) && n->crda == (uint16_t)(n->pstop << 8)) n->crda = (uint16_t)(n->pstart << 8);
    if (!n->rcount) return;
    n->rcount = n->rcount > step ? (uint16_t)(n->rcount - step) : 0;
    if (!n->rcount) remote_dma_complete(n);
}

/* Drivers set the command before moving data; they do not mix directions. */
static void check_direction(struct ne2000 *n, int write)
{
    if (write ? n->rd == RD_WRITE : (n->rd == RD_READ || n->rd == RD_SEND)) return;
    log_once(n, LOG_DMA_DIRECTION, "data port %s while the remote DMA command is %u: done anyway",
             write ? "write" : "read", n->rd);
}

/* One transfer: a byte, or in word mode (DCR.WTS) the aligned word, its
 * lower address in the low byte unless DCR.BOS asks for 68000 order. */
static uint16_t remote_read_unit(struct ne2000 *n, unsigned unit)
{
    if (unit == 1) {
        uint8_t b = buf_read(n, n->crda);
        remote_advance(n, 1);
        return b;
    }
    uint32_t a = n->crda & 0xFFFEu;
    uint8_t first = buf_read(n, a), second = buf_read(n, a + 1);
    remote_advance(n, 2);
    return n->dcr & DCR_BOS ? (uint16_t)(first << 8 | second) : (uint16_t)(second << 8 | first);
}

static void remote_store(struct ne2000 *n, uint32_t a, uint8_t v)
{
    if (!buf_write(n, a, v))
        log_once(n, LOG_REMOTE_WRITE_OUTSIDE, "remote DMA write to %#06x, outside the buffer RAM: ignored",
                 (unsigned)(a & 0xFFFF));
}

static void remote_write_unit(struct ne2000 *n, unsigned unit, uint16_t v)
{
    if (unit == 1) {
        remote_store(n, n->crda, (uint8_t)v);
        remote_advance(n, 1);
        return;
    }
    uint32_t a = n->crda & 0xFFFEu;
    uint8_t lo = (uint8_t)v, hi = (uint8_t)(v >> 8);
    remote_store(n, a, n->dcr & DCR_BOS ? hi : lo);
    remote_store(n, a + 1, n->dcr & DCR_BOS ? lo : hi);
    remote_advance(n, 2);
}

static unsigned transfer_unit(const struct ne2000 *n)
{
    return n->dcr & DCR_WTS ? 2 : 1;
}

/* An access of `size` bytes moves size bytes in byte or word units; a byte
 * access in word mode still moves a word (the host sees its low byte). The
 * data port keeps going past the byte count, as drivers reading the PROM
 * with 32 byte reads in word mode expect. */
static uint32_t data_port_read(struct ne2000 *n, int size)
{
    check_direction(n, 0);
    unsigned unit = transfer_unit(n);
    uint32_t v = 0;
    for (unsigned done = 0; done < (unsigned)size; done += unit)
        v |= (uint32_t)remote_read_unit(n, unit) << (8 * done);
    return size == 4 ? v : v & ((1u << (8 * size)) - 1);
}

static void data_port_write(struct ne2000 *n, uint32_t val, int size)
{
    check_direction(n, 1);
    unsigned unit = transfer_unit(n);
    if (unit > (unsigned)size)
        log_once(n, LOG_BYTE_IN_WORD_MODE, "byte write to the data port in word mode: a word with a zero"
                 " high byte is stored");
    for (unsigned done = 0; done < (unsigned)size; done += unit)
        remote_write_unit(n, unit, (uint16_t)(val >> (8 * done)));
}

/* CR's RD bits: start a remote read or write from RSAR/RBCR as they stand,
 * Send Packet, or abort. A zero count completes at once (the ne driver's IRQ
 * probe relies on that RDC). */
static void remote_dma_command(struct ne2000 *n, unsigned rd)
{
    if (rd == 0) {
        log_once(n, LOG_RD_NOT_ALLOWED, "CR written with RD = 000 (not allowed): remote DMA unchanged");
        return;
    }
    n->rd = (uint8_t)rd;
    if (rd & RD_ABORT) return;
    if (rd == RD_SEND) {
        /* Send Packet: from BNRY, the count taken from the packet's header
         * (DP8390D, remote DMA send packet command). */
        uint32_t a = (uint32_t)n->bnry << 8;
        n->crda = (uint16_t)a;
        n->rnpp = buf_read(n, a + 1);
        n->rcount = (uint16_t)(buf_read(n, a + 2) | buf_read(n, a + 3) << 8);
    }
    if (!n->rcount) remote_dma_complete(n);
}

/* ---------------------------------------------------------------------------
 * Reset */

/* What the RESET pin does (DP8390D, initialization): the NIC stopped with
 * ISR.RST, remote DMA aborted, interrupts masked; the rest keeps its value. */
static void chip_reset(struct ne2000 *n)
{
    n->running = 0;
    n->page = 0;
    n->rd = RD_ABORT;
    n->txp = 0;
    n->isr = ISR_RST;
    n->imr = 0;
    update_irq(n);
}

void ne2000_reset(struct ne2000 *n)
{
    if (n->clock) vtimer_del(&n->rx_timer);
    size_t off = offsetof(struct ne2000, page);
    memset((uint8_t *)n + off, 0, sizeof(*n) - off);
    build_prom(n);
    n->hltclk = 'R';
    n->rx_last_end = INT64_MIN / 2;     /* the wire has long been quiet */
    chip_reset(n);
}

/* ---------------------------------------------------------------------------
 * Registers */

static uint8_t read_cr(const struct ne2000 *n)
{
    return (uint8_t)(n->page << 6 | n->rd << 3 | n->txp << 2 | (n->running ? CR_STA : CR_STP));
}

static void write_cr(struct ne2000 *n, uint8_t v)
{
    int was_running = n->running;
    n->page = v >> 6;
    if (v & CR_STP) {
        /* Stop: offline, reported by ISR.RST; only STA (without STP) restarts (DP8390D, CR). */
        n->running = 0;
        n->isr |= ISR_RST;
    } else if (v & CR_STA) {
        n->running = 1;
        n->isr &= (uint8_t)~ISR_RST;
    }
    remote_dma_command(n, (v >> 3) & 7);
    if (v & CR_TXP) {
        if (n->running) transmit(n);
        else log_once(n, LOG_TX_STOPPED, "TXP set while the NIC is stopped: nothing sent");
    }
    update_irq(n);
    if (n->running && !was_running) rx_kick(n);
}

static uint8_t read_page0(struct ne2000 *n, unsigned r)
{
    switch (r) {
    case 0x01: return (uint8_t)n->clda;
    case 0x02: return (uint8_t)(n->clda >> 8);
    case 0x03: return n->bnry;
    case 0x04: return (uint8_t)(n->tsr | (n->is_pci ? TSR_ND : 0));   /* RTL8029: bit 1 reads 1 */
    case 0x05: return n->ncr;
    case 0x06: return n->fifo[n->fifo_pos++ & 7];
    case 0x07: return n->isr;
    case 0x08: return (uint8_t)n->crda;
    case 0x09: return (uint8_t)(n->crda >> 8);
    case 0x0A: return n->is_pci ? 'P' : 0xFF;       /* RTL8029ID0; reserved on the DP8390 */
    case 0x0B: return n->is_pci ? 'C' : 0xFF;       /* RTL8029ID1 */
    case 0x0C: return (uint8_t)((n->rsr & ~RSR_DIS) | (n->rcr & RCR_MON ? RSR_DIS : 0));
    default: {
        /* CNTR0-2: reading clears (DP8390D, tally counters). */
        uint8_t v = n->cntr[r - 0x0D];
        n->cntr[r - 0x0D] = 0;
        return v;
    }
    }
}

static uint8_t read_page1(const struct ne2000 *n, unsigned r)
{
    if (r <= 0x06) return n->par[r - 1];
    if (r == 0x07) return n->curr;
    return n->mar[r - 0x08];
}

static uint8_t read_page2(const struct ne2000 *n, unsigned r)
{
    switch (r) {
    case 0x01: return n->pstart;
    case 0x02: return n->pstop;
    case 0x03: return n->rnpp;
    case 0x04: return n->tpsr;
    case 0x05: return n->lnpp;
    case 0x06: return (uint8_t)(n->addr_counter >> 8);
    case 0x07: return (uint8_t)n->addr_counter;
    case 0x0C: return (uint8_t)(n->rcr | (n->is_pci ? 0xC0 : 0));   /* RTL8029: bits 7-6 read 1 */
    case 0x0D: return n->tcr;
    case 0x0E: return n->dcr;
    case 0x0F: return n->imr;
    default: return 0xFF;                                /* reserved */
    }
}

/* RTL8029AS page 3: 9346CR, CONFIG0/2/3 and the chip ID (RTL8029AS datasheet). */
static uint8_t read_page3(struct ne2000 *n, unsigned r)
{
    if (!n->is_pci) {
        log_once(n, LOG_PAGE3_ISA, "read of page 3 register %#x (DP8390 test page): 0xFF", r);
        return 0xFF;
    }
    switch (r) {
    case 0x01: return n->cr9346 & 0xCE;     /* EEDO (bit 0): no EEPROM answers */
    case 0x03: return 0x00;                 /* CONFIG0: twisted pair, not BNC */
    case 0x05: return n->config2;
    case 0x06: return n->config3;
    case 0x0E: return 0x29;                 /* 8029ASID0 */
    case 0x0F: return 0x80;                 /* 8029ASID1 */
    default:
        log_once(n, LOG_PAGE3_RTL, "read of unimplemented page 3 register %#x: 0xFF", r);
        return 0xFF;
    }
}

static uint8_t read_register(struct ne2000 *n, unsigned r)
{
    if (r == 0) return read_cr(n);
    switch (n->page) {
    case 0: return read_page0(n, r);
    case 1: return read_page1(n, r);
    case 2: return read_page2(n, r);
    default: return read_page3(n, r);
    }
}

static void write_tcr(struct ne2000 *n, uint8_t v)
{
    int was_loopback = (n->tcr & TCR_LB) != 0;
    n->tcr = v & 0x1F;
    if (v & (TCR_ATD | TCR_OFST))
        log_once(n, LOG_TCR_UNMODELLED, "TCR %#x: auto transmit disable and collision offset have no"
                 " effect (no collisions, no flow control frames)", v);
    if (was_loopback && !(n->tcr & TCR_LB)) rx_kick(n);
}

static void write_page0(struct ne2000 *n, unsigned r, uint8_t v)
{
    switch (r) {
    case 0x01: n->pstart = v; rx_kick(n); break;
    case 0x02: n->pstop = v; rx_kick(n); break;
    case 0x03:
        /* The driver removed packets: an overflow's RST clears (DP8390D, ISR.RST). */
        n->bnry = v;
        if (n->running) n->isr &= (uint8_t)~ISR_RST;
        rx_kick(n);
        break;
    case 0x04: n->tpsr = v; break;
    case 0x05: n->tbcr = (uint16_t)((n->tbcr & 0xFF00) | v); break;
    case 0x06: n->tbcr = (uint16_t)((n->tbcr & 0x00FF) | v << 8); break;
    case 0x07:
        /* Write 1 to clear; RST is status only and ignores writes (DP8390D, ISR). */
        n->isr &= (uint8_t)~(v & 0x7F);
        update_irq(n);
        break;
    case 0x08: n->crda = (uint16_t)((n->crda & 0xFF00) | v); break;
    case 0x09: n->crda = (uint16_t)((n->crda & 0x00FF) | v << 8); break;
    case 0x0A: n->rcount = (uint16_t)((n->rcount & 0xFF00) | v); break;
    case 0x0B: n->rcount = (uint16_t)((n->rcount & 0x00FF) | v << 8); break;
    case 0x0C: n->rcr = v & 0x3F; rx_kick(n); break;
    case 0x0D: write_tcr(n, v); break;
    case 0x0E: n->dcr = v & 0x7F; break;
    default:
        n->imr = v & 0x7F;
        update_irq(n);
        break;
    }
}

static void write_page1(struct ne2000 *n, unsigned r, uint8_t v)
{
    if (r <= 0x06) {
        n->par[r - 1] = v;
    } else if (r == 0x07) {
        n->curr = v;
        rx_kick(n);
    } else {
        n->mar[r - 0x08] = v;
    }
}

/* Page 2 writes are for diagnostics (DP8390D, page 2 registers). */
static void write_page2(struct ne2000 *n, unsigned r, uint8_t v)
{
    switch (r) {
    case 0x01: n->clda = (uint16_t)((n->clda & 0xFF00) | v); break;
    case 0x02: n->clda = (uint16_t)((n->clda & 0x00FF) | v << 8); break;
    case 0x03: n->rnpp = v; break;
    case 0x05: n->lnpp = v; break;
    case 0x06: n->addr_counter = (uint16_t)((n->addr_counter & 0x00FF) | v << 8); break;
    case 0x07: n->addr_counter = (uint16_t)((n->addr_counter & 0xFF00) | v); break;
    default:
        log_once(n, LOG_PAGE2_RESERVED, "write %#x to reserved page 2 register %#x: ignored", v, r);
        break;
    }
}

/* 9346CR bits 7-6 (EEM): 00 normal, 01 auto-load from the EEPROM, 10 EEPROM
 * programming, 11 CONFIG register write enable (RTL8029AS datasheet). */
static void write_page3(struct ne2000 *n, unsigned r, uint8_t v)
{
    if (!n->is_pci) {
        log_once(n, LOG_PAGE3_ISA, "write %#x to page 3 register %#x (DP8390 test page): ignored", v, r);
        return;
    }
    int config_writable = (n->cr9346 >> 6) == 3;
    switch (r) {
    case 0x01:
        n->cr9346 = v & 0xCE;
        if ((v >> 6) == 1) {
            /* Auto-load: the configuration comes back from the EEPROM (our
             * defaults) and EEM returns to normal. */
            n->config2 = 0;
            n->config3 = 0;
            n->cr9346 = 0;
        } else if ((v >> 6) == 2) {
            log_once(n, LOG_EEPROM, "9346CR %#x: the 93C46 EEPROM is not modelled (EEDO reads 0)", v);
        }
        break;
    case 0x05:
    case 0x06:
        if (!config_writable) {
            log_once(n, LOG_CONFIG_LOCKED, "write %#x to CONFIG%d without 9346CR write enable: ignored",
                     v, r == 5 ? 2 : 3);
            break;
        }
        /* CONFIG2: medium type PL1-0 and FCE; CONFIG3: FUDUP and the LED mode. */
        if (r == 0x05) n->config2 = v & 0xE0;
        else n->config3 = v & 0x46;
        break;
    case 0x09:
        n->hltclk = v;
        if (v == 'H') log_once(n, LOG_HLTCLK, "HLTCLK 'H': the clock halt (power down) is not modelled");
        break;
    default:
        log_once(n, LOG_PAGE3_RTL, "write %#x to page 3 register %#x: ignored", v, r);
        break;
    }
}

static void write_register(struct ne2000 *n, unsigned r, uint8_t v)
{
    if (r == 0) {
        write_cr(n, v);
        return;
    }
    switch (n->page) {
    case 0: write_page0(n, r, v); break;
    case 1: write_page1(n, r, v); break;
    case 2: write_page2(n, r, v); break;
    default: write_page3(n, r, v); break;
    }
}

/* ---------------------------------------------------------------------------
 * Ports: registers at +0x00-0x0F (8 bits wide: wider accesses split), the
 * data port at +0x10-0x17, the reset port at +0x18-0x1F. */

static uint8_t port_read_byte(struct ne2000 *n, unsigned off)
{
    if (off < DATA_PORT) return read_register(n, off);
    if (off < RESET_PORT) return (uint8_t)data_port_read(n, 1);
    /* A read of the reset port pulses the DP8390's RESET (a write ends it). */
    chip_reset(n);
    return 0xFF;
}

static void port_write_byte(struct ne2000 *n, unsigned off, uint8_t v)
{
    if (off < DATA_PORT) write_register(n, off, v);
    else if (off < RESET_PORT) data_port_write(n, v, 1);
    /* Reset port writes end the reset pulse: our reset is instantaneous. */
}

static uint32_t ne2000_io_read(void *opaque, uint16_t port, int size)
{
    struct ne2000 *n = opaque;
    unsigned off = (uint16_t)(port - n->base) & 0x1F;
    if (off >= DATA_PORT && off + (unsigned)size <= RESET_PORT) return data_port_read(n, size);
    uint32_t v = 0;
    for (int k = 0; k < size; k++) v |= (uint32_t)port_read_byte(n, (off + (unsigned)k) & 0x1F) << (8 * k);
    return v;
}

static void ne2000_io_write(void *opaque, uint16_t port, uint32_t val, int size)
{
    struct ne2000 *n = opaque;
    unsigned off = (uint16_t)(port - n->base) & 0x1F;
    if (off >= DATA_PORT && off + (unsigned)size <= RESET_PORT) {
        data_port_write(n, val, size);
        return;
    }
    for (int k = 0; k < size; k++) port_write_byte(n, (off + (unsigned)k) & 0x1F, (uint8_t)(val >> (8 * k)));
}

static const struct io_handlers ne2000_io = { ne2000_io_read, ne2000_io_write, 1 | 2 | 4 };

/* ---------------------------------------------------------------------------
 * The two faces */

static void ne2000_common_init(struct ne2000 *n, int is_pci, struct vclock *clock, const uint8_t mac[6],
                               struct net_backend *nb)
{
    memset(n, 0, sizeof(*n));
    n->is_pci = is_pci;
    n->clock = clock;
    n->nb = nb;
    memcpy(n->mac, mac ? mac : default_mac, 6);
    if (clock) vtimer_init(&n->rx_timer, clock, rx_timer_fired, n);
    ne2000_reset(n);
}

static void ne2000_bar_mapped(struct pci_device *d, int bar, uint32_t addr)
{
    struct ne2000 *n = d->opaque;
    if (addr != PCI_BAR_UNMAPPED) n->base = (uint16_t)addr;
}

static void ne2000_pci_reset(struct pci_device *d)
{
    ne2000_reset(d->opaque);
}

int ne2000_init_pci(struct ne2000 *n, struct pci_bus *bus, struct vclock *clock, const uint8_t mac[6],
                    struct net_backend *nb)
{
    ne2000_common_init(n, 1, clock, mac, nb);
    struct pci_device *d = &n->pci;
    pci_device_init(d, "ne2k_pci", 0x10EC, 0x8029, 0x00, 0x020000);
    pci_set16(d->config, PCI_STATUS, 0x0200);                /* DEVSEL medium */
    pci_set16(d->config, PCI_SUBSYSTEM_VENDOR, 0x10EC);
    pci_set16(d->config, PCI_SUBSYSTEM_ID, 0x8029);
    d->config[PCI_INTERRUPT_PIN] = 1;                        /* INTA */
    d->opaque = n;
    d->reset = ne2000_pci_reset;
    if (pci_bar_io(d, 0, NE2000_IO_SIZE, &ne2000_io, n)) return -1;
    d->bar[0].mapped = ne2000_bar_mapped;
    if (pci_bus_add(bus, d, -1) < 0) return -1;
    net_set_receiver(nb, nic_can_receive, nic_receive, n);
    return 0;
}

int ne2000_init_isa(struct ne2000 *n, struct ioports *io, uint16_t base, struct irq_line irq,
                    struct vclock *clock, const uint8_t mac[6], struct net_backend *nb)
{
    ne2000_common_init(n, 0, clock, mac, nb);
    n->base = base;
    n->irq = irq;
    if (ioports_register(io, base, NE2000_IO_SIZE, &ne2000_io, n)) return -1;
    net_set_receiver(nb, nic_can_receive, nic_receive, n);
    return 0;
}
