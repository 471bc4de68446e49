/* PCI bus 0 with configuration mechanism #1 (ports 0xCF8 address, 0xCFC-0xCFF
 * data), and the generic part of every PCI function: its 256-byte configuration
 * space (type 0 header), BARs that map the device's ports or MMIO while the
 * command register enables them, and INTx lines routed to PIRQs.
 *
 * A device embeds a struct pci_device, fills it with pci_device_init(), sets
 * its registers and writable bits, declares BARs with pci_bar_io()/pci_bar_mem(),
 * and joins the bus with pci_bus_add(); the configuration at that moment is what
 * pci_bus_reset() restores. */
#ifndef BUBBLE_PCI_H
#define BUBBLE_PCI_H

#include <stdint.h>

#include "cpu/ioport.h"
#include "cpu/memory.h"

/* Type 0 header offsets (PCI Local Bus Specification 3.0, 6.1). */
#define PCI_VENDOR_ID        0x00
#define PCI_DEVICE_ID        0x02
#define PCI_COMMAND          0x04
#define PCI_STATUS           0x06
#define PCI_REVISION_ID      0x08
#define PCI_CLASS_PROG       0x09
#define PCI_CLASS_DEVICE     0x0A
#define PCI_CACHE_LINE_SIZE  0x0C
#define PCI_LATENCY_TIMER    0x0D
#define PCI_HEADER_TYPE      0x0E
#define PCI_BAR0             0x10
#define PCI_SUBSYSTEM_VENDOR 0x2C
#define PCI_SUBSYSTEM_ID     0x2E
#define PCI_ROM_ADDRESS      0x30
#define PCI_INTERRUPT_LINE   0x3C
#define PCI_INTERRUPT_PIN    0x3D

#define PCI_COMMAND_IO            0x0001
#define PCI_COMMAND_MEMORY        0x0002
#define PCI_COMMAND_MASTER        0x0004
#define PCI_COMMAND_INTX_DISABLE  0x0400
#define PCI_STATUS_INTERRUPT      0x0008
#define PCI_HEADER_MULTIFUNCTION  0x80

#define PCI_DEVFN(slot, fn)  ((((slot) & 0x1F) << 3) | ((fn) & 7))
#define PCI_SLOT(devfn)      (((devfn) >> 3) & 0x1F)
#define PCI_FUNC(devfn)      ((devfn) & 7)

#define PCI_NUM_BARS   7          /* BAR0-5, and 6 = the expansion ROM */
#define PCI_ROM_BAR    6
#define PCI_BAR_UNMAPPED 0xFFFFFFFFu

struct pci_device;
struct pci_bus;

struct pci_bar {
    uint32_t size;                /* 0: no such BAR; else a power of two */
    int is_io;
    uint32_t addr;                /* where it decodes now, or PCI_BAR_UNMAPPED */
    const struct io_handlers *io; /* I/O BAR: handlers get the absolute port */
    mmio_read_fn *mmio_read;      /* memory BAR: handlers get the offset in the BAR */
    mmio_write_fn *mmio_write;
    void *opaque;
    /* Optional: told after the BAR moved, appeared or disappeared (addr may be
     * PCI_BAR_UNMAPPED), for devices that keep state about where they are. */
    void (*mapped)(struct pci_device *d, int bar, uint32_t addr);
};

struct pci_device {
    uint8_t config[256];
    uint8_t wmask[256];           /* bits the guest may write */
    uint8_t w1cmask[256];         /* bits a written 1 clears (status) */
    uint8_t config_at_reset[256]; /* snapshot taken by pci_bus_add() */
    struct pci_bus *bus;
    int devfn;                    /* -1 until added */
    const char *name;
    struct pci_bar bar[PCI_NUM_BARS];
    int irq_level;                /* what the device drives on its INTx pin */
    int irq_asserted;             /* what reaches the PIRQ (after INTx disable) */
    int logged_ro_write;          /* a write to a read-only register was reported */
    /* Optional hooks. config_read returns the value at `off` (size 1, 2 or 4,
     * inside one dword) for registers computed on the fly; config_write runs
     * after the masked store and the BAR remapping; reset after the registers
     * were restored. */
    uint32_t (*config_read)(struct pci_device *d, uint8_t off, int size);
    void (*config_write)(struct pci_device *d, uint8_t off, uint32_t val, int size);
    void (*reset)(struct pci_device *d);
    void *opaque;                 /* for the device's own use */
};

/* Called with the OR of the INTx lines wired to PIRQ `pirq` (0-3 = A-D). */
typedef void pci_pirq_fn(void *opaque, int pirq, int level);

struct pci_bus {
    struct ioports *io;
    struct memory *mem;
    struct pci_device *dev[256];  /* by devfn */
    uint32_t config_address;      /* 0xCF8 */
    int pirq_count[4];            /* asserted INTx lines per PIRQ */
    /* Board wiring of slot/pin to PIRQ; pin 1-4 = INTA-INTD. */
    int (*pirq_of)(int devfn, int pin);
    pci_pirq_fn *pirq_set;        /* the router (PIIX3) */
    void *pirq_opaque;
    /* Port 0xCF9 sits inside the 0xCF8 dword but belongs to the PIIX3
     * (its reset control register): byte accesses there go to these. */
    uint32_t (*port_cf9_read)(void *opaque);
    void (*port_cf9_write)(void *opaque, uint8_t val);
    void *port_cf9_opaque;
    int logged_odd_access;
};

/* Registers ports 0xCF8-0xCFF. Returns 0, or -1 if they are taken. */
int pci_bus_init(struct pci_bus *bus, struct ioports *io, struct memory *mem);
/* Machine reset: every device gets its reset-time registers back, its BARs
 * stop decoding, its INTx is released; then its reset hook runs. */
void pci_bus_reset(struct pci_bus *bus);
/* The i440FX/PIIX board wiring: device in slot S, pin P (1 = INTA) drives
 * PIRQ (S + P - 2) mod 4, the rotation SeaBIOS's $PIR table describes. */
int pci_pirq_of_slot_pin(int devfn, int pin);

/* Clears the device and sets the identity registers; `class_code` is
 * 0xCCSSPP (class, subclass, programming interface). The command register,
 * cache line size, latency timer and interrupt line become writable. */
void pci_device_init(struct pci_device *d, const char *name, uint16_t vendor, uint16_t device,
                     uint8_t revision, uint32_t class_code);
/* Joins the bus at `devfn` (or the first free slot's function 0 if -1).
 * Returns the devfn, or -1 if taken. Function 0 of a slot with several
 * functions gets the multi-function bit. */
int pci_bus_add(struct pci_bus *bus, struct pci_device *d, int devfn);

/* Declare BAR `n` (0-5, or PCI_ROM_BAR for memory): `size` bytes, a power
 * of two (memory BARs are at least 4 KiB, I/O BARs at least 4 bytes). */
int pci_bar_io(struct pci_device *d, int n, uint32_t size, const struct io_handlers *h, void *opaque);
int pci_bar_mem(struct pci_device *d, int n, uint32_t size, mmio_read_fn *rd, mmio_write_fn *wr,
                void *opaque);

/* The device drives its INTx pin (config 0x3D must name it). */
void pci_set_irq(struct pci_device *d, int level);

/* Configuration accesses as the guest does them (size 1, 2 or 4 within a
 * dword); the data port handlers use these, and so may the machine. */
uint32_t pci_config_read(struct pci_device *d, uint8_t off, int size);
/* The stored bytes, without the config_read hook (for use inside the hook). */
uint32_t pci_config_stored(const struct pci_device *d, uint8_t off, int size);
void pci_config_write(struct pci_device *d, uint8_t off, uint32_t val, int size);

/* Little-endian helpers for a device's own setup of config/wmask bytes. */
static inline void pci_set8(uint8_t *cfg, uint8_t off, uint8_t v) { cfg[off] = v; }
static inline void pci_set16(uint8_t *cfg, uint8_t off, uint16_t v)
{
    cfg[off] = (uint8_t)v;
    cfg[(uint8_t)(off + 1)] = (uint8_t)(v >> 8);
}
static inline void pci_set32(uint8_t *cfg, uint8_t off, uint32_t v)
{
    for (int k = 0; k < 4; k++) cfg[(uint8_t)(off + k)] = (uint8_t)(v >> (8 * k));
}
static inline uint16_t pci_get16(const uint8_t *cfg, uint8_t off)
{
    return (uint16_t)(cfg[off] | cfg[(uint8_t)(off + 1)] << 8);
}
static inline uint32_t pci_get32(const uint8_t *cfg, uint8_t off)
{
    return (uint32_t)cfg[off] | (uint32_t)cfg[(uint8_t)(off + 1)] << 8 |
           (uint32_t)cfg[(uint8_t)(off + 2)] << 16 | (uint32_t)cfg[(uint8_t)(off + 3)] << 24;
}

#endif
