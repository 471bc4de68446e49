/* Unit tests of the 8237A pair (devices/dma8237.c) through its ports and
 * dma_transfer(): programming as a floppy driver does, transfers to and from
 * RAM, terminal count (status, mask, indication), auto-init, address
 * decrement, 64K wrap inside the page, verify, 16-bit channels, the cascade
 * through channel 4, page registers and the register housekeeping. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cpu/ioport.h"
#include "cpu/memory.h"
#include "devices/dma8237.h"

#include "tests/check.h"

static struct ioports *io;
static struct memory *mem;
static struct dma dma;

static void out8(uint16_t port, uint8_t v) { io_write(io, port, v, 1); }
static uint8_t in8(uint16_t port) { return (uint8_t)io_read(io, port, 1); }

/* DMA2 registers are at 0xC0 + 2 * reg. */
#define DMA2(reg) ((uint16_t)(0xC0 + 2 * (reg)))

static const uint16_t page_port[8] = { 0x87, 0x83, 0x81, 0x82, 0x8F, 0x8B, 0x89, 0x8A };

static void enable_cascade(void)
{
    out8(DMA2(11), 0xC0);   /* channel 4 cascade mode */
    out8(DMA2(10), 0x00);   /* unmask channel 4 */
}

/* Program an 8-bit channel the way the floppy driver does. */
static void program8(int ch, uint8_t mode, uint32_t phys, uint16_t count_minus_1)
{
    out8(0x0A, (uint8_t)(0x04 | ch));            /* mask */
    out8(0x0C, 0);                               /* clear flip-flop */
    out8(0x0B, (uint8_t)(mode | ch));
    out8((uint16_t)(ch * 2), (uint8_t)phys);
    out8((uint16_t)(ch * 2), (uint8_t)(phys >> 8));
    out8(page_port[ch], (uint8_t)(phys >> 16));
    out8(0x0C, 0);
    out8((uint16_t)(ch * 2 + 1), (uint8_t)count_minus_1);
    out8((uint16_t)(ch * 2 + 1), (uint8_t)(count_minus_1 >> 8));
    out8(0x0A, (uint8_t)ch);                     /* unmask */
}

/* A 16-bit channel (4-7): word address and word count. */
static void program16(int ch, uint8_t mode, uint32_t phys, uint16_t words_minus_1)
{
    int k = ch - 4;
    out8(DMA2(10), (uint8_t)(0x04 | k));
    out8(DMA2(12), 0);
    out8(DMA2(11), (uint8_t)(mode | k));
    uint16_t waddr = (uint16_t)(phys >> 1);
    out8(DMA2(k * 2), (uint8_t)waddr);
    out8(DMA2(k * 2), (uint8_t)(waddr >> 8));
    out8(page_port[ch], (uint8_t)(phys >> 16));
    out8(DMA2(k * 2 + 1), (uint8_t)words_minus_1);
    out8(DMA2(k * 2 + 1), (uint8_t)(words_minus_1 >> 8));
    out8(DMA2(10), (uint8_t)k);
}

static uint16_t read_pair(uint16_t port, uint16_t clear_ff)
{
    out8(clear_ff, 0);
    uint16_t lo = in8(port);
    return (uint16_t)(lo | in8(port) << 8);
}

static void fill_pattern(uint8_t *b, int n, int seed)
{
    for (int k = 0; k < n; k++) b[k] = (uint8_t)(k * 13 + seed);
}

static void test_floppy_read(void)
{
    dma_reset(&dma);
    program8(2, 0x44, 0x12340, 511);            /* single, write to memory */
    check(!dma_channel_ready(&dma, 2), "DMA1 channel not ready while channel 4 is masked");
    uint8_t buf[512], got[512];
    fill_pattern(buf, 512, 1);
    check(dma_transfer(&dma, 2, buf, 512, 1) == 0, "no transfer without the cascade");
    enable_cascade();
    check(dma_channel_ready(&dma, 2), "ready once programmed, unmasked and cascaded");
    check(dma_channel_ready(&dma, 2) && !dma_channel_ready(&dma, 1), "masked channel 1 not ready");

    /* A sector in two pieces: TC only at the end. */
    int n = dma_transfer(&dma, 2, buf, 200, 1);
    check(n == 200 && !dma_terminal_count(&dma, 2), "first 200 bytes, no TC");
    check(read_pair(0x04, 0x0C) == 0x2340 + 200, "current address advanced (%04x)", read_pair(0x04, 0x0C));
    check(read_pair(0x05, 0x0C) == 511 - 200, "current count down (%u)", read_pair(0x05, 0x0C));
    n = dma_transfer(&dma, 2, buf + 200, 1000, 1);
    check(n == 312 && dma_terminal_count(&dma, 2), "the rest stops at terminal count (%d)", n);
    memory_read(mem, 0x12340, got, 512);
    check(memcmp(buf, got, 512) == 0, "data in RAM at page 1, 2340h");
    uint8_t st = in8(0x08);
    check((st & 0x0F) == 0x04, "status: TC on channel 2 (%02x)", st);
    check((in8(0x08) & 0x0F) == 0, "status read clears TC");
    check(!dma_channel_ready(&dma, 2) && (in8(0x0F) & 0x04), "TC without auto-init sets the mask bit");
    check(dma_transfer(&dma, 2, buf, 1, 1) == 0, "masked after TC: no more transfers");
    check(read_pair(0x05, 0x0C) == 0xFFFF, "count FFFFh after TC");
}

static void test_floppy_write_and_verify(void)
{
    dma_reset(&dma);
    enable_cascade();
    uint8_t src[256], out[256];
    fill_pattern(src, 256, 7);
    memory_write(mem, 0x20000, src, 256);
    program8(2, 0x48, 0x20000, 255);            /* single, read from memory */
    memset(out, 0, sizeof(out));
    check(dma_transfer(&dma, 2, out, 256, 0) == 256 && memcmp(out, src, 256) == 0, "memory -> device");
    check(dma_terminal_count(&dma, 2), "TC");

    /* Verify: counts, moves nothing. */
    program8(2, 0x40, 0x30000, 99);
    uint8_t junk[100];
    memset(junk, 0xEE, sizeof(junk));
    memory_write(mem, 0x30000, (uint8_t[4]){ 1, 2, 3, 4 }, 4);
    check(dma_transfer(&dma, 2, junk, 100, 1) == 100 && dma_terminal_count(&dma, 2), "verify counts to TC");
    uint8_t chk[4];
    memory_read(mem, 0x30000, chk, 4);
    check(chk[0] == 1 && chk[3] == 4, "verify writes no memory");

    /* Direction mismatch: the cycles run, no data lands (logged). */
    program8(2, 0x48, 0x30000, 3);
    check(dma_transfer(&dma, 2, junk, 4, 1) == 4, "mismatched direction still counts");
    memory_read(mem, 0x30000, chk, 4);
    check(chk[0] == 1, "mismatched direction writes no memory");
}

static void test_autoinit_and_decrement(void)
{
    dma_reset(&dma);
    enable_cascade();
    program8(1, 0x54, 0x40000, 15);             /* auto-init, write */
    uint8_t buf[16];
    fill_pattern(buf, 16, 3);
    check(dma_transfer(&dma, 1, buf, 16, 1) == 16 && dma_terminal_count(&dma, 1), "auto-init: TC");
    check(dma_channel_ready(&dma, 1), "auto-init: stays unmasked");
    check(read_pair(0x02, 0x0C) == 0x0000 && read_pair(0x03, 0x0C) == 15, "auto-init: address and count reloaded");
    fill_pattern(buf, 16, 99);
    dma_transfer(&dma, 1, buf, 16, 1);
    uint8_t got[16];
    memory_read(mem, 0x40000, got, 16);
    check(memcmp(got, buf, 16) == 0, "second buffer lands at the base again");
    check((in8(0x08) & 0x02), "TC status for channel 1");

    /* Address decrement. */
    program8(3, 0x64, 0x5000F, 15);             /* decrement, write */
    fill_pattern(buf, 16, 5);
    check(dma_transfer(&dma, 3, buf, 16, 1) == 16, "decrement transfer");
    memory_read(mem, 0x50000, got, 16);
    int ok = 1;
    for (int k = 0; k < 16; k++)
        if (got[15 - k] != buf[k]) ok = 0;
    check(ok, "decrement: bytes stored downwards from 5000Fh");
    check(read_pair(0x06, 0x0C) == 0xFFFF, "decrement: address wrapped below 0");
}

static void test_page_wrap(void)
{
    dma_reset(&dma);
    enable_cascade();
    program8(2, 0x44, 0x6FFFE, 3);
    uint8_t buf[4] = { 0xA1, 0xA2, 0xA3, 0xA4 }, got[2];
    check(dma_transfer(&dma, 2, buf, 4, 1) == 4, "4 bytes across the 64K boundary");
    memory_read(mem, 0x6FFFE, got, 2);
    check(got[0] == 0xA1 && got[1] == 0xA2, "first two at 6FFFEh");
    memory_read(mem, 0x60000, got, 2);
    check(got[0] == 0xA3 && got[1] == 0xA4, "address wraps inside page 6 (no carry into the page)");
    memory_read(mem, 0x70000, got, 1);
    check(got[0] != 0xA3, "nothing at 70000h");
}

static void test_16bit(void)
{
    dma_reset(&dma);
    program16(5, 0x44, 0x2A000, 7);             /* 8 words */
    uint8_t buf[16], got[16];
    fill_pattern(buf, 16, 11);
    check(dma_transfer(&dma, 5, buf, 15, 1) == 14, "16-bit: odd length rounds down to words");
    check(!dma_terminal_count(&dma, 5), "7 words: no TC");
    check(dma_transfer(&dma, 5, buf + 14, 8, 1) == 2 && dma_terminal_count(&dma, 5), "last word: TC");
    memory_read(mem, 0x2A000, got, 16);
    check(memcmp(got, buf, 16) == 0, "16-bit: data at page 2, word address 5000h");
    check(read_pair(DMA2(2), DMA2(12)) == (0xA000 >> 1) + 8, "word address advanced by 8 words");
    check((in8(DMA2(8)) & 0x02) != 0, "DMA2 status: TC channel 5");

    /* Page bit 0 is not used by 16-bit channels; addresses wrap in 128K. */
    program16(6, 0x44, 0x3FFFC, 3);
    out8(0x89, 0x03);   /* page 3: bit 0 ignored, same as page 2 */
    uint8_t w[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    check(dma_transfer(&dma, 6, w, 8, 1) == 8, "16-bit wrap transfer");
    memory_read(mem, 0x3FFFC, got, 4);
    check(got[0] == 1 && got[3] == 4, "first words at 3FFFCh");
    memory_read(mem, 0x20000, got, 4);
    check(got[0] == 5 && got[3] == 8, "wrap inside the 128K block to 20000h");
    check(in8(0x89) == 0x03, "page register reads back");
}

static void test_registers(void)
{
    dma_reset(&dma);
    /* Page registers. */
    for (int ch = 0; ch < 8; ch++) out8(page_port[ch], (uint8_t)(0x10 + ch));
    int ok = 1;
    for (int ch = 0; ch < 8; ch++)
        if (in8(page_port[ch]) != 0x10 + ch || dma.ch[ch].page != 0x10 + ch) ok = 0;
    check(ok, "page registers map to their channels");
    /* Port 0x80 stays free for the POST-code port. */
    static const struct io_handlers none = { 0 };
    check(ioports_register(io, 0x80, 1, &none, NULL) == 0, "port 80h left unclaimed");
    ioports_unregister(io, 0x80, 1);

    /* Flip-flop: shared by the address and count registers. */
    out8(0x0C, 0);
    out8(0x00, 0x34);
    out8(0x01, 0x12);   /* this is the high byte of channel 0's count */
    out8(0x0C, 0);
    check(in8(0x00) == 0x34, "flip-flop: low byte of the address");
    check(in8(0x01) == 0x12, "flip-flop: then the high byte of the count");

    /* Master clear masks everything and resets the flip-flop. */
    out8(0x0E, 0);
    check((in8(0x0F) & 0x0F) == 0, "clear mask register");
    out8(0x00, 0x55);   /* leaves the flip-flop on the high byte */
    out8(0x0D, 0);
    check((in8(0x0F) & 0x0F) == 0x0F, "master clear sets all masks");
    out8(0x00, 0x78);
    out8(0x00, 0x56);
    out8(0x0C, 0);
    check(read_pair(0x00, 0x0C) == 0x5678, "master clear reset the flip-flop");
    out8(0x0F, 0x05);
    check((in8(0x0F) & 0x0F) == 0x05, "write all mask bits");
    out8(0x0A, 0x04 | 1);
    out8(0x0A, 0x00);
    check((in8(0x0F) & 0x0F) == 0x06, "single mask set 1, clear 0");

    /* Software request shows in the status register. */
    out8(0x09, 0x04 | 3);
    check((in8(0x08) & 0x80) != 0, "request register -> status bit 7");
    out8(0x09, 3);
    check((in8(0x08) & 0x80) == 0, "request cleared");
    dma_set_dreq(&dma, 2, 1);
    check((in8(0x08) & 0x40) != 0, "DREQ 2 in the status");
    dma_set_dreq(&dma, 2, 0);

    /* Controller disable (command bit 2). */
    enable_cascade();
    program8(2, 0x44, 0x1000, 0);
    out8(0x08, 0x04);
    check(!dma_channel_ready(&dma, 2), "command bit 2 disables the controller");
    out8(0x08, 0x00);
    check(dma_channel_ready(&dma, 2), "re-enabled");
    out8(DMA2(8), 0x04);
    check(!dma_channel_ready(&dma, 2), "disabling DMA2 cuts DMA1 off");
    out8(DMA2(8), 0x00);

    /* Odd DMA2 ports alias the even ones; bad arguments are refused. */
    out8(0xD5, 0x05);   /* = 0xD4, single mask: mask channel 5 */
    check((in8(DMA2(15)) & 0x02) != 0, "port D5h aliases D4h");
    uint8_t b[4];
    check(dma_transfer(&dma, 9, b, 4, 1) == 0 && dma_transfer(&dma, -1, b, 4, 1) == 0, "bad channel refused");
    check(dma_transfer(&dma, 2, b, 0, 1) == 0 && dma_transfer(&dma, 2, NULL, 4, 1) == 0, "empty transfer refused");
}

int main(void)
{
    io = ioports_new();
    ioports_set_log(io, stdout, 1);
    mem = memory_new(8u << 20);
    if (!mem || dma_init(&dma, io, mem) != 0) {
        printf("dma_init failed\nRESULT: 0 passed, 1 failed\n");
        return 1;
    }
    test_floppy_read();
    test_floppy_write_and_verify();
    test_autoinit_and_decrement();
    test_page_wrap();
    test_16bit();
    test_registers();
    memory_free(mem);
    ioports_free(io);
    printf("RESULT: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
