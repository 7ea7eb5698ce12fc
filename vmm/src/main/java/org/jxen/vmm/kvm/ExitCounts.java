package org.jxen.vmm.kvm;

import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.LongAdder;
import java.util.stream.IntStream;

/**
 * The domain's KVM exits by kind, summed over its vCPUs: where a guest's time leaves the kernel for jxen. Every exit is a
 * return to user space costing microseconds (more under nested virtualisation), so these tell which device or call a
 * guest's boot or workload spends its exits on, e.g. the PCI configuration probes a Linux guest makes through 0xCF8.
 * One {@link LongAdder} per kind: each vCPU thread adds to its own cell, the control socket reads the sum.
 */
public final class ExitCounts {
    /** What an exit was for; port I/O is split by the ports jxen gives a meaning. */
    public enum Kind {
        /** A hypercall through jxen's hypercall page (an {@code out} to its port): user mode. */
        HYPERCALL_PAGE,
        /** A hypercall by VMCALL/VMMCALL that KVM's Xen support left to jxen: kvm mode. */
        XEN_HYPERCALL,
        /** The debug console ports (0xE9, 0x12, COM1). */
        CONSOLE_IO,
        /** PCI configuration space through 0xCF8-0xCFF, which jxen answers with all-ones (no PCI bus). */
        PCI_CONFIG_IO,
        /** Any other port: the platform's devices, or all-ones. */
        OTHER_IO,
        /** MMIO that nothing backs (read as all-ones). */
        MMIO,
        MSR_READ,
        MSR_WRITE,
        /** KVM_EXIT_INTR: a signal kicked the vCPU out (a message to its thread, a stop). */
        INTERRUPTED,
        /** An instruction the host's KVM refused and jxen emulated. */
        EMULATED,
        /** Everything that ends the run (shutdown, faults, failed entries). */
        FINAL;

        /** The name in the control socket's counters: lower case, dashes. */
        public String key() {
            return name().toLowerCase(Locale.ROOT).replace('_', '-');
        }
    }

    private static final Kind[] KINDS = Kind.values();
    /** How many of the busiest ports {@link #figures} names. */
    static final int TOP_PORTS = 8;
    private final LongAdder[] counts = new LongAdder[KINDS.length];
    /** The legacy (ISA) port space, 0x000-0x3FF, where the devices a guest probes for live. */
    private static final int ISA_PORTS = 0x400;
    /** PCI configuration mechanism #1: 0xCF8-0xCFF. */
    private static final int PCI_CONFIG = 0xCF8, PCI_CONFIG_PORTS = 8;
    /**
     * Exits by port for the ports jxen gives no meaning, in the ISA space and PCI configuration (one array slot each,
     * 8 KiB in all; any other port shares the last slot): which legacy device a guest probes, at one atomic add.
     */
    private final AtomicLongArray unbackedPorts = new AtomicLongArray(ISA_PORTS + PCI_CONFIG_PORTS + 1);

    public ExitCounts() {
        for (int i = 0; i < counts.length; i++) counts[i] = new LongAdder();
    }

    void count(Kind kind) {
        counts[kind.ordinal()].increment();
    }

    /** A port exit of {@code kind}; PCI configuration and other ports are also counted by port. */
    void countPort(Kind kind, int port) {
        count(kind);
        if (kind == Kind.PCI_CONFIG_IO || kind == Kind.OTHER_IO) unbackedPorts.getAndIncrement(slotOf(port));
    }

    private static int slotOf(int port) {
        if (port >= 0 && port < ISA_PORTS) return port;
        if (port >= PCI_CONFIG && port < PCI_CONFIG + PCI_CONFIG_PORTS) return ISA_PORTS + port - PCI_CONFIG;
        return ISA_PORTS + PCI_CONFIG_PORTS;
    }

    private static String nameOf(int slot) {
        if (slot < ISA_PORTS) return String.format("0x%x", slot);
        if (slot < ISA_PORTS + PCI_CONFIG_PORTS) return String.format("0x%x", PCI_CONFIG + slot - ISA_PORTS);
        return "others";
    }

    /** How many exits of {@code kind} so far. */
    public long of(Kind kind) {
        return counts[kind.ordinal()].sum();
    }

    /**
     * Every kind with its count, in declaration order, their total, and the {@value #TOP_PORTS} unbacked ports with the
     * most exits ("busiest-unbacked-ports": {"0x42": n, ...}; "others" for ports outside the ISA space and PCI
     * configuration).
     */
    public Map<String, Object> figures() {
        Map<String, Object> m = new LinkedHashMap<>();
        long total = 0;
        for (Kind k : KINDS) {
            long n = of(k);
            m.put(k.key(), n);
            total += n;
        }
        m.put("total", total);
        Map<String, Long> ports = new LinkedHashMap<>();
        IntStream.range(0, unbackedPorts.length()).filter(i -> unbackedPorts.get(i) > 0).boxed()
                .sorted(Comparator.comparingLong((Integer i) -> unbackedPorts.get(i)).reversed().thenComparing(i -> i))
                .limit(TOP_PORTS).forEach(i -> ports.put(nameOf(i), unbackedPorts.get(i)));
        m.put("busiest-unbacked-ports", ports);
        return m;
    }
}
