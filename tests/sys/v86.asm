; v86: virtual-8086 mode entered by IRET from a 32-bit monitor. With IOPL < 3,
; INT n, CLI, STI, PUSHF, POPF and IRET trap to the monitor with #GP(0); with
; IOPL = 3 they run, and INT n goes through the IDT to a CPL 0 handler. IN/OUT
; follow the TSS I/O permission bitmap whatever IOPL is. Back to the monitor
; through an interrupt. SDM vol. 3, chapter 20 (20.2 V86 mode, 20.2.7-8
; IOPL-sensitive instructions and I/O, 20.3 interrupt handling) and vol. 1, 19.5.2.
%include "lib.inc"

SEL_TSSV        equ SEL_FREE + 0x00     ; the monitor's TSS, with an I/O bitmap
IOMAP_BYTES     equ 0x100               ; ports 0-0x7FF; later ports are past the TSS limit
V86_SEG         equ 0x1000              ; CS = DS = ES = FS = GS for the V86 code
V86_SS          equ 0x7000
V86_SP          equ 0xFFF0

VEC_V86_INT     equ 0x21                ; a DPL 3 gate (used with IOPL = 3)
VEC_V86_EXIT    equ 0x22                ; a DPL 3 gate to exc_common: back to the monitor
VEC_V86_DPL0    equ 0x23                ; a DPL 0 gate: #GP(vector * 8 + 2) from V86

GP_LOG_MAX      equ 16

rm_start:
        jmp enter_pm32

        bits 32
main:
        PRINTLN "v86: start"
        ; the monitor's TSS: ring-0 stack, and an I/O bitmap allowing port 0xE9 only
        mov dword [tss_v + TSS_ESP0], STACK_TRAP_TOP
        mov dword [tss_v + TSS_SS0], SEL_DATA32
        mov word [tss_v + TSS_IOMAP], TSS_SIZE
        mov edi, tss_v + TSS_SIZE
        mov ecx, IOMAP_BYTES + 1        ; and the terminating 0xFF byte
        mov al, 0xFF
        cld
        rep stosb
        and byte [tss_v + TSS_SIZE + 0xE9 / 8], ~(1 << (0xE9 % 8))
        mov edx, SEL_TSSV
        mov eax, tss_v
        mov ebx, TSS_SIZE + IOMAP_BYTES ; the limit covers the terminating byte
        mov ecx, ATTR_TSS32
        call gdt_set
        mov ax, SEL_TSSV
        ltr ax

        mov bx, SEL_CODE32
        mov edx, VEC_GP
        mov eax, v86_gp_handler
        mov cx, GATE_INT32
        call idt_set
        mov edx, VEC_V86_INT
        mov eax, v86_int_handler
        mov cx, GATE_INT32 | GATE_DPL3
        call idt_set
        mov edx, VEC_V86_EXIT
        mov eax, VEC_V86_EXIT * 16 + exc_stubs
        mov cx, GATE_INT32 | GATE_DPL3
        call idt_set

        call test_iopl0
        call test_iopl3
        jmp finish

; enter_v86: eax = IP, edx = EFLAGS (VM is added). IRET to V86 mode with
; CS = DS = ES = FS = GS = V86_SEG and SS:SP = V86_SS:V86_SP. Does not return.
enter_v86:
        push dword V86_SEG              ; GS
        push dword V86_SEG              ; FS
        push dword V86_SEG              ; DS
        push dword V86_SEG              ; ES
        push dword V86_SS
        push dword V86_SP
        or edx, FL_VM
        push edx
        push dword V86_SEG
        push eax
        iretd

; ---------------------------------------------------------------------------
; IOPL = 0.
test_iopl0:
        mov dword [gp_log_n], 0
        EXPECT .back
        mov eax, R(v86_code_iopl0)
        mov edx, FL_RES1
        jmp enter_v86
.back:  CAUGHT
        CHECK "v86-iopl0-exit-vector", [exc_vec], VEC_V86_EXIT, 0x0101
        mov eax, [exc_eflags]
        and eax, FL_VM
        CHECK "v86-iopl0-exit-frame-vm", eax, FL_VM, 0x0102
        CHECK "v86-iopl0-gp-count", [gp_log_n], 11, 0x0103
        ; the first #GP: the monitor's view of the V86 state
        CHECK "v86-gp-ds-null-on-entry", [gp_first_ds], 0, 0x0104
        CHECK "v86-gp-es-null-on-entry", [gp_first_es], 0, 0x0105
        CHECK "v86-gp-frame-ds", [gp_first_frame_ds], V86_SEG, 0x0106
        CHECK "v86-gp-frame-ss", [gp_first_frame_ss], V86_SS, 0x0107
        CHECK "v86-gp-frame-sp", [gp_first_frame_esp], V86_SP, 0x0108
        mov eax, [gp_first_eflags]
        and eax, FL_VM
        CHECK "v86-gp-frame-vm", eax, FL_VM, 0x0109
        CHECK "v86-gp-handler-esp", [gp_first_esp], STACK_TRAP_TOP - 40, 0x010A
        ; each trapped instruction, in order
%macro GPLOG 4                          ; index, opcode, ip, check-code base
        CHECK "v86-iopl0-gp-op-%1", [gp_log_op + %1 * 4], %2, %4
        CHECK "v86-iopl0-gp-ip-%1", [gp_log_ip + %1 * 4], R(%3), %4 + 1
        CHECK "v86-iopl0-gp-err-%1", [gp_log_err + %1 * 4], 0, %4 + 2
%endmacro
        GPLOG 0, 0xCD, v86_code_iopl0.int21, 0x0110
        GPLOG 1, 0xFA, v86_code_iopl0.cli, 0x0113
        GPLOG 2, 0xFB, v86_code_iopl0.sti, 0x0116
        GPLOG 3, 0x9C, v86_code_iopl0.pushf, 0x0119
        GPLOG 4, 0x9D, v86_code_iopl0.popf, 0x011C
        GPLOG 5, 0xCF, v86_code_iopl0.iret, 0x011F
        GPLOG 6, 0xE6, v86_code_iopl0.out91, 0x0122
        GPLOG 7, 0xEF, v86_code_iopl0.outE8w, 0x0125
        GPLOG 8, 0xEF, v86_code_iopl0.outE9w, 0x0128
        GPLOG 9, 0xEC, v86_code_iopl0.in1234, 0x012B
        GPLOG 10, 0xCD, v86_code_iopl0.exit, 0x0130
        movzx eax, byte [v_in_e9]
        CHECK "v86-in-allowed-port", eax, 0xE9, 0x012E
        CHECK "v86-iopl0-reached-end", [v_iopl0_end], 1, 0x012F
        ret

; ---------------------------------------------------------------------------
; IOPL = 3.
test_iopl3:
        mov dword [gp_log_n], 0
        mov dword [int_count], 0
        EXPECT .back
        mov eax, R(v86_code_iopl3)
        mov edx, FL_RES1 | FL_IOPL3
        jmp enter_v86
.back:  CAUGHT
        CHECK "v86-iopl3-exit-vector", [exc_vec], VEC_V86_EXIT, 0x0201
        CHECK "v86-iopl3-int-count", [int_count], 1, 0x0202
        CHECK "v86-int-handler-cs", [int_cs], SEL_CODE32, 0x0203
        CHECK "v86-int-handler-ds-null", [int_ds], 0, 0x0204
        CHECK "v86-int-handler-esp", [int_esp], STACK_TRAP_TOP - 36, 0x0205
        CHECK "v86-int-frame-ip", [int_frame_eip], R(v86_code_iopl3.after_int), 0x0206
        CHECK "v86-int-frame-cs", [int_frame_cs], V86_SEG, 0x0207
        mov eax, [int_frame_eflags]
        and eax, FL_VM | FL_IOPL3
        CHECK "v86-int-frame-eflags", eax, FL_VM | FL_IOPL3, 0x0208
        CHECK "v86-int-frame-es", [int_frame_es], V86_SEG, 0x0209
        CHECK "v86-int-frame-gs", [int_frame_gs], V86_SEG, 0x020A
        CHECK "v86-int-returned", [v_after_int], 1, 0x020B
        mov eax, [v_fl_cli]
        and eax, FL_IF
        CHECK "v86-iopl3-cli", eax, 0, 0x020C
        mov eax, [v_fl_sti]
        and eax, FL_IF
        CHECK "v86-iopl3-sti", eax, FL_IF, 0x020D
        mov eax, [v_fl_popf]
        and eax, FL_IOPL3 | FL_IF
        CHECK "v86-iopl3-popf-keeps-iopl", eax, FL_IOPL3, 0x020E
        CHECK "v86-iopl3-gp-count", [gp_log_n], 1, 0x020F
        CHECK "v86-dpl0-gate-op", [gp_log_op], 0xCD, 0x0210
        CHECK "v86-dpl0-gate-error", [gp_log_err], VEC_V86_DPL0 * 8 + 2, 0x0211
        CHECK "v86-dpl0-gate-ip", [gp_log_ip], R(v86_code_iopl3.int23), 0x0212
        ret

; ---------------------------------------------------------------------------
; #GP handler for V86 code: logs the trapped instruction and skips it;
; INT 0x22 leaves V86 mode through exc_common (the EXPECT in the test).
v86_gp_handler:
        push eax
        push ebx
        ; [esp + 8] error, +12 EIP, +16 CS, +20 EFLAGS, +24 ESP, +28 SS, +32 ES, +36 DS, +40 FS, +44 GS
        xor eax, eax
        mov ax, ds
        xor ebx, ebx
        mov bx, es
        push eax
        mov ax, SEL_DATA32
        mov ds, ax
        mov es, ax
        pop eax
        cmp dword [gp_seen], 0
        jne .logged_first
        mov dword [gp_seen], 1
        mov [gp_first_ds], eax
        mov [gp_first_es], ebx
        mov eax, [esp + 36]
        mov [gp_first_frame_ds], eax
        mov eax, [esp + 28]
        mov [gp_first_frame_ss], eax
        mov eax, [esp + 24]
        mov [gp_first_frame_esp], eax
        mov eax, [esp + 20]
        mov [gp_first_eflags], eax
        lea eax, [esp + 8]
        mov [gp_first_esp], eax
.logged_first:
        movzx eax, word [esp + 16]      ; the instruction's linear address
        shl eax, 4
        movzx ebx, word [esp + 12]
        add eax, ebx
        movzx eax, byte [eax]
        mov ebx, [gp_log_n]
        cmp ebx, GP_LOG_MAX
        jae .full
        mov [gp_log_op + ebx * 4], eax
        push eax
        movzx eax, word [esp + 16]
        mov [gp_log_ip + ebx * 4], eax
        mov eax, [esp + 12]
        mov [gp_log_err + ebx * 4], eax
        pop eax
        inc dword [gp_log_n]
.full:  ; the length of what to skip
        mov ebx, 2
        cmp al, 0xCD
        je .int
        cmp al, 0xE6
        je .skip
        cmp al, 0xE4
        je .skip
        mov ebx, 1
        cmp al, 0xFA
        je .skip
        cmp al, 0xFB
        je .skip
        cmp al, 0x9C
        je .skip
        cmp al, 0x9D
        je .skip
        cmp al, 0xCF
        je .skip
        cmp al, 0xEC
        je .skip
        cmp al, 0xED
        je .skip
        cmp al, 0xEE
        je .skip
        cmp al, 0xEF
        je .skip
        jmp .leave                      ; something else: stop the V86 run
.int:   movzx eax, word [esp + 16]
        shl eax, 4
        movzx ebx, word [esp + 12]
        add eax, ebx
        cmp byte [eax + 1], VEC_V86_EXIT
        je .exit
        mov ebx, 2
.skip:  add [esp + 12], bx              ; IP wraps at 64 KiB
        pop ebx
        pop eax
        add esp, 4                      ; the error code
        iretd
.exit:  pop ebx                         ; INT 0x22: leave as that vector
        pop eax
        push dword VEC_V86_EXIT         ; the layout exc_common wants: vector, error, frame
        jmp exc_common
.leave: pop ebx
        pop eax
        push dword VEC_GP
        jmp exc_common

; INT 0x21 from V86 with IOPL = 3, through a DPL 3 interrupt gate.
v86_int_handler:
        push eax
        xor eax, eax
        mov ax, ds
        mov [ss:int_ds], eax
        mov ax, SEL_DATA32
        mov ds, ax
        inc dword [int_count]
        mov ax, cs
        mov [int_cs], eax
        lea eax, [esp + 4]
        mov [int_esp], eax
        ; [esp + 4] EIP, +8 CS, +12 EFLAGS, +16 ESP, +20 SS, +24 ES, +28 DS, +32 FS, +36 GS
        mov eax, [esp + 4]
        mov [int_frame_eip], eax
        mov eax, [esp + 8]
        and eax, 0xFFFF
        mov [int_frame_cs], eax
        mov eax, [esp + 12]
        mov [int_frame_eflags], eax
        mov eax, [esp + 24]
        and eax, 0xFFFF
        mov [int_frame_es], eax
        mov eax, [esp + 36]
        and eax, 0xFFFF
        mov [int_frame_gs], eax
        xor eax, eax                    ; DS is restored by the IRET to V86 anyway
        mov ds, ax
        pop eax
        iretd

; ---------------------------------------------------------------------------
; The V86 code (16-bit, CS = DS = V86_SEG).
        bits 16
v86_code_iopl0:
        mov si, R(v86_hello)
.print: lodsb                           ; port 0xE9 is allowed by the bitmap
        test al, al
        jz .printed
        out PORT_DBG, al
        jmp .print
.printed:
.int21: int 0x21
.cli:   cli
.sti:   sti
        mov bp, sp
.pushf: pushf
        mov sp, bp
        push word 0
.popf:  popf
        mov sp, bp
.iret:  iret
        mov sp, bp
        in al, PORT_DBG                 ; allowed
        mov [R(v_in_e9)], al
.out91: out 0x91, al                    ; denied by the bitmap
        mov dx, 0xE8
.outE8w: out dx, ax                     ; 0xE8 denied (0xE9 allowed)
        mov dx, 0xE9
.outE9w: out dx, ax                     ; 0xEA denied
        mov dx, 0x1234
.in1234: in al, dx                      ; past the end of the bitmap: denied
        mov word [R(v_iopl0_end)], 1
.exit:  int VEC_V86_EXIT

v86_code_iopl3:
        int VEC_V86_INT
.after_int:
        mov word [R(v_after_int)], 1
        cli
        pushf
        pop word [R(v_fl_cli)]
        sti
        pushf
        pop word [R(v_fl_sti)]
        cli
        push word 0                     ; IOPL 0 in the image: V86 POPF keeps IOPL
        popf
        pushf
        pop word [R(v_fl_popf)]
.int23: int VEC_V86_DPL0
        int VEC_V86_EXIT
        bits 32

        section .data
v86_hello:      db "v86: hello from virtual-8086 mode", 10, 0

        section .bss
        alignb 16
tss_v:          resb TSS_SIZE + IOMAP_BYTES + 1
        alignb 4
gp_log_n:       resd 1
gp_log_op:      resd GP_LOG_MAX
gp_log_ip:      resd GP_LOG_MAX
gp_log_err:     resd GP_LOG_MAX
gp_seen:        resd 1
gp_first_ds:    resd 1
gp_first_es:    resd 1
gp_first_frame_ds: resd 1
gp_first_frame_ss: resd 1
gp_first_frame_esp: resd 1
gp_first_eflags: resd 1
gp_first_esp:   resd 1
int_count:      resd 1
int_ds:         resd 1
int_cs:         resd 1
int_esp:        resd 1
int_frame_eip:  resd 1
int_frame_cs:   resd 1
int_frame_eflags: resd 1
int_frame_es:   resd 1
int_frame_gs:   resd 1
v_in_e9:        resd 1
v_iopl0_end:    resd 1
v_after_int:    resd 1
v_fl_cli:       resd 1
v_fl_sti:       resd 1
v_fl_popf:      resd 1

KERNEL_END
