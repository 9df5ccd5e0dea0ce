/* x86-64 context switch for tasks (System V ABI). Saves the callee-saved registers on the
 * current stack and swaps stack pointers; a fresh context "returns" into tt__ctx_trampoline,
 * which calls entry(arg) from r12/r13. MXCSR and the x87 control word are not saved (see the
 * public header: a task that changes them restores them before suspending). */
    .text
    .globl tt__ctx_switch
    .hidden tt__ctx_switch
    .type tt__ctx_switch,@function
/* void tt__ctx_switch(void **save_sp, void *load_sp) */
tt__ctx_switch:
    .cfi_startproc
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .cfi_endproc
    .size tt__ctx_switch,.-tt__ctx_switch

    .globl tt__ctx_trampoline
    .hidden tt__ctx_trampoline
    .type tt__ctx_trampoline,@function
tt__ctx_trampoline:
    .cfi_startproc
    .cfi_undefined rip
    movq %r13, %rdi
    callq *%r12
    ud2
    .cfi_endproc
    .size tt__ctx_trampoline,.-tt__ctx_trampoline

    .section .note.GNU-stack,"",@progbits
