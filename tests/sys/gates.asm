; gates: interrupt and trap gates, INT n from CPL 3, call gates with a stack
; switch and parameter copy, RETF to an outer level, conforming code segments.
; SDM vol. 3: 5.8 (calls through call gates, 5.8.5 stack switching, 5.8.6 RET),
; 6.12 (exception and interrupt handling, 6.12.1.2 flag usage), 5.8.1.2
; (conforming code), and the CALL/RET/INT pseudo-code in vol. 2.
%include "lib.inc"

SEL_CGATE       equ SEL_FREE + 0x00     ; call gate, DPL 3, 2 parameters, to SEL_CODE32:cg_target
SEL_CGATE0      equ SEL_FREE + 0x08     ; call gate, DPL 0
SEL_CONF        equ SEL_FREE + 0x10     ; conforming code, DPL 0
SEL_CONF3       equ SEL_FREE + 0x18     ; conforming code, DPL 3

VEC_INTG        equ 0x40                ; interrupt gate, DPL 0
VEC_TRAPG       equ 0x41                ; trap gate, DPL 0
VEC_USER        equ 0x42                ; interrupt gate, DPL 3
VEC_KERNEL      equ 0x43                ; interrupt gate, DPL 0 (INT from CPL 3: #GP)
VEC_CONFG       equ 0x44                ; interrupt gate, DPL 3, to a conforming segment

rm_start:
        jmp enter_pm32

        bits 32
main:
        PRINTLN "gates: start"
        mov edx, SEL_CGATE
        mov eax, cg_target
        mov bx, SEL_CODE32
        mov cx, (2 << 8) | GATE_CALL32 | GATE_DPL3
        call gdt_gate
        mov edx, SEL_CGATE0
        mov cx, (2 << 8) | GATE_CALL32
        call gdt_gate
        mov edx, SEL_CONF
        xor eax, eax
        mov ebx, 0xFFFFF
        mov ecx, ATTR_CODE32 | ACC_DC
        call gdt_set
        mov edx, SEL_CONF3
        mov ecx, ATTR_CODE32 | ACC_DC | ACC_DPL3
        call gdt_set

        mov bx, SEL_CODE32
        mov eax, h_record
        mov edx, VEC_INTG
        mov cx, GATE_INT32
        call idt_set
        mov edx, VEC_TRAPG
        mov cx, GATE_TRAP32
        call idt_set
        mov edx, VEC_USER
        mov cx, GATE_INT32 | GATE_DPL3
        call idt_set
        mov edx, VEC_KERNEL
        mov cx, GATE_INT32
        call idt_set
        mov edx, VEC_CONFG
        mov eax, conf_int_handler
        mov bx, SEL_CONF
        mov cx, GATE_INT32 | GATE_DPL3
        call idt_set

        call test_gates_cpl0
        call test_int_from_cpl3
        call test_call_gate
        call test_conforming
        jmp finish

; ---------------------------------------------------------------------------
; h_record: records the frame and the handler's own state, then IRETs.
h_record:
        push eax
        pushfd
        pop eax
        mov [g_handler_eflags], eax
        lea eax, [esp + 4]
        mov [g_handler_esp], eax
        xor eax, eax
        mov ax, cs
        mov [g_handler_cs], eax
        mov ax, ss
        mov [g_handler_ss], eax
        mov eax, [esp + 4]
        mov [g_frame_eip], eax
        movzx eax, word [esp + 8]
        mov [g_frame_cs], eax
        mov eax, [esp + 12]
        mov [g_frame_eflags], eax
        mov eax, [esp + 16]             ; only meaningful after a privilege change
        mov [g_frame_esp], eax
        movzx eax, word [esp + 20]
        mov [g_frame_ss], eax
        inc dword [g_count]
        pop eax
        iretd

; ---------------------------------------------------------------------------
; Interrupt gates clear IF, trap gates keep it; same-level frames have no SS:ESP.
test_gates_cpl0:
        mov dword [g_count], 0
        mov ebp, esp
        sti
.i1:    int VEC_INTG
.a1:    pushfd
        pop ebx
        cli
        CHECK "intgate-ran", [g_count], 1, 0x0101
        mov eax, [g_handler_eflags]
        and eax, FL_IF
        CHECK "intgate-clears-if", eax, 0, 0x0102
        mov eax, [g_frame_eflags]
        and eax, FL_IF
        CHECK "intgate-frame-if", eax, FL_IF, 0x0103
        CHECK "intgate-frame-eip", [g_frame_eip], .a1, 0x0104
        CHECK "intgate-frame-cs", [g_frame_cs], SEL_CODE32, 0x0105
        lea eax, [ebp - 12]
        CHECK "intgate-same-stack", [g_handler_esp], eax, 0x0106
        and ebx, FL_IF
        CHECK "intgate-iret-restores-if", ebx, FL_IF, 0x0107
        sti
        int VEC_TRAPG
        cli
        CHECK "trapgate-ran", [g_count], 2, 0x0108
        mov eax, [g_handler_eflags]
        and eax, FL_IF
        CHECK "trapgate-keeps-if", eax, FL_IF, 0x0109
        ; TF and NT are cleared by both kinds (SDM 6.12.1.2); NT set here, with IF clear
        pushfd
        or dword [esp], FL_NT
        popfd
        int VEC_TRAPG
        pushfd
        pop ebx
        mov eax, [g_handler_eflags]
        and eax, FL_NT
        CHECK "trapgate-clears-nt", eax, 0, 0x010A
        mov eax, [g_frame_eflags]
        and eax, FL_NT
        CHECK "trapgate-frame-nt", eax, FL_NT, 0x010B
        and ebx, FL_NT
        CHECK "trapgate-iret-nt-back", ebx, FL_NT, 0x010C
        pushfd
        and dword [esp], ~FL_NT
        popfd
        ret

; ---------------------------------------------------------------------------
; INT n from CPL 3: through a DPL 3 gate to CPL 0 with the stack from TSS.ESP0;
; through a DPL 0 gate #GP(vector * 8 + 2), EIP at the INT.
test_int_from_cpl3:
        mov dword [g_count], 0
        mov dword [g_user_step], 0
        EXPECT .back
        mov eax, .user
        mov edx, FL_RES1
        jmp to_ring3
.user:  int VEC_USER
.after: inc dword [g_user_step]         ; back at CPL 3 after the IRET
.i2:    int VEC_KERNEL
        int VEC_RING0                   ; not reached: the #GP came
.back:  CAUGHT
        CHECK "int-cpl3-ran", [g_count], 1, 0x0201
        CHECK "int-cpl3-handler-cs", [g_handler_cs], SEL_CODE32, 0x0202
        CHECK "int-cpl3-handler-ss", [g_handler_ss], SEL_DATA32, 0x0203
        CHECK "int-cpl3-handler-esp", [g_handler_esp], STACK_TRAP_TOP - 20, 0x0204
        CHECK "int-cpl3-frame-eip", [g_frame_eip], .after, 0x0205
        CHECK "int-cpl3-frame-cs", [g_frame_cs], SEL_UCODE, 0x0206
        CHECK "int-cpl3-frame-esp", [g_frame_esp], STACK3_TOP, 0x0207
        CHECK "int-cpl3-frame-ss", [g_frame_ss], SEL_UDATA, 0x0208
        CHECK "int-cpl3-iret-back", [g_user_step], 1, 0x0209
        CHECK "int-dpl0-gate-vector", [exc_vec], VEC_GP, 0x020A
        CHECK "int-dpl0-gate-error", [exc_err], VEC_KERNEL * 8 + 2, 0x020B
        CHECK "int-dpl0-gate-eip", [exc_eip], .i2, 0x020C
        CHECK "int-dpl0-gate-cs", [exc_cs], SEL_UCODE, 0x020D
        ret

; ---------------------------------------------------------------------------
; A call gate from CPL 3 to CPL 0: the new stack comes from the TSS, and holds
; the caller's SS, ESP, the parameters (copied in their order), CS and EIP
; (SDM figure 5-13). RETF 8 releases the parameters on both stacks. On the way
; out DS, ES, GS holding DPL 0 data are nulled; FS (DPL 3) and a conforming
; code segment are kept (SDM vol. 2, RET).
test_call_gate:
        EXPECT .back
        mov eax, .user
        mov edx, FL_RES1
        jmp to_ring3
.user:  push dword 0x1111
        push dword 0x2222
        mov [u_esp_at_call], esp
        call SEL_CGATE | 3:0
.after_call:
        mov [fs:u_esp_after], esp
        xor eax, eax
        mov ax, ds
        mov [fs:u_ds_after], eax
        mov ax, es
        mov [fs:u_es_after], eax
        mov ax, fs
        mov [fs:u_fs_after], eax
        mov ax, gs
        mov [fs:u_gs_after], eax
        mov ax, cs
        mov [fs:u_cs_after], eax
        mov eax, [gs:u_dummy]           ; a kept conforming code segment is readable
        mov [fs:u_gs_read], eax
.i_null:
        mov eax, [u_dummy]              ; DS is null now: #GP(0)
        int VEC_RING0
.back:  CAUGHT
        CHECK "cgate-handler-esp", [g_cg_esp], STACK_TRAP_TOP - 24, 0x0301
        CHECK "cgate-handler-cs", [g_cg_cs], SEL_CODE32, 0x0302
        CHECK "cgate-handler-ss", [g_cg_ss], SEL_DATA32, 0x0303
        CHECK "cgate-ret-eip", [g_cg_ret_eip], .after_call, 0x0304
        CHECK "cgate-ret-cs", [g_cg_ret_cs], SEL_UCODE, 0x0305
        CHECK "cgate-param0", [g_cg_p0], 0x2222, 0x0306
        CHECK "cgate-param1", [g_cg_p1], 0x1111, 0x0307
        CHECK "cgate-old-esp", [g_cg_old_esp], STACK3_TOP - 8, 0x0308
        CHECK "cgate-old-ss", [g_cg_old_ss], SEL_UDATA, 0x0309
        CHECK "cgate-user-esp-before", [u_esp_at_call], STACK3_TOP - 8, 0x030A
        CHECK "retf-releases-params", [u_esp_after], STACK3_TOP, 0x030B
        CHECK "retf-cs-cpl3", [u_cs_after], SEL_UCODE, 0x030C
        CHECK "retf-nulls-ds", [u_ds_after], 0, 0x030D
        CHECK "retf-nulls-es", [u_es_after], 0, 0x030E
        CHECK "retf-keeps-dpl3-fs", [u_fs_after], SEL_UDATA, 0x030F
        CHECK "retf-keeps-conforming-gs", [u_gs_after], SEL_CONF, 0x0310
        CHECK "retf-conforming-gs-readable", [u_gs_read], 0xD00DFEED, 0x0311
        CHECK "null-ds-use-vector", [exc_vec], VEC_GP, 0x0312
        CHECK "null-ds-use-error", [exc_err], 0, 0x0313
        CHECK "null-ds-use-eip", [exc_eip], .i_null, 0x0314
        ; a DPL 0 call gate is out of reach from CPL 3: #GP(gate selector)
        EXPECT .back2
        mov eax, .user2
        mov edx, FL_RES1
        jmp to_ring3
.user2: call SEL_CGATE0 | 3:0
        int VEC_RING0
.back2: CAUGHT
        CHECK "cgate-dpl0-vector", [exc_vec], VEC_GP, 0x0315
        CHECK "cgate-dpl0-error", [exc_err], SEL_CGATE0, 0x0316
        CHECK "cgate-dpl0-eip", [exc_eip], .user2, 0x0317
        ret

; The call gate's target (CPL 0).
cg_target:
        mov [g_cg_esp], esp
        mov eax, [esp]
        mov [g_cg_ret_eip], eax
        movzx eax, word [esp + 4]
        mov [g_cg_ret_cs], eax
        mov eax, [esp + 8]
        mov [g_cg_p0], eax
        mov eax, [esp + 12]
        mov [g_cg_p1], eax
        mov eax, [esp + 16]
        mov [g_cg_old_esp], eax
        movzx eax, word [esp + 20]
        mov [g_cg_old_ss], eax
        xor eax, eax
        mov ax, cs
        mov [g_cg_cs], eax
        mov ax, ss
        mov [g_cg_ss], eax
        mov ax, SEL_DATA32
        mov ds, ax
        mov es, ax
        mov ax, SEL_CONF
        mov gs, ax
        mov ax, SEL_UDATA
        mov fs, ax
        retf 8

; ---------------------------------------------------------------------------
; Conforming code runs at the caller's CPL (CS.RPL = CPL), on the caller's stack.
test_conforming:
        EXPECT .back
        mov eax, .user
        mov edx, FL_RES1
        jmp to_ring3
.user:  call SEL_CONF:conf_fn           ; DPL 0 <= CPL 3: allowed, no privilege change
        int VEC_CONFG                   ; an interrupt gate to conforming code: stays at CPL 3
.i3:    jmp SEL_CODE32 | 3:0            ; non-conforming DPL 0 from CPL 3: #GP(selector)
.back:  CAUGHT
        CHECK "conf-call-cs-rpl", [g_conf_cs], SEL_CONF | 3, 0x0401
        CHECK "conf-call-same-stack", [g_conf_esp], STACK3_TOP - 8, 0x0402
        CHECK "conf-call-ss", [g_conf_ss], SEL_UDATA, 0x0403
        CHECK "conf-int-cs-rpl", [g_confint_cs], SEL_CONF | 3, 0x0404
        CHECK "conf-int-same-stack", [g_confint_esp], STACK3_TOP - 12, 0x0405
        CHECK "conf-int-frame-cs", [g_confint_frame_cs], SEL_UCODE, 0x0406
        CHECK "nonconf-jmp-vector", [exc_vec], VEC_GP, 0x0407
        CHECK "nonconf-jmp-error", [exc_err], SEL_CODE32, 0x0408
        CHECK "nonconf-jmp-eip", [exc_eip], .i3, 0x0409
        ; from CPL 0, a conforming segment with DPL 3 > CPL: #GP(selector)
        EXPECT .r2
.i2:    call SEL_CONF3:conf_fn
.r2:    CAUGHT
        CHECK "conf-dpl3-from-cpl0-vector", [exc_vec], VEC_GP, 0x040A
        CHECK "conf-dpl3-from-cpl0-error", [exc_err], SEL_CONF3, 0x040B
        CHECK "conf-dpl3-from-cpl0-eip", [exc_eip], .i2, 0x040C
        ; from CPL 0 the same DPL 0 conforming segment runs at CPL 0
        call SEL_CONF:conf_fn
        CHECK "conf-call-cpl0-cs", [g_conf_cs], SEL_CONF, 0x040D
        ret

conf_fn:
        push eax
        xor eax, eax
        mov ax, cs
        mov [g_conf_cs], eax
        mov ax, ss
        mov [g_conf_ss], eax
        lea eax, [esp + 4]
        mov [g_conf_esp], eax
        pop eax
        retf

conf_int_handler:
        push eax
        xor eax, eax
        mov ax, cs
        mov [g_confint_cs], eax
        lea eax, [esp + 4]
        mov [g_confint_esp], eax
        movzx eax, word [esp + 8]
        mov [g_confint_frame_cs], eax
        pop eax
        iretd

        section .data
        align 4
u_dummy:        dd 0xD00DFEED

        section .bss
        alignb 4
g_count:        resd 1
g_handler_eflags: resd 1
g_handler_esp:  resd 1
g_handler_cs:   resd 1
g_handler_ss:   resd 1
g_frame_eip:    resd 1
g_frame_cs:     resd 1
g_frame_eflags: resd 1
g_frame_esp:    resd 1
g_frame_ss:     resd 1
g_user_step:    resd 1
g_cg_esp:       resd 1
g_cg_ret_eip:   resd 1
g_cg_ret_cs:    resd 1
g_cg_p0:        resd 1
g_cg_p1:        resd 1
g_cg_old_esp:   resd 1
g_cg_old_ss:    resd 1
g_cg_cs:        resd 1
g_cg_ss:        resd 1
u_esp_at_call:  resd 1
u_esp_after:    resd 1
u_ds_after:     resd 1
u_es_after:     resd 1
u_fs_after:     resd 1
u_gs_after:     resd 1
u_cs_after:     resd 1
u_gs_read:      resd 1
g_conf_cs:      resd 1
g_conf_ss:      resd 1
g_conf_esp:     resd 1
g_confint_cs:   resd 1
g_confint_esp:  resd 1
g_confint_frame_cs: resd 1

KERNEL_END
