/* Bare-metal start for the QEMU mps2-an386 board (Cortex-M4F): the vector
 * table at 0x00000000, .data copied from flash to RAM, .bss zeroed, the FPU
 * enabled, static constructors run, then main(); its return value is the
 * semihosting exit status. Faults print FAIL and exit with status 3. */
#include <stdint.h>

#include "smoke_platform.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
extern void __libc_init_array(void);
extern int main(void);

void Reset_Handler(void);
void Fault_Handler(void);
void Default_Handler(void);

/* __libc_init_array calls these (crti/crtn are not linked: -nostartfiles). */
void _init(void) {}
void _fini(void) {}

__attribute__((section(".isr_vector"), used)) void (*const g_vectors[16])(void) = {
    (void (*)(void))(&_estack), /* initial stack pointer */
    Reset_Handler,
    Default_Handler, /* NMI */
    Fault_Handler,   /* HardFault */
    Fault_Handler,   /* MemManage */
    Fault_Handler,   /* BusFault */
    Fault_Handler,   /* UsageFault */
    0, 0, 0, 0,
    Default_Handler, /* SVCall */
    Default_Handler, /* DebugMonitor */
    0,
    Default_Handler, /* PendSV */
    Default_Handler, /* SysTick */
};

void Reset_Handler(void) {
  /* CP10 and CP11 full access: the FPU, before any floating-point instruction. */
  volatile uint32_t* const cpacr = (volatile uint32_t*)0xE000ED88u;
  *cpacr |= 0xFu << 20;
  __asm__ volatile("dsb\n\tisb" ::: "memory");

  const uint32_t* source = &_sidata;
  for (uint32_t* destination = &_sdata; destination < &_edata;) *destination++ = *source++;
  for (uint32_t* destination = &_sbss; destination < &_ebss;) *destination++ = 0u;

  __libc_init_array();
  SmokeExit(main());
}

void Fault_Handler(void) {
  SmokeWrite("FAIL fault (HardFault/MemManage/BusFault/UsageFault)\n");
  SmokeExit(3);
}

void Default_Handler(void) {
  SmokeWrite("FAIL unexpected exception\n");
  SmokeExit(3);
}
