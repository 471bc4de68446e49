/* Unit tests of the 8042 keyboard controller (devices/i8042.c) with its PS/2
 * keyboard and mouse (devices/ps2.c), driven through ports 0x60/0x64 with a
 * deterministic virtual clock, fake IRQ 1/12 receivers and a fake reset line:
 * self-test, command byte, status bits, interface tests, output port (A20,
 * reset), pulse commands, D2/D3/D4, IRQ 1/12 per the command byte, scancode
 * translation, the keyboard's command set and scancode sets 1/2/3 (E0 keys,
 * Pause, PrintScreen), overrun, typematic timing, and the mouse's commands,
 * IntelliMouse handshakes and packets in stream and remote modes. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cpu/ioport.h"
#include "cpu/memory.h"
#include "devices/clock.h"
#include "devices/i8042.h"

#include "tests/check.h"

static struct ioports *io;
static struct memory *mem;
static struct vclock *clk;
static struct i8042 kbc;
static uint64_t fake_ns;

static uint64_t fake_icount(void *opaque) { return fake_ns; }

static void run_to_ns(int64_t target)
{
    for (;;) {
        int64_t d = vclock_next_deadline(clk);
        if (d > target) break;
        if (d > (int64_t)fake_ns) fake_ns = (uint64_t)d;
        vclock_run_timers(clk);
    }
    if (target > (int64_t)fake_ns) fake_ns = (uint64_t)target;
}

/* IRQ 1 and 12 receivers. */
static int irq_level[16], irq_rises[16];
static void irq_recv(void *opaque, int n, int level)
{
    if (level && !irq_level[n]) irq_rises[n]++;
    irq_level[n] = level;
}

static int resets;
static void reset_line(void *opaque) { resets++; }

static int a20_calls, a20_last;
static void a20_line(void *opaque, int enabled)
{
    a20_calls++;
    a20_last = enabled;
}

static void out8(uint16_t port, uint8_t v) { io_write(io, port, v, 1); }
static uint8_t in8(uint16_t port) { return (uint8_t)io_read(io, port, 1); }
static uint8_t status(void) { return in8(0x64); }

#define ST_OBF 0x01
#define ST_SYS 0x04
#define ST_CMD 0x08
#define ST_AUX 0x20

static void setup(void)
{
    if (io) ioports_free(io);
    if (mem) memory_free(mem);
    if (clk) vclock_free(clk);
    io = ioports_new();
    mem = memory_new(2u << 20);
    fake_ns = 0;
    clk = vclock_new(VCLOCK_DETERMINISTIC, fake_icount, NULL);
    memset(irq_level, 0, sizeof(irq_level));
    memset(irq_rises, 0, sizeof(irq_rises));
    resets = 0;
    struct irq_line l1 = { irq_recv, NULL, 1 }, l12 = { irq_recv, NULL, 12 };
    if (i8042_init(&kbc, io, mem, clk, l1, l12, reset_line, NULL)) check(0, "i8042_init failed");
}

/* Read everything waiting in the output buffer (up to max bytes); aux[] gets
 * the AUX_OBF bit of each. */
static int drain(uint8_t *buf, int *aux, int max)
{
    int n = 0;
    while (n < max && (status() & ST_OBF)) {
        if (aux) aux[n] = (status() & ST_AUX) != 0;
        buf[n++] = in8(0x60);
    }
    return n;
}

static void drain_all(void)
{
    uint8_t junk[1024];
    while (drain(junk, NULL, (int)sizeof(junk)) == (int)sizeof(junk)) {}
}

static int expect_bytes(const char *what, const uint8_t *want, int n)
{
    uint8_t got[64];
    int m = drain(got, NULL, 64);
    int ok = m == n && (n == 0 || !memcmp(got, want, (size_t)n));
    if (!ok) {
        printf("  %s: got", what);
        for (int k = 0; k < m; k++) printf(" %02x", got[k]);
        printf(", want");
        for (int k = 0; k < n; k++) printf(" %02x", want[k]);
        printf("\n");
    }
    check(ok, "%s", what);
    return ok;
}

#define EXPECT(what, ...)                                                         \
    do {                                                                          \
        static const uint8_t want_[] = { __VA_ARGS__ };                           \
        expect_bytes(what, want_, (int)sizeof(want_));                            \
    } while (0)
#define EXPECT_NONE(what) expect_bytes(what, NULL, 0)

static void write_cmd_byte(uint8_t v)
{
    out8(0x64, 0x60);
    out8(0x60, v);
}

static uint8_t read_cmd_byte(void)
{
    out8(0x64, 0x20);
    return in8(0x60);
}

static void kbd_send(uint8_t b) { out8(0x60, b); }
static void aux_send(uint8_t b)
{
    out8(0x64, 0xD4);
    out8(0x60, b);
}

static void key(int usage, int pressed) { ps2_kbd_key(&kbc.kbd, usage, pressed); }

/* ---- controller ----------------------------------------------------------- */

static void test_controller_basics(void)
{
    setup();
    check(!(status() & ST_OBF), "output buffer empty after reset");
    check(!(status() & ST_SYS), "SYS clear at power-on");
    check(status() & 0x10, "keyboard not inhibited (status bit 4)");
    out8(0x64, 0xAA);
    check(status() & ST_OBF, "self-test puts a byte in the output buffer");
    check(status() & ST_CMD, "A2 set after a write to 0x64");
    check(in8(0x60) == 0x55, "self-test result 0x55");
    check(status() & ST_SYS, "SYS set after self-test");
    check(!(status() & ST_OBF), "output buffer empty after the read");
    out8(0x64, 0xAB);
    check(in8(0x60) == 0x00, "keyboard interface test passes");
    out8(0x64, 0xA9);
    check(in8(0x60) == 0x00, "aux interface test passes");
    out8(0x64, 0xA4);
    check(in8(0x60) == 0xF1, "no password installed");
    out8(0x64, 0xC0);
    check(in8(0x60) & 0x80, "input port: keyboard not locked");

    write_cmd_byte(0x47);
    check(!(status() & ST_CMD), "A2 clear after a data write");
    check(read_cmd_byte() == 0x47, "command byte reads back");
    write_cmd_byte(0x43);
    check(!(status() & ST_SYS), "SYS follows command byte bit 2 (clear)");
    write_cmd_byte(0x47);
    check(status() & ST_SYS, "SYS follows command byte bit 2 (set)");
    /* Other controller RAM bytes. */
    out8(0x64, 0x65);
    out8(0x60, 0x9C);
    out8(0x64, 0x25);
    check(in8(0x60) == 0x9C, "controller RAM byte 5 reads back");
    check(read_cmd_byte() == 0x47, "command byte untouched by RAM writes");
    /* Enable/disable commands change command byte bits 4 and 5. */
    out8(0x64, 0xAD);
    check(read_cmd_byte() & 0x10, "AD sets the keyboard-disable bit");
    out8(0x64, 0xAE);
    check(!(read_cmd_byte() & 0x10), "AE clears it");
    out8(0x64, 0xA7);
    check(read_cmd_byte() & 0x20, "A7 sets the aux-disable bit");
    out8(0x64, 0xA8);
    check(!(read_cmd_byte() & 0x20), "A8 clears it");
    /* An empty output buffer reads its last byte again. */
    check(in8(0x60) == 0x47 && in8(0x60) == 0x47, "stale output buffer reads");
}

static void test_output_port(void)
{
    setup();
    memory_set_a20(mem, 0);
    out8(0x64, 0xD1);
    out8(0x60, 0xDF);
    check(memory_a20(mem), "D1 DF turns A20 on");
    check(!resets, "no reset with bit 0 set");
    out8(0x64, 0xD0);
    uint8_t p = in8(0x60);
    check((p & 0x03) == 0x03, "D0 reads reset high and A20 on (%#x)", p);
    out8(0x64, 0xD1);
    out8(0x60, 0xDD);
    check(!memory_a20(mem), "D1 DD turns A20 off");
    out8(0x64, 0xD0);
    check((in8(0x60) & 0x02) == 0, "D0 shows A20 off");
    out8(0x64, 0xDF);
    check(memory_a20(mem), "DF enables A20");
    out8(0x64, 0xDD);
    check(!memory_a20(mem), "DD disables A20");
    out8(0x64, 0xD1);
    out8(0x60, 0xDE);
    check(resets == 1, "D1 with bit 0 clear pulls reset");
    out8(0x64, 0xFE);
    check(resets == 2, "FE pulses reset");
    out8(0x64, 0xFF);
    out8(0x64, 0xFD);
    check(resets == 2, "FF and FD leave reset alone");
    out8(0x64, 0xF0);
    check(resets == 3, "F0 pulses all four low bits, reset among them");
    /* With an A20 handler (port 92h ORs the gates), the gate goes there, not to memory. */
    i8042_set_a20_handler(&kbc, a20_line, NULL);
    memory_set_a20(mem, 0);
    out8(0x64, 0xD1);
    out8(0x60, 0xDF);
    check(a20_calls == 1 && a20_last == 1 && !memory_a20(mem), "D1 DF goes to the A20 handler");
    out8(0x64, 0xD0);
    check(in8(0x60) & 0x02, "D0 shows the controller's own gate");
    out8(0x64, 0xDD);
    check(a20_calls == 2 && a20_last == 0, "DD goes to the A20 handler");
    /* Output port shows the output-buffer-full lines. */
    write_cmd_byte(0x00);
    out8(0x64, 0xD2);
    out8(0x60, 0x12);
    check(status() & ST_OBF, "D2 fills the output buffer");
    check(in8(0x60) == 0x12, "D2 byte reads back");
}

static void test_irqs(void)
{
    setup();
    write_cmd_byte(0x00);   /* no interrupts, no translation */
    key(0x04, 1);
    check(status() & ST_OBF, "key byte in the output buffer");
    check(!irq_level[1], "no IRQ 1 with command byte bit 0 clear");
    drain_all();
    write_cmd_byte(0x01);
    key(0x04, 0);
    check(irq_level[1], "IRQ 1 with bit 0 set");
    check(in8(0x60) == 0xF0, "break prefix");
    check(irq_level[1] && irq_rises[1] == 2, "next byte: a new IRQ 1 edge (rises %d)", irq_rises[1]);
    check(in8(0x60) == 0x1C, "break code");
    check(!irq_level[1], "IRQ 1 drops when the buffer empties");
    /* D2: keyboard data with IRQ 1; D3: aux data with IRQ 12 when enabled. */
    out8(0x64, 0xD2);
    out8(0x60, 0x77);
    check(irq_level[1] && !(status() & ST_AUX), "D2 raises IRQ 1");
    check(in8(0x60) == 0x77 && !irq_level[1], "D2 data");
    out8(0x64, 0xD3);
    out8(0x60, 0x88);
    check(!irq_level[12] && !irq_level[1], "D3 without bit 1: no IRQ");
    check(status() & ST_AUX, "D3 sets AUX_OBF");
    check(in8(0x60) == 0x88, "D3 data");
    write_cmd_byte(0x03);
    out8(0x64, 0xD3);
    out8(0x60, 0x89);
    check(irq_level[12] && !irq_level[1], "D3 raises IRQ 12 with bit 1 set");
    check(in8(0x60) == 0x89 && !irq_level[12], "IRQ 12 drops on read");
    /* Mouse data raises IRQ 12. */
    aux_send(0xF4);
    check(irq_level[12] && (status() & ST_AUX), "mouse ACK on IRQ 12 with AUX_OBF");
    check(in8(0x60) == 0xFA, "mouse ACK");
    ps2_mouse_move(&kbc.mouse, 1, 0, 0, 0);
    uint8_t b[8];
    int aux[8];
    int n = drain(b, aux, 8);
    check(n == 3 && aux[0] && aux[1] && aux[2], "a 3-byte packet from the aux port (n %d)", n);
    check(irq_rises[12] == 5, "one IRQ 12 edge per byte (%d)", irq_rises[12]);
    /* Aux disabled: mouse bytes wait. */
    out8(0x64, 0xA7);
    ps2_mouse_move(&kbc.mouse, 1, 0, 0, 0);
    check(!(status() & ST_OBF), "aux disabled: nothing comes");
    out8(0x64, 0xA8);
    check(status() & ST_AUX, "aux enabled: the packet comes");
    drain_all();
    /* Keyboard disabled: key bytes wait; a byte sent to the keyboard re-enables it. */
    out8(0x64, 0xAD);
    key(0x05, 1);
    check(!(status() & ST_OBF), "keyboard disabled: nothing comes");
    out8(0x64, 0xAE);
    check(status() & ST_OBF, "keyboard enabled: the key comes");
    drain_all();
    out8(0x64, 0xAD);
    kbd_send(0xEE);
    EXPECT("echo after re-enable", 0xEE);
    check(!(read_cmd_byte() & 0x10), "writing to the keyboard clears the disable bit");
}

static void test_reply_order(void)
{
    setup();
    write_cmd_byte(0x00);
    key(0x04, 1);          /* 1C in the output buffer */
    key(0x04, 0);          /* F0 1C waiting in the keyboard */
    out8(0x64, 0x20);      /* the reply waits for the buffer, then goes before the keyboard's bytes */
    EXPECT("buffered key, command reply, then the rest", 0x1C, 0x00, 0xF0, 0x1C);
}

/* ---- keyboard ------------------------------------------------------------- */

static void test_translation(void)
{
    setup();
    write_cmd_byte(0x00);
    key(0x04, 1); key(0x04, 0);
    EXPECT("set 2 'a' untranslated", 0x1C, 0xF0, 0x1C);
    key(0x4F, 1); key(0x4F, 0);
    EXPECT("set 2 Right untranslated", 0xE0, 0x74, 0xE0, 0xF0, 0x74);
    write_cmd_byte(0x40);
    key(0x04, 1); key(0x04, 0);
    EXPECT("'a' translated", 0x1E, 0x9E);
    key(0x4F, 1); key(0x4F, 0);
    EXPECT("Right translated", 0xE0, 0x4D, 0xE0, 0xCD);
    key(0x40, 1); key(0x40, 0);       /* F7: set 2 code 83, beyond the 7-bit table */
    EXPECT("F7 translated", 0x41, 0xC1);
    key(0xE4, 1); key(0xE4, 0);
    EXPECT("right Ctrl translated", 0xE0, 0x1D, 0xE0, 0x9D);
    /* Replies pass through the translation too. */
    kbd_send(0xF2);
    EXPECT("identify translated", 0xFA, 0xAB, 0x41);
    kbd_send(0xF0); kbd_send(0x00);
    EXPECT("scancode set query translated (set 2 -> 41)", 0xFA, 0xFA, 0x41);
    write_cmd_byte(0x00);
    kbd_send(0xF2);
    EXPECT("identify untranslated", 0xFA, 0xAB, 0x83);
    kbd_send(0xF0); kbd_send(0x00);
    EXPECT("scancode set query untranslated", 0xFA, 0xFA, 0x02);
}

static void test_keyboard_commands(void)
{
    setup();
    write_cmd_byte(0x00);
    kbd_send(0xFF);
    EXPECT("reset: ACK then BAT passed", 0xFA, 0xAA);
    kbd_send(0xEE);
    EXPECT("echo", 0xEE);
    kbd_send(0xED); kbd_send(0x07);
    EXPECT("LEDs", 0xFA, 0xFA);
    check(kbc.kbd.leds == 7, "LED state %d", kbc.kbd.leds);
    kbd_send(0xED); kbd_send(0xF2);   /* a command instead of the LED byte */
    EXPECT("command interrupts the LED argument", 0xFA, 0xFA, 0xAB, 0x83);
    kbd_send(0xF3); kbd_send(0x20);
    EXPECT("typematic rate", 0xFA, 0xFA);
    check(kbc.kbd.typematic == 0x20, "typematic byte %#x", kbc.kbd.typematic);
    kbd_send(0xF5);
    EXPECT("disable", 0xFA);
    check(kbc.kbd.typematic == 0x2B, "F5 restores the default typematic");
    key(0x04, 1); key(0x04, 0);
    EXPECT_NONE("no scancodes while disabled");
    kbd_send(0xF4);
    EXPECT("enable", 0xFA);
    key(0x04, 1);
    EXPECT("scancodes after enable", 0x1C);
    kbd_send(0xFE);
    EXPECT("resend: the last byte again", 0x1C);
    key(0x04, 0);
    drain_all();
    kbd_send(0xE0);
    EXPECT("unknown command: resend", 0xFE);
    kbd_send(0xF0); kbd_send(0x07);
    EXPECT("invalid set: resend", 0xFA, 0xFE);
    kbd_send(0xF6);
    EXPECT("set defaults", 0xFA);
}

static void test_scancode_sets(void)
{
    setup();
    write_cmd_byte(0x00);
    /* Set 2 specials. */
    key(0x48, 1); key(0x48, 0);
    EXPECT("set 2 Pause (no break)", 0xE1, 0x14, 0x77, 0xE1, 0xF0, 0x14, 0xF0, 0x77);
    key(0xE0, 1); key(0x48, 1); key(0x48, 0); key(0xE0, 0);
    EXPECT("set 2 Ctrl+Pause = Break", 0x14, 0xE0, 0x7E, 0xE0, 0xF0, 0x7E, 0xF0, 0x14);
    key(0x46, 1); key(0x46, 0);
    EXPECT("set 2 PrintScreen", 0xE0, 0x12, 0xE0, 0x7C, 0xE0, 0xF0, 0x7C, 0xE0, 0xF0, 0x12);
    key(0xE2, 1); key(0x46, 1); key(0x46, 0); key(0xE2, 0);
    EXPECT("set 2 Alt+PrintScreen = SysRq", 0x11, 0x84, 0xF0, 0x84, 0xF0, 0x11);
    key(0x54, 1); key(0x54, 0);
    EXPECT("set 2 KP/", 0xE0, 0x4A, 0xE0, 0xF0, 0x4A);
    /* Translated specials. */
    write_cmd_byte(0x40);
    key(0x48, 1); key(0x48, 0);
    EXPECT("translated Pause", 0xE1, 0x1D, 0x45, 0xE1, 0x9D, 0xC5);
    key(0x46, 1); key(0x46, 0);
    EXPECT("translated PrintScreen", 0xE0, 0x2A, 0xE0, 0x37, 0xE0, 0xB7, 0xE0, 0xAA);
    /* Set 1 natively (translation off). */
    write_cmd_byte(0x00);
    kbd_send(0xF0); kbd_send(0x01);
    EXPECT("select set 1", 0xFA, 0xFA);
    key(0x04, 1); key(0x04, 0);
    EXPECT("set 1 'a'", 0x1E, 0x9E);
    key(0x52, 1); key(0x52, 0);
    EXPECT("set 1 Up", 0xE0, 0x48, 0xE0, 0xC8);
    key(0x48, 1);
    EXPECT("set 1 Pause", 0xE1, 0x1D, 0x45, 0xE1, 0x9D, 0xC5);
    key(0x48, 0);
    kbd_send(0xF0); kbd_send(0x00);
    EXPECT("set query says 1", 0xFA, 0xFA, 0x01);
    /* Set 3: one byte per key; by default only the modifiers send breaks. */
    kbd_send(0xF0); kbd_send(0x03);
    EXPECT("select set 3", 0xFA, 0xFA);
    key(0x04, 1); key(0x04, 0);
    EXPECT("set 3 'a' make only", 0x1C);
    key(0xE1, 1); key(0xE1, 0);
    EXPECT("set 3 left shift make/break", 0x12, 0xF0, 0x12);
    key(0x4F, 1); key(0x4F, 0);
    EXPECT("set 3 Right", 0x6A);
    key(0x29, 1); key(0x29, 0);
    EXPECT("set 3 Esc", 0x08);
    kbd_send(0xF8);
    EXPECT("F8 all make/break", 0xFA);
    key(0x04, 1); key(0x04, 0);
    EXPECT("set 3 'a' after F8", 0x1C, 0xF0, 0x1C);
    kbd_send(0xFD); kbd_send(0x1C); kbd_send(0x32); kbd_send(0xF4);
    EXPECT("FD list of two keys, ended by F4", 0xFA, 0xFA, 0xFA, 0xFA);
    key(0x04, 1); key(0x04, 0); key(0x05, 1); key(0x05, 0); key(0x06, 1); key(0x06, 0);
    EXPECT("make-only keys a and b, c still make/break", 0x1C, 0x32, 0x21, 0xF0, 0x21);
    kbd_send(0xFF);
    EXPECT("reset", 0xFA, 0xAA);
    key(0x04, 1); key(0x04, 0);
    EXPECT("reset returns to set 2", 0x1C, 0xF0, 0x1C);
    /* Host key repeat (the same key pressed twice) is not passed on; unknown usages are ignored. */
    key(0x04, 1); key(0x04, 1); key(0x04, 0); key(0x04, 0);
    EXPECT("host auto-repeat ignored", 0x1C, 0xF0, 0x1C);
}

static void test_overrun(void)
{
    setup();
    write_cmd_byte(0x00);
    for (int k = 0; k < 400; k++) {
        key(0x04, 1);
        key(0x04, 0);
    }
    uint8_t buf[1024];
    int n = drain(buf, NULL, (int)sizeof(buf));
    check(n <= PS2_QUEUE_SIZE + 1, "bounded queue (%d bytes)", n);
    int zeros = 0;
    for (int k = 0; k < n; k++) zeros += buf[k] == 0x00;
    check(zeros == 1 && buf[n - 1] == 0x00, "one overrun code 00 at the end (zeros %d, last %#x)", zeros, buf[n - 1]);
    check(buf[0] == 0x1C && buf[1] == 0xF0 && buf[2] == 0x1C, "the queue kept whole sequences");
    /* Translated, the overrun code reads FF. */
    write_cmd_byte(0x40);
    for (int k = 0; k < 400; k++) {
        key(0x04, 1);
        key(0x04, 0);
    }
    n = drain(buf, NULL, (int)sizeof(buf));
    check(n > 0 && buf[n - 1] == 0xFF, "translated overrun code FF (last %#x)", n ? buf[n - 1] : 0);
    key(0x04, 1);
    EXPECT("keys flow again after the overrun", 0x1E);
}

static int count_makes(const uint8_t *b, int n, uint8_t code)
{
    int c = 0;
    for (int k = 0; k < n; k++) c += b[k] == code && (k == 0 || b[k - 1] != 0xF0);
    return c;
}

static void test_typematic(void)
{
    setup();
    write_cmd_byte(0x00);
    uint8_t buf[256];
    /* Default: 500 ms delay, 10.9 characters/s (period (8+3)*2/240 s). */
    int64_t period = (int64_t)11 * 2 * 1000000000 / 240;
    int64_t t0 = (int64_t)fake_ns;
    key(0x04, 1);
    run_to_ns(t0 + 499000000);
    int n = drain(buf, NULL, 256);
    check(count_makes(buf, n, 0x1C) == 1, "one make before the typematic delay (%d)", count_makes(buf, n, 0x1C));
    run_to_ns(t0 + 500000000);
    n = drain(buf, NULL, 256);
    check(count_makes(buf, n, 0x1C) == 1, "first repeat at 500 ms");
    run_to_ns(t0 + 500000000 + 4 * period + 1000);
    n = drain(buf, NULL, 256);
    check(count_makes(buf, n, 0x1C) == 4, "4 repeats in 4 periods (%d)", count_makes(buf, n, 0x1C));
    run_to_ns(t0 + 500000000 + 5 * period - 1000);
    check(!(status() & ST_OBF), "nothing just before the next period");
    /* Another key takes over the repeat; releasing the first does not stop it. */
    key(0x05, 1);
    int64_t t1 = (int64_t)fake_ns;
    key(0x04, 0);
    n = drain(buf, NULL, 256);
    check(n == 3 && buf[0] == 0x32 && buf[1] == 0xF0 && buf[2] == 0x1C, "b make, a break (n %d)", n);
    run_to_ns(t1 + 500000000 + 2 * period + 1000);
    n = drain(buf, NULL, 256);
    check(count_makes(buf, n, 0x32) == 3 && count_makes(buf, n, 0x1C) == 0, "b repeats, a does not");
    key(0x05, 0);
    run_to_ns((int64_t)fake_ns + 2000000000);
    n = drain(buf, NULL, 256);
    check(n == 2 && buf[0] == 0xF0 && buf[1] == 0x32, "release stops the repeat (n %d)", n);

    /* Fastest rate, shortest delay: 250 ms, 30/s. */
    kbd_send(0xF3); kbd_send(0x00);
    drain_all();
    int64_t t2 = (int64_t)fake_ns;
    key(0x4F, 1);
    run_to_ns(t2 + 250000000 + 3 * (8 * 1000000000LL / 240) + 1000);
    key(0x4F, 0);
    n = drain(buf, NULL, 256);
    int rights = 0;
    for (int k = 0; k + 1 < n; k++) rights += buf[k] == 0xE0 && buf[k + 1] == 0x74;
    check(rights == 5, "E0 key repeats with its prefix: 1 + 4 repeats (%d)", rights);
    /* Pause does not repeat. */
    key(0x48, 1);
    run_to_ns((int64_t)fake_ns + 2000000000);
    key(0x48, 0);
    n = drain(buf, NULL, 256);
    check(n == 8, "Pause sends its sequence once (n %d)", n);
}

/* ---- mouse ---------------------------------------------------------------- */

static void test_mouse(void)
{
    setup();
    write_cmd_byte(0x03);
    aux_send(0xFF);
    EXPECT("mouse reset: ACK, AA, ID 0", 0xFA, 0xAA, 0x00);
    aux_send(0xF2);
    EXPECT("standard mouse ID", 0xFA, 0x00);
    aux_send(0xE9);
    EXPECT("default status: stream, off, 1:1, 4 counts/mm, 100/s", 0xFA, 0x00, 0x02, 100);
    aux_send(0xF4);
    EXPECT("enable", 0xFA);
    ps2_mouse_move(&kbc.mouse, 5, -3, 0, PS2_MOUSE_LEFT);
    EXPECT("packet: left, x 5, y up 3", 0x09, 0x05, 0x03);
    ps2_mouse_move(&kbc.mouse, -2, 4, 1, 0);
    EXPECT("packet: negative x/y, wheel ignored without ID 3", 0x38, 0xFE, 0xFC);
    ps2_mouse_move(&kbc.mouse, 0, 0, 0, PS2_MOUSE_RIGHT | PS2_MOUSE_MIDDLE);
    EXPECT("button change alone sends a packet", 0x0E, 0x00, 0x00);
    ps2_mouse_move(&kbc.mouse, 0, 0, 0, PS2_MOUSE_RIGHT | PS2_MOUSE_MIDDLE);
    EXPECT_NONE("no news, no packet");
    ps2_mouse_move(&kbc.mouse, 600, 0, 0, 0);
    EXPECT("large motion split without overflow", 0x08, 0xFF, 0x00, 0x08, 0xFF, 0x00, 0x08, 0x5A, 0x00);

    /* IntelliMouse: 200, 100, 80 -> ID 3, 4-byte packets. */
    aux_send(0xF5);
    EXPECT("disable", 0xFA);
    aux_send(0xF3); aux_send(200);
    aux_send(0xF3); aux_send(100);
    aux_send(0xF3); aux_send(80);
    EXPECT("three sample rates", 0xFA, 0xFA, 0xFA, 0xFA, 0xFA, 0xFA);
    aux_send(0xF2);
    EXPECT("IntelliMouse ID 3", 0xFA, 0x03);
    aux_send(0xF4);
    EXPECT("enable", 0xFA);
    ps2_mouse_move(&kbc.mouse, 1, 1, 1, 0);
    EXPECT("4-byte packet, wheel away from the user is -1", 0x28, 0x01, 0xFF, 0xFF);
    ps2_mouse_move(&kbc.mouse, 0, 0, -2, 0);
    EXPECT("wheel toward the user", 0x08, 0x00, 0x00, 0x02);
    /* Explorer: 200, 200, 80 -> ID 4, buttons 4/5 in byte 4. */
    aux_send(0xF3); aux_send(200);
    aux_send(0xF3); aux_send(200);
    aux_send(0xF3); aux_send(80);
    aux_send(0xF2);
    EXPECT("Explorer handshake -> ID 4", 0xFA, 0xFA, 0xFA, 0xFA, 0xFA, 0xFA, 0xFA, 0x04);
    ps2_mouse_move(&kbc.mouse, 0, 0, -1, PS2_MOUSE_BUTTON4 | PS2_MOUSE_BUTTON5);
    EXPECT("ID 4 packet: z 1, buttons 4 and 5", 0x08, 0x00, 0x00, 0x31);
    aux_send(0xFF);
    EXPECT("reset returns to ID 0", 0xFA, 0xAA, 0x00);
    aux_send(0xF3); aux_send(200);
    aux_send(0xF3); aux_send(200);
    aux_send(0xF3); aux_send(80);
    aux_send(0xF2);
    EXPECT("200,200,80 alone does not give ID 4", 0xFA, 0xFA, 0xFA, 0xFA, 0xFA, 0xFA, 0xFA, 0x00);

    /* Settings and status. */
    aux_send(0xE7);
    aux_send(0xE8); aux_send(0x03);
    aux_send(0xF3); aux_send(40);
    aux_send(0xF4);
    drain_all();
    aux_send(0xE9);
    EXPECT("status: enabled, 2:1, 8 counts/mm, 40/s", 0xFA, 0x30, 0x03, 40);
    aux_send(0xF3); aux_send(33);
    EXPECT("invalid rate: resend", 0xFA, 0xFE);
    aux_send(0xE8); aux_send(9);
    EXPECT("invalid resolution: resend", 0xFA, 0xFE);
    /* 2:1 scaling in stream mode. */
    ps2_mouse_move(&kbc.mouse, 3, 0, 0, 0);
    EXPECT("2:1 scaling of 3 is 3", 0x08, 0x03, 0x00);
    ps2_mouse_move(&kbc.mouse, 4, 0, 0, 0);
    EXPECT("2:1 scaling of 4 is 6", 0x08, 0x06, 0x00);
    ps2_mouse_move(&kbc.mouse, -5, 0, 0, 0);
    EXPECT("2:1 scaling of -5 is -9", 0x18, 0xF7, 0x00);
    ps2_mouse_move(&kbc.mouse, 20, 0, 0, 0);
    EXPECT("2:1 scaling of 20 is 40", 0x08, 0x28, 0x00);
    aux_send(0xE6);
    EXPECT("1:1", 0xFA);

    /* Remote mode: no stream; EB reads the counters, with overflow bits. */
    aux_send(0xF0);
    EXPECT("remote mode", 0xFA);
    ps2_mouse_move(&kbc.mouse, 300, 10, 0, PS2_MOUSE_LEFT);
    EXPECT_NONE("remote mode sends nothing by itself");
    aux_send(0xEB);
    EXPECT("read data: X overflow, x clamped, y down 10", 0xFA, 0x69, 0xFF, 0xF6);
    aux_send(0xEB);
    EXPECT("counters reset after a read", 0xFA, 0x09, 0x00, 0x00);
    aux_send(0xE9);
    EXPECT("status in remote mode with left held", 0xFA, 0x64, 0x03, 40);
    aux_send(0xEA);
    EXPECT("stream mode", 0xFA);
    /* Wrap mode echoes, EC ends it. */
    aux_send(0xEE);
    aux_send(0x12);
    aux_send(0xF4);
    aux_send(0xEC);
    EXPECT("wrap mode echoes until EC", 0xFA, 0x12, 0xF4, 0xFA);
    aux_send(0xFE);
    EXPECT("resend repeats the last byte", 0xFA);
    aux_send(0x00);
    EXPECT("unknown command: resend", 0xFE);
}

int main(void)
{
    test_controller_basics();
    test_output_port();
    test_irqs();
    test_reply_order();
    test_translation();
    test_keyboard_commands();
    test_scancode_sets();
    test_overrun();
    test_typematic();
    test_mouse();
    printf("RESULT: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
