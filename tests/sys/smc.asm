; smc: self-modifying code. A store must be seen by the next fetch of the
; bytes it wrote: in the same basic block, through another linear alias of the
; same physical page, by a REP MOVSB copying over the code right after it, and
; for code whose instructions straddle a page boundary (contiguous or not).
; SDM vol. 3, 8.1.3 (handling self- and cross-modifying code): on P6 and later
; a store to an upcoming instruction is detected and the new bytes run.
%include "lib.inc"

PT_T            equ 0x103000            ; page table for linear 0x1000000 (PDE 4)
LIN_ALIAS       equ 0x1000000           ; PT_T[0]: the physical page of alias_page
LIN_X           equ 0x1001000           ; PT_T[1..2]: two pages on non-adjacent frames
FRAME_X1        equ 0x300000
FRAME_X2        equ 0x305000

rm_start:
        jmp enter_pm32

        bits 32
main:
        PRINTLN "smc: start"
        call test_same_block
        call test_other_block
        call test_rep_movsb
        call test_page_straddle
        call test_alias
        call test_straddle_paged
        jmp finish

; ---------------------------------------------------------------------------
test_same_block:
        mov byte [.t1 + 1], 0x42        ; the immediate of the very next instruction
.t1:    mov al, 0x00
        movzx eax, al
        CHECK "smc-next-insn-imm", eax, 0x42, 0x0101
        mov ecx, 10
        mov byte [.t2], 0x49            ; INC ECX becomes DEC ECX, three instructions on
        nop
        nop
.t2:    inc ecx
        CHECK "smc-opcode-later-in-block", ecx, 9, 0x0102
        ; a loop that rewrites, each time, an instruction it ran the time before
        xor ebx, ebx
        mov ecx, 1
.loop:  mov [.t3 + 1], ecx
.t3:    mov edx, 0
        add ebx, edx
        inc ecx
        cmp ecx, 10
        jbe .loop
        CHECK "smc-loop-rewrite", ebx, 55, 0x0103
        ; a 16-bit store over two instructions at once
        mov word [.t4], 0x4848          ; two INC EAX become two DEC EAX
        xor eax, eax
.t4:    inc eax
        inc eax
        CHECK "smc-word-store-two-insns", eax, -2, 0x0104
        ret

; ---------------------------------------------------------------------------
; Code run before (so decoded and cached), changed by another block, run again.
test_other_block:
        call smc_fn
        CHECK "smc-fn-before", eax, 1, 0x0201
        mov dword [smc_fn + 1], 2
        call smc_fn
        CHECK "smc-fn-after", eax, 2, 0x0202
        mov byte [smc_fn + 5], 0x40     ; RET becomes INC EAX; the RET follows
        call smc_fn
        CHECK "smc-fn-grown", eax, 3, 0x0203
        ret

smc_fn: mov eax, 1
        ret
        ret

; ---------------------------------------------------------------------------
; REP MOVSB writes the code right after itself; the copied code runs.
test_rep_movsb:
        cld
        mov esi, new_code
        mov edi, .dest
        mov ecx, new_code_len
        rep movsb
.dest:  mov eax, 0x11111111             ; replaced by: mov eax, 0x22222222
        CHECK "smc-rep-movsb-next", eax, 0x22222222, 0x0301
        xor eax, eax
        mov esi, inc_code
        mov edi, .dest2
        mov ecx, 16
        rep movsb
.dest2: times 16 nop                    ; replaced by 16 INC EAX
        CHECK "smc-rep-movsb-16", eax, 16, 0x0302
        ret

; ---------------------------------------------------------------------------
; xpage_fn's ADD straddles a page boundary (physically contiguous pages).
test_page_straddle:
        call xpage_fn
        CHECK "straddle-before", eax, 0x11111111 + 0x100, 0x0401
        mov dword [xpage_fn + 6], 0x200 ; the ADD's immediate: all in the second page
        call xpage_fn
        CHECK "straddle-second-page-store", eax, 0x11111111 + 0x200, 0x0402
        ; a dword store across the boundary: the MOV's immediate bytes 2-3, the
        ; ADD opcode (kept), the ADD immediate's byte 0
        mov dword [xpage_fn + 3], 0x07052222
        call xpage_fn
        CHECK "straddle-crossing-store", eax, 0x22221111 + 0x207, 0x0403
        mov byte [xpage_fn + 10], 0x40  ; the RET (second page) becomes INC EAX
        call xpage_fn
        CHECK "straddle-second-page-opcode", eax, 0x22221111 + 0x207 + 1, 0x0404
        ret

; ---------------------------------------------------------------------------
; The same physical page at two linear addresses: write through one, run the other.
test_alias:
        call paging_init
        mov dword [PD_BASE + 4 * 4], PT_T | PG_P | PG_W | PG_U
        mov edi, PT_T
        mov ecx, 1024
        xor eax, eax
        cld
        rep stosd
        mov eax, alias_page
        or eax, PG_P | PG_W | PG_U
        mov [PT_T], eax
        call paging_on
        call alias_fn
        CHECK "alias-before", eax, 0x100, 0x0501
        mov dword [LIN_ALIAS + (alias_fn - alias_page) + 1], 0x200
        call alias_fn
        CHECK "alias-write-other-run-this", eax, 0x200, 0x0502
        mov eax, LIN_ALIAS + (alias_fn - alias_page)
        call eax
        CHECK "alias-run-other", eax, 0x200, 0x0503
        mov dword [alias_fn + 1], 0x300
        mov eax, LIN_ALIAS + (alias_fn - alias_page)
        call eax
        CHECK "alias-write-this-run-other", eax, 0x300, 0x0504
        call paging_off
        ret

; ---------------------------------------------------------------------------
; Code straddling two linear pages on non-adjacent frames; a store through
; the second frame's own mapping changes the code.
test_straddle_paged:
        call paging_init
        mov dword [PD_BASE + 4 * 4], PT_T | PG_P | PG_W | PG_U
        mov edi, PT_T
        mov ecx, 1024
        xor eax, eax
        cld
        rep stosd
        mov dword [PT_T + 1 * 4], FRAME_X1 | PG_P | PG_W | PG_U
        mov dword [PT_T + 2 * 4], FRAME_X2 | PG_P | PG_W | PG_U
        ; mov eax, 0x01010101 / add eax, 0x00000010 / ret across the frames
        mov byte [FRAME_X1 + 0xFFA], 0xB8
        mov dword [FRAME_X1 + 0xFFB], 0x01010101
        mov byte [FRAME_X1 + 0xFFF], 0x05
        mov dword [FRAME_X2], 0x00000010
        mov byte [FRAME_X2 + 4], 0xC3
        call paging_on
        mov eax, LIN_X + 0xFFA
        call eax
        CHECK "straddle-paged-before", eax, 0x01010111, 0x0601
        mov dword [FRAME_X2], 0x20      ; through the identity map of the second frame
        mov eax, LIN_X + 0xFFA
        call eax
        CHECK "straddle-paged-second-frame", eax, 0x01010121, 0x0602
        mov dword [LIN_X + 0x1000], 0x30        ; through the code's own mapping
        mov eax, LIN_X + 0xFFA
        call eax
        CHECK "straddle-paged-own-mapping", eax, 0x01010131, 0x0603
        ; the second page now maps another frame: after INVLPG the fetch of the
        ; second half goes through the new translation (SDM 4.10.4.1). (Bochs 2.7
        ; keys its decoded traces on the first page and misses this one.)
        mov byte [FRAME_X2 + 0x1000 + 0], 0x40
        mov byte [FRAME_X2 + 0x1000 + 1], 0x00
        mov byte [FRAME_X2 + 0x1000 + 2], 0x00
        mov byte [FRAME_X2 + 0x1000 + 3], 0x00
        mov byte [FRAME_X2 + 0x1000 + 4], 0xC3
        mov dword [PT_T + 2 * 4], (FRAME_X2 + 0x1000) | PG_P | PG_W | PG_U
        invlpg [LIN_X + 0x1000]
        mov eax, LIN_X + 0xFFA
        call eax
        CHECK "straddle-paged-remapped", eax, 0x01010141, 0x0604
        call paging_off
        ret

        ; a page of its own for the alias test and the straddling function
        align 4096, db 0xCC
alias_page:
alias_fn:
        mov eax, 0x100
        ret
        times (4096 - 6) - ($ - alias_page) db 0xCC
xpage_fn:                               ; starts 6 bytes before the next page
        mov eax, 0x11111111             ; +0 .. +4
        add eax, 0x100                  ; +5 (opcode 05), +6 .. +9 the immediate (next page)
        ret                             ; +10
        ret

        section .data
new_code:       mov eax, 0x22222222
new_code_len    equ $ - new_code
inc_code:       times 16 inc eax

KERNEL_END
