/* AArch64 context switch for tasks (AAPCS64). Saves x19-x30 and d8-d15 on the current stack
 * and swaps stack pointers; a fresh context returns into tt__ctx_trampoline, which calls
 * entry(arg) from x19/x20. */
    .text
    .globl tt__ctx_switch
    .hidden tt__ctx_switch
    .type tt__ctx_switch,%function
/* void tt__ctx_switch(void **save_sp, void *load_sp) */
tt__ctx_switch:
    hint #34 /* bti c: a no-op unless BTI is on; direct bl callers need none, veneers do */
    sub sp, sp, #160
    stp x19, x20, [sp, #0]
    stp x21, x22, [sp, #16]
    stp x23, x24, [sp, #32]
    stp x25, x26, [sp, #48]
    stp x27, x28, [sp, #64]
    stp x29, x30, [sp, #80]
    stp d8, d9, [sp, #96]
    stp d10, d11, [sp, #112]
    stp d12, d13, [sp, #128]
    stp d14, d15, [sp, #144]
    mov x2, sp
    str x2, [x0]
    mov sp, x1
    ldp x19, x20, [sp, #0]
    ldp x21, x22, [sp, #16]
    ldp x23, x24, [sp, #32]
    ldp x25, x26, [sp, #48]
    ldp x27, x28, [sp, #64]
    ldp x29, x30, [sp, #80]
    ldp d8, d9, [sp, #96]
    ldp d10, d11, [sp, #112]
    ldp d12, d13, [sp, #128]
    ldp d14, d15, [sp, #144]
    add sp, sp, #160
    ret
    .size tt__ctx_switch,.-tt__ctx_switch

    .globl tt__ctx_trampoline
    .hidden tt__ctx_trampoline
    .type tt__ctx_trampoline,%function
tt__ctx_trampoline:
    .cfi_startproc
    .cfi_undefined x30 /* outermost frame: unwinders stop here */
    mov x0, x20
    blr x19
    brk #0
    .cfi_endproc
    .size tt__ctx_trampoline,.-tt__ctx_trampoline

    .section .note.GNU-stack,"",%progbits

/* Mark the object BTI/PAC-compatible when the C code is built with -mbranch-protection, or the
 * linker silently turns BTI off for the whole library. The trampoline is only reached by ret
 * (no landing pad needed) and the switch never signs or authenticates x30 itself. */
#if defined(__ARM_FEATURE_BTI_DEFAULT) || defined(__ARM_FEATURE_PAC_DEFAULT)
#ifdef __ARM_FEATURE_BTI_DEFAULT
#define TT_FEATURE_BTI 1
#else
#define TT_FEATURE_BTI 0
#endif
#ifdef __ARM_FEATURE_PAC_DEFAULT
#define TT_FEATURE_PAC 2
#else
#define TT_FEATURE_PAC 0
#endif
    .pushsection .note.gnu.property, "a"
    .balign 8
    .long 4                      /* n_namesz */
    .long 16                     /* n_descsz */
    .long 5                      /* NT_GNU_PROPERTY_TYPE_0 */
    .asciz "GNU"
    .long 0xc0000000             /* GNU_PROPERTY_AARCH64_FEATURE_1_AND */
    .long 4                      /* pr_datasz */
    .long TT_FEATURE_BTI | TT_FEATURE_PAC
    .long 0                      /* pad to 8 */
    .popsection
#endif
