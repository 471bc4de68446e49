/* BIOS shadow RAM, 0xC0000-0xFFFFF: per segment, reads come from the ROMs
 * (the bus) or from the RAM underneath, and writes go to the RAM or nowhere.
 * The i440FX PAM registers drive it (i440FX datasheet 3.2.18); segments are
 * the PAM granules: twelve of 16 KiB from 0xC0000 and one of 64 KiB at 0xF0000.
 *
 * This module owns the whole window: the machine gives it the ROM images that
 * live there (the BIOS's last 128 KiB at 0xE0000, option ROMs) with
 * ram_shadow_load_rom() and maps nothing else in it. Until the lead's memory.c
 * has a native "split" region, the read-ROM/write-RAM mode goes through MMIO
 * (slow, and rare: SeaBIOS never uses it); the three others are plain RAM or
 * ROM pages. */
#ifndef BUBBLE_RAM_SHADOW_H
#define BUBBLE_RAM_SHADOW_H

#include <stdint.h>

struct memory;

#define SHADOW_BASE      0xC0000u
#define SHADOW_SIZE      0x40000u
#define SHADOW_SEGMENTS  13

/* A segment's mode: which side each kind of access reaches. */
#define SHADOW_READ_RAM   1
#define SHADOW_WRITE_RAM  2

struct ram_shadow;

struct ram_shadow {
    struct memory *mem;
    uint8_t rom[SHADOW_SIZE];             /* what the bus shows: ROM images, else 0xFF */
    uint8_t mode[SHADOW_SEGMENTS];
};

/* Every segment starts reading and writing the ROM side (the PAM reset state). */
int ram_shadow_init(struct ram_shadow *s, struct memory *mem);
/* Place ROM bytes at `addr` (inside the window) on the bus side. */
void ram_shadow_load_rom(struct ram_shadow *s, uint32_t addr, const void *data, uint32_t len);
/* Set the mode of every segment overlapping [addr, addr + len). */
void ram_shadow_set(struct ram_shadow *s, uint32_t addr, uint32_t len, int mode);
int ram_shadow_mode(const struct ram_shadow *s, uint32_t addr);
/* Machine reset: back to ROM everywhere. */
void ram_shadow_reset(struct ram_shadow *s);

#endif
