; paging: 32-bit paging with 4 KiB and 4 MiB pages, page faults (CR2 and the
; error code), user/supervisor and read/write protection with CR0.WP, accessed
; and dirty bits, INVLPG, CR3 reloads and global pages.
; SDM vol. 3: 4.3 (32-bit paging), 4.6 (access rights), 4.7 (#PF error code),
; 4.8 (accessed and dirty flags), 4.10.4 (TLB invalidation), 4.10.2.4 (global pages).
%include "lib.inc"

PT_T            equ 0x103000            ; page table for linear 0x1000000-0x13FFFFF (PDE 4)
PT_SUPER_PDE    equ 0x104000            ; page table under a supervisor PDE (PDE 6)
PT_RO_PDE       equ 0x105000            ; page table under a read-only PDE (PDE 7)
LIN_T           equ 0x1000000           ; PT_T's first page
FRAME           equ 0x300000            ; physical frames for the test pages (identity mapped too)
LIN_4M          equ 0xC00000            ; PDE 3: a 4 MiB page on physical 0x400000
LIN_4M_AD       equ 0x2000000           ; PDE 8: a 4 MiB page for the A/D bits
LIN_NO_PDE      equ 0x1400000           ; PDE 5: not present
LIN_SUPER_PDE   equ 0x1800000           ; PDE 6: U/S = 0 in the PDE, 1 in the PTE
LIN_RO_PDE      equ 0x1C00000           ; PDE 7: R/W = 0 in the PDE, 1 in the PTE

PF_P            equ 1
PF_W            equ 2
PF_U            equ 4

rm_start:
        jmp enter_pm32

        bits 32
main:
        PRINTLN "paging: start"
        call paging_init
        mov dword [PD_BASE + 3 * 4], 0x400000 | PG_PS | PG_P | PG_W | PG_U
        mov dword [PD_BASE + 4 * 4], PT_T | PG_P | PG_W | PG_U
        mov dword [PD_BASE + 6 * 4], PT_SUPER_PDE | PG_P | PG_W
        mov dword [PD_BASE + 7 * 4], PT_RO_PDE | PG_P | PG_U
        mov dword [PD_BASE + 8 * 4], 0x400000 | PG_PS | PG_P | PG_W | PG_U
        mov edi, PT_T
        mov ecx, 3 * 1024
        xor eax, eax
        cld
        rep stosd                       ; PT_T, PT_SUPER_PDE, PT_RO_PDE: all not present
        mov dword [PT_T + 0 * 4], FRAME + 0x0000 | PG_P | PG_W | PG_U
        ; PT_T[1]: not present
        mov dword [PT_T + 2 * 4], FRAME + 0x2000 | PG_P | PG_W            ; supervisor
        mov dword [PT_T + 3 * 4], FRAME + 0x3000 | PG_P | PG_U            ; read-only
        mov dword [PT_T + 4 * 4], FRAME + 0x4000 | PG_P | PG_W | PG_U     ; A/D test
        mov dword [PT_SUPER_PDE], FRAME + 0x7000 | PG_P | PG_W | PG_U
        mov dword [PT_RO_PDE], FRAME + 0x8000 | PG_P | PG_W | PG_U
        mov eax, cr4
        or eax, CR4_PSE
        mov cr4, eax
        call paging_on
        PRINTLN "paging: on"

        call test_mappings
        call test_not_present
        call test_user_super
        call test_read_only
        call test_accessed_dirty
        call test_invlpg
        call test_global
        call test_fetch_and_split
        call paging_off
        jmp finish

; access_cpl0 / access_cpl3: eax = linear address, ebx = 0 read / 1 write.
; Afterwards: exc_vec (VEC_RING0 or -1 if nothing was raised), exc_err,
; acc_cr2 (CR2, zeroed before), acc_value (what a read returned), and
; acc_eip the address of the access instruction.
access_cpl0:
        mov [acc_addr], eax
        mov [acc_write], ebx
        xor eax, eax
        mov cr2, eax
        mov [acc_value], eax
        mov dword [acc_eip], .rd
        cmp dword [acc_write], 0
        je .go
        mov dword [acc_eip], .wr
.go:    EXPECT .back
        mov esi, [acc_addr]
        cmp dword [acc_write], 0
        jne .wr
.rd:    mov eax, [esi]
        mov [acc_value], eax
        jmp .back
.wr:    mov dword [esi], 0x5A5A5A5A
.back:  CAUGHT
        mov eax, cr2
        mov [acc_cr2], eax
        ret

access_cpl3:
        mov [acc_addr], eax
        mov [acc_write], ebx
        xor eax, eax
        mov cr2, eax
        mov [acc_value], eax
        mov dword [acc_eip], .rd
        cmp dword [acc_write], 0
        je .go
        mov dword [acc_eip], .wr
.go:    EXPECT .back
        mov eax, .user
        mov edx, FL_RES1
        jmp to_ring3
.user:  mov esi, [acc_addr]
        cmp dword [acc_write], 0
        jne .wr
.rd:    mov eax, [esi]
        mov [acc_value], eax
        int VEC_RING0
.wr:    mov dword [esi], 0x5A5A5A5A
        int VEC_RING0
.back:  CAUGHT
        mov eax, cr2
        mov [acc_cr2], eax
        ret

; ---------------------------------------------------------------------------
test_mappings:
        mov dword [LIN_T], 0x11111111
        CHECK "map-4k-write-lands", [FRAME], 0x11111111, 0x0101
        mov dword [FRAME + 4], 0x22222222
        CHECK "map-4k-read", [LIN_T + 4], 0x22222222, 0x0102
        mov dword [LIN_4M + 0x123450], 0x33333333
        CHECK "map-4m-write-lands", [0x400000 + 0x123450], 0x33333333, 0x0103
        mov dword [0x400000 + 0x3FFFFC], 0x44444444
        CHECK "map-4m-read-top", [LIN_4M + 0x3FFFFC], 0x44444444, 0x0104
        ret

; ---------------------------------------------------------------------------
; Not present: error code P = 0; W/R and U/S tell the access (SDM 4.7).
test_not_present:
        mov eax, LIN_T + 0x1234
        xor ebx, ebx
        call access_cpl0
        CHECK "np-read-cpl0-vector", [exc_vec], VEC_PF, 0x0201
        CHECK "np-read-cpl0-error", [exc_err], 0, 0x0202
        CHECK "np-read-cpl0-cr2", [acc_cr2], LIN_T + 0x1234, 0x0203
        CHECK "np-read-cpl0-eip", [exc_eip], [acc_eip], 0x0204
        mov eax, LIN_T + 0x1238
        mov ebx, 1
        call access_cpl0
        CHECK "np-write-cpl0-vector", [exc_vec], VEC_PF, 0x0205
        CHECK "np-write-cpl0-error", [exc_err], PF_W, 0x0206
        CHECK "np-write-cpl0-cr2", [acc_cr2], LIN_T + 0x1238, 0x0207
        mov eax, LIN_T + 0x1FFC
        xor ebx, ebx
        call access_cpl3
        CHECK "np-read-cpl3-vector", [exc_vec], VEC_PF, 0x0208
        CHECK "np-read-cpl3-error", [exc_err], PF_U, 0x0209
        CHECK "np-read-cpl3-cr2", [acc_cr2], LIN_T + 0x1FFC, 0x020A
        CHECK "np-read-cpl3-eip", [exc_eip], [acc_eip], 0x020B
        CHECK "np-read-cpl3-cs", [exc_cs], SEL_UCODE, 0x020C
        mov eax, LIN_T + 0x1000
        mov ebx, 1
        call access_cpl3
        CHECK "np-write-cpl3-error", [exc_err], PF_U | PF_W, 0x020D
        mov eax, LIN_NO_PDE + 0x10
        xor ebx, ebx
        call access_cpl0
        CHECK "np-pde-vector", [exc_vec], VEC_PF, 0x020E
        CHECK "np-pde-error", [exc_err], 0, 0x020F
        CHECK "np-pde-cr2", [acc_cr2], LIN_NO_PDE + 0x10, 0x0210
        ret

; ---------------------------------------------------------------------------
; U/S = 0 in the PTE or in the PDE: CPL 3 faults with P = 1 (a protection fault).
test_user_super:
        mov eax, LIN_T + 0x2000
        xor ebx, ebx
        call access_cpl0
        CHECK "super-page-cpl0-ok", [exc_vec], -1, 0x0301
        mov eax, LIN_T + 0x2000
        xor ebx, ebx
        call access_cpl3
        CHECK "super-page-cpl3-read-vector", [exc_vec], VEC_PF, 0x0302
        CHECK "super-page-cpl3-read-error", [exc_err], PF_P | PF_U, 0x0303
        CHECK "super-page-cpl3-read-cr2", [acc_cr2], LIN_T + 0x2000, 0x0304
        mov eax, LIN_T + 0x2004
        mov ebx, 1
        call access_cpl3
        CHECK "super-page-cpl3-write-error", [exc_err], PF_P | PF_W | PF_U, 0x0305
        mov eax, LIN_SUPER_PDE + 8
        xor ebx, ebx
        call access_cpl3
        CHECK "super-pde-cpl3-vector", [exc_vec], VEC_PF, 0x0306
        CHECK "super-pde-cpl3-error", [exc_err], PF_P | PF_U, 0x0307
        ret

; ---------------------------------------------------------------------------
; R/W = 0: CPL 3 reads, never writes; CPL 0 writes unless CR0.WP = 1.
test_read_only:
        mov dword [FRAME + 0x3000], 0x0BADC0DE
        mov eax, LIN_T + 0x3000
        xor ebx, ebx
        call access_cpl3
        CHECK "ro-cpl3-read-ok", [exc_vec], VEC_RING0, 0x0401
        CHECK "ro-cpl3-read-value", [acc_value], 0x0BADC0DE, 0x0402
        mov eax, LIN_T + 0x3000
        mov ebx, 1
        call access_cpl3
        CHECK "ro-cpl3-write-vector", [exc_vec], VEC_PF, 0x0403
        CHECK "ro-cpl3-write-error", [exc_err], PF_P | PF_W | PF_U, 0x0404
        CHECK "ro-cpl3-write-cr2", [acc_cr2], LIN_T + 0x3000, 0x0405
        CHECK "ro-cpl3-write-no-store", [FRAME + 0x3000], 0x0BADC0DE, 0x0406
        mov eax, LIN_RO_PDE + 0x20
        mov ebx, 1
        call access_cpl3
        CHECK "ro-pde-cpl3-write-error", [exc_err], PF_P | PF_W | PF_U, 0x0407
        ; CR0.WP = 1: supervisor writes to read-only pages fault too
        mov eax, cr0
        or eax, CR0_WP
        mov cr0, eax
        mov eax, LIN_T + 0x3000
        mov ebx, 1
        call access_cpl0
        CHECK "wp1-cpl0-write-vector", [exc_vec], VEC_PF, 0x0408
        CHECK "wp1-cpl0-write-error", [exc_err], PF_P | PF_W, 0x0409
        CHECK "wp1-cpl0-write-cr2", [acc_cr2], LIN_T + 0x3000, 0x040A
        CHECK "wp1-cpl0-write-no-store", [FRAME + 0x3000], 0x0BADC0DE, 0x040B
        mov eax, [PT_T + 3 * 4]
        and eax, PG_D
        CHECK "wp1-fault-no-dirty", eax, 0, 0x040C
        ; CR0.WP = 0: allowed
        mov eax, cr0
        and eax, ~CR0_WP
        mov cr0, eax
        mov eax, LIN_T + 0x3000
        mov ebx, 1
        call access_cpl0
        CHECK "wp0-cpl0-write-ok", [exc_vec], -1, 0x040D
        CHECK "wp0-cpl0-write-lands", [FRAME + 0x3000], 0x5A5A5A5A, 0x040E
        mov eax, [PT_T + 3 * 4]
        and eax, PG_D
        CHECK "wp0-write-sets-dirty", eax, PG_D, 0x040F
        ret

; ---------------------------------------------------------------------------
; The walker sets A in the PDE and PTE on any access, D in the PTE (or the
; 4 MiB PDE) on a write, also when the translation was cached by a read.
test_accessed_dirty:
        and dword [PD_BASE + 4 * 4], ~PG_A
        mov eax, cr3                    ; forget cached translations
        mov cr3, eax
        mov eax, [LIN_T + 0x4000]
        mov eax, [PT_T + 4 * 4]
        and eax, PG_A | PG_D
        CHECK "ad-read-sets-a-only", eax, PG_A, 0x0501
        mov eax, [PD_BASE + 4 * 4]
        and eax, PG_A
        CHECK "ad-read-sets-pde-a", eax, PG_A, 0x0502
        mov dword [LIN_T + 0x4000], 1
        mov eax, [PT_T + 4 * 4]
        and eax, PG_A | PG_D
        CHECK "ad-write-after-read-sets-d", eax, PG_A | PG_D, 0x0503
        ; a 4 MiB page: A and D live in the PDE
        mov eax, [LIN_4M_AD + 0x100]
        mov eax, [PD_BASE + 8 * 4]
        and eax, PG_A | PG_D
        CHECK "ad-4m-read-sets-a-only", eax, PG_A, 0x0504
        mov dword [LIN_4M_AD + 0x100], 2
        mov eax, [PD_BASE + 8 * 4]
        and eax, PG_A | PG_D
        CHECK "ad-4m-write-sets-d", eax, PG_A | PG_D, 0x0505
        ; the walker writes A back even after software cleared it (with INVLPG)
        and dword [PT_T + 4 * 4], ~(PG_A | PG_D)
        invlpg [LIN_T + 0x4000]
        mov eax, [LIN_T + 0x4000]
        mov eax, [PT_T + 4 * 4]
        and eax, PG_A | PG_D
        CHECK "ad-again-after-invlpg", eax, PG_A, 0x0506
        ret

; ---------------------------------------------------------------------------
; INVLPG and CR3 loads drop cached translations (non-global).
test_invlpg:
        mov dword [FRAME + 0x5000], 0xAAAA0001
        mov dword [FRAME + 0x6000], 0xBBBB0002
        mov dword [PT_T + 5 * 4], FRAME + 0x5000 | PG_P | PG_W | PG_U
        mov eax, [LIN_T + 0x5000]
        CHECK "invlpg-before", eax, 0xAAAA0001, 0x0601
        mov dword [PT_T + 5 * 4], FRAME + 0x6000 | PG_P | PG_W | PG_U
        invlpg [LIN_T + 0x5000]
        mov eax, [LIN_T + 0x5000]
        CHECK "invlpg-after", eax, 0xBBBB0002, 0x0602
        mov dword [PT_T + 5 * 4], FRAME + 0x5000 | PG_P | PG_W | PG_U
        mov eax, cr3
        mov cr3, eax
        mov eax, [LIN_T + 0x5000]
        CHECK "cr3-reload-flushes", eax, 0xAAAA0001, 0x0603
        ; making a page not present takes effect after INVLPG
        mov dword [PT_T + 5 * 4], 0
        invlpg [LIN_T + 0x5000]
        mov eax, LIN_T + 0x5000
        xor ebx, ebx
        call access_cpl0
        CHECK "invlpg-not-present-vector", [exc_vec], VEC_PF, 0x0604
        CHECK "invlpg-not-present-cr2", [acc_cr2], LIN_T + 0x5000, 0x0605
        ret

; ---------------------------------------------------------------------------
; Global pages (CR4.PGE, PTE.G): a CR3 load keeps them, INVLPG and a CR4.PGE
; change drop them (SDM 4.10.4.1). Keeping a stale global translation is what
; every processor does while the entry stays in its TLB.
test_global:
        mov eax, cr4
        or eax, CR4_PGE
        mov cr4, eax
        mov dword [PT_T + 6 * 4], FRAME + 0x5000 | PG_P | PG_W | PG_U | PG_G
        mov eax, [LIN_T + 0x6000]
        CHECK "global-before", eax, 0xAAAA0001, 0x0701
        mov dword [PT_T + 6 * 4], FRAME + 0x6000 | PG_P | PG_W | PG_U | PG_G
        mov eax, cr3
        mov cr3, eax
        mov eax, [LIN_T + 0x6000]
        CHECK "global-survives-cr3-load", eax, 0xAAAA0001, 0x0702
        invlpg [LIN_T + 0x6000]
        mov eax, [LIN_T + 0x6000]
        CHECK "global-invlpg-drops", eax, 0xBBBB0002, 0x0703
        mov dword [PT_T + 6 * 4], FRAME + 0x5000 | PG_P | PG_W | PG_U | PG_G
        mov eax, cr4
        and eax, ~CR4_PGE
        mov cr4, eax
        or eax, CR4_PGE
        mov cr4, eax
        mov eax, [LIN_T + 0x6000]
        CHECK "global-cr4-pge-toggle-drops", eax, 0xAAAA0001, 0x0704
        ; without G the same sequence loses the translation at the CR3 load
        mov dword [PT_T + 7 * 4], FRAME + 0x5000 | PG_P | PG_W | PG_U
        mov eax, [LIN_T + 0x7000]
        mov dword [PT_T + 7 * 4], FRAME + 0x6000 | PG_P | PG_W | PG_U
        mov eax, cr3
        mov cr3, eax
        mov eax, [LIN_T + 0x7000]
        CHECK "nonglobal-cr3-load-drops", eax, 0xBBBB0002, 0x0705
        mov dword [PT_T + 7 * 4], 0
        invlpg [LIN_T + 0x7000]
        mov eax, cr4
        and eax, ~CR4_PGE
        mov cr4, eax
        ret

; ---------------------------------------------------------------------------
; An instruction fetch from a not-present page faults with CR2 = EIP; an
; access across into a not-present page reports the first byte of that page,
; and a split write that faults stores nothing.
test_fetch_and_split:
        xor eax, eax
        mov cr2, eax
        EXPECT .r1
        call LIN_T + 0x1000             ; not present
.r1:    CAUGHT
        mov eax, cr2
        CHECK "fetch-np-vector", [exc_vec], VEC_PF, 0x0801
        CHECK "fetch-np-error", [exc_err], 0, 0x0802
        CHECK "fetch-np-cr2", eax, LIN_T + 0x1000, 0x0803
        CHECK "fetch-np-eip", [exc_eip], LIN_T + 0x1000, 0x0804
        mov dword [FRAME + 0xFFC], 0x12345678
        mov eax, LIN_T + 0xFFE          ; bytes 0xFFE-0x1001: the second page is not present
        mov ebx, 1
        call access_cpl0
        CHECK "split-write-vector", [exc_vec], VEC_PF, 0x0805
        CHECK "split-write-error", [exc_err], PF_W, 0x0806
        CHECK "split-write-cr2", [acc_cr2], LIN_T + 0x1000, 0x0807
        CHECK "split-write-no-partial-store", [FRAME + 0xFFC], 0x12345678, 0x0808
        mov eax, LIN_T + 0xFFE
        xor ebx, ebx
        call access_cpl0
        CHECK "split-read-vector", [exc_vec], VEC_PF, 0x0809
        CHECK "split-read-cr2", [acc_cr2], LIN_T + 0x1000, 0x080A
        ret

        section .bss
        alignb 4
acc_addr:       resd 1
acc_write:      resd 1
acc_cr2:        resd 1
acc_value:      resd 1
acc_eip:        resd 1

KERNEL_END
