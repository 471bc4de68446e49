/* The keyboard: INT 09h turns scan codes (set 1, as the 8042 translates
 * them) into the key codes of the INT 16h buffer and keeps the shift states;
 * INT 16h reads them.
 *
 * The buffer and flags are the BDA's (IBM PC/AT Technical Reference):
 * 0417h/0418h shift flags, 0419h Alt+keypad entry, 041Ah/041Ch head and tail
 * (offsets from 0400h), 0480h/0482h the buffer's start and end, 0496h the
 * enhanced keyboard flags (E0 prefix, right Ctrl/Alt), 0497h the LEDs. */
#include <string.h>

#include "bios/bios_internal.h"

#define BDA_KBFLAGS1   0x17
#define BDA_KBFLAGS2   0x18
#define BDA_ALTKEYPAD  0x19
#define BDA_KBHEAD     0x1A
#define BDA_KBTAIL     0x1C
#define BDA_KBSTART    0x80
#define BDA_KBEND      0x82
#define BDA_KBFLAGS3   0x96
#define BDA_KBLEDS     0x97

/* 0417h */
#define KF_RSHIFT  0x01
#define KF_LSHIFT  0x02
#define KF_CTRL    0x04
#define KF_ALT     0x08
#define KF_SCROLL  0x10
#define KF_NUM     0x20
#define KF_CAPS    0x40
#define KF_INSERT  0x80
/* 0418h */
#define KF2_LCTRL  0x01
#define KF2_LALT   0x02
#define KF2_SYSREQ 0x04
#define KF2_PAUSE  0x08
#define KF2_SCROLL 0x10
#define KF2_NUM    0x20
#define KF2_CAPS   0x40
#define KF2_INSERT 0x80
/* 0496h */
#define KF3_E1     0x01
#define KF3_E0     0x02
#define KF3_RCTRL  0x04
#define KF3_RALT   0x08
#define KF3_101KEY 0x10

/* Key codes (scan code << 8 | character) for scan codes 00h-58h without and
 * with Shift, Ctrl and Alt; 0 means the combination gives nothing. */
struct keycodes { uint16_t normal, shift, ctrl, alt; };

static const struct keycodes keymap[0x59] = {
    [0x01] = { 0x011B, 0x011B, 0x011B, 0x0100 },
    [0x02] = { 0x0231, 0x0221, 0x0000, 0x7800 },
    [0x03] = { 0x0332, 0x0340, 0x0300, 0x7900 },
    [0x04] = { 0x0433, 0x0423, 0x0000, 0x7A00 },
    [0x05] = { 0x0534, 0x0524, 0x0000, 0x7B00 },
    [0x06] = { 0x0635, 0x0625, 0x0000, 0x7C00 },
    [0x07] = { 0x0736, 0x075E, 0x071E, 0x7D00 },
    [0x08] = { 0x0837, 0x0826, 0x0000, 0x7E00 },
    [0x09] = { 0x0938, 0x092A, 0x0000, 0x7F00 },
    [0x0A] = { 0x0A39, 0x0A28, 0x0000, 0x8000 },
    [0x0B] = { 0x0B30, 0x0B29, 0x0000, 0x8100 },
    [0x0C] = { 0x0C2D, 0x0C5F, 0x0C1F, 0x8200 },
    [0x0D] = { 0x0D3D, 0x0D2B, 0x0000, 0x8300 },
    [0x0E] = { 0x0E08, 0x0E08, 0x0E7F, 0x0E00 },
    [0x0F] = { 0x0F09, 0x0F00, 0x9400, 0xA500 },
    [0x10] = { 0x1071, 0x1051, 0x1011, 0x1000 },
    [0x11] = { 0x1177, 0x1157, 0x1117, 0x1100 },
    [0x12] = { 0x1265, 0x1245, 0x1205, 0x1200 },
    [0x13] = { 0x1372, 0x1352, 0x1312, 0x1300 },
    [0x14] = { 0x1474, 0x1454, 0x1414, 0x1400 },
    [0x15] = { 0x1579, 0x1559, 0x1519, 0x1500 },
    [0x16] = { 0x1675, 0x1655, 0x1615, 0x1600 },
    [0x17] = { 0x1769, 0x1749, 0x1709, 0x1700 },
    [0x18] = { 0x186F, 0x184F, 0x180F, 0x1800 },
    [0x19] = { 0x1970, 0x1950, 0x1910, 0x1900 },
    [0x1A] = { 0x1A5B, 0x1A7B, 0x1A1B, 0x1A00 },
    [0x1B] = { 0x1B5D, 0x1B7D, 0x1B1D, 0x1B00 },
    [0x1C] = { 0x1C0D, 0x1C0D, 0x1C0A, 0x1C00 },
    [0x1E] = { 0x1E61, 0x1E41, 0x1E01, 0x1E00 },
    [0x1F] = { 0x1F73, 0x1F53, 0x1F13, 0x1F00 },
    [0x20] = { 0x2064, 0x2044, 0x2004, 0x2000 },
    [0x21] = { 0x2166, 0x2146, 0x2106, 0x2100 },
    [0x22] = { 0x2267, 0x2247, 0x2207, 0x2200 },
    [0x23] = { 0x2368, 0x2348, 0x2308, 0x2300 },
    [0x24] = { 0x246A, 0x244A, 0x240A, 0x2400 },
    [0x25] = { 0x256B, 0x254B, 0x250B, 0x2500 },
    [0x26] = { 0x266C, 0x264C, 0x260C, 0x2600 },
    [0x27] = { 0x273B, 0x273A, 0x0000, 0x2700 },
    [0x28] = { 0x2827, 0x2822, 0x0000, 0x2800 },
    [0x29] = { 0x2960, 0x297E, 0x0000, 0x2900 },
    [0x2B] = { 0x2B5C, 0x2B7C, 0x2B1C, 0x2B00 },
    [0x2C] = { 0x2C7A, 0x2C5A, 0x2C1A, 0x2C00 },
    [0x2D] = { 0x2D78, 0x2D58, 0x2D18, 0x2D00 },
    [0x2E] = { 0x2E63, 0x2E43, 0x2E03, 0x2E00 },
    [0x2F] = { 0x2F76, 0x2F56, 0x2F16, 0x2F00 },
    [0x30] = { 0x3062, 0x3042, 0x3002, 0x3000 },
    [0x31] = { 0x316E, 0x314E, 0x310E, 0x3100 },
    [0x32] = { 0x326D, 0x324D, 0x320D, 0x3200 },
    [0x33] = { 0x332C, 0x333C, 0x0000, 0x3300 },
    [0x34] = { 0x342E, 0x343E, 0x0000, 0x3400 },
    [0x35] = { 0x352F, 0x353F, 0x0000, 0x3500 },
    [0x37] = { 0x372A, 0x372A, 0x9600, 0x3700 },
    [0x39] = { 0x3920, 0x3920, 0x3920, 0x3920 },
    [0x3B] = { 0x3B00, 0x5400, 0x5E00, 0x6800 },
    [0x3C] = { 0x3C00, 0x5500, 0x5F00, 0x6900 },
    [0x3D] = { 0x3D00, 0x5600, 0x6000, 0x6A00 },
    [0x3E] = { 0x3E00, 0x5700, 0x6100, 0x6B00 },
    [0x3F] = { 0x3F00, 0x5800, 0x6200, 0x6C00 },
    [0x40] = { 0x4000, 0x5900, 0x6300, 0x6D00 },
    [0x41] = { 0x4100, 0x5A00, 0x6400, 0x6E00 },
    [0x42] = { 0x4200, 0x5B00, 0x6500, 0x6F00 },
    [0x43] = { 0x4300, 0x5C00, 0x6600, 0x7000 },
    [0x44] = { 0x4400, 0x5D00, 0x6700, 0x7100 },
    /* Keypad: "shift" is the digit (Num Lock xor Shift). */
    [0x47] = { 0x4700, 0x4737, 0x7700, 0x0000 },
    [0x48] = { 0x4800, 0x4838, 0x8D00, 0x0000 },
    [0x49] = { 0x4900, 0x4939, 0x8400, 0x0000 },
    [0x4A] = { 0x4A2D, 0x4A2D, 0x8E00, 0x4A00 },
    [0x4B] = { 0x4B00, 0x4B34, 0x7300, 0x0000 },
    [0x4C] = { 0x4C00, 0x4C35, 0x8F00, 0x0000 },
    [0x4D] = { 0x4D00, 0x4D36, 0x7400, 0x0000 },
    [0x4E] = { 0x4E2B, 0x4E2B, 0x9000, 0x4E00 },
    [0x4F] = { 0x4F00, 0x4F31, 0x7500, 0x0000 },
    [0x50] = { 0x5000, 0x5032, 0x9100, 0x0000 },
    [0x51] = { 0x5100, 0x5133, 0x7600, 0x0000 },
    [0x52] = { 0x5200, 0x5230, 0x9200, 0x0000 },
    [0x53] = { 0x5300, 0x532E, 0x9300, 0x0000 },
    [0x56] = { 0x565C, 0x567C, 0x0000, 0x0000 },
    [0x57] = { 0x8500, 0x8700, 0x8900, 0x8B00 },
    [0x58] = { 0x8600, 0x8800, 0x8A00, 0x8C00 },
};

/* The grey keys that come with an E0 prefix: the character byte is E0h so
 * INT 16h 10h can tell them from the keypad (INT 16h 00h turns it into 00h). */
static uint16_t grey_key(uint8_t sc, uint8_t flags)
{
    static const struct { uint8_t sc; struct keycodes k; } grey[] = {
        { 0x1C, { 0xE00D, 0xE00D, 0xE00A, 0xA600 } },
        { 0x35, { 0xE02F, 0xE02F, 0x9500, 0xA400 } },
        { 0x47, { 0x47E0, 0x47E0, 0x77E0, 0x9700 } },
        { 0x48, { 0x48E0, 0x48E0, 0x8DE0, 0x9800 } },
        { 0x49, { 0x49E0, 0x49E0, 0x84E0, 0x9900 } },
        { 0x4B, { 0x4BE0, 0x4BE0, 0x73E0, 0x9B00 } },
        { 0x4D, { 0x4DE0, 0x4DE0, 0x74E0, 0x9D00 } },
        { 0x4F, { 0x4FE0, 0x4FE0, 0x75E0, 0x9F00 } },
        { 0x50, { 0x50E0, 0x50E0, 0x91E0, 0xA000 } },
        { 0x51, { 0x51E0, 0x51E0, 0x76E0, 0xA100 } },
        { 0x52, { 0x52E0, 0x52E0, 0x92E0, 0xA200 } },
        { 0x53, { 0x53E0, 0x53E0, 0x93E0, 0xA300 } },
    };
    for (size_t k = 0; k < sizeof(grey) / sizeof(grey[0]); k++) {
        if (grey[k].sc != sc) continue;
        if (flags & KF_ALT) return grey[k].k.alt;
        if (flags & KF_CTRL) return grey[k].k.ctrl;
        if (flags & (KF_LSHIFT | KF_RSHIFT)) return grey[k].k.shift;
        return grey[k].k.normal;
    }
    return 0;
}

/* ---------------------------------------------------------------------------
 * The buffer. */

int kbd_enqueue(struct bios *b, uint16_t key)
{
    uint16_t start = bda_r16(b, BDA_KBSTART), end = bda_r16(b, BDA_KBEND);
    uint16_t head = bda_r16(b, BDA_KBHEAD), tail = bda_r16(b, BDA_KBTAIL);
    if (start < 0x1E || end <= start || end > 0x100 || tail < start || tail >= end) {
        start = 0x1E;           /* a damaged BDA: back to the standard buffer */
        end = 0x3E;
        head = tail = start;
        bda_w16(b, BDA_KBSTART, start);
        bda_w16(b, BDA_KBEND, end);
        bda_w16(b, BDA_KBHEAD, head);
    }
    uint16_t next = (uint16_t)(tail + 2);
    if (next >= end) next = start;
    if (next == head) return -1;     /* full: the real BIOS beeps */
    bda_w16(b, tail, key);
    bda_w16(b, BDA_KBTAIL, next);
    return 0;
}

/* Peek (remove = 0) or take the oldest key; -1 if empty. */
static int kbd_dequeue(struct bios *b, int remove)
{
    uint16_t start = bda_r16(b, BDA_KBSTART), end = bda_r16(b, BDA_KBEND);
    uint16_t head = bda_r16(b, BDA_KBHEAD), tail = bda_r16(b, BDA_KBTAIL);
    if (head == tail) return -1;
    if (start < 0x1E || end <= start || end > 0x100 || head < start || head >= end) {
        bda_w16(b, BDA_KBHEAD, tail);
        return -1;
    }
    uint16_t key = bda_r16(b, head);
    if (remove) {
        head = (uint16_t)(head + 2);
        if (head >= end) head = start;
        bda_w16(b, BDA_KBHEAD, head);
    }
    return key;
}

void kbd_post(struct bios *b)
{
    bda_w16(b, BDA_KBSTART, 0x1E);
    bda_w16(b, BDA_KBEND, 0x3E);
    bda_w16(b, BDA_KBHEAD, 0x1E);
    bda_w16(b, BDA_KBTAIL, 0x1E);
    bda_w8(b, BDA_KBFLAGS1, 0);
    bda_w8(b, BDA_KBFLAGS2, 0);
    bda_w8(b, BDA_ALTKEYPAD, 0);
    bda_w8(b, BDA_KBFLAGS3, KF3_101KEY);
    bda_w8(b, BDA_KBLEDS, 0);
}

/* ---------------------------------------------------------------------------
 * INT 09h: one scan code (AL). Returns AH = enum kbd_action. */

static int is_keypad_digit(uint8_t sc)
{
    return (sc >= 0x47 && sc <= 0x53) && sc != 0x4A && sc != 0x4E;
}

static int keypad_digit(uint8_t sc)
{
    static const int8_t digit[] = { 7, 8, 9, -1, 4, 5, 6, -1, 1, 2, 3, 0, -1 };
    return digit[sc - 0x47];
}

void kbd_scancode(struct bios *b, struct regs *r)
{
    uint8_t code = r->a.l;
    uint8_t f1 = bda_r8(b, BDA_KBFLAGS1), f2 = bda_r8(b, BDA_KBFLAGS2), f3 = bda_r8(b, BDA_KBFLAGS3);
    int e0 = (f3 & KF3_E0) != 0;
    uint8_t action = 0;
    r->a.h = 0;

    if (code == 0xE0 || code == 0xE1) {
        f3 = (uint8_t)((f3 & ~(KF3_E0 | KF3_E1)) | (code == 0xE0 ? KF3_E0 : KF3_E1));
        bda_w8(b, BDA_KBFLAGS3, f3);
        return;
    }
    f3 &= (uint8_t)~KF3_E0;
    if (code == 0x00 || code == 0xFF || code == 0xFA || code == 0xFE) {
        /* Overrun, error, acknowledge and resend are replies, not keys. (The
         * keyboard's self-test reply AAh reads as a left Shift release: harmless.) */
        bda_w8(b, BDA_KBFLAGS3, f3);
        return;
    }
    if (f3 & KF3_E1) {
        /* Pause is E1 1D 45 E1 9D C5: the 45h of the make sequence starts the pause. */
        if ((code & 0x7F) == 0x45 && !(code & 0x80)) {
            f2 |= KF2_PAUSE;
            action = KBD_PAUSE;
        }
        if ((code & 0x7F) == 0x45) f3 &= (uint8_t)~KF3_E1;
        bda_w8(b, BDA_KBFLAGS2, f2);
        bda_w8(b, BDA_KBFLAGS3, f3);
        r->a.h = action;
        return;
    }
    int release = (code & 0x80) != 0;
    uint8_t sc = code & 0x7F;

    if ((f2 & KF2_PAUSE) && !release) {
        /* Any key ends the pause and is dropped. */
        bda_w8(b, BDA_KBFLAGS2, f2 & (uint8_t)~KF2_PAUSE);
        bda_w8(b, BDA_KBFLAGS3, f3);
        return;
    }

    switch (sc) {
    case 0x2A:                                           /* left Shift (E0 2A is a fake shift) */
    case 0x36:                                           /* right Shift */
        if (e0) break;
        {
            uint8_t bit = sc == 0x2A ? KF_LSHIFT : KF_RSHIFT;
            f1 = release ? (uint8_t)(f1 & ~bit) : (uint8_t)(f1 | bit);
        }
        break;
    case 0x1D:                                           /* Ctrl */
        if (e0) f3 = release ? (uint8_t)(f3 & ~KF3_RCTRL) : (uint8_t)(f3 | KF3_RCTRL);
        else f2 = release ? (uint8_t)(f2 & ~KF2_LCTRL) : (uint8_t)(f2 | KF2_LCTRL);
        f1 = ((f2 & KF2_LCTRL) || (f3 & KF3_RCTRL)) ? (uint8_t)(f1 | KF_CTRL) : (uint8_t)(f1 & ~KF_CTRL);
        break;
    case 0x38:                                           /* Alt */
        if (e0) f3 = release ? (uint8_t)(f3 & ~KF3_RALT) : (uint8_t)(f3 | KF3_RALT);
        else f2 = release ? (uint8_t)(f2 & ~KF2_LALT) : (uint8_t)(f2 | KF2_LALT);
        f1 = ((f2 & KF2_LALT) || (f3 & KF3_RALT)) ? (uint8_t)(f1 | KF_ALT) : (uint8_t)(f1 & ~KF_ALT);
        if (release && !(f1 & KF_ALT)) {
            /* Alt released after Alt + keypad digits: that character code. */
            uint8_t v = bda_r8(b, BDA_ALTKEYPAD);
            if (v) kbd_enqueue(b, v);
            bda_w8(b, BDA_ALTKEYPAD, 0);
        }
        break;
    case 0x3A:                                           /* Caps Lock */
        if (!release && !(f2 & KF2_CAPS)) f1 ^= KF_CAPS;
        f2 = release ? (uint8_t)(f2 & ~KF2_CAPS) : (uint8_t)(f2 | KF2_CAPS);
        break;
    case 0x45:                                           /* Num Lock */
        if (!release && !(f2 & KF2_NUM)) f1 ^= KF_NUM;
        f2 = release ? (uint8_t)(f2 & ~KF2_NUM) : (uint8_t)(f2 | KF2_NUM);
        break;
    case 0x46:                                           /* Scroll Lock; Ctrl-Break is E0 46 */
        if (e0 || (f1 & KF_CTRL)) {
            if (!release) {
                /* Ctrl-Break: empty the buffer, flag it, queue 0000h, call INT 1Bh. */
                bda_w16(b, BDA_KBHEAD, bda_r16(b, BDA_KBTAIL));
                bda_w8(b, 0x71, 0x80);
                kbd_enqueue(b, 0x0000);
                action = KBD_BREAK;
            }
            break;
        }
        if (!release && !(f2 & KF2_SCROLL)) f1 ^= KF_SCROLL;
        f2 = release ? (uint8_t)(f2 & ~KF2_SCROLL) : (uint8_t)(f2 | KF2_SCROLL);
        break;
    case 0x37:                                           /* E0 37: Print Screen; 37: keypad * */
        if (e0) {
            if (!release && !(f1 & KF_CTRL)) action = KBD_PRTSC;
            break;
        }
        goto plain;
    case 0x54:                                           /* SysReq (Alt + Print Screen) */
        f2 = release ? (uint8_t)(f2 & ~KF2_SYSREQ) : (uint8_t)(f2 | KF2_SYSREQ);
        break;
    default:
    plain:
        if (release) {
            if (sc == 0x52) f2 &= (uint8_t)~KF2_INSERT;
            break;
        }
        if (sc == 0x53 && (f1 & KF_CTRL) && (f1 & KF_ALT)) {
            bda_w16(b, 0x72, 0x1234);                    /* warm boot: skip the memory test */
            action = KBD_REBOOT;
            break;
        }
        if (sc == 0x52 && !(f2 & KF2_INSERT)) {           /* Insert toggles the insert state */
            f2 |= KF2_INSERT;
            if (!(f1 & (KF_CTRL | KF_ALT))) f1 ^= KF_INSERT;
        }
        uint16_t key = 0;
        if (e0) {
            key = grey_key(sc, f1);
        } else if (sc < sizeof(keymap) / sizeof(keymap[0])) {
            const struct keycodes *k = &keymap[sc];
            int shift = (f1 & (KF_LSHIFT | KF_RSHIFT)) != 0;
            if ((f1 & KF_ALT) && is_keypad_digit(sc) && keypad_digit(sc) >= 0) {
                /* Alt + keypad digits build a character code, entered when Alt is released. */
                uint8_t v = bda_r8(b, BDA_ALTKEYPAD);
                bda_w8(b, BDA_ALTKEYPAD, (uint8_t)(v * 10 + keypad_digit(sc)));
                key = 0;
            } else if (f1 & KF_ALT) {
                key = k->alt;
            } else if (f1 & KF_CTRL) {
                key = k->ctrl;
            } else if (sc >= 0x47 && sc <= 0x53) {
                /* Keypad: Num Lock xor Shift gives the digit (- and + are the same either way). */
                int num = (f1 & KF_NUM) != 0;
                key = (num ^ shift) ? k->shift : k->normal;
            } else {
                uint16_t normal = k->normal;
                int letter = (normal & 0xFF) >= 'a' && (normal & 0xFF) <= 'z';
                int caps = letter && (f1 & KF_CAPS);
                key = (shift ^ caps) ? k->shift : k->normal;
            }
        }
        if (key) kbd_enqueue(b, key);
        break;
    }
    bda_w8(b, BDA_KBFLAGS1, f1);
    bda_w8(b, BDA_KBFLAGS2, f2);
    bda_w8(b, BDA_KBFLAGS3, f3);
    r->a.h = action;
}

/* ---------------------------------------------------------------------------
 * Keys typed on the serial console (-nographic): characters to key codes. */

static uint16_t key_of_char(uint8_t c)
{
    switch (c) {
    case 0x0D: case 0x0A: return 0x1C0D;
    case 0x08: case 0x7F: return 0x0E08;
    case 0x09: return 0x0F09;
    case 0x1B: return 0x011B;
    case ' ': return 0x3920;
    default: break;
    }
    for (uint8_t sc = 0; sc < sizeof(keymap) / sizeof(keymap[0]); sc++) {
        if (sc >= 0x47 && sc <= 0x53) continue;          /* prefer the main keys to the keypad */
        if ((keymap[sc].normal & 0xFF) == c && keymap[sc].normal) return keymap[sc].normal;
        if ((keymap[sc].shift & 0xFF) == c && keymap[sc].shift) return keymap[sc].shift;
        if ((keymap[sc].ctrl & 0xFF) == c && keymap[sc].ctrl && c < 0x20) return keymap[sc].ctrl;
    }
    return c;                                            /* no key for it: scan code 0 */
}

static void poll_serial_keys(struct bios *b)
{
    int c, n = 0;
    while (n++ < 64 && (c = serial_getc(b)) >= 0) {
        /* ESC [ A-D (a terminal's arrow keys) when the sequence arrives together. */
        if (b->serial_esc == 0 && c == 0x1B) {
            int c2 = serial_getc(b);
            if (c2 < 0) {
                kbd_enqueue(b, 0x011B);
                continue;
            }
            if (c2 != '[') {
                kbd_enqueue(b, 0x011B);
                kbd_enqueue(b, key_of_char((uint8_t)c2));
                continue;
            }
            int c3 = serial_getc(b);
            static const char arrows[] = "ABCDHF";
            static const uint16_t keys[] = { 0x48E0, 0x50E0, 0x4DE0, 0x4BE0, 0x47E0, 0x4FE0 };
            const char *p = c3 > 0 ? strchr(arrows, c3) : NULL;
            if (p) {
                kbd_enqueue(b, keys[p - arrows]);
            } else {
                kbd_enqueue(b, 0x011B);
                kbd_enqueue(b, key_of_char('['));
                if (c3 >= 0) kbd_enqueue(b, key_of_char((uint8_t)c3));
            }
            continue;
        }
        kbd_enqueue(b, key_of_char((uint8_t)c));
    }
}

/* ---------------------------------------------------------------------------
 * INT 16h. */

/* What the non-extended functions (00h, 01h) make of a key; -1 to drop it. */
static int32_t to_classic(uint16_t key)
{
    uint8_t sc = key >> 8, ch = key & 0xFF;
    if (sc == 0xE0) return (ch == 0x0D || ch == 0x0A) ? (0x1C00 | ch) : (0x3500 | ch);  /* keypad Enter, / */
    if (ch == 0xE0 && sc != 0) return (uint16_t)(sc << 8);
    if (sc > 0x84 && ch == 0) return -1;   /* F11, F12 and the other enhanced-only codes */
    return key;
}

static void key_read(struct bios *b, struct regs *r, int extended, int wait)
{
    for (;;) {
        int key = kbd_dequeue(b, 0);
        if (key < 0) {
            if (wait) r->retry = 1;
            else r->flags |= FLAG_ZF;
            return;
        }
        int32_t k = extended ? key : to_classic((uint16_t)key);
        if (k < 0) {
            kbd_dequeue(b, 1);   /* the classic functions never see it */
            continue;
        }
        if (wait) kbd_dequeue(b, 1);
        r->a.x = (uint16_t)k;
        r->flags &= (uint16_t)~FLAG_ZF;
        return;
    }
}

void kbd_int16(struct bios *b, struct regs *r)
{
    poll_serial_keys(b);
    switch (r->a.h) {
    case 0x00: key_read(b, r, 0, 1); break;
    case 0x10: key_read(b, r, 1, 1); break;
    case 0x01: key_read(b, r, 0, 0); break;
    case 0x11: key_read(b, r, 1, 0); break;
    case 0x02:
        r->a.l = bda_r8(b, BDA_KBFLAGS1);
        break;
    case 0x12: {
        uint8_t f2 = bda_r8(b, BDA_KBFLAGS2), f3 = bda_r8(b, BDA_KBFLAGS3);
        r->a.l = bda_r8(b, BDA_KBFLAGS1);
        /* AH: bit 0 left Ctrl, 1 left Alt, 2 right Ctrl, 3 right Alt, 4-7 Scroll, Num, Caps, SysReq held. */
        r->a.h = (uint8_t)((f2 & KF2_LCTRL ? 0x01 : 0) | (f2 & KF2_LALT ? 0x02 : 0) |
                           (f3 & KF3_RCTRL ? 0x04 : 0) | (f3 & KF3_RALT ? 0x08 : 0) |
                           (f2 & KF2_SCROLL ? 0x10 : 0) | (f2 & KF2_NUM ? 0x20 : 0) |
                           (f2 & KF2_CAPS ? 0x40 : 0) | (f2 & KF2_SYSREQ ? 0x80 : 0));
        break;
    }
    case 0x03:                  /* typematic rate: accepted (the keyboard keeps its own) */
        break;
    case 0x05:                  /* store CX as a key: AL = 0 stored, 1 buffer full */
        r->a.l = kbd_enqueue(b, r->c.x) ? 1 : 0;
        break;
    case 0x09:                  /* capabilities: 10h-12h present, typematic get/set */
        r->a.l = 0x20 | 0x08 | 0x04;
        break;
    case 0x0A:                  /* keyboard ID: MF2 with translation */
        r->b.x = 0x41AB;
        break;
    default:
        bios_unimpl(b, 0x16, r);
        break;
    }
}
