/* Intel 440FX PMC host bridge (PCI 00:00.0, 8086:1237): the PCI host and the
 * memory controller. Its PAM registers (0x59-0x5F) route the BIOS area
 * 0xC0000-0xFFFFF between ROM and RAM through a ram_shadow; the DRAM row
 * boundaries describe the RAM; SMRAM (0x72) and the rest are stored values.
 * Reference: Intel 440FX PCIset datasheet (82441FX PMC), section 3.2. */
#ifndef BUBBLE_I440FX_H
#define BUBBLE_I440FX_H

#include <stdint.h>

#include "devices/pci.h"
#include "devices/ram_shadow.h"

#define I440FX_PAM0   0x59
#define I440FX_SMRAM  0x72

struct i440fx {
    struct pci_device pci;
    struct ram_shadow shadow;
};

/* Adds the bridge at 00:00.0 of `bus` and takes over 0xC0000-0xFFFFF of
 * `mem` (load the BIOS's low copy with ram_shadow_load_rom(&h->shadow, ...)).
 * `ram_bytes` fills the DRAM row boundary registers. */
int i440fx_init(struct i440fx *h, struct pci_bus *bus, struct memory *mem, uint32_t ram_bytes);

#endif
