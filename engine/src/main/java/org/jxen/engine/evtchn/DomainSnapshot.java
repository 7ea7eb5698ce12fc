package org.jxen.engine.evtchn;

import java.util.ArrayList;
import java.util.List;

/**
 * Everything about a domain's event channels that does not live in guest RAM (pending, mask and selector bits, event
 * words and control blocks do, and travel with it). The VMM adds its own state (callback parameters, timers) as
 * opaque {@link Extension}s. Written and read by {@link SnapshotCodec}; format in docs/save-format.md.
 *
 * @param sharedInfoGpa guest-physical address of shared_info, or -1 while it is still the private page
 * @param privateSharedInfo the private page's contents when {@code sharedInfoGpa} is -1 (else empty)
 * @param vcpuInfoGpa per vCPU: the registered vcpu_info's address, or -1 for the default slot
 * @param privateVcpuInfo per vCPU without a slot in shared_info and none registered: its private area (else empty)
 */
public record DomainSnapshot(int domid, int vcpus, int nrPirqs, int maxPort, boolean width32, long sharedInfoGpa,
        byte[] privateSharedInfo, long[] vcpuInfoGpa, List<byte[]> privateVcpuInfo, int guestValidPorts,
        List<PortEntry> guestPorts, int backendValidPorts, List<PortEntry> backendPorts, Fifo fifo,
        List<Extension> extensions) {

    /** One bound port. {@code kind} is the EVTCHNSTAT_* value; a and b as in {@link Binding}. */
    public record PortEntry(int port, int kind, int a, int b, int vcpu, int priority) {}

    /**
     * The FIFO ABI's state: control-block addresses per vCPU (-1: none), event-array page addresses in slot order,
     * queue tails [vCPU][priority], the non-default last queues, the held ports.
     */
    public record Fifo(long[] controlBlockGpa, long[] eventPageGpa, int[][] tails, List<int[]> lastQueues, int[] held) {}

    /** A section owned by someone else (the VMM), carried through untouched. */
    public record Extension(String tag, byte[] data) {}

    /** This snapshot with {@code more} extensions appended. */
    public DomainSnapshot withExtensions(List<Extension> more) {
        List<Extension> all = new ArrayList<>(extensions);
        all.addAll(more);
        return new DomainSnapshot(domid, vcpus, nrPirqs, maxPort, width32, sharedInfoGpa, privateSharedInfo, vcpuInfoGpa,
                privateVcpuInfo, guestValidPorts, guestPorts, backendValidPorts, backendPorts, fifo, List.copyOf(all));
    }
}
