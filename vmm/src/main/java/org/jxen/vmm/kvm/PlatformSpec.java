package org.jxen.vmm.kvm;

import java.io.InputStream;
import java.io.OutputStream;
import java.util.Objects;
import java.util.function.IntFunction;
import java.util.function.IntUnaryOperator;
import java.util.function.LongConsumer;
import java.util.function.LongSupplier;

import org.jxen.engine.memory.GuestMemory;
import org.jxen.engine.memory.HoleFrames;
import org.jxen.engine.platform.VcpuControl;
import org.jxen.engine.platform.VcpuLifecycle;
import org.jxen.engine.pvclock.MasterClock;
import org.jxen.vmm.boot.GuestLayout;

/**
 * What a {@link GuestPlatform} is built from, at boot or restore: the guest's RAM and layout, its vCPUs as the engine
 * reaches them, how an upcall leaves (KVM_SIGNAL_MSI under KVM, a recorder in tests), the clock, and the PV console's
 * streams. The platform wires these together; it opens nothing of its own beyond its threads.
 *
 * @param vcpus      the vCPUs' controls (block/wake, shutdown) by Xen vCPU id; null for one not created yet
 * @param apicIdOf   the local APIC id of a Xen vCPU id
 * @param lifecycle  VCPUOP_up / down, as the VMM carries them to its vCPU threads
 * @param released   told of every frame the guest gives back (the host page can be released)
 * @param holes      the VMM's backing for guest frames above RAM (grant frames placed in a hole); {@link HoleFrames#NONE}
 */
public record PlatformSpec(GuestMemory ram, GuestLayout layout, int vcpuCount, IntFunction<VcpuControl> vcpus, IntUnaryOperator apicIdOf,
        VcpuLifecycle lifecycle, GuestPlatform.MsiSink msi, MasterClock clock, LongSupplier systemTime, LongConsumer released,
        OutputStream console, InputStream consoleInput, HoleFrames holes) {
    public PlatformSpec {
        Objects.requireNonNull(ram, "ram");
        Objects.requireNonNull(layout, "layout");
        Objects.requireNonNull(vcpus, "vcpus");
        Objects.requireNonNull(apicIdOf, "apicIdOf");
        Objects.requireNonNull(lifecycle, "lifecycle");
        Objects.requireNonNull(msi, "msi");
        Objects.requireNonNull(clock, "clock");
        Objects.requireNonNull(systemTime, "systemTime");
        Objects.requireNonNull(released, "released");
        Objects.requireNonNull(console, "console");
        Objects.requireNonNull(consoleInput, "consoleInput");
        Objects.requireNonNull(holes, "holes");
        if (vcpuCount < 1) throw new IllegalArgumentException(vcpuCount + " vCPUs");
    }
}
