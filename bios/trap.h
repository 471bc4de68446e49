/* The contract between the BIOS ROM (bios/bios.asm) and its C services.
 *
 * Every service stub in the ROM does
 *     push eax
 *     mov eax, BIOS_TRAP_MAGIC | service
 *     out BIOS_TRAP_PORT, eax
 *     pop eax
 * so while the OUT runs, the guest's EAX is the dword at SS:(E)SP and, for the
 * INT handlers, the IRET frame (IP, CS, FLAGS) follows it. The C side reads and
 * writes the caller's registers in place, EAX through that stack slot (the POP
 * brings it back) and the returned flags in the FLAGS word of the IRET frame.
 * It sets the live CF to tell the stub to wait and retry (INT 16h with an empty
 * buffer, INT 15h 86h, INT 1Ah while the RTC updates) or that a boot failed.
 * Only 4-byte writes carrying the magic act, so a stray OUT to the port does
 * nothing (it is logged once).
 *
 * These numbers are repeated in bios/bios.asm: keep both lists the same. */
#ifndef BUBBLE_BIOS_TRAP_H
#define BUBBLE_BIOS_TRAP_H

#define BIOS_TRAP_PORT   0xE4          /* claims 0xE4-0xE7, unused by PC hardware (0xE9 is the debug console) */
#define BIOS_TRAP_MAGIC  0x42554200u   /* "BUB" in the top three bytes, the service in the low one */
#define BIOS_TRAP_MASK   0xFFFFFF00u

enum bios_service {
    SVC_POST    = 0x01,   /* power-on self test: EBX = CPUID(1).EDX */
    SVC_BOOTMSG = 0x02,   /* after the option ROMs: the banner */
    SVC_POSTLOG = 0x03,   /* a POST problem the ROM found: AL = what (see post_log) */
    SVC_KBD     = 0x09,   /* INT 09h: AL = scan code; returns AH = kbd_action */
    SVC_INT10   = 0x10,
    SVC_INT13   = 0x13,
    SVC_INT14   = 0x14,
    SVC_INT15   = 0x15,   /* live CF: INT 15h 86h started a wait (the stub loops on SVC_WAIT) */
    SVC_INT16   = 0x16,   /* live CF: no key yet, halt and retry */
    SVC_INT17   = 0x17,
    SVC_INT18   = 0x18,   /* prints the no-boot message */
    SVC_INT19   = 0x19,   /* live CF: nothing to boot; else BX:CX = entry, DL = drive */
    SVC_INT1A   = 0x1A,   /* live CF: RTC update in progress, retry */
    SVC_PCI32   = 0x20,   /* the 32-bit PCI BIOS entry (far call, 32-bit stack) */
    SVC_RTC     = 0x70,   /* INT 70h (IRQ 8): returns AL bit 0 = call INT 4Ah */
    SVC_WAIT    = 0x86,   /* INT 15h 86h wait check: live CF = still waiting */
};

/* What INT 09h does after a scan code (AH on return from SVC_KBD). */
enum kbd_action {
    KBD_NONE = 0,
    KBD_REBOOT = 1,       /* Ctrl-Alt-Del */
    KBD_BREAK = 2,        /* Ctrl-Break: INT 1Bh */
    KBD_PAUSE = 3,        /* Pause: spin until the next key */
    KBD_PRTSC = 4,        /* Print Screen: INT 05h */
};

#endif
