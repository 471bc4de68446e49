; Boot sector for cross-checking the system test kernels on QEMU or Bochs
; (not used by our harness). Loads the kernel from sectors 1..127 of a 1.44 MB
; floppy to 1000:0000 with CHS reads, masks the PICs, enables A20, and jumps to
; 1000:0000 in real mode with interrupts off, as tests/test_sys.c starts it.
        org 0x7C00
        bits 16
SECTORS equ 127
        cli
        xor ax, ax
        mov ds, ax
        mov ss, ax
        mov sp, 0x7C00
        sti
        mov [drive], dl
        mov word [lba], 1
.next:  ; LBA -> CHS for 18 sectors per track, 2 heads
        mov ax, [lba]
        xor dx, dx
        mov bx, 18
        div bx                  ; ax = track index (cyl*2 + head), dx = sector - 1
        mov cl, dl
        inc cl                  ; sector
        mov dh, al
        and dh, 1               ; head
        shr ax, 1
        mov ch, al              ; cylinder
        mov dl, [drive]
        mov ax, [lba]
        dec ax
        shl ax, 5               ; (lba - 1) * 512 / 16: paragraph offset
        add ax, 0x1000
        mov es, ax
        xor bx, bx
        mov si, 3               ; tries
.try:   mov ax, 0x0201
        push si
        int 0x13
        pop si
        jnc .ok
        xor ax, ax
        int 0x13                ; reset and retry
        dec si
        jnz .try
        mov al, 'E'
        out 0xE9, al
        mov ax, 0xFF
        out 0xF4, ax
        hlt
.ok:    inc word [lba]
        cmp word [lba], SECTORS + 1
        jbe .next
        cli
        mov al, 0xFF            ; mask every IRQ: the kernels run with IF set at times
        out 0x21, al
        out 0xA1, al
        in al, 0x92             ; fast A20 on
        or al, 2
        and al, 0xFE
        out 0x92, al
        cld
        xor eax, eax
        xor ebx, ebx
        xor ecx, ecx
        xor edx, edx
        xor esi, esi
        xor edi, edi
        xor ebp, ebp
        jmp 0x1000:0x0000
drive:  db 0
lba:    dw 0
        times 510 - ($ - $$) db 0
        dw 0xAA55
