/* Intel 440FX host bridge (see i440fx.h). */
#include <stddef.h>

#include "devices/i440fx.h"

/* PAM nibble bit 0 = RE (reads from DRAM), bit 1 = WE (writes to DRAM)
 * (datasheet 3.2.18): the same encoding as SHADOW_READ_RAM/SHADOW_WRITE_RAM. */
static void apply_pam(struct i440fx *h)
{
    const uint8_t *c = h->pci.config;
    ram_shadow_set(&h->shadow, 0xF0000, 0x10000, (c[I440FX_PAM0] >> 4) & 3);
    for (int k = 0; k < 6; k++) {
        uint8_t pam = c[I440FX_PAM0 + 1 + k];
        uint32_t base = 0xC0000u + 0x8000u * (uint32_t)k;
        ram_shadow_set(&h->shadow, base, 0x4000, pam & 3);
        ram_shadow_set(&h->shadow, base + 0x4000, 0x4000, (pam >> 4) & 3);
    }
}

static void i440fx_config_write(struct pci_device *d, uint8_t off, uint32_t val, int size)
{
    struct i440fx *h = d->opaque;
    if (off <= I440FX_PAM0 + 6 && off + size - 1 >= I440FX_PAM0) apply_pam(h);
}

static void i440fx_reset(struct pci_device *d)
{
    apply_pam(d->opaque);
}

int i440fx_init(struct i440fx *h, struct pci_bus *bus, struct memory *mem, uint32_t ram_bytes)
{
    struct pci_device *d = &h->pci;
    pci_device_init(d, "i440FX", 0x8086, 0x1237, 0x02, 0x060000);
    d->opaque = h;
    d->config_write = i440fx_config_write;
    d->reset = i440fx_reset;
    uint8_t *c = d->config, *w = d->wmask;
    /* Memory and bus master are always on in the PMC (3.2.3); status: medium DEVSEL, fast back-to-back. */
    pci_set16(c, PCI_COMMAND, 0x0006);
    pci_set16(w, PCI_COMMAND, 0x0140);
    pci_set16(c, PCI_STATUS, 0x0280);
    d->wmask[PCI_INTERRUPT_LINE] = 0;
    d->wmask[PCI_CACHE_LINE_SIZE] = 0;

    /* PMCCFG, DETURBO, DBC, AXC, DRAMR, DRAMC, DRAMT: stored. */
    for (uint8_t o = 0x50; o <= 0x58; o++) w[o] = 0xFF;
    c[0x57] = 0x01;   /* DRAMC */
    c[0x58] = 0x10;   /* DRAMT */
    w[I440FX_PAM0] = 0x30;              /* PAM0: only the 0xF0000 nibble exists */
    for (int k = 1; k <= 6; k++) w[I440FX_PAM0 + k] = 0x33;
    /* DRAM row boundaries in 8 MiB units; all of the RAM in row 0. */
    uint32_t units = ram_bytes >> 23;
    if (units > 255) units = 255;
    for (uint8_t o = 0x60; o <= 0x67; o++) {
        c[o] = units ? (uint8_t)units : 1;
        w[o] = 0xFF;
    }
    w[0x68] = 0xFF;                     /* FDHC */
    c[0x70] = 0x20;                     /* MTT */
    w[0x70] = 0xF8;
    c[0x71] = 0x10;                     /* CLT */
    w[0x71] = 0xFF;
    c[I440FX_SMRAM] = 0x02;             /* C_BASE_SEG = 010: 0xA0000, read-only */
    w[I440FX_SMRAM] = 0x78;
    w[0x90] = 0xFF;                     /* ERRCMD */
    d->w1cmask[0x91] = 0xFF;            /* ERRSTS */

    if (ram_shadow_init(&h->shadow, mem)) return -1;
    return pci_bus_add(bus, d, PCI_DEVFN(0, 0)) < 0 ? -1 : 0;
}
