/* PS/2 keyboard and mouse (see ps2.h). References: IBM PS/2 Hardware
 * Interface Technical Reference, "Keyboard and Auxiliary Device Controller"
 * and "101/102-Key Keyboard" sections; the Microsoft IntelliMouse wheel
 * protocol; the USB HID Usage Tables (keyboard page 0x07). */
#include <stdio.h>
#include <string.h>

#include "devices/ps2.h"

/* Bytes a device sends. */
#define PS2_ACK     0xFA
#define PS2_RESEND  0xFE
#define PS2_BAT_OK  0xAA
#define PS2_ECHO    0xEE

/* ---- queues --------------------------------------------------------------- */

static void queue_clear(struct ps2_queue *q) { q->head = q->count = 0; }

static int queue_push(struct ps2_queue *q, uint8_t b)
{
    if (q->count >= PS2_QUEUE_SIZE) return -1;
    q->data[(q->head + q->count) % PS2_QUEUE_SIZE] = b;
    q->count++;
    return 0;
}

static uint8_t queue_pop(struct ps2_queue *q)
{
    uint8_t b = q->data[q->head];
    q->head = (uint16_t)((q->head + 1) % PS2_QUEUE_SIZE);
    q->count--;
    return b;
}

static uint8_t queue_last(const struct ps2_queue *q)
{
    return q->data[(q->head + q->count - 1) % PS2_QUEUE_SIZE];
}

static void reply_clear(struct ps2_reply *r) { r->head = r->count = 0; }

/* Replies are a few bytes per command; a guest that never reads them while
 * sending commands loses the oldest ones. */
static void reply_push(struct ps2_reply *r, uint8_t b)
{
    if (r->count >= PS2_REPLY_SIZE) {
        r->head = (uint8_t)((r->head + 1) % PS2_REPLY_SIZE);
        r->count--;
    }
    r->data[(r->head + r->count) % PS2_REPLY_SIZE] = b;
    r->count++;
}

static uint8_t reply_pop(struct ps2_reply *r)
{
    uint8_t b = r->data[r->head];
    r->head = (uint8_t)((r->head + 1) % PS2_REPLY_SIZE);
    r->count--;
    return b;
}

static int log_first(uint32_t *bits, uint8_t v)
{
    if (bits[v >> 5] & (1u << (v & 31))) return 0;
    bits[v >> 5] |= 1u << (v & 31);
    return 1;
}

/* ---- scancode tables ------------------------------------------------------ */

/* The 8042 translation table (IBM PS/2 technical reference, keyboard
 * controller; Konzak, "PC 8042 Controller"): set 2 code -> set 1 code.
 * Codes from 0x80 up pass unchanged except 0x83 (F7) and 0x84 (SysRq). */
static const uint8_t set2_to_set1[128] = {
    0xff, 0x43, 0x41, 0x3f, 0x3d, 0x3b, 0x3c, 0x58, 0x64, 0x44, 0x42, 0x40, 0x3e, 0x0f, 0x29, 0x59,
    0x65, 0x38, 0x2a, 0x70, 0x1d, 0x10, 0x02, 0x5a, 0x66, 0x71, 0x2c, 0x1f, 0x1e, 0x11, 0x03, 0x5b,
    0x67, 0x2e, 0x2d, 0x20, 0x12, 0x05, 0x04, 0x5c, 0x68, 0x39, 0x2f, 0x21, 0x14, 0x13, 0x06, 0x5d,
    0x69, 0x31, 0x30, 0x23, 0x22, 0x15, 0x07, 0x5e, 0x6a, 0x72, 0x32, 0x24, 0x16, 0x08, 0x09, 0x5f,
    0x6b, 0x33, 0x25, 0x17, 0x18, 0x0b, 0x0a, 0x60, 0x6c, 0x34, 0x35, 0x26, 0x27, 0x19, 0x0c, 0x61,
    0x6d, 0x73, 0x28, 0x74, 0x1a, 0x0d, 0x62, 0x6e, 0x3a, 0x36, 0x1c, 0x1b, 0x75, 0x2b, 0x63, 0x76,
    0x55, 0x56, 0x77, 0x78, 0x79, 0x7a, 0x0e, 0x7b, 0x7c, 0x4f, 0x7d, 0x4b, 0x47, 0x7e, 0x7f, 0x6f,
    0x52, 0x53, 0x50, 0x4c, 0x4d, 0x48, 0x01, 0x45, 0x57, 0x4e, 0x51, 0x4a, 0x37, 0x49, 0x46, 0x54,
};

uint8_t ps2_translate_set2(uint8_t code)
{
    if (code < 0x80) return set2_to_set1[code];
    if (code == 0x83) return 0x41;
    if (code == 0x84) return 0x54;
    return code;
}

/* One key: its set 2 code (E0-prefixed when `e0`) and its set 3 code (0: the
 * key has none). Set 1 is the translation of set 2, as on real keyboards. */
struct key_codes {
    uint8_t set2, e0, set3;
};

#define K(s2, s3) { s2, 0, s3 }
#define KE(s2, s3) { s2, 1, s3 }

/* Indexed by USB HID usage (keyboard page). Pause (0x48) and PrintScreen
 * (0x46) have special sequences, built in set2_sequence(). */
static const struct key_codes keymap[256] = {
    [0x04] = K(0x1c, 0x1c), [0x05] = K(0x32, 0x32), [0x06] = K(0x21, 0x21), [0x07] = K(0x23, 0x23),
    [0x08] = K(0x24, 0x24), [0x09] = K(0x2b, 0x2b), [0x0a] = K(0x34, 0x34), [0x0b] = K(0x33, 0x33),
    [0x0c] = K(0x43, 0x43), [0x0d] = K(0x3b, 0x3b), [0x0e] = K(0x42, 0x42), [0x0f] = K(0x4b, 0x4b),
    [0x10] = K(0x3a, 0x3a), [0x11] = K(0x31, 0x31), [0x12] = K(0x44, 0x44), [0x13] = K(0x4d, 0x4d),
    [0x14] = K(0x15, 0x15), [0x15] = K(0x2d, 0x2d), [0x16] = K(0x1b, 0x1b), [0x17] = K(0x2c, 0x2c),
    [0x18] = K(0x3c, 0x3c), [0x19] = K(0x2a, 0x2a), [0x1a] = K(0x1d, 0x1d), [0x1b] = K(0x22, 0x22),
    [0x1c] = K(0x35, 0x35), [0x1d] = K(0x1a, 0x1a),
    /* 1 2 3 4 5 6 7 8 9 0 */
    [0x1e] = K(0x16, 0x16), [0x1f] = K(0x1e, 0x1e), [0x20] = K(0x26, 0x26), [0x21] = K(0x25, 0x25),
    [0x22] = K(0x2e, 0x2e), [0x23] = K(0x36, 0x36), [0x24] = K(0x3d, 0x3d), [0x25] = K(0x3e, 0x3e),
    [0x26] = K(0x46, 0x46), [0x27] = K(0x45, 0x45),
    /* Enter Esc Backspace Tab Space - = [ ] \ non-US-# ; ' ` , . / CapsLock */
    [0x28] = K(0x5a, 0x5a), [0x29] = K(0x76, 0x08), [0x2a] = K(0x66, 0x66), [0x2b] = K(0x0d, 0x0d),
    [0x2c] = K(0x29, 0x29), [0x2d] = K(0x4e, 0x4e), [0x2e] = K(0x55, 0x55), [0x2f] = K(0x54, 0x54),
    [0x30] = K(0x5b, 0x5b), [0x31] = K(0x5d, 0x5c), [0x32] = K(0x5d, 0x53), [0x33] = K(0x4c, 0x4c),
    [0x34] = K(0x52, 0x52), [0x35] = K(0x0e, 0x0e), [0x36] = K(0x41, 0x41), [0x37] = K(0x49, 0x49),
    [0x38] = K(0x4a, 0x4a), [0x39] = K(0x58, 0x14),
    /* F1-F12 */
    [0x3a] = K(0x05, 0x07), [0x3b] = K(0x06, 0x0f), [0x3c] = K(0x04, 0x17), [0x3d] = K(0x0c, 0x1f),
    [0x3e] = K(0x03, 0x27), [0x3f] = K(0x0b, 0x2f), [0x40] = K(0x83, 0x37), [0x41] = K(0x0a, 0x3f),
    [0x42] = K(0x01, 0x47), [0x43] = K(0x09, 0x4f), [0x44] = K(0x78, 0x56), [0x45] = K(0x07, 0x5e),
    /* PrintScreen ScrollLock Pause Insert Home PageUp Delete End PageDown Right Left Down Up */
    [0x46] = KE(0x7c, 0x57), [0x47] = K(0x7e, 0x5f), [0x48] = K(0x77, 0x62), [0x49] = KE(0x70, 0x67),
    [0x4a] = KE(0x6c, 0x6e), [0x4b] = KE(0x7d, 0x6f), [0x4c] = KE(0x71, 0x64), [0x4d] = KE(0x69, 0x65),
    [0x4e] = KE(0x7a, 0x6d), [0x4f] = KE(0x74, 0x6a), [0x50] = KE(0x6b, 0x61), [0x51] = KE(0x72, 0x60),
    [0x52] = KE(0x75, 0x63),
    /* NumLock KP/ KP* KP- KP+ KPEnter KP1-KP9 KP0 KP. */
    [0x53] = K(0x77, 0x76), [0x54] = KE(0x4a, 0x77), [0x55] = K(0x7c, 0x7e), [0x56] = K(0x7b, 0x84),
    [0x57] = K(0x79, 0x7c), [0x58] = KE(0x5a, 0x79), [0x59] = K(0x69, 0x69), [0x5a] = K(0x72, 0x72),
    [0x5b] = K(0x7a, 0x7a), [0x5c] = K(0x6b, 0x6b), [0x5d] = K(0x73, 0x73), [0x5e] = K(0x74, 0x74),
    [0x5f] = K(0x6c, 0x6c), [0x60] = K(0x75, 0x75), [0x61] = K(0x7d, 0x7d), [0x62] = K(0x70, 0x70),
    [0x63] = K(0x71, 0x71),
    /* non-US \ (the 102nd key), Application (Menu), Power, KP= */
    [0x64] = K(0x61, 0x13), [0x65] = KE(0x2f, 0x8d), [0x66] = KE(0x37, 0), [0x67] = K(0x0f, 0),
    /* F13-F24 */
    [0x68] = K(0x08, 0), [0x69] = K(0x10, 0), [0x6a] = K(0x18, 0), [0x6b] = K(0x20, 0),
    [0x6c] = K(0x28, 0), [0x6d] = K(0x30, 0), [0x6e] = K(0x38, 0), [0x6f] = K(0x40, 0),
    [0x70] = K(0x48, 0), [0x71] = K(0x50, 0), [0x72] = K(0x57, 0), [0x73] = K(0x5f, 0),
    /* Mute, Volume Up, Volume Down */
    [0x7f] = KE(0x23, 0), [0x80] = KE(0x32, 0), [0x81] = KE(0x21, 0),
    /* KP, (Brazilian), International 1-5 (Ro, Katakana/Hiragana, Yen, Henkan, Muhenkan) */
    [0x85] = K(0x6d, 0), [0x87] = K(0x51, 0), [0x88] = K(0x13, 0), [0x89] = K(0x6a, 0),
    [0x8a] = K(0x64, 0), [0x8b] = K(0x67, 0),
    /* LCtrl LShift LAlt LGUI RCtrl RShift RAlt RGUI */
    [0xe0] = K(0x14, 0x11), [0xe1] = K(0x12, 0x12), [0xe2] = K(0x11, 0x19), [0xe3] = KE(0x1f, 0x8b),
    [0xe4] = KE(0x14, 0x58), [0xe5] = K(0x59, 0x59), [0xe6] = KE(0x11, 0x39), [0xe7] = KE(0x27, 0x8c),
};

#undef K
#undef KE

#define USAGE_PRINTSCREEN 0x46
#define USAGE_PAUSE       0x48
#define USAGE_LCTRL  0xe0
#define USAGE_LSHIFT 0xe1
#define USAGE_LALT   0xe2
#define USAGE_RCTRL  0xe4
#define USAGE_RSHIFT 0xe5
#define USAGE_RALT   0xe6

/* ---- keyboard ------------------------------------------------------------- */

static int key_down(const struct ps2_kbd *k, int usage)
{
    return (k->keys_down[usage >> 3] >> (usage & 7)) & 1;
}

static void kbd_notify(struct ps2_kbd *k)
{
    if (k->notify) k->notify(k->opaque);
}

static void kbd_reply(struct ps2_kbd *k, uint8_t b)
{
    reply_push(&k->reply, b);
    kbd_notify(k);
}

/* The key-detection-error/overrun code: 00 in sets 2 and 3, FF in set 1. */
static uint8_t kbd_overrun_code(const struct ps2_kbd *k) { return k->scancode_set == 1 ? 0xFF : 0x00; }

/* A whole key sequence, or (no room) the overrun code in the slot kept for it. */
static void kbd_queue_sequence(struct ps2_kbd *k, const uint8_t *seq, int n)
{
    if (n <= 0) return;
    struct ps2_queue *q = &k->q;
    if (q->count + n <= PS2_QUEUE_SIZE - 1) {
        for (int j = 0; j < n; j++) queue_push(q, seq[j]);
    } else {
        uint8_t code = kbd_overrun_code(k);
        if (q->count == 0 || queue_last(q) != code) queue_push(q, code);
    }
    kbd_notify(k);
}

/* The set 2 bytes for a key event. Pause has no break code; it and
 * PrintScreen change with the modifiers held (IBM 101-key keyboard, scan code tables). */
static int set2_sequence(const struct ps2_kbd *k, int usage, int pressed, uint8_t *out)
{
    int n = 0;
    int ctrl = key_down(k, USAGE_LCTRL) || key_down(k, USAGE_RCTRL);
    int shift = key_down(k, USAGE_LSHIFT) || key_down(k, USAGE_RSHIFT);
    int alt = key_down(k, USAGE_LALT) || key_down(k, USAGE_RALT);
    if (usage == USAGE_PAUSE) {
        if (!pressed) return 0;
        if (ctrl) {   /* Ctrl+Pause is Break */
            static const uint8_t brk[] = { 0xE0, 0x7E, 0xE0, 0xF0, 0x7E };
            memcpy(out, brk, sizeof(brk));
            return (int)sizeof(brk);
        }
        static const uint8_t pause[] = { 0xE1, 0x14, 0x77, 0xE1, 0xF0, 0x14, 0xF0, 0x77 };
        memcpy(out, pause, sizeof(pause));
        return (int)sizeof(pause);
    }
    if (usage == USAGE_PRINTSCREEN) {
        if (alt) {    /* Alt+PrintScreen is SysRq */
            if (!pressed) out[n++] = 0xF0;
            out[n++] = 0x84;
            return n;
        }
        if (!shift && !ctrl) {   /* a fake left shift around the key */
            if (pressed) {
                static const uint8_t make[] = { 0xE0, 0x12, 0xE0, 0x7C };
                memcpy(out, make, sizeof(make));
                return (int)sizeof(make);
            }
            static const uint8_t brk[] = { 0xE0, 0xF0, 0x7C, 0xE0, 0xF0, 0x12 };
            memcpy(out, brk, sizeof(brk));
            return (int)sizeof(brk);
        }
    }
    const struct key_codes *c = &keymap[usage];
    if (c->e0) out[n++] = 0xE0;
    if (!pressed) out[n++] = 0xF0;
    out[n++] = c->set2;
    return n;
}

/* Set 1 is set 2 translated: F0 becomes bit 7 of the following code. */
static int set2_to_set1_sequence(const uint8_t *in, int n, uint8_t *out)
{
    int m = 0, brk = 0;
    for (int j = 0; j < n; j++) {
        if (in[j] == 0xF0) {
            brk = 1;
            continue;
        }
        out[m++] = (uint8_t)(ps2_translate_set2(in[j]) | (brk ? 0x80 : 0));
        brk = 0;
    }
    return m;
}

static int kbd_key_repeats(const struct ps2_kbd *k, int usage)
{
    if (usage == USAGE_PAUSE && k->scancode_set != 3) return 0;
    if (k->scancode_set == 3) return (k->set3_attr[keymap[usage].set3] & PS2_KEY_TYPEMATIC) != 0;
    return 1;
}

/* Queue the codes of one key event in the current set; 0 if the key has none. */
static int kbd_emit_key(struct ps2_kbd *k, int usage, int pressed)
{
    uint8_t set2[8], out[8];
    int n;
    if (k->scancode_set == 3) {
        uint8_t code = keymap[usage].set3;
        if (!code) return 0;
        n = 0;
        if (!pressed) {
            if (!(k->set3_attr[code] & PS2_KEY_BREAK)) return 1;
            out[n++] = 0xF0;
        }
        out[n++] = code;
    } else {
        n = set2_sequence(k, usage, pressed, set2);
        if (k->scancode_set == 1) n = set2_to_set1_sequence(set2, n, out);
        else memcpy(out, set2, (size_t)n);
    }
    kbd_queue_sequence(k, out, n);
    return 1;
}

/* Typematic timing (F3 argument): delay (1 + bits 6-5) * 250 ms; period
 * (8 + bits 2-0) * 2^(bits 4-3) * 4.17 ms, i.e. 30 down to 2 characters/s. */
static int64_t typematic_delay_ns(const struct ps2_kbd *k)
{
    return (int64_t)(((k->typematic >> 5) & 3) + 1) * 250000000;
}

static int64_t typematic_period_ns(const struct ps2_kbd *k)
{
    int a = k->typematic & 7, b = (k->typematic >> 3) & 3;
    return (int64_t)(8 + a) * (1 << b) * 1000000000 / 240;
}

static void kbd_stop_repeat(struct ps2_kbd *k)
{
    k->repeat_key = -1;
    if (k->clock) vtimer_del(&k->repeat_timer);
}

static void kbd_repeat(void *opaque)
{
    struct ps2_kbd *k = opaque;
    int usage = k->repeat_key;
    if (usage < 0 || !key_down(k, usage) || !k->scanning) return;
    /* Repeat only while the guest keeps up: a stalled guest gets no flood of repeats. */
    if (k->q.count < PS2_QUEUE_SIZE / 2) kbd_emit_key(k, usage, 1);
    int64_t next = k->repeat_timer.expire + typematic_period_ns(k);
    int64_t now = vclock_ns(k->clock);
    vtimer_mod(&k->repeat_timer, next > now ? next : now + typematic_period_ns(k));
}

void ps2_kbd_key(struct ps2_kbd *k, int usage, int pressed)
{
    if (usage < 0 || usage > 255) return;
    pressed = pressed != 0;
    if (pressed == key_down(k, usage)) return;   /* host auto-repeat: the keyboard repeats by itself */
    if (pressed) k->keys_down[usage >> 3] |= (uint8_t)(1u << (usage & 7));
    else k->keys_down[usage >> 3] &= (uint8_t)~(1u << (usage & 7));

    if (!pressed && usage == k->repeat_key) kbd_stop_repeat(k);
    if (!k->scanning) return;
    if (!keymap[usage].set2) {
        if (log_first(k->logged_keys, (uint8_t)usage))
            fprintf(stderr, "ps2: host key (HID usage %#x) has no PS/2 scancode; ignored (logged once)\n", usage);
        return;
    }
    if (!kbd_emit_key(k, usage, pressed)) {
        if (log_first(k->logged_keys, (uint8_t)usage))
            fprintf(stderr, "ps2: host key (HID usage %#x) has no scancode in set 3; ignored (logged once)\n",
                    usage);
        return;
    }
    if (pressed) {
        /* Typematic follows the last key pressed (IBM keyboard reference, "Typematic"). */
        kbd_stop_repeat(k);
        if (kbd_key_repeats(k, usage) && k->clock) {
            k->repeat_key = (int16_t)usage;
            vtimer_mod(&k->repeat_timer, vclock_ns(k->clock) + typematic_delay_ns(k));
        }
    }
}

/* Set 3 default key types: Caps Lock, the shifts, left Ctrl and left Alt and
 * the Windows/Menu keys send breaks; the others are make-only and typematic. */
static void kbd_set3_defaults(struct ps2_kbd *k)
{
    static const uint8_t make_break[] = { 0x14, 0x12, 0x59, 0x11, 0x19, 0x8b, 0x8c, 0x8d };
    memset(k->set3_attr, PS2_KEY_TYPEMATIC, sizeof(k->set3_attr));
    for (size_t j = 0; j < sizeof(make_break); j++) k->set3_attr[make_break[j]] = PS2_KEY_BREAK;
}

/* F5/F6 "set default": typematic 10.9 characters/s after 500 ms, set-3 key types. */
static void kbd_defaults(struct ps2_kbd *k)
{
    k->typematic = 0x2B;
    kbd_set3_defaults(k);
    kbd_stop_repeat(k);
}

void ps2_kbd_reset(struct ps2_kbd *k)
{
    queue_clear(&k->q);
    reply_clear(&k->reply);
    kbd_defaults(k);
    k->scancode_set = 2;
    k->scanning = 1;
    k->leds = 0;
    k->pending_cmd = 0;
    k->last_sent = 0;
}

void ps2_kbd_init(struct ps2_kbd *k, struct vclock *clock, ps2_notify_fn *notify, void *opaque)
{
    memset(k, 0, sizeof(*k));
    k->clock = clock;
    k->notify = notify;
    k->opaque = opaque;
    k->repeat_key = -1;
    if (clock) vtimer_init(&k->repeat_timer, clock, kbd_repeat, k);
    ps2_kbd_reset(k);
}

/* The argument of the pending command (ED, F0, F3, or a key of an FB-FD list). */
static void kbd_argument(struct ps2_kbd *k, uint8_t b)
{
    uint8_t cmd = k->pending_cmd;
    switch (cmd) {
    case 0xED:
        k->leds = b & 7;
        k->pending_cmd = 0;
        kbd_reply(k, PS2_ACK);
        break;
    case 0xF0:
        k->pending_cmd = 0;
        if (b == 0) {
            kbd_reply(k, PS2_ACK);
            kbd_reply(k, k->scancode_set);
        } else if (b <= 3) {
            k->scancode_set = b;
            kbd_stop_repeat(k);
            kbd_reply(k, PS2_ACK);
        } else {
            kbd_reply(k, PS2_RESEND);
        }
        break;
    case 0xF3:
        k->typematic = b & 0x7F;
        k->pending_cmd = 0;
        kbd_reply(k, PS2_ACK);
        break;
    default:   /* FB, FC, FD: a list of set-3 codes that goes on until the next command */
        k->set3_attr[b] = cmd == 0xFB ? PS2_KEY_TYPEMATIC : cmd == 0xFC ? PS2_KEY_BREAK : 0;
        kbd_reply(k, PS2_ACK);
        break;
    }
}

static void kbd_set_all_keys(struct ps2_kbd *k, uint8_t attr)
{
    memset(k->set3_attr, attr, sizeof(k->set3_attr));
    kbd_reply(k, PS2_ACK);
}

void ps2_kbd_write(struct ps2_kbd *k, uint8_t b)
{
    if (k->pending_cmd) {
        if (b < 0xED) {
            kbd_argument(k, b);
            return;
        }
        k->pending_cmd = 0;   /* a command byte interrupts the argument */
    }
    switch (b) {
    case 0xED: case 0xF0: case 0xF3: case 0xFB: case 0xFC: case 0xFD:
        k->pending_cmd = b;
        kbd_reply(k, PS2_ACK);
        break;
    case 0xEE:
        kbd_reply(k, PS2_ECHO);
        break;
    case 0xF2:   /* MF2 keyboard */
        kbd_reply(k, PS2_ACK);
        kbd_reply(k, 0xAB);
        kbd_reply(k, 0x83);
        break;
    case 0xF4:
        queue_clear(&k->q);
        k->scanning = 1;
        kbd_reply(k, PS2_ACK);
        break;
    case 0xF5:
        queue_clear(&k->q);
        kbd_defaults(k);
        k->scanning = 0;
        kbd_reply(k, PS2_ACK);
        break;
    case 0xF6:
        queue_clear(&k->q);
        kbd_defaults(k);
        k->scanning = 1;
        kbd_reply(k, PS2_ACK);
        break;
    case 0xF7: kbd_set_all_keys(k, PS2_KEY_TYPEMATIC); break;
    case 0xF8: kbd_set_all_keys(k, PS2_KEY_BREAK); break;
    case 0xF9: kbd_set_all_keys(k, 0); break;
    case 0xFA: kbd_set_all_keys(k, PS2_KEY_TYPEMATIC | PS2_KEY_BREAK); break;
    case 0xFE:
        kbd_reply(k, k->last_sent);
        break;
    case 0xFF:
        ps2_kbd_reset(k);
        kbd_reply(k, PS2_ACK);
        kbd_reply(k, PS2_BAT_OK);
        break;
    default:
        if (log_first(k->logged_cmds, b))
            fprintf(stderr, "ps2: unknown keyboard command %#x answered with resend (logged once)\n", b);
        kbd_reply(k, PS2_RESEND);
        break;
    }
}

int ps2_kbd_pending(const struct ps2_kbd *k) { return k->reply.count + k->q.count; }

uint8_t ps2_kbd_read(struct ps2_kbd *k)
{
    uint8_t b;
    if (k->reply.count) b = reply_pop(&k->reply);
    else if (k->q.count) b = queue_pop(&k->q);
    else return 0;
    if (b != PS2_RESEND) k->last_sent = b;
    return b;
}

/* ---- mouse ---------------------------------------------------------------- */

static void mouse_notify(struct ps2_mouse *m)
{
    if (m->notify) m->notify(m->opaque);
}

static void mouse_reply(struct ps2_mouse *m, uint8_t b)
{
    reply_push(&m->reply, b);
    mouse_notify(m);
}

static int clamp(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

static int packet_size(const struct ps2_mouse *m) { return m->id ? 4 : 3; }

static void mouse_reset_counters(struct ps2_mouse *m)
{
    m->dx = m->dy = m->dz = 0;
}

/* 2:1 scaling (stream mode only): 0 1 2 3 4 5 -> 0 1 1 3 6 9, then doubling. */
static int scale21(int v)
{
    static const int8_t small[6] = { 0, 1, 1, 3, 6, 9 };
    int a = v < 0 ? -v : v;
    int s = a < 6 ? small[a] : 2 * a;
    return v < 0 ? -s : s;
}

/* One movement packet from the counters. Stream mode sends what fits and
 * keeps the rest for the next packet (no overflow); a remote-mode read
 * reports the whole count, setting the overflow bits when it exceeds 9 bits. */
static int mouse_build_packet(struct ps2_mouse *m, uint8_t *p, int stream)
{
    int x, y, xo = 0, yo = 0;
    if (stream) {
        int lo = m->scaling21 ? -128 : -256, hi = m->scaling21 ? 127 : 255;
        x = clamp(m->dx, lo, hi);
        y = clamp(m->dy, lo, hi);
        m->dx -= x;
        m->dy -= y;
        if (m->scaling21) {
            x = scale21(x);
            y = scale21(y);
        }
    } else {
        xo = m->dx < -256 || m->dx > 255;
        yo = m->dy < -256 || m->dy > 255;
        x = clamp(m->dx, -256, 255);
        y = clamp(m->dy, -256, 255);
        m->dx = m->dy = 0;
    }
    p[0] = (uint8_t)((m->buttons & 7) | 0x08 | (x < 0 ? 0x10 : 0) | (y < 0 ? 0x20 : 0) |
                     (xo ? 0x40 : 0) | (yo ? 0x80 : 0));
    p[1] = (uint8_t)x;
    p[2] = (uint8_t)y;
    m->reported_buttons = m->buttons;
    if (m->id == 3) {
        int z = clamp(m->dz, -128, 127);
        m->dz -= z;
        p[3] = (uint8_t)z;
        return 4;
    }
    if (m->id == 4) {   /* Z in bits 3-0, buttons 4 and 5 in bits 4 and 5 */
        int z = clamp(m->dz, -8, 7);
        m->dz -= z;
        p[3] = (uint8_t)((z & 0x0F) | ((m->buttons & PS2_MOUSE_BUTTON4) ? 0x10 : 0) |
                         ((m->buttons & PS2_MOUSE_BUTTON5) ? 0x20 : 0));
        return 4;
    }
    m->dz = 0;
    return 3;
}

static int mouse_has_news(const struct ps2_mouse *m)
{
    return m->dx || m->dy || (m->dz && m->id) || m->buttons != m->reported_buttons;
}

/* Stream mode: send packets while there is news and room for whole packets.
 * `notify` is 0 when the controller is taking a byte and will look again. */
static void mouse_stream(struct ps2_mouse *m, int notify)
{
    int sent = 0;
    while (m->reporting && !m->remote && !m->wrap && mouse_has_news(m) &&
           m->q.count + packet_size(m) <= PS2_QUEUE_SIZE) {
        uint8_t p[4];
        int n = mouse_build_packet(m, p, 1);
        for (int j = 0; j < n; j++) queue_push(&m->q, p[j]);
        sent = 1;
    }
    if (sent && notify) mouse_notify(m);
}

void ps2_mouse_move(struct ps2_mouse *m, int dx, int dy, int dz, unsigned buttons)
{
    m->buttons = (uint8_t)(buttons & 0x1F);
    if (m->wrap || (!m->remote && !m->reporting)) {
        /* Not reporting: motion is not counted (the counters are reset on enable). */
        m->reported_buttons = m->buttons;
        return;
    }
    /* Bounded counters: a guest that never reads cannot overflow them. */
    const int limit = 1 << 20;
    m->dx = clamp(m->dx + clamp(dx, -limit, limit), -limit, limit);
    m->dy = clamp(m->dy - clamp(dy, -limit, limit), -limit, limit);
    if (m->id) m->dz = clamp(m->dz - clamp(dz, -limit, limit), -limit, limit);
    mouse_stream(m, 1);
}

static void mouse_defaults(struct ps2_mouse *m)
{
    m->remote = 0;
    m->wrap = 0;
    m->reporting = 0;
    m->scaling21 = 0;
    m->resolution = 2;
    m->sample_rate = 100;
    m->pending_cmd = 0;
    mouse_reset_counters(m);
    m->reported_buttons = m->buttons;
}

void ps2_mouse_reset(struct ps2_mouse *m)
{
    queue_clear(&m->q);
    reply_clear(&m->reply);
    mouse_defaults(m);
    m->id = 0;
    memset(m->rates, 0, sizeof(m->rates));
    m->last_sent = 0;
}

void ps2_mouse_init(struct ps2_mouse *m, ps2_notify_fn *notify, void *opaque)
{
    memset(m, 0, sizeof(*m));
    m->notify = notify;
    m->opaque = opaque;
    ps2_mouse_reset(m);
}

/* The sample-rate knock sequences: 200,100,80 turns on the wheel (ID 3);
 * then 200,200,80 the fourth and fifth buttons (ID 4). */
static void mouse_set_rate(struct ps2_mouse *m, uint8_t rate)
{
    m->sample_rate = rate;
    m->rates[0] = m->rates[1];
    m->rates[1] = m->rates[2];
    m->rates[2] = rate;
    if (m->rates[0] == 200 && m->rates[1] == 100 && m->rates[2] == 80 && m->id == 0) m->id = 3;
    else if (m->rates[0] == 200 && m->rates[1] == 200 && m->rates[2] == 80 && m->id == 3) m->id = 4;
}

static void mouse_argument(struct ps2_mouse *m, uint8_t cmd, uint8_t b)
{
    if (cmd == 0xE8) {
        if (b > 3) {
            mouse_reply(m, PS2_RESEND);
            return;
        }
        m->resolution = b;
        mouse_reply(m, PS2_ACK);
        return;
    }
    /* F3: the rates a PS/2 mouse accepts. */
    switch (b) {
    case 10: case 20: case 40: case 60: case 80: case 100: case 200:
        mouse_set_rate(m, b);
        mouse_reply(m, PS2_ACK);
        break;
    default:
        mouse_reply(m, PS2_RESEND);
        break;
    }
}

static void mouse_status(struct ps2_mouse *m)
{
    uint8_t s = (uint8_t)((m->remote ? 0x40 : 0) | (m->reporting ? 0x20 : 0) | (m->scaling21 ? 0x10 : 0) |
                          ((m->buttons & PS2_MOUSE_LEFT) ? 0x04 : 0) |
                          ((m->buttons & PS2_MOUSE_MIDDLE) ? 0x02 : 0) |
                          ((m->buttons & PS2_MOUSE_RIGHT) ? 0x01 : 0));
    mouse_reply(m, PS2_ACK);
    mouse_reply(m, s);
    mouse_reply(m, m->resolution);
    mouse_reply(m, m->sample_rate);
}

static void mouse_read_data(struct ps2_mouse *m)
{
    uint8_t p[4];
    mouse_reply(m, PS2_ACK);
    int n = mouse_build_packet(m, p, 0);
    for (int j = 0; j < n; j++) mouse_reply(m, p[j]);
}

void ps2_mouse_write(struct ps2_mouse *m, uint8_t b)
{
    if (m->wrap && b != 0xEC && b != 0xFF) {   /* wrap mode echoes all but these two */
        mouse_reply(m, b);
        return;
    }
    if (m->pending_cmd) {
        uint8_t cmd = m->pending_cmd;
        m->pending_cmd = 0;
        mouse_argument(m, cmd, b);
        return;
    }
    /* A command ends any packet the mouse had not finished sending. */
    queue_clear(&m->q);
    switch (b) {
    case 0xE6: m->scaling21 = 0; mouse_reply(m, PS2_ACK); break;
    case 0xE7: m->scaling21 = 1; mouse_reply(m, PS2_ACK); break;
    case 0xE8: case 0xF3:
        m->pending_cmd = b;
        mouse_reply(m, PS2_ACK);
        break;
    case 0xE9: mouse_status(m); break;
    case 0xEA:
        m->remote = 0;
        mouse_reset_counters(m);
        mouse_reply(m, PS2_ACK);
        break;
    case 0xEB: mouse_read_data(m); break;
    case 0xEC:
        m->wrap = 0;
        mouse_reply(m, PS2_ACK);
        break;
    case 0xEE:
        m->wrap = 1;
        mouse_reset_counters(m);
        mouse_reply(m, PS2_ACK);
        break;
    case 0xF0:
        m->remote = 1;
        mouse_reset_counters(m);
        mouse_reply(m, PS2_ACK);
        break;
    case 0xF2:
        mouse_reply(m, PS2_ACK);
        mouse_reply(m, m->id);
        break;
    case 0xF4:
        m->reporting = 1;
        mouse_reset_counters(m);
        m->reported_buttons = m->buttons;
        mouse_reply(m, PS2_ACK);
        break;
    case 0xF5:
        m->reporting = 0;
        mouse_reset_counters(m);
        mouse_reply(m, PS2_ACK);
        break;
    case 0xF6:
        mouse_defaults(m);
        mouse_reply(m, PS2_ACK);
        break;
    case 0xFE:
        mouse_reply(m, m->last_sent);
        break;
    case 0xFF:
        ps2_mouse_reset(m);
        mouse_reply(m, PS2_ACK);
        mouse_reply(m, PS2_BAT_OK);
        mouse_reply(m, 0x00);   /* the device ID */
        break;
    default:
        if (log_first(m->logged_cmds, b))
            fprintf(stderr, "ps2: unknown mouse command %#x answered with resend (logged once)\n", b);
        mouse_reply(m, PS2_RESEND);
        break;
    }
}

int ps2_mouse_pending(const struct ps2_mouse *m) { return m->reply.count + m->q.count; }

uint8_t ps2_mouse_read(struct ps2_mouse *m)
{
    uint8_t b;
    if (m->reply.count) b = reply_pop(&m->reply);
    else if (m->q.count) b = queue_pop(&m->q);
    else return 0;
    if (b != PS2_RESEND) m->last_sent = b;
    /* Room again: motion held back for lack of space goes out now. */
    if (!m->q.count && !m->reply.count) mouse_stream(m, 0);
    return b;
}
