/* NE2000 Ethernet card: a National DP8390 network interface controller with
 * 16 KiB of buffer RAM (addresses 0x4000-0x7FFF, pages 0x40-0x7F) and a
 * 32-byte station address PROM (0x0000-0x001F), both reached by the host only
 * through the DP8390's remote DMA and the card's data port. Two faces:
 *  - ISA NE2000: 32 ports at a configurable base (0x300 is usual), an ISA IRQ;
 *    ports +0x00-0x0F the DP8390 registers, +0x10-0x17 the data port,
 *    +0x18-0x1F the reset port (a read resets the card);
 *  - PCI Realtek RTL8029AS (10ec:8029, class 020000): the same behind I/O
 *    BAR0 of 32 bytes and INTA, plus the RTL8029's ID bytes ('P' 'C' at page 0
 *    0x0A/0x0B) and page-3 configuration registers.
 *
 * Received frames come from the net backend only while the card can store
 * them (started, not in loopback or monitor mode, room in the receive ring
 * before BNRY) and no faster than a 10 Mbit/s wire carries them, so the
 * backend holds frames back instead of the card dropping them; the card calls
 * net_rx_ready() when room appears or the wire is free again. A frame held
 * for room longer than its wire time while the driver has no receive
 * interrupt pending raises OVW, as the DP8390 would on a full ring, so the
 * driver's overflow procedure drains the ring (the frame is not lost: Linux's
 * 8390 core takes at most 9 packets per interrupt and acknowledges the rest).
 * Transmission is immediate: the frame leaves when the guest sets TXP. */
#ifndef BUBBLE_NE2000_H
#define BUBBLE_NE2000_H

#include <stdint.h>

#include "devices/clock.h"
#include "devices/hostif.h"
#include "devices/irq.h"
#include "devices/pci.h"

struct ioports;

#define NE2000_IO_SIZE   0x20
#define NE2000_PROM_SIZE 32
#define NE2000_RAM_START 0x4000
#define NE2000_RAM_SIZE  0x4000
#define NE2000_WIRE_NS_PER_BYTE 800   /* 10 Mbit/s */

struct ne2000 {
    int is_pci;                    /* the RTL8029AS face; else the ISA NE2000 */
    uint16_t base;                 /* first port (PCI: where BAR0 decodes now) */
    struct irq_line irq;           /* ISA face */
    struct pci_device pci;         /* PCI face */
    struct vclock *clock;
    struct net_backend *nb;        /* NULL: no cable */
    uint8_t mac[6];                /* what the PROM holds */
    int irq_level;                 /* what the card drives on its interrupt pin */
    uint32_t logged;               /* messages already printed (bit per kind) */
    struct vtimer rx_timer;        /* the wire is free again / a held frame's overflow is due */

    /* Everything from here on is chip state, cleared by a machine reset. */
    /* DP8390 command register, split into its fields. */
    uint8_t page;                  /* PS1-PS0 */
    uint8_t rd;                    /* RD2-RD0 as last written */
    uint8_t running;               /* started (STA) and not stopped (STP) */
    uint8_t txp;                   /* a transmission is in progress */

    uint8_t isr, imr, dcr, tcr, rcr;
    uint8_t tsr, ncr, rsr;
    uint8_t pstart, pstop, bnry, curr, tpsr;
    uint16_t tbcr;
    uint16_t crda;                 /* remote DMA address: RSAR as written, then counting */
    uint16_t rcount;               /* remote DMA byte count: RBCR as written, then counting down */
    uint16_t clda;                 /* local DMA address */
    uint8_t rnpp, lnpp;            /* remote / local next packet pointers (page 2) */
    uint16_t addr_counter;         /* page 2 registers 6-7 (diagnostic) */
    uint8_t cntr[3];               /* tally counters: alignment, CRC, missed packets */
    uint8_t par[6];                /* physical address */
    uint8_t mar[8];                /* multicast hash filter */
    uint8_t fifo[8];               /* the last 8 bytes of the last loopback frame */
    uint8_t fifo_pos;

    /* The wire (10 Mbit/s): when the last frame from the backend ended, and
     * the frame the backend holds because the ring had no room for it. */
    int64_t rx_last_end;
    uint8_t rx_waiting;
    uint16_t rx_wait_len;

    /* RTL8029AS page 3. */
    uint8_t cr9346, config2, config3, hltclk;

    uint8_t prom[NE2000_PROM_SIZE];
    uint8_t ram[NE2000_RAM_SIZE];
};

/* Both: `mac` NULL means QEMU's default 52:54:00:12:34:56; `nb` NULL, no cable.
 * The card installs itself as the backend's receiver. */

/* The RTL8029AS on the PCI bus (first free slot), its INTA through the bus's
 * PIRQ routing. Returns 0, or -1 if the bus has no room. */
int ne2000_init_pci(struct ne2000 *n, struct pci_bus *bus, struct vclock *clock, const uint8_t mac[6],
                    struct net_backend *nb);
/* The ISA NE2000 at `base` (32 ports) on `irq`. Returns 0, or -1 if a port is taken. */
int ne2000_init_isa(struct ne2000 *n, struct ioports *io, uint16_t base, struct irq_line irq,
                    struct vclock *clock, const uint8_t mac[6], struct net_backend *nb);
/* Machine reset (RSTDRV / PCI RST#): registers to their power-on values, the
 * NIC stopped with ISR.RST set, the buffer RAM cleared. */
void ne2000_reset(struct ne2000 *n);

#endif
