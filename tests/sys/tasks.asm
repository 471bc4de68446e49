; tasks: hardware task switches. JMP to a TSS, CALL through a task gate and
; IRET back (NT and the previous-task link), exceptions through task gates,
; and the busy-bit rules. SDM vol. 3, chapter 7 (7.3 task switching, table 7-2
; busy/NT/link effects, 7.4 task linking) and the JMP/CALL/IRET pseudo-code.
%include "lib.inc"

SEL_TSSB        equ SEL_FREE + 0x00
SEL_TSSC        equ SEL_FREE + 0x08
SEL_TSSD        equ SEL_FREE + 0x10
SEL_TGATE_C     equ SEL_FREE + 0x18     ; task gate (GDT) to TSS C
SEL_TSSDF       equ SEL_FREE + 0x20

TYPE_TSS_AVAIL  equ 0x9
TYPE_TSS_BUSY   equ 0xB

rm_start:
        jmp enter_pm32

        bits 32
main:
        PRINTLN "tasks: start"
        mov eax, cr3
        mov [cur_cr3], eax
        ; the kernel's TSS (task A) is busy once loaded by LTR
        mov edx, SEL_TSS
        call tss_type
        CHECK "ltr-sets-busy", eax, TYPE_TSS_BUSY, 0x0101
        ; tasks B, C, D, DF
        mov edi, tss_b
        mov eax, task_b
        mov ebx, 0x98000
        call tss_init
        mov dword [tss_b + TSS_EAX], 0xB0B0B0B0
        mov dword [tss_b + TSS_EFLAGS], FL_RES1 | FL_CF
        mov word [tss_b + TSS_LINK], 0x5555
        mov edx, SEL_TSSB
        mov eax, tss_b
        call tss_desc
        mov edi, tss_c
        mov eax, task_c
        mov ebx, 0x9A000
        call tss_init
        mov edx, SEL_TSSC
        mov eax, tss_c
        call tss_desc
        mov edi, tss_d
        mov eax, task_d
        mov ebx, 0x9C000
        call tss_init
        mov edx, SEL_TSSD
        mov eax, tss_d
        call tss_desc
        mov edi, tss_df
        mov eax, task_df
        mov ebx, 0x9E000
        call tss_init
        mov edx, SEL_TSSDF
        mov eax, tss_df
        call tss_desc
        mov edx, SEL_TGATE_C
        xor eax, eax
        mov bx, SEL_TSSC
        mov cx, GATE_TASK
        call gdt_gate

        call test_jmp
        call test_call_gate
        call test_exception_task
        call test_double_fault_task
        call test_busy
        jmp finish

; tss_init: edi = TSS, eax = EIP, ebx = ESP: flat segments, CPL 0.
tss_init:
        push eax
        push ecx
        push edi
        push eax
        xor eax, eax
        mov ecx, TSS_SIZE / 4
        cld
        rep stosd
        pop eax
        pop edi
        mov [edi + TSS_EIP], eax
        mov [edi + TSS_ESP], ebx
        mov [edi + TSS_ESP0], ebx
        mov dword [edi + TSS_SS0], SEL_DATA32
        mov dword [edi + TSS_EFLAGS], FL_RES1
        mov eax, [cur_cr3]
        mov [edi + TSS_CR3], eax
        mov dword [edi + TSS_CS], SEL_CODE32
        mov dword [edi + TSS_SS], SEL_DATA32
        mov dword [edi + TSS_DS], SEL_DATA32
        mov dword [edi + TSS_ES], SEL_DATA32
        mov dword [edi + TSS_FS], SEL_DATA32
        mov dword [edi + TSS_GS], SEL_DATA32
        mov word [edi + TSS_IOMAP], TSS_SIZE
        pop ecx
        pop eax
        ret

; tss_desc: edx = selector, eax = TSS base: an available 32-bit TSS descriptor.
tss_desc:
        push ebx
        push ecx
        mov ebx, TSS_SIZE - 1
        mov ecx, ATTR_TSS32
        call gdt_set
        pop ecx
        pop ebx
        ret

; tss_type: edx = selector -> eax = the descriptor's type nibble (9 available, B busy).
tss_type:
        movzx eax, byte [gdt + edx + 5]
        and eax, 0x0F
        ret

; ---------------------------------------------------------------------------
; JMP to a TSS: the old task's state is saved, its busy bit cleared; the new
; task's state loaded, its busy bit set, NT from its TSS, the link untouched;
; CR0.TS set.
test_jmp:
        mov ebx, 0xA5A5A5A5
        mov esi, 0xA1A1A1A1
        clts
        jmp SEL_TSSB:0
.back:  CHECK "jmp-back-ebx", ebx, 0xA5A5A5A5, 0x0201
        CHECK "jmp-back-esi", esi, 0xA1A1A1A1, 0x0202
        CHECK "jmp-a-saved-eip", [tss0 + TSS_EIP], .back, 0x0203
        CHECK "jmp-a-saved-ebx", [tss0 + TSS_EBX], 0xA5A5A5A5, 0x0204
        CHECK "jmp-b-ran", [b_runs], 1, 0x0205
        CHECK "jmp-b-tr", [b_tr], SEL_TSSB, 0x0206
        CHECK "jmp-b-eax-from-tss", [b_eax], 0xB0B0B0B0, 0x0207
        CHECK "jmp-b-esp-from-tss", [b_esp], 0x98000, 0x0208
        mov eax, [b_eflags]
        and eax, FL_NT | FL_CF
        CHECK "jmp-b-eflags-from-tss", eax, FL_CF, 0x0209
        CHECK "jmp-b-busy", [b_busy_b], TYPE_TSS_BUSY, 0x020A
        CHECK "jmp-a-not-busy", [b_busy_a], TYPE_TSS_AVAIL, 0x020B
        mov eax, [b_cr0]
        and eax, CR0_TS
        CHECK "jmp-sets-ts", eax, CR0_TS, 0x020C
        movzx eax, word [tss_b + TSS_LINK]
        CHECK "jmp-link-untouched", eax, 0x5555, 0x020D
        mov edx, SEL_TSSB
        call tss_type
        CHECK "jmp-back-b-not-busy", eax, TYPE_TSS_AVAIL, 0x020E
        mov edx, SEL_TSS
        call tss_type
        CHECK "jmp-back-a-busy", eax, TYPE_TSS_BUSY, 0x020F
        CHECK "jmp-b-saved-eip", [tss_b + TSS_EIP], task_b.after, 0x0210
        clts
        ret

task_b:
        inc dword [b_runs]
        mov [b_eax], eax
        mov [b_esp], esp
        pushfd
        pop dword [b_eflags]
        xor eax, eax
        str ax
        mov [b_tr], eax
        mov edx, SEL_TSSB
        call tss_type
        mov [b_busy_b], eax
        mov edx, SEL_TSS
        call tss_type
        mov [b_busy_a], eax
        mov eax, cr0
        mov [b_cr0], eax
        mov ebx, 0x0B0B0B0B             ; must not leak into task A
        mov esi, 0x0B0B0B0B
        jmp SEL_TSS:0
.after: jmp task_b

; ---------------------------------------------------------------------------
; CALL through a task gate: NT set in the new task, the link is the old TSS,
; the old task stays busy. IRET with NT returns: the called task's busy bit
; and its saved NT are cleared (SDM table 7-2).
test_call_gate:
        mov dword [c_runs], 0
        call SEL_TGATE_C:0
.back:  CHECK "call-c-ran", [c_runs], 1, 0x0301
        CHECK "call-c-tr", [c_tr], SEL_TSSC, 0x0302
        mov eax, [c_eflags]
        and eax, FL_NT
        CHECK "call-c-nt-set", eax, FL_NT, 0x0303
        movzx eax, word [tss_c + TSS_LINK]
        CHECK "call-c-link", eax, SEL_TSS, 0x0304
        CHECK "call-c-busy", [c_busy_c], TYPE_TSS_BUSY, 0x0305
        CHECK "call-a-stays-busy", [c_busy_a], TYPE_TSS_BUSY, 0x0306
        CHECK "call-a-saved-eip", [tss0 + TSS_EIP], .back, 0x0307
        mov edx, SEL_TSSC
        call tss_type
        CHECK "iret-c-not-busy", eax, TYPE_TSS_AVAIL, 0x0308
        mov eax, [tss_c + TSS_EFLAGS]
        and eax, FL_NT
        CHECK "iret-c-saved-nt-cleared", eax, 0, 0x0309
        CHECK "iret-c-saved-eip", [tss_c + TSS_EIP], task_c.after, 0x030A
        pushfd
        pop eax
        and eax, FL_NT
        CHECK "iret-a-nt-clear", eax, 0, 0x030B
        mov edx, SEL_TSS
        call tss_type
        CHECK "iret-a-busy", eax, TYPE_TSS_BUSY, 0x030C
        ; again: task C goes on after its IRET
        call SEL_TGATE_C:0
        CHECK "call-c-again", [c_runs], 2, 0x030D
        clts
        ret

task_c:
        inc dword [c_runs]
        pushfd
        pop dword [c_eflags]
        xor eax, eax
        str ax
        mov [c_tr], eax
        mov edx, SEL_TSSC
        call tss_type
        mov [c_busy_c], eax
        mov edx, SEL_TSS
        call tss_type
        mov [c_busy_a], eax
        iretd
.after: jmp task_c

; ---------------------------------------------------------------------------
; #GP through a task gate: the error code is pushed on the new task's stack;
; the faulting task's saved EIP is the faulting instruction.
test_exception_task:
        mov edx, VEC_GP
        xor eax, eax
        mov bx, SEL_TSSD
        mov cx, GATE_TASK
        call idt_set
        mov dword [d_runs], 0
        mov ax, 0x1238                  ; past the GDT limit: #GP(0x1238)
.i:     mov ds, ax
        jmp .not_resumed
.resume:
        mov edx, VEC_GP
        call idt_default
        CHECK "exc-task-ran", [d_runs], 1, 0x0401
        CHECK "exc-task-error-code", [d_err], 0x1238, 0x0402
        CHECK "exc-task-esp", [d_esp], 0x9C000 - 4, 0x0403
        CHECK "exc-task-faulting-eip", [d_a_eip], .i, 0x0404
        CHECK "exc-task-tr", [d_tr], SEL_TSSD, 0x0405
        mov eax, [d_eflags]
        and eax, FL_NT
        CHECK "exc-task-nt", eax, FL_NT, 0x0406
        movzx eax, word [tss_d + TSS_LINK]
        CHECK "exc-task-link", eax, SEL_TSS, 0x0407
        mov edx, SEL_TSSD
        call tss_type
        CHECK "exc-task-not-busy-after", eax, TYPE_TSS_AVAIL, 0x0408
        clts
        ret
.not_resumed:
        mov edx, VEC_GP
        call idt_default
        CHECK "exc-task-switched", 0, 1, 0x0409
        ret

task_d:
        inc dword [d_runs]
        mov [d_esp], esp
        pop eax
        mov [d_err], eax
        pushfd
        pop dword [d_eflags]
        xor eax, eax
        str ax
        mov [d_tr], eax
        mov eax, [tss0 + TSS_EIP]
        mov [d_a_eip], eax
        mov dword [tss0 + TSS_EIP], test_exception_task.resume
        iretd
        jmp task_d

; ---------------------------------------------------------------------------
; #DF through a task gate (the usual way to survive a double fault): a #NP
; whose gate is not present becomes #DF, delivered to its own task.
test_double_fault_task:
        mov edx, VEC_DF
        xor eax, eax
        mov bx, SEL_TSSDF
        mov cx, GATE_TASK
        call idt_set
        mov byte [idt + VEC_NP * 8 + 5], GATE_INT32 & 0x7F
        mov edx, SEL_FREE + 0x28        ; a not-present data segment
        xor eax, eax
        mov ebx, 0xFFFFF
        mov ecx, ATTR_DATA32 & ~ACC_P
        call gdt_set
        mov dword [df_runs], 0
        mov ax, SEL_FREE + 0x28
        mov ds, ax
        jmp .not_resumed
.resume:
        mov edx, VEC_DF
        call idt_default
        mov edx, VEC_NP
        call idt_default
        CHECK "df-task-ran", [df_runs], 1, 0x0501
        CHECK "df-task-error-code", [df_err], 0, 0x0502
        CHECK "df-task-tr", [df_tr], SEL_TSSDF, 0x0503
        clts
        ret
.not_resumed:
        mov edx, VEC_DF
        call idt_default
        mov edx, VEC_NP
        call idt_default
        CHECK "df-task-switched", 0, 1, 0x0504
        ret

task_df:
        inc dword [df_runs]
        pop eax
        mov [df_err], eax
        xor eax, eax
        str ax
        mov [df_tr], eax
        mov dword [tss0 + TSS_EIP], test_double_fault_task.resume
        mov dword [tss0 + TSS_DS], SEL_DATA32
        iretd
        jmp task_df

; ---------------------------------------------------------------------------
; Busy bits: JMP to a busy task is #GP(selector); IRET with NT to a task that
; is not busy is #TS(selector); LTR of a busy TSS is #GP(selector).
test_busy:
        EXPECT .r1
.i1:    jmp SEL_TSS:0                   ; ourselves: busy
.r1:    CAUGHT
        CHECK "busy-jmp-vector", [exc_vec], VEC_GP, 0x0601
        CHECK "busy-jmp-error", [exc_err], SEL_TSS, 0x0602
        CHECK "busy-jmp-eip", [exc_eip], .i1, 0x0603
        mov word [tss0 + TSS_LINK], SEL_TSSB    ; B is available, not busy
        EXPECT .r2
        pushfd
        or dword [esp], FL_NT
        popfd
.i2:    iretd
.r2:    CAUGHT
        mov word [tss0 + TSS_LINK], 0
        CHECK "busy-iret-vector", [exc_vec], VEC_TS, 0x0604
        CHECK "busy-iret-error", [exc_err], SEL_TSSB, 0x0605
        CHECK "busy-iret-eip", [exc_eip], .i2, 0x0606
        mov edx, SEL_TSSB
        call tss_type
        CHECK "busy-iret-b-unchanged", eax, TYPE_TSS_AVAIL, 0x0607
        EXPECT .r3
        mov ax, SEL_TSS
.i3:    ltr ax
.r3:    CAUGHT
        CHECK "busy-ltr-vector", [exc_vec], VEC_GP, 0x0608
        CHECK "busy-ltr-error", [exc_err], SEL_TSS, 0x0609
        CHECK "busy-ltr-eip", [exc_eip], .i3, 0x060A
        ; CALL to a task gate whose TSS is busy: C is made busy by hand
        or byte [gdt + SEL_TSSC + 5], TSS_BUSY
        EXPECT .r4
.i4:    call SEL_TGATE_C:0
.r4:    CAUGHT
        and byte [gdt + SEL_TSSC + 5], ~TSS_BUSY
        CHECK "busy-call-vector", [exc_vec], VEC_GP, 0x060B
        CHECK "busy-call-error", [exc_err], SEL_TSSC, 0x060C
        CHECK "busy-call-eip", [exc_eip], .i4, 0x060D
        ret

        section .bss
        alignb 16
tss_b:          resb TSS_SIZE
tss_c:          resb TSS_SIZE
tss_d:          resb TSS_SIZE
tss_df:         resb TSS_SIZE
        alignb 4
cur_cr3:        resd 1
b_runs:         resd 1
b_eax:          resd 1
b_esp:          resd 1
b_eflags:       resd 1
b_tr:           resd 1
b_busy_a:       resd 1
b_busy_b:       resd 1
b_cr0:          resd 1
c_runs:         resd 1
c_eflags:       resd 1
c_tr:           resd 1
c_busy_a:       resd 1
c_busy_c:       resd 1
d_runs:         resd 1
d_err:          resd 1
d_esp:          resd 1
d_eflags:       resd 1
d_tr:           resd 1
d_a_eip:        resd 1
df_runs:        resd 1
df_err:         resd 1
df_tr:          resd 1

KERNEL_END
