package org.jxen.engine.platform;

import org.jxen.engine.abi.Hypercall;
import org.jxen.engine.grant.GrantTableOp;
import org.jxen.engine.hvm.HvmOp;
import org.jxen.engine.hypercall.EventChannelOp;
import org.jxen.engine.hypercall.HypercallDispatcher;

/**
 * Every hypercall the engine serves, as one HVM domain's hypercall table: the operations are shared by the domain's
 * vCPUs, and each vCPU thread gets its own dispatcher bound to its {@link VcpuControl} (sched_op and vcpu_op act on
 * the caller; absent parts, null, are -ENOSYS). Toolstack-only calls (sysctl, domctl, platform_op) answer as Xen does to a domU; numbers without an
 * entry here are -ENOSYS.
 */
public record PlatformHypercalls(EventChannelOp evtchn, HvmOp hvm, SchedOp sched, VcpuOp vcpu, MemoryOp memory,
        ConsoleIo console, XenVersion version, GrantTableOp grants, VmAssist vmAssist, TimerOp timer) {

    /** The dispatcher for the vCPU {@code self} ({@code strict}: a handler exception is rethrown, for tests). */
    public HypercallDispatcher dispatcher(VcpuControl self, boolean strict) {
        HypercallDispatcher d = HypercallDispatcher.withEventChannels(evtchn, strict);
        d.register(Hypercall.HVM_OP, hvm);
        d.register(Hypercall.SCHED_OP, (a, m) -> sched.handle(self, a, m));
        d.register(Hypercall.VCPU_OP, (a, m) -> vcpu.handle(self, a, m));
        d.register(Hypercall.MEMORY_OP, memory::handle);
        d.register(Hypercall.CONSOLE_IO, console::handle);
        d.register(Hypercall.XEN_VERSION, version::handle);
        if (grants != null) d.register(Hypercall.GRANT_TABLE_OP, grants::handle);
        if (vmAssist != null) d.register(Hypercall.VM_ASSIST, vmAssist::handle);
        if (timer != null) d.register(Hypercall.SET_TIMER_OP, (a, m) -> timer.handle(self, a));
        d.register(Hypercall.SYSCTL, PrivilegedOp.SYSCTL);
        d.register(Hypercall.DOMCTL, PrivilegedOp.DOMCTL);
        d.register(Hypercall.PLATFORM_OP, PrivilegedOp.PLATFORM_OP);
        return d;
    }
}
