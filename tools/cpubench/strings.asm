; cpubench guest: string moves with REP MOVSD and REP MOVSB.
; 32-bit flat protected mode, loaded at 0x1000.
;   in:  ebx = buffer A, ebp = buffer B, edx = buffer size in bytes (multiple of 4),
;        ecx = repetitions (> 0)
;   each repetition: copy A to B with REP MOVSD, then B+1 to A with REP MOVSB
;   (size - 1 bytes), so A shifts by one byte per repetition.
;   out: eax = 0; the host compares both buffers with its own copy (strings_expected)
bits 32
org 0x1000

start:
    cld
    mov eax, ecx
.rep:
    mov esi, ebx
    mov edi, ebp
    mov ecx, edx
    shr ecx, 2
    rep movsd
    lea esi, [ebp + 1]
    mov edi, ebx
    lea ecx, [edx - 1]
    rep movsb
    dec eax
    jnz .rep
    hlt
