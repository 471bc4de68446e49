; Bubble's BIOS ROM: 64 KiB, seen at 0xF0000-0xFFFFF and at 0xFFFF0000-0xFFFFFFFF.
;
; The ROM is small: the reset path, the keyboard controller and option ROM
; setup (they poll hardware, so they run as guest code and see time pass), the
; timer tick, and one stub per BIOS interrupt that hands the call to the C
; services compiled into the emulator (bios/*.c) through the trap port:
;
;     push eax
;     mov eax, TRAP_MAGIC | service
;     out TRAP_PORT, eax          ; the C side reads and writes the caller's
;     pop eax                     ; registers; EAX is the dword at SS:SP
;
; bios/trap.h documents the contract; the service numbers below must match it.
; The IBM PC/AT compatibility entry points (F000:E05B POST, F000:E3FE INT 13h,
; ..., F000:FFF0 reset, F000:FFFE model byte) are where old software expects.
;
; Build: nasm -f bin -o bios.bin bios/bios.asm

        bits 16
        cpu 686
        org 0

TRAP_PORT       equ 0xE4
TRAP_MAGIC      equ 0x42554200

SVC_POST        equ 0x01
SVC_BOOTMSG     equ 0x02
SVC_POSTLOG     equ 0x03
SVC_KBD         equ 0x09
SVC_INT10       equ 0x10
SVC_INT13       equ 0x13
SVC_INT14       equ 0x14
SVC_INT15       equ 0x15
SVC_INT16       equ 0x16
SVC_INT17       equ 0x17
SVC_INT18       equ 0x18
SVC_INT19       equ 0x19
SVC_INT1A       equ 0x1A
SVC_PCI32       equ 0x20
SVC_RTC         equ 0x70
SVC_WAIT        equ 0x86

KBD_REBOOT      equ 1
KBD_BREAK       equ 2
KBD_PAUSE       equ 3
KBD_PRTSC       equ 4

; POST problems reported through SVC_POSTLOG (AL).
POSTLOG_KBC_TEST    equ 1
POSTLOG_KBD_RESET   equ 2
POSTLOG_NO_KBC      equ 3

ROM_SEG         equ 0xF000
BDA_SEG         equ 0x0040
STACK_TOP       equ 0x7C00
PIC1_CMD        equ 0x20
PIC2_CMD        equ 0xA0
KBC_DATA        equ 0x60
KBC_STATUS      equ 0x64
CMOS_INDEX      equ 0x70
CMOS_DATA       equ 0x71

%macro TRAP 1
        push eax
        mov eax, TRAP_MAGIC | %1
        out TRAP_PORT, eax
        pop eax
%endmacro

; Pad up to a fixed offset (nasm fails on a negative TIMES if the code grew past it).
%macro fixed_at 1
        times (%1) - ($ - $$) db 0xFF
%endmacro

; ---------------------------------------------------------------------------
; Directory for the C side (it reads the image at offset 0): where the tables
; are. Keep in step with struct rom_dir in bios/bios.c.
rom_dir:
        db "$BUBBLE$"
        dw 1                            ; layout version
        dw dpt_360, dpt_1200, dpt_720, dpt_1440, dpt_2880   ; INT 1Eh tables by CMOS floppy type 1-5
        dw config_table                 ; INT 15h C0h
        dw bios32_dir                   ; "_32_" (checksum set by C)
        dw pir_table                    ; "$PIR" (built by C)
        dw pcibios32_entry              ; 32-bit PCI BIOS entry (offset in the ROM)
        dw dummy_iret

; ---------------------------------------------------------------------------
; Power-on and reset. The CMOS shutdown status byte (0Fh) tells a real reset
; from a 286-style return to real mode (IBM AT BIOS technical reference).
post_entry:
        cli
        cld
        mov al, 0x8F                    ; NMI off, register 0Fh
        out CMOS_INDEX, al
        in al, CMOS_DATA
        mov bl, al
        mov al, 0x8F
        out CMOS_INDEX, al
        xor al, al
        out CMOS_DATA, al               ; back to "normal reset" for next time
        mov al, 0x0D                    ; NMI on again
        out CMOS_INDEX, al
        cmp bl, 0x05
        je resume_eoi_jmp
        cmp bl, 0x0A
        je resume_jmp
        cmp bl, 0x0B
        je resume_iret
        cmp bl, 0x0C
        je resume_retf

cold_start:
        xor ax, ax
        mov ss, ax
        mov sp, STACK_TOP
        mov ds, ax
        mov es, ax
        call ivt_init
        mov eax, 1
        cpuid
        mov ebx, edx                    ; CPUID features for the equipment word (FPU)
        TRAP SVC_POST                   ; BDA, EBDA, PIC, PIT, CMOS, A20, PCI, serial, video
        call kbc_init
        mov bx, 0xC000                  ; the video BIOS first
        mov dx, 0xC800
        call scan_option_roms
        mov ax, 0x0003
        int 0x10
        TRAP SVC_BOOTMSG
        mov bx, 0xC800                  ; then the other option ROMs
        mov dx, 0xE000
        call scan_option_roms
        sti
        int 0x19
        jmp halt_forever

; 286-style returns to real mode: the far pointer is at 0040:0067.
resume_eoi_jmp:
        mov al, 0x20
        out PIC2_CMD, al
        out PIC1_CMD, al
resume_jmp:
        mov ax, BDA_SEG
        mov ds, ax
        jmp far [0x67]
resume_iret:
        mov ax, BDA_SEG
        mov ds, ax
        mov ss, [0x69]
        mov sp, [0x67]
        iret
resume_retf:
        mov ax, BDA_SEG
        mov ds, ax
        mov ss, [0x69]
        mov sp, [0x67]
        retf

halt_forever:
        sti
.again:
        hlt
        jmp .again

; ---------------------------------------------------------------------------
; Interrupt vector table: everything to a plain IRET, then the BIOS's own.
ivt_init:
        push ds
        xor ax, ax
        mov ds, ax
        xor di, di
        mov cx, 256
.fill:
        mov word [di], dummy_iret
        mov word [di + 2], ROM_SEG
        add di, 4
        loop .fill
        mov si, ivt_table
.entry:
        mov bl, [cs:si]
        cmp bl, 0xFF
        je .done
        movzx di, bl
        shl di, 2
        mov ax, [cs:si + 1]
        mov [di], ax
        mov ax, ROM_SEG
        cmp word [cs:si + 1], 0
        jne .seg
        xor ax, ax                      ; a null vector (data pointers, reserved)
.seg:
        mov [di + 2], ax
        add si, 3
        jmp .entry
.done:
        pop ds
        ret

ivt_table:
        db 0x02
        dw nmi_entry
        db 0x05
        dw int05_entry
        db 0x08
        dw int08_entry
        db 0x09
        dw int09_entry
        db 0x0A
        dw hw_master
        db 0x0B
        dw hw_master
        db 0x0C
        dw hw_master
        db 0x0D
        dw hw_master
        db 0x0E
        dw int0e_entry
        db 0x0F
        dw hw_master
        db 0x10
        dw int10_entry
        db 0x11
        dw int11_entry
        db 0x12
        dw int12_entry
        db 0x13
        dw int13_entry
        db 0x14
        dw int14_entry
        db 0x15
        dw int15_entry
        db 0x16
        dw int16_entry
        db 0x17
        dw int17_entry
        db 0x18
        dw int18_entry
        db 0x19
        dw int19_entry
        db 0x1A
        dw int1a_entry
        db 0x1D
        dw 0                            ; video parameter table: none
        db 0x1E
        dw dpt_1440
        db 0x1F
        dw 0                            ; 8x8 graphics font, upper half: none
        db 0x40
        dw int13_entry                  ; the diskette service, as relocated by hard-disk BIOSes
        db 0x41
        dw 0                            ; fixed disk parameter tables: set by POST (EBDA)
        db 0x43
        dw 0
        db 0x46
        dw 0
        db 0x70
        dw int70_entry
        db 0x71
        dw hw_slave
        db 0x72
        dw hw_slave
        db 0x73
        dw hw_slave
        db 0x74
        dw hw_slave
        db 0x75
        dw int75_entry
        db 0x76
        dw hw_slave
        db 0x77
        dw hw_slave
        db 0x79
        dw 0
        db 0xFF

; ---------------------------------------------------------------------------
; 8042 keyboard controller and keyboard: self test, interface test, keyboard
; reset, scanning on, translation to set 1 on and IRQ 1 enabled. Every wait
; has a time-out, so a missing or broken controller does not stop the boot.
kbc_init:
        in al, KBC_STATUS
        cmp al, 0xFF                    ; nothing decodes the port
        jne .present
        mov al, POSTLOG_NO_KBC
        TRAP SVC_POSTLOG
        ret
.present:
        call kbc_drain
        mov al, 0xAD                    ; keyboard interface off while we set up
        call kbc_command
        mov al, 0xA7                    ; mouse interface off
        call kbc_command
        call kbc_drain
        mov al, 0xAA                    ; controller self test: 55h
        call kbc_command
        call kbc_read
        jc .test_failed
        cmp al, 0x55
        je .test_ok
.test_failed:
        mov al, POSTLOG_KBC_TEST
        TRAP SVC_POSTLOG
.test_ok:
        mov al, 0x60                    ; command byte: translate, system flag, mouse off, no IRQs yet
        call kbc_command
        mov al, 0x64
        call kbc_write_data
        mov al, 0xAB                    ; keyboard interface test: 00h
        call kbc_command
        call kbc_read
        mov al, 0xAE                    ; keyboard interface on
        call kbc_command
        mov al, 0xFF                    ; keyboard reset: ACK, then BAT passed (AAh)
        call kbc_write_data
        call kbc_read
        jc .reset_failed
        cmp al, 0xFA
        jne .reset_failed
        call kbc_read
        jc .reset_failed
        cmp al, 0xAA
        je .reset_ok
.reset_failed:
        mov al, POSTLOG_KBD_RESET
        TRAP SVC_POSTLOG
.reset_ok:
        mov al, 0xF4                    ; scanning on
        call kbc_write_data
        call kbc_read
        call kbc_drain
        mov al, 0x60                    ; command byte: as before plus the keyboard IRQ
        call kbc_command
        mov al, 0x65
        call kbc_write_data
        ret

; Wait until the controller can take a byte. CF=1 on time-out.
kbc_wait_input_empty:
        push ecx
        mov ecx, 0x40000
.poll:
        in al, KBC_STATUS
        test al, 0x02
        jz .ready
        dec ecx
        jnz .poll
        pop ecx
        stc
        ret
.ready:
        pop ecx
        clc
        ret

kbc_command:                            ; AL = controller command
        push ax
        call kbc_wait_input_empty
        pop ax
        out KBC_STATUS, al
        ret

kbc_write_data:                         ; AL = byte for the keyboard or a command's argument
        push ax
        call kbc_wait_input_empty
        pop ax
        out KBC_DATA, al
        ret

; AL = next output byte. CF=1 on time-out.
kbc_read:
        push ecx
        mov ecx, 0x100000
.poll:
        in al, KBC_STATUS
        test al, 0x01
        jnz .ready
        dec ecx
        jnz .poll
        pop ecx
        stc
        ret
.ready:
        in al, KBC_DATA
        pop ecx
        clc
        ret

kbc_drain:
        push cx
        mov cx, 32
.next:
        in al, KBC_STATUS
        test al, 0x01
        jz .empty
        in al, KBC_DATA
        loop .next
.empty:
        pop cx
        ret

; ---------------------------------------------------------------------------
; Option ROMs in [BX, DX) (segments, 2 KiB steps): signature 55AAh, length in
; 512-byte units at offset 2, bytes summing to 0; the init entry is at offset 3.
scan_option_roms:
.next:
        cmp bx, dx
        jae .done
        mov es, bx
        cmp word [es:0], 0xAA55
        jne .skip
        movzx cx, byte [es:2]           ; 512-byte blocks
        jcxz .skip
        xor ah, ah                      ; the byte sum
.block:
        xor si, si
.byte:
        add ah, [es:si]
        inc si
        cmp si, 512
        jb .byte
        mov di, es
        add di, 0x20
        mov es, di
        loop .block
        mov es, bx
        test ah, ah
        jnz .skip
        movzx ecx, byte [es:2]          ; next: the ROM's length rounded up to 2 KiB
        push ecx
        push bx
        push dx
        push ds
        pushad
        push es
        push word 0x0003
        mov bp, sp
        call far [ss:bp]
        add sp, 4
        popad
        pop ds
        pop dx
        pop bx
        pop ecx
        cli
        cld
        add ecx, 3                      ; 512-byte units to 2 KiB steps, rounded up
        shr ecx, 2
        shl cx, 7
        add bx, cx
        jmp .next
.skip:
        add bx, 0x80
        jmp .next
.done:
        ret

; ---------------------------------------------------------------------------
; Service stubs.

dummy_iret:
        iret

nmi_entry:
int05_entry:                            ; print screen: nothing to print on
        iret

; IRQ 0: the tick count at 0040:006C wraps after 24 hours (1800B0h ticks) and
; sets the midnight flag at 0040:0070; then the user hook INT 1Ch.
int08_entry:
        push ds
        push eax
        mov ax, BDA_SEG
        mov ds, ax
        mov eax, [0x6C]
        inc eax
        cmp eax, 0x1800B0
        jb .store
        xor eax, eax
        mov byte [0x70], 1
.store:
        mov [0x6C], eax
        int 0x1C
        cli
        mov al, 0x20
        out PIC1_CMD, al
        pop eax
        pop ds
        iret

; IRQ 1: the scan code goes through the INT 15h AH=4Fh intercept (CF clear on
; return means the hook ate it), then to the C side, which says what else to do.
int09_entry:
        push ds
        push eax
        in al, KBC_DATA
        mov ah, 0x4F
        stc
        int 0x15
        jnc .eoi
        TRAP SVC_KBD                    ; AH = action
        cmp ah, KBD_REBOOT
        je .reboot
        cli
        push ax
        mov al, 0x20
        out PIC1_CMD, al
        pop ax
        cmp ah, KBD_BREAK
        jne .not_break
        int 0x1B
        jmp .out
.not_break:
        cmp ah, KBD_PRTSC
        jne .not_prtsc
        int 0x05
        jmp .out
.not_prtsc:
        cmp ah, KBD_PAUSE
        jne .out
        mov ax, BDA_SEG                 ; Pause: wait until a key clears the flag
        mov ds, ax
        sti
.paused:
        hlt
        test byte [0x18], 0x08
        jnz .paused
        jmp .out
.eoi:
        cli
        mov al, 0x20
        out PIC1_CMD, al
.out:
        cli
        pop eax
        pop ds
        iret
.reboot:                                ; Ctrl-Alt-Del (the warm boot flag is set)
        mov al, 0x20
        out PIC1_CMD, al
        call kbc_wait_input_empty
        mov al, 0xFE                    ; pulse the reset line through the 8042
        out KBC_STATUS, al
        mov cx, 0x1000
.spin:
        loop .spin
        jmp ROM_SEG:post_entry          ; no reset line: restart the BIOS ourselves

int0e_entry:                            ; IRQ 6 (diskette): we do not use the controller
hw_master:
        push ax
        mov al, 0x20
        out PIC1_CMD, al
        pop ax
        iret

hw_slave:
        push ax
        mov al, 0x20
        out PIC2_CMD, al
        out PIC1_CMD, al
        pop ax
        iret

; IRQ 13: the x87 reports an error (FERR#): clear the busy latch, then NMI
; handlers see it as the AT BIOS arranged.
int75_entry:
        push ax
        xor al, al
        out 0xF0, al
        mov al, 0x20
        out PIC2_CMD, al
        out PIC1_CMD, al
        pop ax
        int 0x02
        iret

; IRQ 8: the RTC (periodic interrupt for INT 15h 83h/86h waits, alarm).
int70_entry:
        push eax
        TRAP SVC_RTC                    ; EOIs sent; AL bit 0 = alarm
        test al, 1
        jz .done
        sti
        int 0x4A
        cli
.done:
        pop eax
        iret

int10_entry:
        TRAP SVC_INT10
        iret

int11_entry:
        push ds
        mov ax, BDA_SEG
        mov ds, ax
        mov ax, [0x10]
        pop ds
        iret

int12_entry:
        push ds
        mov ax, BDA_SEG
        mov ds, ax
        mov ax, [0x13]
        pop ds
        iret

int13_entry:
        TRAP SVC_INT13
        iret

int14_entry:
        TRAP SVC_INT14
        iret

int15_entry:
        cmp ah, 0x4F                    ; keyboard intercept: return CF as given
        je .iret
        TRAP SVC_INT15
        jc .wait
.iret:
        iret
.wait:                                  ; INT 15h 86h: sleep until the RTC count runs out
        sti
        hlt
        cli
        TRAP SVC_WAIT
        jc .wait
        iret

int16_entry:
        TRAP SVC_INT16
        jc .wait
        iret
.wait:                                  ; no key yet: sleep until an interrupt, ask again
        sti
        hlt
        cli
        jmp int16_entry

int17_entry:
        TRAP SVC_INT17
        iret

int18_entry:
        TRAP SVC_INT18
        jmp halt_forever

; INT 19h: the C side reads the boot record of the first bootable device in
; the boot order and returns its entry in BX:CX and the drive in DL. BX=FFFFh:
; the machine boots by itself (-kernel) and sets the CPU when we stop here.
int19_entry:
        cli
        xor ax, ax
        mov ss, ax
        mov sp, STACK_TOP
        TRAP SVC_INT19
        jc .nothing
        cmp bx, 0xFFFF
        je .machine
        push bx
        push cx
        xor ax, ax
        mov ds, ax
        mov es, ax
        xor bx, bx
        xor cx, cx
        xor si, si
        xor di, di
        xor bp, bp
        xor dh, dh
        sti
        retf
.nothing:
        int 0x18
        jmp halt_forever
.machine:
        cli
        hlt
        jmp .machine

int1a_entry:
        TRAP SVC_INT1A
        jc int1a_entry                  ; the RTC is updating: ask again
        iret

; ---------------------------------------------------------------------------
; PCI BIOS 32-bit interface: the BIOS32 service directory (PCI BIOS
; specification 2.1, 3.3 and the BIOS32 Service Directory specification).
; Both entries are called with a far CALL from 32-bit flat code and do not
; depend on where CS points.
        bits 32
bios32_entry:
        cmp eax, 0x49435024             ; "$PCI"
        jne .unknown
        test ebx, ebx                   ; function 0 is the only one
        jnz .unknown
        mov ebx, 0xF0000                ; service base
        mov ecx, 0x10000                ; service length
        mov edx, pcibios32_entry        ; entry offset from the base
        xor al, al
        retf
.unknown:
        mov al, 0x80
        retf

pcibios32_entry:
        TRAP SVC_PCI32
        retf
        bits 16

        align 16
bios32_dir:
        db "_32_"
        dd 0xF0000 + bios32_entry       ; entry point (physical)
        db 0                            ; revision
        db 1                            ; length in paragraphs
        db 0                            ; checksum: set by the C side
        times 5 db 0

; PCI interrupt routing table: built by the C side from the board wiring.
        align 16
pir_table:
        db "$PIR"
        times 32 + 32 * 16 - 4 db 0

; Diskette parameter tables (INT 1Eh), by drive type: step rate/head unload,
; head load/DMA, motor off delay, bytes per sector (2 = 512), sectors per
; track, gap length, data length, format gap, fill byte, head settle, motor start.
dpt_360:
        db 0xDF, 0x02, 0x25, 0x02, 9, 0x2A, 0xFF, 0x50, 0xF6, 0x0F, 0x08
dpt_1200:
        db 0xDF, 0x02, 0x25, 0x02, 15, 0x1B, 0xFF, 0x54, 0xF6, 0x0F, 0x08
dpt_720:
        db 0xDF, 0x02, 0x25, 0x02, 9, 0x2A, 0xFF, 0x50, 0xF6, 0x0F, 0x08
dpt_2880:
        db 0xAF, 0x02, 0x25, 0x02, 36, 0x1B, 0xFF, 0x6C, 0xF6, 0x0F, 0x08

; ---------------------------------------------------------------------------
; IBM PC/AT compatible fixed entry points.
        fixed_at 0xE05B
        jmp post_entry

        fixed_at 0xE2C3
        jmp nmi_entry

        fixed_at 0xE3FE
        jmp int13_entry

        fixed_at 0xE6F2
        jmp int19_entry

        fixed_at 0xE6F5                       ; INT 15h C0h system configuration table
config_table:
        dw 8                            ; bytes that follow
        db 0xFC                         ; model: AT
        db 0x01                         ; submodel
        db 0x00                         ; BIOS revision
        db 0x74                         ; 2nd PIC, RTC, INT 15h 4Fh from INT 09h, EBDA allocated
        db 0x40                         ; INT 16h 09h (functionality) supported
        db 0, 0, 0

        fixed_at 0xE739
        jmp int14_entry

        fixed_at 0xE82E
        jmp int16_entry

        fixed_at 0xE987
        jmp int09_entry

        fixed_at 0xEC59
        jmp int13_entry                 ; INT 40h, the diskette service

        fixed_at 0xEF57
        jmp int0e_entry

        fixed_at 0xEFC7                       ; diskette parameter table, 1.44 MB
dpt_1440:
        db 0xAF, 0x02, 0x25, 0x02, 18, 0x1B, 0xFF, 0x6C, 0xF6, 0x0F, 0x08

        fixed_at 0xEFD2
        jmp int17_entry

        fixed_at 0xF065
        jmp int10_entry

        fixed_at 0xF841
        jmp int12_entry

        fixed_at 0xF84D
        jmp int11_entry

        fixed_at 0xF859
        jmp int15_entry

        fixed_at 0xFE6E
        jmp int1a_entry

        fixed_at 0xFEA5
        jmp int08_entry

        fixed_at 0xFF53
        iret

        fixed_at 0xFF54
        jmp int05_entry

; Reset vector.
        fixed_at 0xFFF0
        jmp ROM_SEG:0xE05B
        db "06/01/25"                   ; BIOS date at F000:FFF5
        db 0xFF
        db 0xFC                         ; model byte at F000:FFFE: AT
        db 0xFF
