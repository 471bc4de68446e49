; cpubench guest: pseudo-random read-modify-write over a large table, like a
; hash table update. 32-bit flat protected mode, loaded at 0x1000.
;   in:  eax = seed, ecx = iterations (> 0), edi = table base,
;        ebp = index mask (table size in dwords - 1, a power of two minus one)
;   out: eax = xor of every value written; the host also compares the table
;        (memory_expected)
bits 32
org 0x1000

start:
    xor esi, esi
.loop:
    imul eax, eax, 1664525      ; LCG step (Numerical Recipes constants)
    add eax, 1013904223
    mov edx, eax
    shr edx, 8
    and edx, ebp                ; slot index
    mov ebx, [edi + edx*4]
    add ebx, eax
    rol ebx, 3
    mov [edi + edx*4], ebx
    xor esi, ebx
    dec ecx
    jnz .loop
    mov eax, esi
    hlt
