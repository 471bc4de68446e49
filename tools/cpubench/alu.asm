; cpubench guest: integer ALU loop (add, xor, shifts, compare, branch).
; 32-bit flat protected mode, loaded at 0x1000.
;   in:  eax = seed (non-zero), ecx = iterations (> 0)
;   out: eax = checksum; then HLT
; The host (tools/cpubench.c, alu_expected) computes the same checksum.
bits 32
org 0x1000

start:
    xor ebx, ebx
    xor esi, esi
.loop:
    mov edx, eax            ; xorshift32: x ^= x << 13; x ^= x >> 17; x ^= x << 5
    shl edx, 13
    xor eax, edx
    mov edx, eax
    shr edx, 17
    xor eax, edx
    mov edx, eax
    shl edx, 5
    xor eax, edx
    add ebx, eax            ; running sum
    cmp eax, ebx
    jae .no_count
    inc esi                 ; count the steps where x < sum (unsigned)
.no_count:
    sub ebx, esi
    dec ecx
    jnz .loop
    xor eax, ebx
    xor eax, esi
    hlt
