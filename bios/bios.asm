; Bubble's BIOS ROM (64 KiB, mapped at 0xF0000 and ending at 4 GiB).
;
; This is the start of our own firmware. Today it does what the bare machine
; can show: it starts at the reset vector, reports on the debug console
; (port 0xE9), checks the CPU by switching to 32-bit protected mode with paging
; and back, and stops through the exit port. The services (INT 10h/13h/15h...),
; device setup and booting come with the PC.
;
; Build: nasm -f bin -o bios.bin bios/bios.asm

        bits 16
        cpu 686

DEBUGCON        equ 0xE9
EXIT_PORT       equ 0xF4            ; -device isa-debug-exit,iobase=0xf4
ROM_SEG         equ 0xF000

        org 0

; ---------------------------------------------------------------------------
start:
        cli
        cld
        xor ax, ax
        mov ss, ax
        mov sp, 0x7000
        mov ax, ROM_SEG
        mov ds, ax
        mov si, msg_banner
        call puts

        ; CPUID: vendor string and family.
        xor eax, eax
        cpuid
        push ecx
        push edx
        push ebx
        mov si, msg_cpu
        call puts
        mov cx, 3
.vendor:
        pop eax
        call put4
        loop .vendor
        mov si, msg_nl
        call puts

        ; Protected mode with paging, then back: the CPU's core paths.
        call pm_check
        mov si, msg_pm_ok
        test ax, ax
        jz .pm_done
        mov si, msg_pm_fail
.pm_done:
        call puts

        mov si, msg_noboot
        call puts
        mov al, 0
        out EXIT_PORT, al
.halt:
        hlt
        jmp .halt

; ---------------------------------------------------------------------------
; puts: DS:SI zero-terminated string to the debug console.
puts:
        push ax
.next:
        lodsb
        test al, al
        jz .done
        out DEBUGCON, al
        jmp .next
.done:
        pop ax
        ret

; put4: the four characters in EAX, low byte first.
put4:
        push cx
        mov cx, 4
.c:
        out DEBUGCON, al
        shr eax, 8
        loop .c
        pop cx
        ret

; ---------------------------------------------------------------------------
; pm_check: build a GDT, a page directory with one 4 MiB identity page at
; 0x10000 in RAM, enter 32-bit protected mode with paging, write and read back
; through a second mapping of the same page, then return to real mode.
; Returns AX = 0 on success.
PD_ADDR         equ 0x10000
PT_ADDR         equ 0x11000
TEST_ADDR       equ 0x12000

pm_check:
        push ds
        push es
        xor ax, ax
        mov es, ax
        ; page directory: entry 0 -> page table (identity 0-4 MiB)
        mov di, PD_ADDR >> 4
        mov es, di
        xor di, di
        mov cx, 1024
        xor eax, eax
        rep stosd
        mov dword [es:0], PT_ADDR | 3
        mov di, PT_ADDR >> 4
        mov es, di
        xor di, di
        mov eax, 3
        mov cx, 1024
.pt:
        stosd
        add eax, 0x1000
        loop .pt
        ; alias: linear 0x3FF000 -> physical TEST_ADDR
        mov dword [es:0x3FF * 4], TEST_ADDR | 3

        lgdt [cs:gdt_desc]
        mov eax, cr0
        or eax, 1
        mov cr0, eax
        jmp dword 0x08:(0xF0000 + pm32)

        bits 32
pm32:
        mov ax, 0x10
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov eax, PD_ADDR
        mov cr3, eax
        mov eax, cr0
        or eax, 0x80000000
        mov cr0, eax
        mov dword [TEST_ADDR], 0x12345678
        mov eax, [0x3FF000]             ; the alias sees the same physical bytes
        xor ebx, ebx
        cmp eax, 0x12345678
        je .same
        inc ebx
.same:
        mov eax, cr0
        and eax, 0x7FFFFFFF             ; paging off first, then PE in 16-bit code
        mov cr0, eax
        jmp 0x18:pm16_back
        bits 16
pm16_back:
        mov ax, 0x20
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov eax, cr0
        and al, 0xFE
        mov cr0, eax
        jmp ROM_SEG:real_again
real_again:
        xor ax, ax
        mov ss, ax
        mov ax, bx
        pop es
        pop ds
        ret

        align 8
gdt:
        dq 0
        dq 0x00CF9B000000FFFF           ; 0x08: 32-bit code, flat
        dq 0x00CF93000000FFFF           ; 0x10: 32-bit data, flat
        dq 0x00009B0F0000FFFF           ; 0x18: 16-bit code, base 0xF0000
        dq 0x000093000000FFFF           ; 0x20: 16-bit data, base 0, 64 KiB
gdt_end:
gdt_desc:
        dw gdt_end - gdt - 1
        dd 0xF0000 + gdt

msg_banner:  db "Bubble BIOS (bare machine)", 10, 0
msg_cpu:     db "CPU vendor: ", 0
msg_nl:      db 10, 0
msg_pm_ok:   db "protected mode and paging: ok", 10, 0
msg_pm_fail: db "protected mode and paging: FAILED", 10, 0
msg_noboot:  db "no boot devices yet: the PC (disks, BIOS services, Linux boot) comes next", 10, 0

; ---------------------------------------------------------------------------
; Reset vector at F000:FFF0.
        times 0xFFF0 - ($ - $$) db 0xFF
        jmp ROM_SEG:start
        times 0x10000 - ($ - $$) db 0xFF
