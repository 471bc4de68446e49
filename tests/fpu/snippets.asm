; x87 code for tests/test_fpu_env.c, assembled by tests/fpu/gen_snippets.py into
; snippets.h. D is the offset of the data area in the snippet's mode (protected
; mode: linear 0x2000 with base-0 segments; real mode: DS = 0100h, offset 1000h).
; Every snippet ends with HLT.

;; snippet layout_pm32 bits=32 D=0x2000 OSZ=o32
; Six registers of every tag class, then FNSAVE/FRSTOR/FNSTENV/FLDENV round trips.
    fninit
    fldcw [D+0x00]
    fld tword [D+0x10]          ; 1.5        -> valid
    fldz                        ;            -> zero
    fld tword [D+0x20]          ; +infinity  -> special
    fld tword [D+0x30]          ; denormal   -> special
    fld tword [D+0x40]          ; unnormal   -> special
L_LAST:
    fld tword [D+0x50]          ; QNaN       -> special
    OSZ fnsave [D+0x100]
    fnstcw [D+0x02]
    fnstsw [D+0x04]
    OSZ frstor [D+0x100]
    OSZ fnsave [D+0x200]
    OSZ frstor [D+0x100]
    OSZ fnstenv [D+0x300]
    fnstcw [D+0x06]
    OSZ fldenv [D+0x300]
    OSZ fnstenv [D+0x340]
    fnsave [D+0x400]
    hlt
;; snippet layout_pm16 bits=32 D=0x2000 OSZ=o16 body=layout_pm32
;; snippet layout_rm16 bits=16 D=0x1000 OSZ=o16 body=layout_pm32
;; snippet layout_rm32 bits=16 D=0x1000 OSZ=o32 body=layout_pm32

;; snippet frstor_tags bits=32 D=0x2000
; FRSTOR an image whose tag word the test chose; FNSTENV shows the tags recomputed.
    frstor [D+0x100]
    fnstenv [D+0x200]
    hlt

;; snippet overflow bits=32 D=0x2000
    fninit
    fldcw [D+0x00]
    fld1
    fld1
    fld1
    fld1
    fld1
    fld1
    fld1
    fldz
    fld1                        ; the ninth push
    fnsave [D+0x100]
    hlt

;; snippet underflow_add bits=32 D=0x2000
    fninit
    fldcw [D+0x00]
    fld1
    fadd st0, st2               ; ST(2) is empty
    fnsave [D+0x100]
    hlt

;; snippet underflow_faddp bits=32 D=0x2000
    fninit
    fldcw [D+0x00]
    fld1
    faddp st2, st0              ; ST(2) is empty
    fnsave [D+0x100]
    hlt

;; snippet underflow_store bits=32 D=0x2000
    fninit
    fldcw [D+0x00]
    fstp dword [D+0x20]         ; ST(0) is empty
    fistp word [D+0x24]
    fnsave [D+0x100]
    hlt

;; snippet mf_fault bits=32 D=0x2000
; Divide by zero with ZE unmasked; #MF comes at the next waiting instruction.
    fninit
    fldcw [D+0x00]
    fld1
    fldz
L_FAULT:
    fdivp st1, st0
    fnstsw ax                   ; no-wait: no #MF
    mov [D+0x04], ax
L_WAIT:
    fld1
    hlt

;; snippet mf_after bits=32 D=0x2000
    fnstsw [D+0x06]
    fnstcw [D+0x08]
    fnstenv [D+0x40]            ; masks every exception: nothing pending any more
    fld1
    fnsave [D+0x100]
    hlt

;; snippet mf_wait bits=32 D=0x2000
    fninit
    fldcw [D+0x00]
    fld1
    fldz
    fdivp st1, st0
L_WAIT:
    wait
    hlt

;; snippet mf_fldcw bits=32 D=0x2000
; A flag raised while masked becomes pending when FLDCW unmasks it.
    fninit
    fld1
    fldz
    fdivp st1, st0
    fldcw [D+0x00]
L_NEXT:
    fnop
    hlt

;; snippet mf_nowait bits=32 D=0x2000
; No-wait instructions run with an exception pending.
    fninit
    fldcw [D+0x00]
    fld1
    fldz
    fdivp st1, st0
    fnstcw [D+0x02]
    fnstsw [D+0x04]
    fnstsw ax
    fnclex
    fldcw [D+0x00]
    fld1
    fldz
    fdivp st1, st0
    fnsave [D+0x100]            ; FNINIT included
    fld1
    hlt

;; snippet make_pending bits=32 D=0x2000
    fninit
    fldcw [D+0x00]
    fld1
    fldz
    fdivp st1, st0
    hlt

;; snippet ferr_proceed bits=32 D=0x2000
; CR0.NE = 0, IF = 0: FERR# is asserted, the next waiting instruction proceeds.
    fninit
    fldcw [D+0x00]
    fld1
    fldz
    fdivp st1, st0
    fld1
    fnstsw [D+0x02]
    hlt

;; snippet fnclex bits=32 D=0x2000
    fnclex
    hlt

;; snippet ferr_freeze bits=16 D=0x1000
; Real mode, CR0.NE = 0, IF = 1: the waiting FLD1 must not run before the IRQ 13 handler.
    fninit
    fldcw [D+0x00]
    sti
    fld1
    fldz
    fdivp st1, st0
L_WAITING:
    fld1
    cli
    fnstsw [D+0x24]
    hlt

;; snippet ferr_handler bits=16 D=0x1000
    inc word [D+0x20]
    fnstsw [D+0x22]
    fnclex
    iret

;; snippet nm_fld bits=32 D=0x2000
    fld1
    hlt

;; snippet nm_wait bits=32 D=0x2000
    wait
    hlt

;; snippet undef_d9d1 bits=32 D=0x2000
    db 0xD9, 0xD1
    hlt

;; snippet undef_dfe1 bits=32 D=0x2000
    db 0xDF, 0xE1
    hlt

;; snippet undef_d9_mem1 bits=32 D=0x2000
    db 0xD9, 0x0D               ; D9 /1 with a memory operand
    dd D+0x10
    hlt

;; snippet undef_fisttp bits=32 D=0x2000
    db 0xDB, 0x0D               ; FISTTP m32int (SSE3), not on a P6
    dd D+0x10
    hlt

;; snippet fcomi bits=32 D=0x2000 OP=fcomi
; ST(0) = [D+0], ST(1) = [D+8]; OF SF AF set before, EFLAGS after at [D+0x40].
    fninit
    fld qword [D+0x08]
    fld qword [D+0x00]
    mov al, 0x7F
    add al, 1
    OP st0, st1
    pushfd
    pop eax
    mov [D+0x40], eax
    fnsave [D+0x100]
    hlt
;; snippet fcomip bits=32 D=0x2000 OP=fcomip body=fcomi
;; snippet fucomi bits=32 D=0x2000 OP=fucomi body=fcomi
;; snippet fucomip bits=32 D=0x2000 OP=fucomip body=fcomi

;; snippet fcmovb bits=32 D=0x2000 OP=fcmovb
; ST(0) = 1.0, ST(1) = 2.0, EFLAGS from [D+0x10]; ST(0) after at [D+0x20].
    fninit
    fld qword [D+0x08]
    fld qword [D+0x00]
    push dword [D+0x10]
    popfd
    OP st0, st1
    fstp qword [D+0x20]
    fnstsw [D+0x28]
    hlt
;; snippet fcmove bits=32 D=0x2000 OP=fcmove body=fcmovb
;; snippet fcmovbe bits=32 D=0x2000 OP=fcmovbe body=fcmovb
;; snippet fcmovu bits=32 D=0x2000 OP=fcmovu body=fcmovb
;; snippet fcmovnb bits=32 D=0x2000 OP=fcmovnb body=fcmovb
;; snippet fcmovne bits=32 D=0x2000 OP=fcmovne body=fcmovb
;; snippet fcmovnbe bits=32 D=0x2000 OP=fcmovnbe body=fcmovb
;; snippet fcmovnu bits=32 D=0x2000 OP=fcmovnu body=fcmovb

;; snippet fxam bits=32 D=0x2000
    fninit
    fld tword [D+0x00]
    fxam
    fnstsw [D+0x20]
    hlt

;; snippet fxam_empty bits=32 D=0x2000
    fninit
    fld tword [D+0x00]
    ffree st0
    fxam
    fnstsw [D+0x20]
    hlt

;; snippet consts bits=32 D=0x2000
    fninit
    fldcw [D+0x00]
    fld1
    fstp tword [D+0x10]
    fldl2t
    fstp tword [D+0x1A]
    fldl2e
    fstp tword [D+0x24]
    fldpi
    fstp tword [D+0x2E]
    fldlg2
    fstp tword [D+0x38]
    fldln2
    fstp tword [D+0x42]
    fldz
    fstp tword [D+0x4C]
    fnstsw [D+0x02]
    hlt

;; snippet fip_control bits=32 D=0x2000
; Control instructions leave FIP/FOP/FDP alone; FNOP, FINCSTP, FFREE do not.
    fninit
L_FLD:
    fld qword [D+0x08]
    fnstcw [D+0x02]
    fldcw [D+0x00]
    fnstsw ax
    fnclex
    fnstenv [D+0x40]
    fldenv [D+0x40]
    wait
    fnstenv [D+0x80]
L_FINCSTP:
    fincstp
    fnstenv [D+0xC0]
    hlt

;; snippet fnsave_only bits=32 D=0x2000
    fnsave [D+0x100]
    hlt

;; snippet fstp1_empty bits=32 D=0x2000
; D9 D8+i is an alias of FSTP ST(i) on Intel processors: an empty ST(0) is a stack underflow.
    fninit
    fld1
    fld1
    ffree st0
    db 0xD9, 0xD9               ; FSTP1 ST(1)
    fnsave [D+0x100]
    hlt

;; snippet frstor_pending bits=32 D=0x2000
; An image whose status word has an unmasked flag: the next waiting instruction reports it.
    frstor [D+0x100]
    fnstsw [D+0x02]
L_NEXT:
    fld1
    hlt
