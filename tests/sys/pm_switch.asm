; pm_switch: real mode -> 16-bit protected mode -> 32-bit protected mode,
; segment limit and type checks, expand-down segments, then back to real mode
; keeping a 4 GiB limit in FS ("unreal mode") and a 64 KiB limit in GS.
; SDM vol. 3: 3.4.5 (descriptors), 5.3 (limit checking), 5.5-5.6 (type and
; privilege checks on segment loads), 9.9 (mode switching), 20.1 (real mode).
%define CUSTOM_ENTRY             ; this kernel does its own mode switches
%include "lib.inc"

SEL_SMALL       equ SEL_FREE + 0x00     ; data, base 0x50000, limit 0xFFF
SEL_RODATA      equ SEL_FREE + 0x08     ; read-only data, flat
SEL_XCODE       equ SEL_FREE + 0x10     ; execute-only code, flat
SEL_EXPDOWN     equ SEL_FREE + 0x18     ; expand-down data, B = 1, base 0x70000, limit 0x7FFF
SEL_GRAN        equ SEL_FREE + 0x20     ; data, base 0x50000, limit 1 page-granular (0x1FFF)
SEL_BIG16       equ SEL_FREE + 0x28     ; data, base 0, 4 GiB, B = 0 (for unreal mode)
SEL_EXPDOWN16   equ SEL_FREE + 0x30     ; expand-down data, B = 0, base 0x70000, limit 0x7FFF
SEL_STACK16     equ SEL_FREE + 0x38     ; 16-bit stack, base 0x60000, limit 0xFFFF

UNREAL_ADDR     equ 0x200000
UNREAL_VALUE    equ 0x5EA1BEEF

        bits 16
; RPRINTLN "text" (real mode, any DS)
%macro RPRINTLN 1
[section .data]
%%s:    db %1, 10, 0
__SECT__
        push si
        mov si, R(%%s)
        call rm_puts
        pop si
%endmacro

; CHECK16 "name", got, want, code (real mode, any DS)
%macro CHECK16 4
[section .data]
%%s:    db %1, 0
__SECT__
        push dword %4
        push dword %%s
        push dword %3
        push dword %2
        call rm_check_eq
%endmacro

; RM_EXPECT label: the next real-mode exception 12 or 13 resumes at label
; with this SP (DS is whatever the handler leaves: reload it).
%macro RM_EXPECT 1
        mov word [cs:R(rm_exc_vec)], 0xFFFF
        mov word [cs:R(rm_exc_ip)], 0xFFFF
        mov word [cs:R(rm_resume)], R(%1)
        mov [cs:R(rm_saved_sp)], sp
%endmacro

rm_start:
        cli
        cld
        mov ax, cs
        mov ds, ax
        mov es, ax
        mov ax, STACK_RM_SEG
        mov ss, ax
        mov esp, 0xFFF0
        ; zero .bss, install our descriptors
        mov di, R(bss_start)
        mov cx, R(bss_end)
        sub cx, di
        xor al, al
        rep stosb
        mov si, R(my_descs)
        mov di, R(gdt + SEL_FREE)
        mov cx, my_descs_end - my_descs
        rep movsb
        RPRINTLN "pm_switch: start in real mode"
        ; IVT: 0x80 (a software interrupt), 12 and 13 (limit faults)
        xor ax, ax
        mov es, ax
        mov word [es:0x80 * 4], R(rm_int80)
        mov word [es:0x80 * 4 + 2], 0x1000
        mov word [es:12 * 4], R(rm_exc12)
        mov word [es:12 * 4 + 2], 0x1000
        mov word [es:13 * 4], R(rm_exc13)
        mov word [es:13 * 4 + 2], 0x1000
        mov ax, cs
        mov es, ax

        sti                             ; the INT clears IF; IRET restores it
        int 0x80
        pushf
        pop word [R(v_rm_flags_after)]
        cli
        CHECK16 "rm-int-handler-ran", [R(v_rm_int_count)], 1, 0x0101
        mov eax, [R(v_rm_int_flags)]
        and eax, 0x0200
        CHECK16 "rm-int-clears-if", eax, 0, 0x0102
        mov eax, [R(v_rm_flags_after)]
        and eax, 0x0200
        CHECK16 "rm-iret-restores-if", eax, 0x0200, 0x0103
        movzx eax, word [R(v_rm_int_cs)]
        CHECK16 "rm-int-pushed-cs", eax, 0x1000, 0x0104

        ; --- to 16-bit protected mode
        o32 lgdt [R(gdtr)]
        mov eax, cr0
        or al, 1
        mov cr0, eax
        jmp SEL_CODE16:R(pm16_entry)
pm16_entry:
        mov ax, SEL_DATA16
        mov ds, ax
        mov es, ax
        mov [R(v_pm16_cs)], cs
        mov bx, sp
        push ax                         ; 16-bit code: a push without prefix moves SP by 2
        mov cx, sp
        pop ax
        sub bx, cx
        mov [R(v_pm16_push)], bx
        smsw ax
        mov [R(v_pm16_msw)], ax
        mov eax, 0x12345678             ; a 32-bit operand through the 66h prefix
        mov [R(v_pm16_eax)], eax
        ; --- to 32-bit protected mode
        jmp dword SEL_CODE32:pm32_entry

        bits 32
pm32_entry:
        mov ax, SEL_DATA32
        mov ds, ax
        mov es, ax
        mov fs, ax
        mov gs, ax
        mov ss, ax
        mov esp, STACK0_TOP
        call lib_init
        PRINTLN "pm_switch: in 32-bit protected mode"
        CHECK "pm16-cs", [v_pm16_cs], SEL_CODE16, 0x0201
        CHECK "pm16-push-size", [v_pm16_push], 2, 0x0202
        mov eax, [v_pm16_msw]
        and eax, 1
        CHECK "pm16-msw-pe", eax, 1, 0x0203
        CHECK "pm16-operand-prefix", [v_pm16_eax], 0x12345678, 0x0204
        xor eax, eax
        mov ax, cs
        CHECK "pm32-cs", eax, SEL_CODE32, 0x0205
        mov ebx, esp
        push eax
        mov ecx, esp
        pop eax
        sub ebx, ecx
        CHECK "pm32-push-size", ebx, 4, 0x0206
        ; the CPU sets the accessed bit of a descriptor it loads (SDM 3.4.5.1)
        movzx eax, byte [gdt + SEL_DATA16 + 5]
        and eax, ACC_A
        CHECK "desc-accessed-data", eax, ACC_A, 0x0207
        movzx eax, byte [gdt + SEL_CODE32 + 5]
        and eax, ACC_A
        CHECK "desc-accessed-code", eax, ACC_A, 0x0208
        movzx eax, byte [gdt + SEL_SMALL + 5]
        and eax, ACC_A
        CHECK "desc-not-accessed-yet", eax, 0, 0x0209

        call test_limits
        call test_types
        call test_expand_down
        jmp leave_pm

; ---------------------------------------------------------------------------
; Limits: an access is allowed only if all its bytes are within the limit.
test_limits:
        mov byte [0x51000], 0x5A
        EXPECT .r1
        mov ax, SEL_SMALL
        mov ds, ax
        mov al, [0xFFF]
        mov eax, [0xFFC]
.r1:    CAUGHT
        CHECK "limit-last-bytes-ok", [exc_vec], -1, 0x0301
        EXPECT .r2
        mov ax, SEL_SMALL
        mov ds, ax
.i2:    mov eax, [0xFFD]
.r2:    CAUGHT
        CHECK "limit-dword-across-vector", [exc_vec], VEC_GP, 0x0302
        CHECK "limit-dword-across-error", [exc_err], 0, 0x0303
        CHECK "limit-dword-across-eip", [exc_eip], .i2, 0x0304
        EXPECT .r3
        mov ax, SEL_SMALL
        mov es, ax
.i3:    mov byte [es:0x1000], 1
.r3:    CAUGHT
        CHECK "limit-write-past-vector", [exc_vec], VEC_GP, 0x0305
        CHECK "limit-write-past-eip", [exc_eip], .i3, 0x0306
        ; the byte past the limit was not written
        movzx eax, byte [0x51000]
        CHECK "limit-write-past-no-store", eax, 0x5A, 0x0307
        ; page granularity: limit 1 with G = 1 is 0x1FFF
        EXPECT .r4
        mov ax, SEL_GRAN
        mov ds, ax
        mov al, [0x1FFF]
.i4:    mov al, [0x2000]
.r4:    CAUGHT
        CHECK "limit-granular-vector", [exc_vec], VEC_GP, 0x0308
        CHECK "limit-granular-eip", [exc_eip], .i4, 0x0309
        ; the accessed bit is set now
        movzx eax, byte [gdt + SEL_SMALL + 5]
        and eax, ACC_A
        CHECK "desc-accessed-after-load", eax, ACC_A, 0x030A
        ret

; ---------------------------------------------------------------------------
; Types: read-only data, code through CS, execute-only code, SS rules.
test_types:
        EXPECT .r1
        mov ax, SEL_RODATA
        mov ds, ax
        mov eax, [scratch]
.i1:    mov [scratch], eax
.r1:    CAUGHT
        CHECK "type-readonly-write-vector", [exc_vec], VEC_GP, 0x0401
        CHECK "type-readonly-write-error", [exc_err], 0, 0x0402
        CHECK "type-readonly-write-eip", [exc_eip], .i1, 0x0403
        EXPECT .r2
        mov eax, [cs:scratch]           ; readable code: reads are fine
.i2:    mov [cs:scratch], eax           ; code is never writable
.r2:    CAUGHT
        CHECK "type-code-write-vector", [exc_vec], VEC_GP, 0x0404
        CHECK "type-code-write-eip", [exc_eip], .i2, 0x0405
        EXPECT .r3
        mov ax, SEL_XCODE
.i3:    mov ds, ax                      ; execute-only code into a data register
.r3:    CAUGHT
        CHECK "type-xcode-load-vector", [exc_vec], VEC_GP, 0x0406
        CHECK "type-xcode-load-error", [exc_err], SEL_XCODE, 0x0407
        CHECK "type-xcode-load-eip", [exc_eip], .i3, 0x0408
        EXPECT .r4
        mov ax, SEL_RODATA
.i4:    mov ss, ax                      ; SS must be writable
.r4:    CAUGHT
        CHECK "type-ss-readonly-vector", [exc_vec], VEC_GP, 0x0409
        CHECK "type-ss-readonly-error", [exc_err], SEL_RODATA, 0x040A
        EXPECT .r5
        mov ax, SEL_DATA32 | 3
.i5:    mov ss, ax                      ; RPL must equal CPL
.r5:    CAUGHT
        CHECK "type-ss-rpl-vector", [exc_vec], VEC_GP, 0x040B
        CHECK "type-ss-rpl-error", [exc_err], SEL_DATA32, 0x040C
        EXPECT .r6
        xor eax, eax
.i6:    mov ss, ax                      ; null SS
.r6:    CAUGHT
        CHECK "type-ss-null-vector", [exc_vec], VEC_GP, 0x040D
        CHECK "type-ss-null-error", [exc_err], 0, 0x040E
        EXPECT .r7
        mov ax, SEL_CODE32
.i7:    mov ss, ax                      ; code into SS
.r7:    CAUGHT
        CHECK "type-ss-code-vector", [exc_vec], VEC_GP, 0x040F
        CHECK "type-ss-code-error", [exc_err], SEL_CODE32, 0x0410
        EXPECT .r8
        mov ax, SEL_TSS
.i8:    mov ds, ax                      ; a system descriptor into DS
.r8:    CAUGHT
        CHECK "type-ds-system-vector", [exc_vec], VEC_GP, 0x0411
        CHECK "type-ds-system-error", [exc_err], SEL_TSS, 0x0412
        EXPECT .r9
        mov ax, (GDT_ENTRIES * 8)       ; first selector past the GDT limit
.i9:    mov ds, ax
.r9:    CAUGHT
        CHECK "type-ds-past-gdt-vector", [exc_vec], VEC_GP, 0x0413
        CHECK "type-ds-past-gdt-error", [exc_err], GDT_ENTRIES * 8, 0x0414
        EXPECT .r10
        mov ax, 0x0004                  ; TI = 1 with a null LDT
.i10:   mov ds, ax
.r10:   CAUGHT
        CHECK "type-ds-null-ldt-vector", [exc_vec], VEC_GP, 0x0415
        CHECK "type-ds-null-ldt-error", [exc_err], 0x0004, 0x0416
        ret

; ---------------------------------------------------------------------------
; Expand-down: valid offsets are limit+1 .. 0xFFFFFFFF (B = 1) or 0xFFFF (B = 0);
; a stack-segment violation is #SS(0), a data one #GP(0).
test_expand_down:
        EXPECT .r1
        mov ax, SEL_EXPDOWN
        mov ss, ax
        mov esp, 0x9000
        push dword 0xAAAA5555           ; at offset 0x8FFC: valid
        mov ebp, 0x8000
        mov eax, [ebp]                  ; the lowest valid offset
        mov ebp, 0xFFFFFFFC
        mov eax, [ebp]                  ; the top of a B = 1 segment
        mov ebp, 0x7FFE
.i1:    mov eax, [ebp]                  ; starts below limit + 1
.r1:    CAUGHT
        CHECK "expdown-ss-vector", [exc_vec], VEC_SS, 0x0501
        CHECK "expdown-ss-error", [exc_err], 0, 0x0502
        CHECK "expdown-ss-eip", [exc_eip], .i1, 0x0503
        CHECK "expdown-push-landed", [0x70000 + 0x8FFC], 0xAAAA5555, 0x0504
        EXPECT .r2
        mov ax, SEL_EXPDOWN16
        mov ds, ax
        mov al, [0x8000]
        mov eax, [0xFFFC]               ; the top of a B = 0 segment
.r2:    CAUGHT
        CHECK "expdown16-valid-ok", [exc_vec], -1, 0x0505
        EXPECT .r3
        mov ax, SEL_EXPDOWN16
        mov ds, ax
.i3:    mov eax, [0xFFFE]               ; runs past 0xFFFF
.r3:    CAUGHT
        CHECK "expdown16-top-vector", [exc_vec], VEC_GP, 0x0506
        CHECK "expdown16-top-eip", [exc_eip], .i3, 0x0507
        EXPECT .r4
        mov ax, SEL_EXPDOWN16
        mov ds, ax
.i4:    mov al, [0x7FFF]                ; the limit itself is not valid
.r4:    CAUGHT
        CHECK "expdown16-limit-vector", [exc_vec], VEC_GP, 0x0508
        CHECK "expdown16-limit-error", [exc_err], 0, 0x0509
        CHECK "expdown16-limit-eip", [exc_eip], .i4, 0x050A
        ret

; ---------------------------------------------------------------------------
; Back to real mode (SDM 9.9.2), through 16-bit protected mode.
leave_pm:
        mov dword [UNREAL_ADDR], UNREAL_VALUE
        mov dword [UNREAL_ADDR + 4], 0
        jmp SEL_CODE16:R(pm16_back)

        bits 16
pm16_back:
        mov ax, SEL_DATA16
        mov ds, ax
        mov es, ax
        mov ax, SEL_STACK16
        mov ss, ax
        mov esp, 0xFFF0
        ; a fault in 16-bit code through a 32-bit interrupt gate, resumed in 16-bit code
        mov dword [R(exc_vec)], -1
        mov dword [R(exc_resume)], R(.r16)
        mov word [R(exc_resume_cs)], SEL_CODE16
        mov [R(exc_saved_esp)], esp
        mov [R(exc_saved_ss)], ss
        mov [R(exc_saved_ds)], ds
        mov [R(exc_saved_es)], es
        pushfd
        pop dword [R(exc_saved_eflags)]
        mov ax, SEL_SMALL
        mov fs, ax
.i16:   mov ax, [fs:0xFFF]              ; a word across the limit
.r16:   mov ax, SEL_DATA16
        mov ds, ax
        mov dword [R(exc_resume)], 0
        mov eax, [R(exc_vec)]
        mov [R(v_pm16_exc_vec)], eax
        mov eax, [R(exc_eip)]
        mov [R(v_pm16_exc_eip)], eax
        mov eax, [R(exc_cs)]
        mov [R(v_pm16_exc_cs)], eax

        ; segment registers for the return: 64 KiB limits, but FS 4 GiB (unreal)
        mov ax, SEL_BIG16
        mov fs, ax
        mov ax, SEL_DATA16
        mov gs, ax
        o32 lidt [R(rm_idtr)]
        mov eax, cr0
        and al, 0xFE
        mov cr0, eax
        jmp 0x1000:R(rm_back)
rm_back:
        mov ax, cs
        mov ds, ax
        mov es, ax
        mov ax, STACK_RM_SEG
        mov ss, ax
        mov esp, 0xFFF0
        xor ax, ax
        mov fs, ax                      ; base 0; the limit stays 4 GiB
        mov ax, 0x1000
        mov gs, ax                      ; base 0x10000; the limit stays 64 KiB
        RPRINTLN "pm_switch: back in real mode"

        mov eax, [R(v_pm16_exc_vec)]
        CHECK16 "pm16-fault-vector", eax, VEC_GP, 0x0601
        mov eax, [R(v_pm16_exc_eip)]
        CHECK16 "pm16-fault-eip", eax, R(pm16_back.i16), 0x0602
        mov eax, [R(v_pm16_exc_cs)]
        CHECK16 "pm16-fault-cs", eax, SEL_CODE16, 0x0603
        smsw ax
        and eax, 1
        CHECK16 "rm-pe-clear", eax, 0, 0x0604
        xor eax, eax
        mov ax, cs
        CHECK16 "rm-cs", eax, 0x1000, 0x0605

        ; unreal: FS reaches past 1 MiB with a 32-bit offset
        RM_EXPECT .u1
        mov esi, UNREAL_ADDR
        mov eax, [fs:esi]
.u1:    mov bx, cs
        mov ds, bx
        CHECK16 "unreal-read", eax, UNREAL_VALUE, 0x0606
        movzx eax, word [R(rm_exc_vec)]
        CHECK16 "unreal-no-fault", eax, 0xFFFF, 0x0607
        RM_EXPECT .u2
        mov esi, UNREAL_ADDR
        mov dword [fs:esi + 4], 0x600DF00D
        mov eax, [fs:esi + 4]
.u2:    mov bx, cs
        mov ds, bx
        CHECK16 "unreal-write", eax, 0x600DF00D, 0x0608
        ; a real-mode segment load changes the base, not the limit
        mov ax, 0x2000
        mov fs, ax
        RM_EXPECT .u3
        mov esi, UNREAL_ADDR - 0x20000
        mov eax, [fs:esi]
.u3:    mov bx, cs
        mov ds, bx
        CHECK16 "unreal-after-reload", eax, UNREAL_VALUE, 0x0609

        ; GS kept its 64 KiB limit: a 32-bit offset past it is exception 13
        RM_EXPECT .g1
        mov esi, 0x10000
.g1i:   mov eax, [gs:esi]
.g1:    mov bx, cs
        mov ds, bx
        movzx eax, word [R(rm_exc_vec)]
        CHECK16 "real-limit-vector", eax, 13, 0x060A
        movzx eax, word [R(rm_exc_ip)]
        CHECK16 "real-limit-ip", eax, R(rm_back.g1i), 0x060B
        ; a word at 0xFFFF runs past the limit too
        RM_EXPECT .g2
.g2i:   mov ax, [gs:0xFFFF]
.g2:    mov bx, cs
        mov ds, bx
        movzx eax, word [R(rm_exc_vec)]
        CHECK16 "real-limit-word-wrap-vector", eax, 13, 0x060C
        movzx eax, word [R(rm_exc_ip)]
        CHECK16 "real-limit-word-wrap-ip", eax, R(rm_back.g2i), 0x060D
        ; the stack segment: exception 12
        RM_EXPECT .g3
        mov ebp, 0x10000
.g3i:   mov eax, [ebp]
.g3:    mov bx, cs
        mov ds, bx
        movzx eax, word [R(rm_exc_vec)]
        CHECK16 "real-limit-ss-vector", eax, 12, 0x060E
        movzx eax, word [R(rm_exc_ip)]
        CHECK16 "real-limit-ss-ip", eax, R(rm_back.g3i), 0x060F
        ; the IVT is in use again
        mov dword [R(v_rm_int_count)], 0
        int 0x80
        CHECK16 "rm-int-after-return", [R(v_rm_int_count)], 1, 0x0610
        jmp rm_finish

; ---------------------------------------------------------------------------
; Real-mode helpers (CS = 0x1000).
rm_int80:
        push ax
        push ds
        mov ax, cs
        mov ds, ax
        inc dword [R(v_rm_int_count)]
        pushf
        pop word [R(v_rm_int_flags)]
        push bp
        mov bp, sp
        mov ax, [bp + 8]                ; bp, ds, ax, then IP, CS, FLAGS
        mov [R(v_rm_int_cs)], ax
        pop bp
        pop ds
        pop ax
        iret

rm_exc12:
        push word 12
        jmp rm_exc_common
rm_exc13:
        push word 13
rm_exc_common:                          ; [sp] vector, IP, CS, FLAGS
        mov bp, sp
        mov ax, [bp]
        mov [cs:R(rm_exc_vec)], ax
        mov ax, [bp + 2]
        mov [cs:R(rm_exc_ip)], ax
        mov sp, [cs:R(rm_saved_sp)]
        jmp word [cs:R(rm_resume)]

rm_putc:                                ; al
        push dx
        mov dx, PORT_DBG
        out dx, al
        pop dx
        ret

rm_puts:                                ; si = offset in segment 0x1000
        push ax
        push si
        push ds
        mov ax, cs
        mov ds, ax
.l:     lodsb
        test al, al
        jz .d
        call rm_putc
        jmp .l
.d:     pop ds
        pop si
        pop ax
        ret

rm_puthex:                              ; eax
        push eax
        push cx
        push edx
        mov edx, eax
        mov al, '0'
        call rm_putc
        mov al, 'x'
        call rm_putc
        mov cx, 8
.l:     rol edx, 4
        mov al, dl
        and al, 0x0F
        add al, '0'
        cmp al, '9'
        jbe .p
        add al, 'a' - '0' - 10
.p:     call rm_putc
        loop .l
        pop edx
        pop cx
        pop eax
        ret

; rm_check_eq(got, want, name, code): dwords pushed right to left, callee pops.
rm_check_eq:
        pushfd
        pushad
        push ds
        mov ax, cs
        mov ds, ax
        mov bp, sp
        ; [bp] ds, +2 pushad (32), +34 eflags, +38 return, +40 got, +44 want, +48 name, +52 code
        inc dword [R(check_count)]
        mov eax, [bp + 40]
        cmp eax, [bp + 44]
        jne .fail
        mov si, R(str_ok)
        call rm_puts
        mov esi, [bp + 48]
        sub esi, BASE
        call rm_puts
        jmp .out
.fail:
        mov si, R(str_fail)
        call rm_puts
        mov esi, [bp + 48]
        sub esi, BASE
        call rm_puts
        mov si, R(str_got)
        call rm_puts
        mov eax, [bp + 40]
        call rm_puthex
        mov si, R(str_want)
        call rm_puts
        mov eax, [bp + 44]
        call rm_puthex
        inc dword [R(fail_count)]
        cmp dword [R(fail_code)], 0
        jne .out
        mov eax, [bp + 52]
        mov [R(fail_code)], eax
.out:   mov al, 10
        call rm_putc
        pop ds
        popad
        popfd
        ret 16

rm_finish:
        mov ax, cs
        mov ds, ax
        mov eax, [R(fail_code)]
        test eax, eax
        jnz .failed
        mov si, R(str_pass)
        call rm_puts
        jmp .tail
.failed:
        mov si, R(str_failcode)
        call rm_puts
        call rm_puthex
        mov si, R(str_of)
        call rm_puts
.tail:  mov eax, [R(check_count)]
        call rm_puthex
        mov al, 10
        call rm_putc
        mov eax, [R(fail_code)]
        mov dx, PORT_RESULT
        out dx, eax
.halt:  hlt
        jmp .halt

        section .data
str_pass:       db "RESULT pass, checks: ", 0
str_failcode:   db "RESULT fail code ", 0
str_of:         db ", checks: ", 0
        align 4
scratch:        dd 0

        align 8
my_descs:
        DESC 0x50000, 0xFFF, ATTR_DATA16                        ; SEL_SMALL
        DESC 0, 0xFFFFF, ACC_P | ACC_S | ATTR_DB | ATTR_G        ; SEL_RODATA
        DESC 0, 0xFFFFF, ACC_P | ACC_S | ACC_CODE | ATTR_DB | ATTR_G  ; SEL_XCODE
        DESC 0x70000, 0x7FFF, ACC_P | ACC_S | ACC_RW | ACC_DC | ATTR_DB  ; SEL_EXPDOWN
        DESC 0x50000, 1, ATTR_DATA16 | ATTR_G                   ; SEL_GRAN
        DESC 0, 0xFFFFF, ATTR_DATA16 | ATTR_G                   ; SEL_BIG16
        DESC 0x70000, 0x7FFF, ACC_P | ACC_S | ACC_RW | ACC_DC   ; SEL_EXPDOWN16
        DESC 0x60000, 0xFFFF, ATTR_DATA16                       ; SEL_STACK16
my_descs_end:

        section .bss
        alignb 4
v_rm_int_count: resd 1
v_rm_int_flags: resd 1
v_rm_int_cs:    resd 1
v_rm_flags_after: resd 1
v_pm16_cs:      resd 1
v_pm16_push:    resd 1
v_pm16_msw:     resd 1
v_pm16_eax:     resd 1
v_pm16_exc_vec: resd 1
v_pm16_exc_eip: resd 1
v_pm16_exc_cs:  resd 1
rm_exc_vec:     resw 1
rm_exc_ip:      resw 1
rm_resume:      resw 1
rm_saved_sp:    resw 1

KERNEL_END
