package org.jxen.vmm.accel;

import java.util.OptionalLong;
import java.util.function.IntFunction;
import java.util.function.IntUnaryOperator;
import java.util.function.LongSupplier;

import org.jxen.sys.kvm.KvmVm;

/**
 * jxen alone: hypercalls arrive through jxen's hypercall page (an {@code out} KVM hands over as KVM_EXIT_IO), jxen
 * publishes pvclock from its own clock and raises and injects every event (KVM_SIGNAL_MSI). Works on any KVM; a guest
 * that calls Xen by VMCALL/VMMCALL cannot reach it.
 *
 * @param whyNoVmcall the refusal for a guest that calls Xen by VMCALL/VMMCALL (why KVM's Xen support is not used)
 * @param note        what {@link #describe} adds (why this was chosen), or null
 */
public record UserSpaceAcceleration(String whyNoVmcall, String note) implements Acceleration {
    @Override
    public String vmcallRefusal() {
        return whyNoVmcall;
    }

    @Override
    public void configureVm(KvmVm vm) {}

    @Override
    public LongSupplier systemTime(KvmVm vm, OptionalLong resumedAt) {
        long t0 = System.nanoTime() - resumedAt.orElse(0); // a resumed domain's clock continues the saved one
        return () -> System.nanoTime() - t0;
    }

    @Override
    public Offload attach(EngineParts engine, KvmXenCalls calls, IntFunction<? extends AcceleratedVcpu> vcpus, IntUnaryOperator apicIdOf) {
        return Offload.USER_SPACE;
    }

    @Override
    public String describe() {
        return "user (hypercalls through jxen's hypercall page" + (note == null ? ")" : "; " + note + ")");
    }

    @Override
    public boolean kernelDeliversTwoLevel() {
        return false;
    }
}
