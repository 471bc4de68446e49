/* Physical memory: RAM, ROM, MMIO regions and the A20 gate.
 * Devices map MMIO windows here; the CPU reaches RAM through its TLB. */
#ifndef BUBBLE_MEMORY_H
#define BUBBLE_MEMORY_H

#include <stddef.h>
#include <stdint.h>

struct memory;

/* MMIO handlers; `size` is 1, 2 or 4. `addr` is the offset inside the region. */
typedef uint32_t mmio_read_fn(void *opaque, uint32_t addr, int size);
typedef void mmio_write_fn(void *opaque, uint32_t addr, uint32_t val, int size);

/* Called when guest code pages are written behind the CPU's back (DMA, loaders). */
typedef void code_write_fn(void *opaque, uint32_t phys, uint32_t len);

struct memory *memory_new(uint32_t ram_bytes);
void memory_free(struct memory *m);
uint32_t memory_ram_size(const struct memory *m);
uint8_t *memory_ram(struct memory *m);

/* Map `len` bytes of host memory as ROM at `base` (page aligned). Writes are ignored
 * (and logged once). The data is copied. */
int memory_map_rom(struct memory *m, uint32_t base, const void *data, uint32_t len);
/* Map an MMIO region (page aligned base and length). Later maps take priority. */
int memory_map_mmio(struct memory *m, uint32_t base, uint32_t len,
                    mmio_read_fn *rd, mmio_write_fn *wr, void *opaque);
/* Remove every mapping (ROM or MMIO) that starts at `base`; RAM shows through again. */
void memory_unmap(struct memory *m, uint32_t base);

/* Page overrides for the BIOS shadow area (i440FX PAM, 0xC0000-0xFFFFF): for the
 * 4 KiB page at `phys`, reads come from `read` and writes go to `write` (host
 * pointers to 4 KiB; NULL: reads see the ROM/RAM below, writes are ignored).
 * Both NULL and `active` 0 removes the override. The CPU's TLB and code cache are
 * told. */
void memory_set_page_override(struct memory *m, uint32_t phys, int active, uint8_t *read, uint8_t *write);

/* A20 gate: when off, physical address bit 20 is forced to 0. */
void memory_set_a20(struct memory *m, int enabled);
int memory_a20(const struct memory *m);

/* Host pointer for a physical page's RAM or ROM bytes, or NULL for MMIO and holes.
 * `phys` is the address after the A20 mask. */
uint8_t *memory_host_page(struct memory *m, uint32_t phys, int for_write);

/* Physical accesses (DMA, loaders, page walks); they go to MMIO where mapped and
 * tell the CPU's block cache about writes to code. Out-of-range reads give 0xFF. */
void memory_read(struct memory *m, uint32_t phys, void *buf, uint32_t len);
void memory_write(struct memory *m, uint32_t phys, const void *buf, uint32_t len);
uint32_t memory_read32(struct memory *m, uint32_t phys);
void memory_write32(struct memory *m, uint32_t phys, uint32_t v);
uint32_t memory_read_sized(struct memory *m, uint32_t phys, int size);
void memory_write_sized(struct memory *m, uint32_t phys, uint32_t v, int size);

/* The CPU registers itself to hear about code writes and A20 changes. */
void memory_set_code_listener(struct memory *m, code_write_fn *fn, void *opaque);
typedef void memory_change_fn(void *opaque);
void memory_set_map_listener(struct memory *m, memory_change_fn *fn, void *opaque);

#endif
