; triple_fault: a triple fault on purpose. The harness expects the CPU to stop
; with CPU_STOP_RESET (a shutdown), never to report a result.
; With an IDT limit of 0, UD2 raises #UD, its delivery #GP (vector 6 outside
; the IDT), that delivery #DF (contributory after contributory, SDM vol. 3,
; table 6-5), and the #DF delivery faults again: shutdown (SDM 6.15, #DF).
%include "lib.inc"

rm_start:
        jmp enter_pm32

        bits 32
main:
        PRINTLN "triple_fault: expect a shutdown now"
        lidt [empty_idtr]
        ud2
        ; not reached: report a failure if the CPU went on
        PRINTLN "FAIL triple-fault the CPU went on after a triple fault"
        mov eax, 1
        call record_failure
        jmp finish

        section .data
        align 4
        dw 0
empty_idtr: dw 0
        dd 0

KERNEL_END
