; cpubench guest: recursive Fibonacci, call/ret and stack heavy.
; 32-bit flat protected mode, loaded at 0x1000 (entry there; the final HLT is the
; last byte, where the host expects the program to stop).
;   in:  ecx = repetitions (> 0), edx = n; esp = a stack with room for n frames
;   out: eax = the sum of fib(n) over the repetitions (mod 2^32)
bits 32
org 0x1000

entry:
    jmp start

; int fib(int n), cdecl: fib(0) = 0, fib(1) = 1. Keeps ebx, ecx, edx, esi, edi.
fib:
    push ebp
    mov ebp, esp
    push ebx
    mov eax, [ebp + 8]
    cmp eax, 2
    jb .done
    dec eax
    push eax                    ; fib(n - 1)
    call fib
    mov ebx, eax
    dec dword [esp]             ; fib(n - 2), same argument slot
    call fib
    add esp, 4
    add eax, ebx
.done:
    pop ebx
    pop ebp
    ret

start:
    xor edi, edi
.rep:
    push edx
    call fib
    add esp, 4
    add edi, eax
    dec ecx
    jnz .rep
    mov eax, edi
    hlt
