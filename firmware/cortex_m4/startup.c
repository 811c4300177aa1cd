/* Minimal Cortex-M4F startup: vector table, .data copy, .bss clear, FPU enable, main(). */
#include <stdint.h>

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
int main(void);
void Reset_Handler(void);
void Default_Handler(void);

__attribute__((section(".isr_vector"), used))
const void *const kws_vectors[16] = {
    &_estack, (const void *)Reset_Handler,
    (const void *)Default_Handler, (const void *)Default_Handler,  /* NMI, HardFault */
    (const void *)Default_Handler, (const void *)Default_Handler,  /* MemManage, BusFault */
    (const void *)Default_Handler,                                 /* UsageFault */
};

void Default_Handler(void)
{
    for (;;) __asm volatile("bkpt #1");
}

void Reset_Handler(void)
{
    uint32_t *src = &_sidata, *dst = &_sdata;
    while (dst < &_edata) *dst++ = *src++;
    for (dst = &_sbss; dst < &_ebss;) *dst++ = 0;
    /* CPACR: full access to CP10/CP11 (the FPU) before any float instruction */
    *(volatile uint32_t *)0xE000ED88 |= (0xFu << 20);
    __asm volatile("dsb\n\tisb");
    main();
    for (;;) __asm volatile("bkpt #0");
}
