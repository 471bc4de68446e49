/* Physical memory: RAM from 0, ROM and MMIO regions laid over it or above it,
 * and the A20 gate. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "memory.h"

#define MAX_REGIONS 64

enum region_kind { REGION_ROM, REGION_MMIO };

struct region {
    uint32_t base, len;
    enum region_kind kind;
    uint8_t *rom;                 /* REGION_ROM: our copy */
    mmio_read_fn *rd;
    mmio_write_fn *wr;
    void *opaque;
};

struct memory {
    uint8_t *ram;
    uint32_t ram_size;
    size_t ram_alloc;
    int a20;
    struct region regions[MAX_REGIONS];
    int nregions;
    int rom_write_logged;
    code_write_fn *code_fn;
    void *code_opaque;
    memory_change_fn *map_fn;
    void *map_opaque;
    /* Shadow-area page overrides, pages 0xC0-0xFF. */
    struct page_override {
        uint8_t active;
        uint8_t *read, *write;
    } shadow[64];
};

#define SHADOW_FIRST_PAGE 0xC0u
static inline struct page_override *override_of(struct memory *m, uint32_t phys)
{
    uint32_t pn = phys >> 12;
    if (pn - SHADOW_FIRST_PAGE < 64 && m->shadow[pn - SHADOW_FIRST_PAGE].active)
        return &m->shadow[pn - SHADOW_FIRST_PAGE];
    return NULL;
}

struct memory *memory_new(uint32_t ram_bytes)
{
    struct memory *m = calloc(1, sizeof(*m));
    if (!m) return NULL;
    /* Round up to a page; anonymous mappings stay unbacked until touched. */
    m->ram_size = (ram_bytes + 0xFFFu) & ~0xFFFu;
    m->ram_alloc = m->ram_size ? m->ram_size : 4096;
    m->ram = mmap(NULL, m->ram_alloc, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m->ram == MAP_FAILED) {
        free(m);
        return NULL;
    }
    m->a20 = 1;
    return m;
}

void memory_free(struct memory *m)
{
    if (!m) return;
    for (int k = 0; k < m->nregions; k++) free(m->regions[k].rom);
    munmap(m->ram, m->ram_alloc);
    free(m);
}

uint32_t memory_ram_size(const struct memory *m) { return m->ram_size; }
uint8_t *memory_ram(struct memory *m) { return m->ram; }

static void notify_map(struct memory *m)
{
    if (m->map_fn) m->map_fn(m->map_opaque);
}

static struct region *add_region(struct memory *m, uint32_t base, uint32_t len)
{
    if ((base & 0xFFF) || (len & 0xFFF) || len == 0 || (uint64_t)base + len > 0x100000000ull) {
        fprintf(stderr, "memory: region %08x+%x is not page aligned or wraps\n", base, len);
        return NULL;
    }
    if (m->nregions == MAX_REGIONS) {
        fprintf(stderr, "memory: too many regions\n");
        return NULL;
    }
    /* Later maps take priority: keep the newest first. */
    memmove(&m->regions[1], &m->regions[0], sizeof(m->regions[0]) * m->nregions);
    m->nregions++;
    struct region *r = &m->regions[0];
    memset(r, 0, sizeof(*r));
    r->base = base;
    r->len = len;
    return r;
}

int memory_map_rom(struct memory *m, uint32_t base, const void *data, uint32_t len)
{
    uint32_t plen = (len + 0xFFFu) & ~0xFFFu;
    uint8_t *copy = malloc(plen);
    if (!copy) return -1;
    memset(copy, 0xFF, plen);
    memcpy(copy, data, len);
    struct region *r = add_region(m, base, plen);
    if (!r) {
        free(copy);
        return -1;
    }
    r->kind = REGION_ROM;
    r->rom = copy;
    notify_map(m);
    return 0;
}

int memory_map_mmio(struct memory *m, uint32_t base, uint32_t len,
                    mmio_read_fn *rd, mmio_write_fn *wr, void *opaque)
{
    struct region *r = add_region(m, base, len);
    if (!r) return -1;
    r->kind = REGION_MMIO;
    r->rd = rd;
    r->wr = wr;
    r->opaque = opaque;
    notify_map(m);
    return 0;
}

void memory_unmap(struct memory *m, uint32_t base)
{
    int k = 0;
    while (k < m->nregions) {
        if (m->regions[k].base == base) {
            free(m->regions[k].rom);
            memmove(&m->regions[k], &m->regions[k + 1], sizeof(m->regions[0]) * (m->nregions - k - 1));
            m->nregions--;
        } else {
            k++;
        }
    }
    notify_map(m);
}

void memory_set_page_override(struct memory *m, uint32_t phys, int active, uint8_t *read, uint8_t *write)
{
    uint32_t pn = phys >> 12;
    if (pn - SHADOW_FIRST_PAGE >= 64) {
        fprintf(stderr, "memory: page override at %08x outside the shadow area\n", phys);
        return;
    }
    struct page_override *o = &m->shadow[pn - SHADOW_FIRST_PAGE];
    if (o->active == !!active && o->read == read && o->write == write) return;
    o->active = (uint8_t)!!active;
    o->read = read;
    o->write = write;
    /* What the page reads as may have changed: cached code and host pointers go. */
    if (m->code_fn) m->code_fn(m->code_opaque, pn << 12, 0x1000);
    notify_map(m);
}

void memory_set_a20(struct memory *m, int enabled)
{
    enabled = !!enabled;
    if (m->a20 == enabled) return;
    m->a20 = enabled;
    notify_map(m);
}

int memory_a20(const struct memory *m) { return m->a20; }

static struct region *find_region(struct memory *m, uint32_t phys)
{
    for (int k = 0; k < m->nregions; k++) {
        struct region *r = &m->regions[k];
        if (phys - r->base < r->len) return r;
    }
    return NULL;
}

uint8_t *memory_host_page(struct memory *m, uint32_t phys, int for_write)
{
    phys &= ~0xFFFu;
    struct page_override *o = override_of(m, phys);
    if (o) {
        uint8_t *p = for_write ? o->write : o->read;
        if (p || for_write) return p;
    }
    struct region *r = find_region(m, phys);
    if (r) {
        if (r->kind == REGION_ROM && !for_write) return r->rom + (phys - r->base);
        return NULL;
    }
    if (phys < m->ram_size) return m->ram + phys;
    return NULL;
}

void memory_set_code_listener(struct memory *m, code_write_fn *fn, void *opaque)
{
    m->code_fn = fn;
    m->code_opaque = opaque;
}

void memory_set_map_listener(struct memory *m, memory_change_fn *fn, void *opaque)
{
    m->map_fn = fn;
    m->map_opaque = opaque;
}

uint32_t memory_read_sized(struct memory *m, uint32_t phys, int size)
{
    struct page_override *o = override_of(m, phys);
    if (o && o->read && (phys & 0xFFF) <= 0x1000u - size) {
        uint32_t v = 0;
        memcpy(&v, o->read + (phys & 0xFFF), (size_t)size);
        return v;
    }
    struct region *r = find_region(m, phys);
    if (r) {
        if (r->kind == REGION_MMIO) return r->rd ? r->rd(r->opaque, phys - r->base, size) : 0xFFFFFFFFu;
        uint32_t v = 0;
        for (int k = 0; k < size; k++) {
            uint32_t a = phys + k - r->base;
            v |= (uint32_t)(a < r->len ? r->rom[a] : 0xFF) << (8 * k);
        }
        return v;
    }
    uint32_t v = 0;
    for (int k = 0; k < size; k++) {
        uint32_t a = phys + k;
        v |= (uint32_t)(a < m->ram_size ? m->ram[a] : 0xFF) << (8 * k);
    }
    return v;
}

void memory_write_sized(struct memory *m, uint32_t phys, uint32_t v, int size)
{
    struct page_override *o = override_of(m, phys);
    if (o) {
        if (o->write && (phys & 0xFFF) <= 0x1000u - size) {
            memcpy(o->write + (phys & 0xFFF), &v, (size_t)size);
            if (m->code_fn) m->code_fn(m->code_opaque, phys, (uint32_t)size);
        } else if (o->write) {
            for (int k = 0; k < size; k++) memory_write_sized(m, phys + k, (v >> (8 * k)) & 0xFF, 1);
        }
        return;
    }
    struct region *r = find_region(m, phys);
    if (r) {
        if (r->kind == REGION_MMIO) {
            if (r->wr) r->wr(r->opaque, phys - r->base, v, size);
        } else if (!m->rom_write_logged) {
            m->rom_write_logged = 1;
            fprintf(stderr, "memory: write to ROM at %08x ignored (logged once)\n", phys);
        }
        return;
    }
    int touched = 0;
    for (int k = 0; k < size; k++) {
        uint32_t a = phys + k;
        if (a < m->ram_size) {
            m->ram[a] = (uint8_t)(v >> (8 * k));
            touched = 1;
        }
    }
    if (touched && m->code_fn) m->code_fn(m->code_opaque, phys, (uint32_t)size);
}

void memory_read(struct memory *m, uint32_t phys, void *buf, uint32_t len)
{
    uint8_t *out = buf;
    while (len) {
        uint32_t chunk = 0x1000 - (phys & 0xFFF);
        if (chunk > len) chunk = len;
        uint8_t *host = memory_host_page(m, phys, 0);
        if (host) {
            memcpy(out, host + (phys & 0xFFF), chunk);
        } else {
            for (uint32_t k = 0; k < chunk; k++) out[k] = (uint8_t)memory_read_sized(m, phys + k, 1);
        }
        out += chunk;
        phys += chunk;
        len -= chunk;
    }
}

void memory_write(struct memory *m, uint32_t phys, const void *buf, uint32_t len)
{
    const uint8_t *in = buf;
    while (len) {
        uint32_t chunk = 0x1000 - (phys & 0xFFF);
        if (chunk > len) chunk = len;
        uint8_t *host = memory_host_page(m, phys, 1);
        if (host) {
            memcpy(host + (phys & 0xFFF), in, chunk);
            if (m->code_fn) m->code_fn(m->code_opaque, phys, chunk);
        } else {
            for (uint32_t k = 0; k < chunk; k++) memory_write_sized(m, phys + k, in[k], 1);
        }
        in += chunk;
        phys += chunk;
        len -= chunk;
    }
}

uint32_t memory_read32(struct memory *m, uint32_t phys) { return memory_read_sized(m, phys, 4); }
void memory_write32(struct memory *m, uint32_t phys, uint32_t v) { memory_write_sized(m, phys, v, 4); }
