/*
 * Prints the KVM ABI facts jxen's FFM layer hard-codes (ioctl numbers, constants, struct sizes and offsets), from
 * the system's <linux/kvm.h>, one "NAME VALUE" line each. KvmAbiTest compares them with org.jxen.sys.kvm.KvmAbi,
 * so a wrong constant fails a test on any machine, with or without /dev/kvm.
 */
#include <stddef.h>
#include <stdio.h>
#include <linux/kvm.h>

#define P(name, value) printf("%s %lld\n", name, (long long)(value))
#define C(name) P(#name, name)
#define S(type) P("sizeof_" #type, sizeof(struct type))
#define O(type, field) P("offsetof_" #type "_" #field, offsetof(struct type, field))

int main(void)
{
    C(KVM_API_VERSION);
    C(KVM_GET_API_VERSION); C(KVM_CREATE_VM); C(KVM_CHECK_EXTENSION); C(KVM_GET_VCPU_MMAP_SIZE);
    C(KVM_GET_SUPPORTED_CPUID); C(KVM_CREATE_VCPU); C(KVM_SET_USER_MEMORY_REGION); C(KVM_SET_TSS_ADDR);
    C(KVM_SET_IDENTITY_MAP_ADDR); C(KVM_CREATE_IRQCHIP); C(KVM_SIGNAL_MSI); C(KVM_ENABLE_CAP);
    C(KVM_X86_SET_MSR_FILTER); C(KVM_RUN); C(KVM_GET_REGS); C(KVM_SET_REGS); C(KVM_GET_SREGS); C(KVM_SET_SREGS);
    C(KVM_GET_CLOCK); C(KVM_SET_CLOCK); C(KVM_CLOCK_TSC_STABLE); C(KVM_SET_CPUID2); C(KVM_SET_MP_STATE); C(KVM_GET_MP_STATE); C(KVM_GET_TSC_KHZ); C(KVM_GET_MSRS);
    C(KVM_SET_MSRS); C(KVM_GET_FPU); C(KVM_SET_FPU); C(KVM_GET_LAPIC); C(KVM_SET_LAPIC); C(KVM_GET_VCPU_EVENTS);
    C(KVM_SET_VCPU_EVENTS); C(KVM_GET_XSAVE); C(KVM_SET_XSAVE); C(KVM_GET_XCRS); C(KVM_SET_XCRS);
    C(KVM_GET_IRQCHIP); C(KVM_SET_IRQCHIP);
    C(KVM_GET_DIRTY_LOG); C(KVM_CLEAR_DIRTY_LOG); C(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2);
    C(KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE); C(KVM_MEM_LOG_DIRTY_PAGES);
    S(kvm_dirty_log); O(kvm_dirty_log, dirty_bitmap);
    S(kvm_clear_dirty_log); O(kvm_clear_dirty_log, num_pages); O(kvm_clear_dirty_log, first_page); O(kvm_clear_dirty_log, dirty_bitmap);
    O(kvm_userspace_memory_region, flags);
    C(KVM_CAP_VCPU_EVENTS); C(KVM_CAP_XSAVE); C(KVM_CAP_XCRS);
    C(KVM_IRQCHIP_PIC_MASTER); C(KVM_IRQCHIP_PIC_SLAVE); C(KVM_IRQCHIP_IOAPIC);
    C(KVM_CAP_PIT2); C(KVM_CAP_PIT_STATE2); C(KVM_CAP_REINJECT_CONTROL);
    C(KVM_CREATE_PIT2); C(KVM_GET_PIT2); C(KVM_SET_PIT2); C(KVM_REINJECT_CONTROL);
    C(KVM_PIT_SPEAKER_DUMMY); C(KVM_PIT_FLAGS_HPET_LEGACY); C(KVM_PIT_FLAGS_SPEAKER_DATA_ON);
    S(kvm_pit_config); S(kvm_pit_channel_state); O(kvm_pit_channel_state, latched_count); O(kvm_pit_channel_state, gate);
    O(kvm_pit_channel_state, count_load_time); S(kvm_pit_state2); O(kvm_pit_state2, flags); S(kvm_reinject_control);
    S(kvm_fpu); S(kvm_lapic_state); S(kvm_vcpu_events); S(kvm_xsave); S(kvm_xcrs); S(kvm_irqchip); O(kvm_irqchip, chip);

    C(KVM_CAP_IRQCHIP); C(KVM_CAP_USER_MEMORY); C(KVM_CAP_SET_TSS_ADDR); C(KVM_CAP_EXT_CPUID);
    C(KVM_CAP_SIGNAL_MSI); C(KVM_CAP_SYNC_REGS); C(KVM_CAP_IMMEDIATE_EXIT); C(KVM_CAP_X86_USER_SPACE_MSR);
    C(KVM_CAP_X86_MSR_FILTER); C(KVM_CAP_GET_TSC_KHZ); C(KVM_CAP_XEN_HVM); C(KVM_CAP_MP_STATE);

    C(KVM_EXIT_UNKNOWN); C(KVM_EXIT_EXCEPTION); C(KVM_EXIT_IO); C(KVM_EXIT_HLT); C(KVM_EXIT_MMIO);
    C(KVM_EXIT_SHUTDOWN); C(KVM_EXIT_FAIL_ENTRY); C(KVM_EXIT_INTR); C(KVM_EXIT_INTERNAL_ERROR); C(KVM_INTERNAL_ERROR_EMULATION);
    C(KVM_EXIT_SYSTEM_EVENT); C(KVM_EXIT_X86_RDMSR); C(KVM_EXIT_X86_WRMSR);
    C(KVM_EXIT_IO_IN); C(KVM_EXIT_IO_OUT);
    C(KVM_MSR_EXIT_REASON_INVAL); C(KVM_MSR_EXIT_REASON_UNKNOWN); C(KVM_MSR_EXIT_REASON_FILTER);
    C(KVM_MSR_FILTER_DEFAULT_ALLOW); C(KVM_MSR_FILTER_READ); C(KVM_MSR_FILTER_WRITE);
    C(KVM_SYNC_X86_REGS); C(KVM_SYNC_X86_SREGS); C(KVM_SYNC_X86_EVENTS);
    C(KVM_MP_STATE_RUNNABLE); C(KVM_MP_STATE_UNINITIALIZED); C(KVM_MP_STATE_INIT_RECEIVED); C(KVM_MP_STATE_HALTED); C(KVM_CPUID_FLAG_SIGNIFCANT_INDEX);
    C(KVM_SYSTEM_EVENT_SHUTDOWN); C(KVM_SYSTEM_EVENT_RESET); C(KVM_SYSTEM_EVENT_CRASH);

    S(kvm_run); O(kvm_run, request_interrupt_window); O(kvm_run, immediate_exit); O(kvm_run, exit_reason);
    O(kvm_run, if_flag); O(kvm_run, io); O(kvm_run, kvm_valid_regs); O(kvm_run, kvm_dirty_regs); O(kvm_run, s);
    P("offsetof_kvm_run_io_direction", offsetof(struct kvm_run, io.direction));
    P("offsetof_kvm_run_io_size", offsetof(struct kvm_run, io.size));
    P("offsetof_kvm_run_io_port", offsetof(struct kvm_run, io.port));
    P("offsetof_kvm_run_io_count", offsetof(struct kvm_run, io.count));
    P("offsetof_kvm_run_io_data_offset", offsetof(struct kvm_run, io.data_offset));
    P("offsetof_kvm_run_mmio_phys_addr", offsetof(struct kvm_run, mmio.phys_addr));
    P("offsetof_kvm_run_mmio_data", offsetof(struct kvm_run, mmio.data));
    P("offsetof_kvm_run_mmio_len", offsetof(struct kvm_run, mmio.len));
    P("offsetof_kvm_run_mmio_is_write", offsetof(struct kvm_run, mmio.is_write));
    P("offsetof_kvm_run_msr_error", offsetof(struct kvm_run, msr.error));
    P("offsetof_kvm_run_msr_reason", offsetof(struct kvm_run, msr.reason));
    P("offsetof_kvm_run_msr_index", offsetof(struct kvm_run, msr.index));
    P("offsetof_kvm_run_msr_data", offsetof(struct kvm_run, msr.data));
    P("offsetof_kvm_run_internal_suberror", offsetof(struct kvm_run, internal.suberror));
    P("offsetof_kvm_run_fail_entry_reason", offsetof(struct kvm_run, fail_entry.hardware_entry_failure_reason));
    P("offsetof_kvm_run_system_event_type", offsetof(struct kvm_run, system_event.type));
    P("offsetof_kvm_run_xen_type", offsetof(struct kvm_run, xen.type));
    P("offsetof_kvm_run_xen_hcall_longmode", offsetof(struct kvm_run, xen.u.hcall.longmode));
    P("offsetof_kvm_run_xen_hcall_cpl", offsetof(struct kvm_run, xen.u.hcall.cpl));
    P("offsetof_kvm_run_xen_hcall_input", offsetof(struct kvm_run, xen.u.hcall.input));
    P("offsetof_kvm_run_xen_hcall_result", offsetof(struct kvm_run, xen.u.hcall.result));
    P("offsetof_kvm_run_xen_hcall_params", offsetof(struct kvm_run, xen.u.hcall.params));
    C(KVM_EXIT_XEN); C(KVM_EXIT_XEN_HCALL); C(KVM_XEN_HVM_CONFIG); C(KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL);
    S(kvm_xen_hvm_config); O(kvm_xen_hvm_config, flags); O(kvm_xen_hvm_config, msr);
    C(KVM_XEN_HVM_CONFIG_SHARED_INFO); C(KVM_XEN_HVM_CONFIG_RUNSTATE); C(KVM_XEN_HVM_CONFIG_EVTCHN_2LEVEL);
    C(KVM_XEN_HVM_CONFIG_EVTCHN_SEND);
    C(KVM_XEN_HVM_GET_ATTR); C(KVM_XEN_HVM_SET_ATTR); C(KVM_XEN_VCPU_GET_ATTR); C(KVM_XEN_VCPU_SET_ATTR);
    S(kvm_xen_hvm_attr); O(kvm_xen_hvm_attr, u); S(kvm_xen_vcpu_attr); O(kvm_xen_vcpu_attr, u);
    C(KVM_XEN_ATTR_TYPE_LONG_MODE); C(KVM_XEN_ATTR_TYPE_SHARED_INFO); C(KVM_XEN_ATTR_TYPE_UPCALL_VECTOR);
    C(KVM_XEN_ATTR_TYPE_EVTCHN); C(KVM_XEN_ATTR_TYPE_XEN_VERSION);
#ifdef KVM_XEN_ATTR_TYPE_RUNSTATE_UPDATE_FLAG
    C(KVM_XEN_ATTR_TYPE_RUNSTATE_UPDATE_FLAG); C(KVM_XEN_HVM_CONFIG_RUNSTATE_UPDATE_FLAG);
#else
    /* Headers older than Linux 6.3 (Debian 12 ships 6.1's) lack these: their values from 6.3's api.rst. */
    P("KVM_XEN_ATTR_TYPE_RUNSTATE_UPDATE_FLAG", 0x5); P("KVM_XEN_HVM_CONFIG_RUNSTATE_UPDATE_FLAG", 1 << 6);
#endif
    C(KVM_XEN_HVM_EVTCHN_SEND); S(kvm_irq_routing_xen_evtchn);
    C(KVM_XEN_EVTCHN_DEASSIGN); C(KVM_XEN_EVTCHN_UPDATE); C(KVM_XEN_EVTCHN_RESET);
    P("offsetof_kvm_xen_hvm_attr_evtchn_send_port", offsetof(struct kvm_xen_hvm_attr, u.evtchn.send_port));
    P("offsetof_kvm_xen_hvm_attr_evtchn_type", offsetof(struct kvm_xen_hvm_attr, u.evtchn.type));
    P("offsetof_kvm_xen_hvm_attr_evtchn_flags", offsetof(struct kvm_xen_hvm_attr, u.evtchn.flags));
    P("offsetof_kvm_xen_hvm_attr_evtchn_port", offsetof(struct kvm_xen_hvm_attr, u.evtchn.deliver.port.port));
    P("offsetof_kvm_xen_hvm_attr_evtchn_vcpu", offsetof(struct kvm_xen_hvm_attr, u.evtchn.deliver.port.vcpu));
    P("offsetof_kvm_xen_hvm_attr_evtchn_priority", offsetof(struct kvm_xen_hvm_attr, u.evtchn.deliver.port.priority));
    P("offsetof_kvm_xen_hvm_attr_evtchn_fd", offsetof(struct kvm_xen_hvm_attr, u.evtchn.deliver.eventfd.fd));
    C(KVM_IRQ_ROUTING_XEN_EVTCHN_PRIO_2LEVEL);
    C(KVM_SET_GSI_ROUTING); C(KVM_IRQFD); C(KVM_IRQ_ROUTING_IRQCHIP); C(KVM_IRQ_ROUTING_XEN_EVTCHN);
    C(KVM_IRQFD_FLAG_DEASSIGN); S(kvm_irq_routing); S(kvm_irq_routing_entry); O(kvm_irq_routing_entry, type);
    O(kvm_irq_routing_entry, u); S(kvm_irqfd); O(kvm_irqfd, gsi); O(kvm_irqfd, flags);
    C(KVM_XEN_VCPU_ATTR_TYPE_VCPU_INFO); C(KVM_XEN_VCPU_ATTR_TYPE_VCPU_TIME_INFO); C(KVM_XEN_VCPU_ATTR_TYPE_RUNSTATE_ADDR);
    C(KVM_XEN_VCPU_ATTR_TYPE_RUNSTATE_DATA);
    P("offsetof_kvm_xen_vcpu_attr_runstate_entry_time", offsetof(struct kvm_xen_vcpu_attr, u.runstate.state_entry_time));
    P("offsetof_kvm_xen_vcpu_attr_runstate_time_offline", offsetof(struct kvm_xen_vcpu_attr, u.runstate.time_offline));
    P("offsetof_kvm_xen_vcpu_attr_timer_expires_ns", offsetof(struct kvm_xen_vcpu_attr, u.timer.expires_ns));
    C(KVM_XEN_VCPU_ATTR_TYPE_VCPU_ID); C(KVM_XEN_VCPU_ATTR_TYPE_TIMER); C(KVM_XEN_VCPU_ATTR_TYPE_UPCALL_VECTOR);
    P("offsetof_kvm_run_regs", offsetof(struct kvm_run, s.regs.regs));
    P("offsetof_kvm_run_sregs", offsetof(struct kvm_run, s.regs.sregs));

    S(kvm_regs); O(kvm_regs, rax); O(kvm_regs, rbx); O(kvm_regs, rcx); O(kvm_regs, rdx); O(kvm_regs, rsi);
    O(kvm_regs, rdi); O(kvm_regs, rsp); O(kvm_regs, rbp); O(kvm_regs, r8); O(kvm_regs, r10); O(kvm_regs, rip);
    O(kvm_regs, rflags);
    S(kvm_segment); O(kvm_segment, base); O(kvm_segment, limit); O(kvm_segment, selector); O(kvm_segment, type);
    O(kvm_segment, present); O(kvm_segment, dpl); O(kvm_segment, db); O(kvm_segment, s); O(kvm_segment, l);
    O(kvm_segment, g); O(kvm_segment, avl); O(kvm_segment, unusable);
    S(kvm_dtable);
    S(kvm_sregs); O(kvm_sregs, cs); O(kvm_sregs, ds); O(kvm_sregs, es); O(kvm_sregs, fs); O(kvm_sregs, gs);
    O(kvm_sregs, ss); O(kvm_sregs, tr); O(kvm_sregs, ldt); O(kvm_sregs, gdt); O(kvm_sregs, idt); O(kvm_sregs, cr0);
    O(kvm_sregs, cr2); O(kvm_sregs, cr3); O(kvm_sregs, cr4); O(kvm_sregs, efer); O(kvm_sregs, apic_base);
    S(kvm_msi); O(kvm_msi, address_lo); O(kvm_msi, address_hi); O(kvm_msi, data);
    S(kvm_cpuid2); S(kvm_cpuid_entry2); O(kvm_cpuid_entry2, function); O(kvm_cpuid_entry2, index);
    O(kvm_cpuid_entry2, flags); O(kvm_cpuid_entry2, eax); O(kvm_cpuid_entry2, edx);
    S(kvm_userspace_memory_region); O(kvm_userspace_memory_region, guest_phys_addr);
    O(kvm_userspace_memory_region, memory_size); O(kvm_userspace_memory_region, userspace_addr);
    S(kvm_enable_cap); O(kvm_enable_cap, args);
    S(kvm_msr_filter); S(kvm_msr_filter_range); O(kvm_msr_filter, ranges); O(kvm_msr_filter_range, nmsrs);
    O(kvm_msr_filter_range, base); O(kvm_msr_filter_range, bitmap);
    S(kvm_msrs); S(kvm_msr_entry); O(kvm_msr_entry, data);
    S(kvm_clock_data); O(kvm_clock_data, clock); O(kvm_clock_data, flags);
    return 0;
}
