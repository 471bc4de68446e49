/* BIOS shadow RAM over 0xC0000-0xFFFFF (see ram_shadow.h).
 *
 * Each 4 KiB page gets a memory page override (memory_set_page_override):
 *   read ROM, write nowhere : reads from our copy of the bus bytes, writes dropped;
 *   read RAM, write nowhere : reads from RAM, writes dropped (write-protected shadow);
 *   read ROM, write RAM     : reads the ROM copy, writes go to RAM (copying a ROM
 *                             onto itself, as firmware does before shadowing);
 *   read RAM, write RAM     : no override, the RAM shows through.
 * All four are plain host memory for the CPU, so firmware runs at full speed;
 * memory.c tells the CPU's TLB and block cache whenever a page changes. */
#include <stdio.h>
#include <string.h>

#include "cpu/memory.h"
#include "devices/ram_shadow.h"

static uint32_t segment_base(int i)
{
    return i < 12 ? SHADOW_BASE + 0x4000u * (uint32_t)i : 0xF0000u;
}

static uint32_t segment_len(int i)
{
    return i < 12 ? 0x4000u : 0x10000u;
}

static int segment_of(uint32_t addr)
{
    if (addr < SHADOW_BASE || addr >= SHADOW_BASE + SHADOW_SIZE) return -1;
    return addr >= 0xF0000u ? 12 : (int)((addr - SHADOW_BASE) / 0x4000u);
}

/* The RAM under the window exists only with at least 1 MiB of RAM. */
static int ram_backs(const struct ram_shadow *s, int i)
{
    return memory_ram_size(s->mem) >= segment_base(i) + segment_len(i);
}

static void apply_segment(struct ram_shadow *s, int i)
{
    uint8_t *ram = memory_ram(s->mem);
    for (uint32_t a = segment_base(i); a < segment_base(i) + segment_len(i); a += 0x1000) {
        uint8_t *rom = s->rom + (a - SHADOW_BASE);
        switch (s->mode[i]) {
        case 0: memory_set_page_override(s->mem, a, 1, rom, NULL); break;
        case SHADOW_READ_RAM: memory_set_page_override(s->mem, a, 1, ram + a, NULL); break;
        case SHADOW_WRITE_RAM: memory_set_page_override(s->mem, a, 1, rom, ram + a); break;
        default: memory_set_page_override(s->mem, a, 0, NULL, NULL); break;
        }
    }
}

/* Re-apply every segment; `force` drops the overrides first so that the CPU
 * forgets what it cached even where the pointers stay the same (new ROM bytes). */
static void rebuild(struct ram_shadow *s, int force)
{
    for (int i = 0; i < SHADOW_SEGMENTS; i++) {
        if (!ram_backs(s, i)) s->mode[i] = 0;
        if (force)
            for (uint32_t a = segment_base(i); a < segment_base(i) + segment_len(i); a += 0x1000)
                memory_set_page_override(s->mem, a, 0, NULL, NULL);
        apply_segment(s, i);
    }
}

int ram_shadow_init(struct ram_shadow *s, struct memory *mem)
{
    memset(s, 0, sizeof(*s));
    s->mem = mem;
    memset(s->rom, 0xFF, sizeof(s->rom));
    rebuild(s, 1);
    return 0;
}

void ram_shadow_load_rom(struct ram_shadow *s, uint32_t addr, const void *data, uint32_t len)
{
    if (addr < SHADOW_BASE || addr - SHADOW_BASE >= SHADOW_SIZE) return;
    uint32_t room = SHADOW_SIZE - (addr - SHADOW_BASE);
    if (len > room) len = room;
    memcpy(s->rom + (addr - SHADOW_BASE), data, len);
    rebuild(s, 1);
}

void ram_shadow_set(struct ram_shadow *s, uint32_t addr, uint32_t len, int mode)
{
    int changed = 0;
    for (int i = 0; i < SHADOW_SEGMENTS; i++) {
        uint32_t b = segment_base(i);
        if (b + segment_len(i) <= addr || (uint64_t)addr + len <= b) continue;
        uint8_t m = ram_backs(s, i) ? (uint8_t)(mode & 3) : 0;
        changed |= m != s->mode[i];
        s->mode[i] = m;
    }
    if (changed) rebuild(s, 0);
}

int ram_shadow_mode(const struct ram_shadow *s, uint32_t addr)
{
    int i = segment_of(addr);
    return i < 0 ? -1 : s->mode[i];
}

void ram_shadow_reset(struct ram_shadow *s)
{
    ram_shadow_set(s, SHADOW_BASE, SHADOW_SIZE, 0);
}
