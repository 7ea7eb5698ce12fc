/*
 * What the freestanding guests (the xen32 test guests and the 64-bit benchmark guest, bench/src/main/guest/bench_xen.c)
 * take from Xen's public interface, xen/include/public (xen.h, event_channel.h, sched.h, vcpu.h, hvm/hvm_op.h,
 * hvm/params.h, hvm/hvm_vcpu.h, memory.h): the numbers, and the one struct whose layout the guests build by hand.
 */
#ifndef XEN_ABI_H
#define XEN_ABI_H

#define __HYPERVISOR_memory_op 12
#define __HYPERVISOR_xen_version 17
#define __HYPERVISOR_console_io 18
#define __HYPERVISOR_vcpu_op 24
#define __HYPERVISOR_sched_op 29
#define __HYPERVISOR_event_channel_op 32
#define __HYPERVISOR_hvm_op 34

#define EVTCHNOP_bind_interdomain 0
#define EVTCHNOP_bind_virq 1
#define EVTCHNOP_close 3
#define EVTCHNOP_send 4
#define EVTCHNOP_alloc_unbound 6
#define EVTCHNOP_bind_ipi 7
#define EVTCHNOP_bind_vcpu 8
#define EVTCHNOP_unmask 9
#define EVTCHNOP_init_control 11
#define EVTCHNOP_expand_array 12
#define EVTCHNOP_set_priority 13
#define SCHEDOP_yield 0
#define SCHEDOP_block 1
#define SCHEDOP_shutdown 2
#define SCHEDOP_poll 3
#define VCPUOP_initialise 0
#define VCPUOP_up 1
#define VCPUOP_is_up 3
#define VCPUOP_set_singleshot_timer 8
#define VCPUOP_register_vcpu_info 10
#define HVMOP_set_param 0
#define HVMOP_get_param 1
#define HVMOP_set_evtchn_upcall_vector 23
#define HVM_PARAM_CALLBACK_IRQ 0
#define HVM_PARAM_STORE_PFN 1
#define HVM_PARAM_STORE_EVTCHN 2
#define HVM_PARAM_CONSOLE_PFN 17
#define HVM_PARAM_CONSOLE_EVTCHN 18
#define XENMEM_decrease_reservation 1
#define XENMEM_populate_physmap 6
#define XENMEM_add_to_physmap 7
#define XENMAPSPACE_shared_info 0
#define VIRQ_TIMER 0
#define DOMID_SELF 0x7FF0
#define SHUTDOWN_poweroff 0
#define SHUTDOWN_crash 3
#define UPCALL_VECTOR 0xF3

/*
 * A flat 32-bit vcpu_hvm_context (VCPU_HVM_MODE_32B, paging off) for VCPUOP_initialise: 128 bytes as 32 words, the
 * struct vcpu_hvm_x86_32 after mode and padding; the new vCPU starts at eip with esi set (its index, for a guest
 * whose entry needs it).
 */
static inline void flat32_vcpu_context(volatile unsigned int ctx[32], unsigned int eip, unsigned int esi)
{
    for (int i = 0; i < 32; i++)
        ctx[i] = 0;
    volatile unsigned int *r = ctx + 2;
    r[6] = esi;
    r[8] = eip;
    r[9] = 0x2;                        /* eflags */
    r[10] = 0x11;                      /* cr0: PE | ET */
    for (int s = 0; s < 4; s++)
        r[21 + s] = 0xFFFFFFFF;         /* cs, ds, ss, es limits */
    volatile unsigned short *ar = (volatile unsigned short *)(r + 26);
    ar[0] = 0xC9B;                     /* cs: flat 32-bit code */
    ar[1] = ar[2] = ar[3] = 0xC93;     /* ds, ss, es: flat data */
    r[25] = 0x67;                      /* tr limit */
    ar[4] = 0x8B;                      /* tr: busy 32-bit TSS */
}

#endif
