/* The BIOS ROM image (bios/bios.asm assembled by nasm), built into the
 * emulator. bios/bios.mk compiles this file with BIOS_ROM_FILE naming the
 * assembled image, which .incbin pulls in; built without it (a Makefile that
 * does not include bios/bios.mk yet) the image is empty and bios_new() says so. */
#include <stddef.h>
#include <stdint.h>

const uint8_t *bios_embedded_rom(size_t *len);

#ifdef BIOS_ROM_FILE
__asm__(".pushsection .rodata\n"
        ".balign 64\n"
        "bubble_bios_rom_start:\n"
        ".incbin \"" BIOS_ROM_FILE "\"\n"
        "bubble_bios_rom_end:\n"
        ".popsection\n");
extern const uint8_t bubble_bios_rom_start[], bubble_bios_rom_end[];

const uint8_t *bios_embedded_rom(size_t *len)
{
    *len = (size_t)(bubble_bios_rom_end - bubble_bios_rom_start);
    return bubble_bios_rom_start;
}
#else
const uint8_t *bios_embedded_rom(size_t *len)
{
    *len = 0;
    return NULL;
}
#endif
