; sysenter: CPUID feature bits, WRMSR/RDMSR of the SYSENTER MSRs, a
; SYSENTER/SYSEXIT round trip between CPL 3 and CPL 0 with their #GP cases,
; and RDTSC (increasing; CR4.TSD). SDM vol. 2 (CPUID, RDMSR, WRMSR, SYSENTER,
; SYSEXIT, RDTSC) and vol. 3, 5.8.7 (SYSENTER/SYSEXIT).
%include "lib.inc"

; SYSENTER takes CS = IA32_SYSENTER_CS, SS = CS + 8; SYSEXIT CS = CS + 16 | 3,
; SS = CS + 24 | 3. The four descriptors match those flat segments.
SEL_SE_CODE0    equ SEL_FREE + 0x00
SEL_SE_DATA0    equ SEL_FREE + 0x08
SEL_SE_CODE3    equ SEL_FREE + 0x10
SEL_SE_DATA3    equ SEL_FREE + 0x18

MSR_SYSENTER_CS  equ 0x174
MSR_SYSENTER_ESP equ 0x175
MSR_SYSENTER_EIP equ 0x176
SE_STACK        equ 0x8C000

rm_start:
        jmp enter_pm32

        bits 32
main:
        PRINTLN "sysenter: start"
        xor eax, eax
        mov ebx, 0xFFFFF
        mov edx, SEL_SE_CODE0
        mov ecx, ATTR_CODE32
        call gdt_set
        mov edx, SEL_SE_DATA0
        mov ecx, ATTR_DATA32
        call gdt_set
        mov edx, SEL_SE_CODE3
        mov ecx, ATTR_CODE32 | ACC_DPL3
        call gdt_set
        mov edx, SEL_SE_DATA3
        mov ecx, ATTR_DATA32 | ACC_DPL3
        call gdt_set

        call test_cpuid
        call test_msrs
        call test_round_trip
        call test_faults
        call test_rdtsc
        jmp finish

; ---------------------------------------------------------------------------
test_cpuid:
        xor eax, eax
        cpuid
        cmp eax, 1
        setae al
        movzx eax, al
        CHECK "cpuid-leaf1-exists", eax, 1, 0x0101
        mov eax, 1
        cpuid
        mov eax, edx
        and eax, 1 << 11
        CHECK "cpuid-sep", eax, 1 << 11, 0x0102
        mov eax, edx
        and eax, 1 << 4
        CHECK "cpuid-tsc", eax, 1 << 4, 0x0103
        mov eax, edx
        and eax, 1 << 5
        CHECK "cpuid-msr", eax, 1 << 5, 0x0104
        ret

; ---------------------------------------------------------------------------
test_msrs:
        mov ecx, MSR_SYSENTER_CS
        mov eax, SEL_SE_CODE0
        xor edx, edx
        wrmsr
        mov ecx, MSR_SYSENTER_ESP
        mov eax, SE_STACK
        wrmsr
        mov ecx, MSR_SYSENTER_EIP
        mov eax, se_entry
        wrmsr
        mov ecx, MSR_SYSENTER_CS
        rdmsr
        CHECK "msr-cs-readback", eax, SEL_SE_CODE0, 0x0201
        mov ecx, MSR_SYSENTER_ESP
        rdmsr
        CHECK "msr-esp-readback", eax, SE_STACK, 0x0202
        mov ecx, MSR_SYSENTER_EIP
        rdmsr
        CHECK "msr-eip-readback", eax, se_entry, 0x0203
        ; RDMSR at CPL 3: #GP(0)
        EXPECT .back
        mov eax, .user
        mov edx, FL_RES1
        jmp to_ring3
.user:  mov ecx, MSR_SYSENTER_CS
.i:     rdmsr
        int VEC_RING0
.back:  CAUGHT
        CHECK "rdmsr-cpl3-vector", [exc_vec], VEC_GP, 0x0204
        CHECK "rdmsr-cpl3-error", [exc_err], 0, 0x0205
        CHECK "rdmsr-cpl3-eip", [exc_eip], .i, 0x0206
        ret

; ---------------------------------------------------------------------------
; CPL 3 -> SYSENTER -> CPL 0 at IA32_SYSENTER_EIP/ESP, IF cleared -> SYSEXIT
; -> CPL 3 at EDX with ESP = ECX.
test_round_trip:
        EXPECT .back
        mov eax, .user
        mov edx, FL_RES1 | FL_IF
        jmp to_ring3
.user:  mov [u_esp_before], esp
        mov ecx, esp
        mov edx, .after_exit
        sysenter
        int VEC_RING0                   ; not reached: SYSEXIT goes to EDX
.after_exit:
        xor eax, eax
        mov ax, cs
        mov [u_cs], eax
        mov ax, ss
        mov [u_ss], eax
        mov [u_esp], esp
        pushfd
        pop dword [u_eflags]
        mov dword [u_stack_ok], 0
        push dword 0x1234               ; the flat SS from SYSEXIT works
        pop eax
        mov [u_stack_ok], eax
        int VEC_RING0
.back:  CAUGHT
        CHECK "sysenter-ran", [k_runs], 1, 0x0301
        CHECK "sysenter-cs", [k_cs], SEL_SE_CODE0, 0x0302
        CHECK "sysenter-ss", [k_ss], SEL_SE_DATA0, 0x0303
        CHECK "sysenter-esp", [k_esp], SE_STACK, 0x0304
        mov eax, [k_eflags]
        and eax, FL_IF
        CHECK "sysenter-clears-if", eax, 0, 0x0305
        CHECK "sysexit-cs", [u_cs], SEL_SE_CODE3 | 3, 0x0306
        CHECK "sysexit-ss", [u_ss], SEL_SE_DATA3 | 3, 0x0307
        mov eax, [u_esp_before]
        CHECK "sysexit-esp-from-ecx", [u_esp], eax, 0x0308
        CHECK "sysexit-user-stack", [u_stack_ok], 0x1234, 0x0309
        CHECK "sysexit-back-at-cpl3", [exc_cs], SEL_SE_CODE3 | 3, 0x030A
        CHECK "sysexit-return-vector", [exc_vec], VEC_RING0, 0x030B
        ret

se_entry:
        inc dword [k_runs]
        xor eax, eax
        mov ax, cs
        mov [k_cs], eax
        mov ax, ss
        mov [k_ss], eax
        mov [k_esp], esp
        pushfd
        pop dword [k_eflags]
        sysexit

; ---------------------------------------------------------------------------
; SYSEXIT at CPL 3, SYSENTER with IA32_SYSENTER_CS = 0, and SYSEXIT with it: #GP(0).
test_faults:
        EXPECT .back1
        mov eax, .user1
        mov edx, FL_RES1
        jmp to_ring3
.user1:
.i1:    sysexit
        int VEC_RING0
.back1: CAUGHT
        CHECK "sysexit-cpl3-vector", [exc_vec], VEC_GP, 0x0401
        CHECK "sysexit-cpl3-error", [exc_err], 0, 0x0402
        CHECK "sysexit-cpl3-eip", [exc_eip], .i1, 0x0403
        mov ecx, MSR_SYSENTER_CS
        xor eax, eax
        xor edx, edx
        wrmsr
        EXPECT .back2
        mov eax, .user2
        mov edx, FL_RES1
        jmp to_ring3
.user2:
.i2:    sysenter
        int VEC_RING0
.back2: CAUGHT
        CHECK "sysenter-cs0-vector", [exc_vec], VEC_GP, 0x0404
        CHECK "sysenter-cs0-error", [exc_err], 0, 0x0405
        CHECK "sysenter-cs0-eip", [exc_eip], .i2, 0x0406
        EXPECT .back3
        mov ecx, esp
        mov edx, .back3
.i3:    sysexit
.back3: CAUGHT
        CHECK "sysexit-cs0-vector", [exc_vec], VEC_GP, 0x0407
        CHECK "sysexit-cs0-eip", [exc_eip], .i3, 0x0408
        mov ecx, MSR_SYSENTER_CS
        mov eax, SEL_SE_CODE0
        xor edx, edx
        wrmsr
        ret

; ---------------------------------------------------------------------------
; RDTSC counts up; with CR4.TSD it is privileged.
test_rdtsc:
        rdtsc
        mov esi, eax
        mov edi, edx
        mov ecx, 1000
.spin:  loop .spin
        rdtsc
        sub eax, esi
        sbb edx, edi
        ; the difference must be positive: high dword >= 0 and not zero overall
        xor ebx, ebx
        test edx, edx
        js .no
        jnz .yes
        test eax, eax
        jz .no
.yes:   mov ebx, 1
.no:    CHECK "rdtsc-increases", ebx, 1, 0x0501
        EXPECT .back1
        mov eax, .user1
        mov edx, FL_RES1
        jmp to_ring3
.user1: rdtsc
        int VEC_RING0
.back1: CAUGHT
        CHECK "rdtsc-cpl3-allowed", [exc_vec], VEC_RING0, 0x0502
        mov eax, cr4
        or eax, CR4_TSD
        mov cr4, eax
        EXPECT .back2
        mov eax, .user2
        mov edx, FL_RES1
        jmp to_ring3
.user2:
.i2:    rdtsc
        int VEC_RING0
.back2: CAUGHT
        CHECK "rdtsc-tsd-cpl3-vector", [exc_vec], VEC_GP, 0x0503
        CHECK "rdtsc-tsd-cpl3-error", [exc_err], 0, 0x0504
        CHECK "rdtsc-tsd-cpl3-eip", [exc_eip], .i2, 0x0505
        EXPECT .back3
        rdtsc                           ; CPL 0 is still allowed
.back3: CAUGHT
        CHECK "rdtsc-tsd-cpl0-allowed", [exc_vec], -1, 0x0506
        mov eax, cr4
        and eax, ~CR4_TSD
        mov cr4, eax
        ret

        section .bss
        alignb 4
k_runs:         resd 1
k_cs:           resd 1
k_ss:           resd 1
k_esp:          resd 1
k_eflags:       resd 1
u_esp_before:   resd 1
u_cs:           resd 1
u_ss:           resd 1
u_esp:          resd 1
u_eflags:       resd 1
u_stack_ok:     resd 1

KERNEL_END
