; exceptions: faults and traps, where EIP points, error codes, double faults,
; alignment check, and a REP MOVSD that faults mid-way and resumes.
; SDM vol. 3, chapter 6 (6.5 fault/trap EIP, 6.13 error codes, 6.15 each vector).
%include "lib.inc"

SEL_NP_DATA     equ SEL_FREE + 0x00     ; data segment, not present
SEL_NP_CODE     equ SEL_FREE + 0x08     ; code segment, not present
SEL_NP_GATE     equ SEL_FREE + 0x10     ; call gate, not present

rm_start:
        jmp enter_pm32

        bits 32
main:
        PRINTLN "exceptions: start"
        mov edx, SEL_NP_DATA
        xor eax, eax
        mov ebx, 0xFFFFF
        mov ecx, ATTR_DATA32 & ~ACC_P
        call gdt_set
        mov edx, SEL_NP_CODE
        mov ecx, ATTR_CODE32 & ~ACC_P
        call gdt_set
        mov edx, SEL_NP_GATE
        mov eax, main
        mov bx, SEL_CODE32
        mov cx, GATE_CALL32 & 0x7F
        call gdt_gate

        call test_de
        call test_ud
        call test_br
        call test_of
        call test_bp
        call test_np
        call test_df
        call test_ac
        call test_rep_fault
        jmp finish

; ---------------------------------------------------------------------------
; #DE: a fault, EIP at the DIV, registers unchanged (SDM 6.15, interrupt 0).
test_de:
        mov eax, 0x12345678
        xor edx, edx
        xor ecx, ecx
        EXPECT .r1
.i1:    div ecx
.r1:    CAUGHT
        CHECK "de-div0-vector", [exc_vec], VEC_DE, 0x0101
        CHECK "de-div0-eip", [exc_eip], .i1, 0x0102
        CHECK "de-div0-cs", [exc_cs], SEL_CODE32, 0x0103
        CHECK "de-div0-eax-kept", eax, 0x12345678, 0x0104
        CHECK "de-div0-edx-kept", edx, 0, 0x0105
        ; quotient too large: EDX:EAX = 1_00000000h / 1
        mov edx, 1
        xor eax, eax
        mov ecx, 1
        EXPECT .r2
.i2:    div ecx
.r2:    CAUGHT
        CHECK "de-overflow-vector", [exc_vec], VEC_DE, 0x0106
        CHECK "de-overflow-eip", [exc_eip], .i2, 0x0107
        CHECK "de-overflow-edx-kept", edx, 1, 0x0108
        ; IDIV: -2^31 / -1 does not fit
        mov eax, 0x80000000
        cdq
        mov ecx, -1
        EXPECT .r3
.i3:    idiv ecx
.r3:    CAUGHT
        CHECK "de-idiv-vector", [exc_vec], VEC_DE, 0x0109
        CHECK "de-idiv-eip", [exc_eip], .i3, 0x010A
        ; 8-bit: AX = 0x100 / 1 gives 0x100, more than AL holds
        mov eax, 0x100
        mov cl, 1
        EXPECT .r4
.i4:    div cl
.r4:    CAUGHT
        CHECK "de-div8-vector", [exc_vec], VEC_DE, 0x010B
        CHECK "de-div8-eip", [exc_eip], .i4, 0x010C
        CHECK "de-div8-ax-kept", eax, 0x100, 0x010D
        ; a division that fits: no exception
        mov eax, 100
        xor edx, edx
        mov ecx, 7
        EXPECT .r5
        div ecx
.r5:    CAUGHT
        CHECK "de-none-vector", [exc_vec], -1, 0x010E
        CHECK "de-none-quotient", eax, 14, 0x010F
        CHECK "de-none-remainder", edx, 2, 0x0110
        ret

; ---------------------------------------------------------------------------
; #UD: UD2, LOCK where it is not allowed, MOV to CS.
test_ud:
        EXPECT .r1
.i1:    ud2
.r1:    CAUGHT
        CHECK "ud-ud2-vector", [exc_vec], VEC_UD, 0x0201
        CHECK "ud-ud2-eip", [exc_eip], .i1, 0x0202
        mov eax, 1
        mov ebx, 2
        EXPECT .r2
.i2:    db 0xF0, 0x01, 0xD8             ; lock add eax, ebx: LOCK with a register destination
.r2:    CAUGHT
        CHECK "ud-lock-reg-vector", [exc_vec], VEC_UD, 0x0203
        CHECK "ud-lock-reg-eip", [exc_eip], .i2, 0x0204
        CHECK "ud-lock-reg-eax-kept", eax, 1, 0x0205
        EXPECT .r3
.i3:    db 0xF0, 0x90                   ; lock nop
.r3:    CAUGHT
        CHECK "ud-lock-nop-vector", [exc_vec], VEC_UD, 0x0206
        CHECK "ud-lock-nop-eip", [exc_eip], .i3, 0x0207
        mov ax, cs
        EXPECT .r4
.i4:    db 0x8E, 0xC8                   ; mov cs, ax
.r4:    CAUGHT
        CHECK "ud-mov-cs-vector", [exc_vec], VEC_UD, 0x0208
        CHECK "ud-mov-cs-eip", [exc_eip], .i4, 0x0209
        ; LOCK with a memory destination is fine
        mov dword [scratch], 5
        EXPECT .r5
        lock inc dword [scratch]
.r5:    CAUGHT
        CHECK "ud-lock-mem-allowed", [exc_vec], -1, 0x020A
        CHECK "ud-lock-mem-result", [scratch], 6, 0x020B
        ret

; ---------------------------------------------------------------------------
; #BR: BOUND out of range is a fault (EIP at BOUND); bounds are signed and inclusive.
test_br:
        mov eax, 10                     ; the upper bound itself is in range
        EXPECT .r0
        bound eax, [bounds_1_10]
.r0:    CAUGHT
        CHECK "br-upper-inclusive", [exc_vec], -1, 0x0301
        mov eax, 11
        EXPECT .r1
.i1:    bound eax, [bounds_1_10]
.r1:    CAUGHT
        CHECK "br-above-vector", [exc_vec], VEC_BR, 0x0302
        CHECK "br-above-eip", [exc_eip], .i1, 0x0303
        xor eax, eax
        EXPECT .r2
.i2:    bound eax, [bounds_1_10]
.r2:    CAUGHT
        CHECK "br-below-vector", [exc_vec], VEC_BR, 0x0304
        CHECK "br-below-eip", [exc_eip], .i2, 0x0305
        mov eax, -3                     ; signed: -3 is inside [-5, 5]
        EXPECT .r3
        bound eax, [bounds_m5_5]
.r3:    CAUGHT
        CHECK "br-signed-in-range", [exc_vec], -1, 0x0306
        mov ax, 0x8000                  ; 16-bit form: -32768 is below -5
        EXPECT .r4
.i4:    bound ax, [wbounds_m5_5]
.r4:    CAUGHT
        CHECK "br-16bit-vector", [exc_vec], VEC_BR, 0x0307
        CHECK "br-16bit-eip", [exc_eip], .i4, 0x0308
        ret

; ---------------------------------------------------------------------------
; #OF: INTO traps only with OF set; EIP after INTO.
test_of:
        xor eax, eax                    ; OF = 0
        EXPECT .r0
        into
.r0:    CAUGHT
        CHECK "of-clear-no-trap", [exc_vec], -1, 0x0401
        mov al, 0x7F
        add al, 1                       ; OF = 1
        EXPECT .r1
.i1:    into
.r1:    CAUGHT
        CHECK "of-vector", [exc_vec], VEC_OF, 0x0402
        CHECK "of-eip-after", [exc_eip], .i1 + 1, 0x0403
        ret

; ---------------------------------------------------------------------------
; #BP: INT3 is a trap (EIP after it); from CPL 3 through a DPL 0 gate it is #GP.
test_bp:
        EXPECT .r1
.i1:    int3
.r1:    CAUGHT
        CHECK "bp-int3-vector", [exc_vec], VEC_BP, 0x0501
        CHECK "bp-int3-eip-after", [exc_eip], .i1 + 1, 0x0502
        EXPECT .r2
.i2:    db 0xCD, 0x03                   ; int 3, the two-byte form
.r2:    CAUGHT
        CHECK "bp-int-3-vector", [exc_vec], VEC_BP, 0x0503
        CHECK "bp-int-3-eip-after", [exc_eip], .i2 + 2, 0x0504
        ; CPL 3: the gate is DPL 0, so #GP(3 * 8 + 2), EIP at the INT3
        EXPECT .r3
        mov eax, .user3
        mov edx, FL_RES1
        jmp to_ring3
.user3: int3
        int VEC_RING0                   ; not reached if the #GP came
.r3:    CAUGHT
        CHECK "bp-cpl3-gp-vector", [exc_vec], VEC_GP, 0x0505
        CHECK "bp-cpl3-gp-error", [exc_err], 3 * 8 + 2, 0x0506
        CHECK "bp-cpl3-gp-eip", [exc_eip], .user3, 0x0507
        CHECK "bp-cpl3-gp-cs", [exc_cs], SEL_UCODE, 0x0508
        ; with a DPL 3 gate, INT3 from CPL 3 reaches the handler
        mov edx, VEC_BP
        mov eax, VEC_BP * 16 + exc_stubs
        mov bx, SEL_CODE32
        mov cx, GATE_INT32 | GATE_DPL3
        call idt_set
        EXPECT .r4
        mov eax, .user4
        mov edx, FL_RES1
        jmp to_ring3
.user4: int3
        int VEC_RING0
.r4:    CAUGHT
        mov edx, VEC_BP
        call idt_default
        CHECK "bp-cpl3-dpl3-vector", [exc_vec], VEC_BP, 0x0509
        CHECK "bp-cpl3-dpl3-eip-after", [exc_eip], .user4 + 1, 0x050A
        CHECK "bp-cpl3-dpl3-ss", [exc_ss], SEL_UDATA, 0x050B
        CHECK "bp-cpl3-dpl3-esp", [exc_esp], STACK3_TOP, 0x050C
        ret

; ---------------------------------------------------------------------------
; #NP on segment loads and far transfers; #SS for a not-present stack segment.
test_np:
        EXPECT .r1
.i1:    mov ax, SEL_NP_DATA
        mov ds, ax
.r1:    CAUGHT
        CHECK "np-ds-vector", [exc_vec], VEC_NP, 0x0601
        CHECK "np-ds-error", [exc_err], SEL_NP_DATA, 0x0602
        CHECK "np-ds-eip", [exc_eip], .i1 + 4, 0x0603
        EXPECT .r2
        mov ax, SEL_NP_DATA | 3         ; the RPL is not part of the error code
        mov es, ax
.r2:    CAUGHT
        CHECK "np-es-rpl-error", [exc_err], SEL_NP_DATA, 0x0604
        EXPECT .r3
        mov ax, SEL_NP_DATA
        mov ss, ax
.r3:    CAUGHT
        CHECK "np-ss-vector", [exc_vec], VEC_SS, 0x0605
        CHECK "np-ss-error", [exc_err], SEL_NP_DATA, 0x0606
        EXPECT .r4
.i4:    jmp SEL_NP_CODE:0
.r4:    CAUGHT
        CHECK "np-jmp-vector", [exc_vec], VEC_NP, 0x0607
        CHECK "np-jmp-error", [exc_err], SEL_NP_CODE, 0x0608
        CHECK "np-jmp-eip", [exc_eip], .i4, 0x0609
        EXPECT .r5
        call SEL_NP_GATE:0
.r5:    CAUGHT
        CHECK "np-gate-vector", [exc_vec], VEC_NP, 0x060A
        CHECK "np-gate-error", [exc_err], SEL_NP_GATE, 0x060B
        ; a null selector loads; using it is #GP(0)
        EXPECT .r6
        xor eax, eax
        mov es, ax
.r6:    CAUGHT
        CHECK "np-null-load-ok", [exc_vec], -1, 0x060C
        EXPECT .r7
        xor eax, eax
        mov es, ax
.i7:    mov eax, [es:scratch]
.r7:    CAUGHT
        CHECK "np-null-use-vector", [exc_vec], VEC_GP, 0x060D
        CHECK "np-null-use-error", [exc_err], 0, 0x060E
        CHECK "np-null-use-eip", [exc_eip], .i7, 0x060F
        ret

; ---------------------------------------------------------------------------
; Double faults (SDM 6.15, interrupt 8, table 6-5): a contributory exception
; while delivering a contributory exception is #DF(0); after a benign one the
; second exception is simply delivered.
test_df:
        ; #NP whose gate is not present: #NP while delivering #NP
        mov byte [idt + VEC_NP * 8 + 5], GATE_INT32 & 0x7F
        EXPECT .r1
        mov ax, SEL_NP_DATA
        mov ds, ax
.r1:    CAUGHT
        mov edx, VEC_NP
        call idt_default
        CHECK "df-np-np-vector", [exc_vec], VEC_DF, 0x0701
        CHECK "df-np-np-error", [exc_err], 0, 0x0702
        ; #GP whose handler's code segment is not present: #NP while delivering #GP
        mov edx, VEC_GP
        mov eax, VEC_GP * 16 + exc_stubs
        mov bx, SEL_NP_CODE
        mov cx, GATE_INT32
        call idt_set
        EXPECT .r2
        mov ax, 0xFFF8                  ; beyond the GDT limit: #GP(0xFFF8)
        mov ds, ax
.r2:    CAUGHT
        mov edx, VEC_GP
        call idt_default
        CHECK "df-gp-np-vector", [exc_vec], VEC_DF, 0x0703
        CHECK "df-gp-np-error", [exc_err], 0, 0x0704
        ; #UD (benign) whose gate is not present: #NP(6 * 8 + IDT + EXT), no #DF
        mov byte [idt + VEC_UD * 8 + 5], GATE_INT32 & 0x7F
        EXPECT .r3
.i3:    ud2
.r3:    CAUGHT
        mov edx, VEC_UD
        call idt_default
        CHECK "df-benign-ud-np-vector", [exc_vec], VEC_NP, 0x0705
        CHECK "df-benign-ud-np-error", [exc_err], VEC_UD * 8 + 3, 0x0706
        CHECK "df-benign-ud-np-eip", [exc_eip], .i3, 0x0707
        ; a vector beyond the IDT limit: #GP(vector * 8 + 2) for INT n
        mov word [idtr], 0x40 * 8 - 1
        lidt [idtr]
        EXPECT .r4
.i4:    int 0x41
.r4:    CAUGHT
        mov word [idtr], 256 * 8 - 1
        lidt [idtr]
        CHECK "df-int-beyond-idt-vector", [exc_vec], VEC_GP, 0x0708
        CHECK "df-int-beyond-idt-error", [exc_err], 0x41 * 8 + 2, 0x0709
        CHECK "df-int-beyond-idt-eip", [exc_eip], .i4, 0x070A
        ret

; ---------------------------------------------------------------------------
; #AC: CR0.AM and EFLAGS.AC at CPL 3 only (SDM 6.15, interrupt 17).
test_ac:
        mov eax, cr0
        or eax, CR0_AM
        mov cr0, eax
        ; CPL 3, AC = 1: aligned accesses pass, a misaligned dword load faults
        EXPECT .r1
        mov eax, .user1
        mov edx, FL_RES1 | FL_AC
        jmp to_ring3
.user1: mov eax, [scratch]
        mov ax, [scratch + 2]
        mov al, [scratch + 1]
.i1:    mov eax, [scratch + 1]
        int VEC_RING0
.r1:    CAUGHT
        CHECK "ac-dword-vector", [exc_vec], VEC_AC, 0x0801
        CHECK "ac-dword-error", [exc_err], 0, 0x0802
        CHECK "ac-dword-eip", [exc_eip], .i1, 0x0803
        CHECK "ac-dword-cs", [exc_cs], SEL_UCODE, 0x0804
        ; a misaligned word store
        EXPECT .r2
        mov eax, .user2
        mov edx, FL_RES1 | FL_AC
        jmp to_ring3
.user2:
.i2:    mov [scratch + 3], ax
        int VEC_RING0
.r2:    CAUGHT
        CHECK "ac-word-vector", [exc_vec], VEC_AC, 0x0805
        CHECK "ac-word-eip", [exc_eip], .i2, 0x0806
        ; CPL 3 with AC = 0: no check
        EXPECT .r3
        mov eax, .user3
        mov edx, FL_RES1
        jmp to_ring3
.user3: mov eax, [scratch + 1]
        int VEC_RING0
.r3:    CAUGHT
        CHECK "ac-flag-clear-no-fault", [exc_vec], VEC_RING0, 0x0807
        ; CPL 0 with AC = 1: no check
        pushfd
        or dword [esp], FL_AC
        popfd
        EXPECT .r4
        mov eax, [scratch + 1]
.r4:    CAUGHT
        pushfd
        and dword [esp], ~FL_AC
        popfd
        CHECK "ac-cpl0-no-fault", [exc_vec], -1, 0x0808
        ; CR0.AM = 0: no check even at CPL 3 with AC = 1
        mov eax, cr0
        and eax, ~CR0_AM
        mov cr0, eax
        EXPECT .r5
        mov eax, .user5
        mov edx, FL_RES1 | FL_AC
        jmp to_ring3
.user5: mov eax, [scratch + 1]
        int VEC_RING0
.r5:    CAUGHT
        CHECK "ac-am-clear-no-fault", [exc_vec], VEC_RING0, 0x0809
        ret

; ---------------------------------------------------------------------------
; REP MOVSD faulting on a not-present page mid-way: the #PF handler sees the
; iterations done so far in ECX/ESI/EDI, maps the page and returns; the
; instruction resumes and completes (SDM vol. 2, REP: "restartable").
REP_SRC         equ 0x400000            ; in PT1 (4-8 MiB)
REP_DST         equ 0x403000 - 0x100    ; 64 dwords before a not-present page
REP_SRC2        equ 0x406000 - 0x80     ; 32 dwords before a not-present page
REP_DST2        equ 0x408000

test_rep_fault:
        call paging_init
        mov dword [PT1_BASE + 3 * 4], 0x403000 | PG_W | PG_U        ; not present
        mov dword [PT1_BASE + 6 * 4], 0x406000 | PG_W | PG_U        ; not present
        ; the source: 512 bytes of a pattern
        mov edi, REP_SRC
        mov eax, 0x11223344
        mov ecx, 128
.fill:  stosd
        add eax, 0x01010101
        loop .fill
        call paging_on
        mov edx, VEC_PF
        mov eax, pf_map_handler
        mov bx, SEL_CODE32
        mov cx, GATE_INT32
        call idt_set

        ; destination side
        mov dword [pf_count], 0
        cld
        mov esi, REP_SRC
        mov edi, REP_DST
        mov ecx, 128
.i1:    rep movsd
        CHECK "rep-pf-count", [pf_count], 1, 0x0901
        CHECK "rep-pf-cr2", [pf_cr2], 0x403000, 0x0902
        CHECK "rep-pf-error", [pf_err], 2, 0x0903
        CHECK "rep-pf-eip", [pf_eip], .i1, 0x0904
        CHECK "rep-pf-ecx-at-fault", [pf_ecx], 64, 0x0905
        CHECK "rep-pf-esi-at-fault", [pf_esi], REP_SRC + 256, 0x0906
        CHECK "rep-pf-edi-at-fault", [pf_edi], 0x403000, 0x0907
        CHECK "rep-pf-final-ecx", ecx, 0, 0x0908
        CHECK "rep-pf-final-esi", esi, REP_SRC + 512, 0x0909
        CHECK "rep-pf-final-edi", edi, REP_DST + 512, 0x090A
        mov esi, REP_SRC
        mov edi, REP_DST
        mov ecx, 128
        repe cmpsd
        CHECK "rep-pf-data", ecx, 0, 0x090B

        ; source side: a read fault, error code 0
        mov dword [pf_count], 0
        mov esi, REP_SRC
        mov edi, REP_SRC2
        mov ecx, 32
        rep movsd                       ; the first half of the source, below the hole
        mov dword [pf_count], 0
        mov esi, REP_SRC2
        mov edi, REP_DST2
        mov ecx, 64
.i2:    rep movsd
        CHECK "rep-pf-read-count", [pf_count], 1, 0x090C
        CHECK "rep-pf-read-cr2", [pf_cr2], 0x406000, 0x090D
        CHECK "rep-pf-read-error", [pf_err], 0, 0x090E
        CHECK "rep-pf-read-eip", [pf_eip], .i2, 0x090F
        CHECK "rep-pf-read-ecx-at-fault", [pf_ecx], 32, 0x0910
        CHECK "rep-pf-read-edi-at-fault", [pf_edi], REP_DST2 + 128, 0x0911
        CHECK "rep-pf-read-final-ecx", ecx, 0, 0x0912
        CHECK "rep-pf-read-final-esi", esi, REP_SRC2 + 256, 0x0913
        CHECK "rep-pf-read-final-edi", edi, REP_DST2 + 256, 0x0914
        mov eax, [REP_DST2]
        CHECK "rep-pf-read-data", eax, 0x11223344, 0x0915

        mov edx, VEC_PF
        call idt_default
        call paging_off
        ret

; #PF handler: records CR2, the error code and the registers at the fault,
; makes the page present, returns to the faulting instruction.
pf_map_handler:
        push eax
        mov eax, [esp + 4]
        mov [pf_err], eax
        mov eax, [esp + 8]
        mov [pf_eip], eax
        mov eax, cr2
        mov [pf_cr2], eax
        mov [pf_ecx], ecx
        mov [pf_esi], esi
        mov [pf_edi], edi
        inc dword [pf_count]
        shr eax, 12
        and eax, 0x3FF
        or dword [PT1_BASE + eax * 4], PG_P
        mov eax, cr2
        invlpg [eax]
        pop eax
        add esp, 4                      ; the error code
        iretd

        section .data
        align 4
bounds_1_10:    dd 1, 10
bounds_m5_5:    dd -5, 5
wbounds_m5_5:   dw -5, 5
        align 4
scratch:        dd 0, 0

        section .bss
        alignb 4
pf_count:       resd 1
pf_err:         resd 1
pf_eip:         resd 1
pf_cr2:         resd 1
pf_ecx:         resd 1
pf_esi:         resd 1
pf_edi:         resd 1

KERNEL_END
