/* Linux boot protocol loader (Documentation/arch/x86/boot.rst). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h"
#include "cpu/memory.h"
#include "frontend/linuxboot.h"

/* Setup header offsets inside the bzImage and boot_params (they coincide). */
#define HDR_SETUP_SECTS   0x1F1
#define HDR_BOOT_FLAG     0x1FE
#define HDR_JUMP          0x200
#define HDR_MAGIC         0x202
#define HDR_VERSION       0x206
#define HDR_TYPE_LOADER   0x210
#define HDR_LOADFLAGS     0x211
#define HDR_CODE32_START  0x214
#define HDR_RAMDISK_IMAGE 0x218
#define HDR_RAMDISK_SIZE  0x21C
#define HDR_CMD_LINE_PTR  0x228
#define HDR_INITRD_MAX    0x22C
#define HDR_CMDLINE_SIZE  0x238
#define HDR_INIT_SIZE     0x260
#define BP_EXT_MEM_K      0x002
#define BP_ALT_MEM_K      0x1E0
#define BP_E820_ENTRIES   0x1E8
#define BP_E820_TABLE     0x2D0
#define BP_E820_MAX       128

#define LOADED_HIGH 0x01

/* Where things go in guest RAM. */
#define GDT_ADDR         0x00001000u
#define BOOT_PARAMS_ADDR 0x00010000u
#define CMDLINE_ADDR     0x00020000u
#define KERNEL_ADDR      0x00100000u

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)get16(p) | (uint32_t)get16(p + 2) << 16; }
static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)v); put16(p + 2, (uint16_t)(v >> 16)); }
static void put64(uint8_t *p, uint64_t v) { put32(p, (uint32_t)v); put32(p + 4, (uint32_t)(v >> 32)); }

static uint8_t *slurp(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open '%s': %s", path, strerror(errno));
        return NULL;
    }
    long n = -1;
    if (!fseek(f, 0, SEEK_END)) n = ftell(f);
    if (n <= 0 || fseek(f, 0, SEEK_SET)) {
        snprintf(err, errlen, "'%s' is empty or cannot be read", path);
        fclose(f);
        return NULL;
    }
    uint8_t *buf = malloc((size_t)n);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        snprintf(err, errlen, "cannot read '%s'", path);
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

int linuxboot_open(struct linuxboot *lb, const char *kernel, const char *initrd, const char *cmdline,
                   char *err, size_t errlen)
{
    memset(lb, 0, sizeof(*lb));
    lb->kernel = slurp(kernel, &lb->kernel_len, err, errlen);
    if (!lb->kernel) return -1;
    const uint8_t *k = lb->kernel;
    if (lb->kernel_len < 0x1000 || get32(k + HDR_MAGIC) != 0x53726448u || get16(k + HDR_BOOT_FLAG) != 0xAA55) {
        snprintf(err, errlen, "'%s' is not a Linux bzImage (no boot protocol header)", kernel);
        goto fail;
    }
    lb->protocol = get16(k + HDR_VERSION);
    if (lb->protocol < 0x0202 || !(k[HDR_LOADFLAGS] & LOADED_HIGH)) {
        snprintf(err, errlen, "'%s': boot protocol %x.%02x or a zImage; bzImage with protocol 2.02+ needed",
                 kernel, lb->protocol >> 8, lb->protocol & 0xFF);
        goto fail;
    }
    unsigned setup_sects = k[HDR_SETUP_SECTS] ? k[HDR_SETUP_SECTS] : 4;
    lb->setup_len = (setup_sects + 1) * 512;
    if (lb->setup_len >= lb->kernel_len) {
        snprintf(err, errlen, "'%s': setup size %u is past the end of the file", kernel, lb->setup_len);
        goto fail;
    }
    lb->initrd_max = lb->protocol >= 0x0203 ? get32(k + HDR_INITRD_MAX) : 0x37FFFFFF;
    lb->cmdline_max = lb->protocol >= 0x0206 ? get32(k + HDR_CMDLINE_SIZE) : 255;
    lb->cmdline = strdup(cmdline ? cmdline : "");
    if (strlen(lb->cmdline) > lb->cmdline_max) {
        snprintf(err, errlen, "kernel command line is %zu bytes; this kernel takes at most %u",
                 strlen(lb->cmdline), lb->cmdline_max);
        goto fail;
    }
    if (initrd) {
        lb->initrd = slurp(initrd, &lb->initrd_len, err, errlen);
        if (!lb->initrd) goto fail;
    }
    return 0;
fail:
    linuxboot_close(lb);
    return -1;
}

void linuxboot_close(struct linuxboot *lb)
{
    free(lb->kernel);
    free(lb->initrd);
    free(lb->cmdline);
    memset(lb, 0, sizeof(*lb));
}

int linuxboot_enter(struct linuxboot *lb, struct cpu *cpu, struct memory *mem, uint32_t ram_size,
                    const struct e820_entry *e820, int n_e820, char *err, size_t errlen)
{
    const uint8_t *k = lb->kernel;
    uint32_t pm_len = (uint32_t)(lb->kernel_len - lb->setup_len);
    uint32_t init_size = lb->protocol >= 0x020A ? get32(k + HDR_INIT_SIZE) : pm_len * 4;
    uint32_t kernel_end = KERNEL_ADDR + (init_size > pm_len ? init_size : pm_len);
    if (kernel_end > ram_size) {
        snprintf(err, errlen, "the kernel needs %u MiB of RAM to decompress; give more with -m",
                 (kernel_end >> 20) + 1);
        return -1;
    }

    /* The initrd goes as high as the kernel allows, page aligned. */
    uint32_t initrd_addr = 0;
    if (lb->initrd) {
        uint64_t top = (uint64_t)lb->initrd_max + 1;
        if (top > ram_size) top = ram_size;
        if (lb->initrd_len > top || ((top - lb->initrd_len) & ~0xFFFull) < kernel_end) {
            snprintf(err, errlen, "the initrd (%zu bytes) does not fit in RAM above the kernel; give more with -m",
                     lb->initrd_len);
            return -1;
        }
        initrd_addr = (uint32_t)((top - lb->initrd_len) & ~0xFFFull);
        memory_write(mem, initrd_addr, lb->initrd, (uint32_t)lb->initrd_len);
    }
    memory_write(mem, KERNEL_ADDR, k + lb->setup_len, pm_len);

    /* boot_params: zero page with the kernel's own setup header copied in. */
    uint8_t bp[4096];
    memset(bp, 0, sizeof(bp));
    uint32_t hdr_end = 0x202 + k[HDR_JUMP + 1];
    if (hdr_end > sizeof(bp) || hdr_end > lb->kernel_len) hdr_end = 0x290;
    memcpy(bp + HDR_SETUP_SECTS, k + HDR_SETUP_SECTS, hdr_end - HDR_SETUP_SECTS);
    bp[HDR_TYPE_LOADER] = 0xFF;                 /* an unregistered loader */
    bp[HDR_LOADFLAGS] &= (uint8_t)~0x20;        /* not quiet */
    put32(bp + HDR_CMD_LINE_PTR, CMDLINE_ADDR);
    put32(bp + HDR_RAMDISK_IMAGE, initrd_addr);
    put32(bp + HDR_RAMDISK_SIZE, (uint32_t)lb->initrd_len);
    uint32_t ext_k = ram_size > 0x100000 ? (ram_size - 0x100000) >> 10 : 0;
    put16(bp + BP_EXT_MEM_K, (uint16_t)(ext_k > 0xFFFF ? 0xFFFF : ext_k));
    put32(bp + BP_ALT_MEM_K, ext_k);
    /* screen_info: an 80x25 colour text console. */
    bp[0x06] = 3;       /* orig_video_mode */
    bp[0x07] = 80;      /* orig_video_cols */
    bp[0x0E] = 25;      /* orig_video_lines */
    bp[0x0F] = 1;       /* orig_video_isVGA */
    bp[0x10] = 16;      /* orig_video_points */
    if (n_e820 > BP_E820_MAX) n_e820 = BP_E820_MAX;
    bp[BP_E820_ENTRIES] = (uint8_t)n_e820;
    for (int n = 0; n < n_e820; n++) {
        uint8_t *e = bp + BP_E820_TABLE + 20 * n;
        put64(e, e820[n].addr);
        put64(e + 8, e820[n].size);
        put32(e + 16, e820[n].type);
    }
    memory_write(mem, BOOT_PARAMS_ADDR, bp, sizeof(bp));
    memory_write(mem, CMDLINE_ADDR, lb->cmdline, (uint32_t)strlen(lb->cmdline) + 1);

    /* A GDT with the selectors the protocol names: __BOOT_CS 0x10, __BOOT_DS 0x18. */
    uint8_t gdt[32];
    put64(gdt, 0);
    put64(gdt + 8, 0);
    put64(gdt + 16, 0x00CF9B000000FFFFull);
    put64(gdt + 24, 0x00CF93000000FFFFull);
    memory_write(mem, GDT_ADDR, gdt, sizeof(gdt));

    /* 32-bit entry: protected mode, paging off, interrupts off, flat segments. */
    memory_set_a20(mem, 1);
    cpu_set_gdtr(cpu, GDT_ADDR, sizeof(gdt) - 1);
    cpu_set_cr(cpu, 0, (cpu_get_cr(cpu, 0) | CR0_PE) & ~CR0_PG);
    struct cpu_segment_state cs = { 0x10, 0, 0xFFFFFFFFu, 0xC09B };
    struct cpu_segment_state ds = { 0x18, 0, 0xFFFFFFFFu, 0xC093 };
    cpu_set_seg(cpu, S_CS, &cs);
    cpu_set_seg(cpu, S_DS, &ds);
    cpu_set_seg(cpu, S_ES, &ds);
    cpu_set_seg(cpu, S_SS, &ds);
    cpu_set_seg(cpu, S_FS, &ds);
    cpu_set_seg(cpu, S_GS, &ds);
    cpu_set_eflags(cpu, 0x2);
    for (int r = 0; r < 8; r++) cpu_set_reg(cpu, r, 0);
    cpu_set_reg(cpu, R_ESI, BOOT_PARAMS_ADDR);
    cpu_set_eip(cpu, get32(k + HDR_CODE32_START) ? get32(k + HDR_CODE32_START) : KERNEL_ADDR);
    cpu_set_halted(cpu, 0);
    return 0;
}
