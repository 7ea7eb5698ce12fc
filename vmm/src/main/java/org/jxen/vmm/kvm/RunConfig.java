package org.jxen.vmm.kvm;

import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Objects;

import org.jxen.vmm.backend.block.DiskSpec;
import org.jxen.vmm.backend.net.NetSpec;

/**
 * What {@code jxen run} starts: the image (an ELF or a bzImage), RAM, vCPUs, the kernel command line, the time limit,
 * the guest's console (the PV console ring: output and input), the hypervisor console (console_io and the debug
 * ports, prefixed "(dN) " per line, as Xen's log keeps them apart from the guest's console), the acceleration, and an
 * initrd (null for none), the PV disks and NICs (xvda…, vif 0…), the event-channel ABIs offered, and whether the
 * guest gets a PIT ({@code pit}: KVM's in-kernel i8254 at ports 0x40-0x43 and 0x61; off by default, as Xen's PVH
 * platform has none and its guests read all-ones there).
 */
public record RunConfig(Path image, long memoryBytes, int vcpus, String cmdline, Duration timeout, OutputStream console,
        InputStream consoleInput, OutputStream hypervisorConsole, Accel accel, Path initrd, List<DiskSpec> disks, List<NetSpec> nets,
        EventChannels eventChannels, boolean pit) {
    /**
     * How hypercalls reach jxen. {@code USER}: only through jxen's hypercall page (any KVM). {@code KVM}: also by
     * VMCALL/VMMCALL, which KVM's Xen support (KVM_CAP_XEN_HVM, INTERCEPT_HCALL) hands over as KVM_EXIT_XEN; current
     * Linux calls Xen that way. {@code AUTO}: KVM where the host has it, else USER.
     */
    public enum Accel { AUTO, KVM, USER }

    /**
     * Which event-channel ABIs the guest is offered. {@code FIFO}: both (a guest picks FIFO where it can, as Linux does).
     * {@code TWO_LEVEL}: 2-level only (EVTCHNOP_init_control answers -ENOSYS). {@code AUTO}: 2-level where KVM delivers
     * 2-level events in the kernel (kvm mode: sends on routed ports, backend notifies, the callback vector; with FIFO
     * every one of them passes through jxen), both elsewhere. docs/peer.md has the measurements behind the default.
     */
    public enum EventChannels { AUTO, FIFO, TWO_LEVEL }

    /** Offering the event-channel ABIs {@link EventChannels#AUTO} chooses, without a PIT. */
    public RunConfig(Path image, long memoryBytes, int vcpus, String cmdline, Duration timeout, OutputStream console, InputStream consoleInput,
            OutputStream hypervisorConsole, Accel accel, Path initrd, List<DiskSpec> disks, List<NetSpec> nets) {
        this(image, memoryBytes, vcpus, cmdline, timeout, console, consoleInput, hypervisorConsole, accel, initrd, disks, nets, EventChannels.AUTO, false);
    }

    /** Without PV disks or NICs. */
    public RunConfig(Path image, long memoryBytes, int vcpus, String cmdline, Duration timeout, OutputStream console, InputStream consoleInput,
            OutputStream hypervisorConsole, Accel accel, Path initrd) {
        this(image, memoryBytes, vcpus, cmdline, timeout, console, consoleInput, hypervisorConsole, accel, initrd, List.of(), List.of());
    }

    /** Both consoles on one stream (tests, embedding): the hypervisor console's lines carry their prefix. User mode. */
    public RunConfig(Path image, long memoryBytes, int vcpus, String cmdline, Duration timeout, OutputStream console, InputStream consoleInput) {
        this(image, memoryBytes, vcpus, cmdline, timeout, console, consoleInput, console, Accel.USER, null);
    }

    /** The same run with another acceleration. */
    public RunConfig withAccel(Accel a) {
        return new RunConfig(image, memoryBytes, vcpus, cmdline, timeout, console, consoleInput, hypervisorConsole, a, initrd, disks, nets, eventChannels, pit);
    }

    /** The same run with an initrd (module 0 of the start info). */
    public RunConfig withInitrd(Path file) {
        return new RunConfig(image, memoryBytes, vcpus, cmdline, timeout, console, consoleInput, hypervisorConsole, accel, file, disks, nets, eventChannels, pit);
    }

    /** The same run with these PV disks and NICs. */
    public RunConfig withDevices(List<DiskSpec> d, List<NetSpec> n) {
        return new RunConfig(image, memoryBytes, vcpus, cmdline, timeout, console, consoleInput, hypervisorConsole, accel, initrd, d, n, eventChannels, pit);
    }

    /** The same run offering other event-channel ABIs. */
    public RunConfig withEventChannels(EventChannels e) {
        return new RunConfig(image, memoryBytes, vcpus, cmdline, timeout, console, consoleInput, hypervisorConsole, accel, initrd, disks, nets, e, pit);
    }

    /** The same run with or without KVM's in-kernel PIT. */
    public RunConfig withPit(boolean p) {
        return new RunConfig(image, memoryBytes, vcpus, cmdline, timeout, console, consoleInput, hypervisorConsole, accel, initrd, disks, nets, eventChannels, p);
    }

    public RunConfig {
        Objects.requireNonNull(eventChannels, "eventChannels");
        disks = List.copyOf(disks);
        nets = List.copyOf(nets);
        if (disks.size() > 16) throw new IllegalArgumentException("at most 16 --disk");
        if (nets.size() > 16) throw new IllegalArgumentException("at most 16 --net");
        if (vcpus < 1 || vcpus > 32) throw new IllegalArgumentException("--vcpus must be 1..32");
        if (memoryBytes < (2L << 20) || memoryBytes > (3L << 30)) throw new IllegalArgumentException("--memory must be 2..3072 MiB");
        if (timeout.isNegative() || timeout.isZero()) throw new IllegalArgumentException("--timeout must be positive");
    }
}
