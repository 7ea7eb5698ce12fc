package org.jxen.vmm.kvm;

import java.util.Map;

import org.jxen.engine.evtchn.Channel;
import org.jxen.engine.evtchn.FifoAbi;
import org.jxen.engine.evtchn.GuestDomain;
import org.jxen.engine.evtchn.PortManager;
import org.jxen.vmm.backend.xenbus.PvBackend;

/**
 * What jxen can say about a guest that stopped making progress (its run reached --timeout): where jxen's own threads
 * are, the event-channel state the guest sees (upcall_pending, FIFO ready words and heads, every bound port's
 * pending/masked state and event word) and each PV device's ring indexes. Enough to tell a lost event from a lost
 * request from a stuck thread; read without locks, so a snapshot, never a consistent cut.
 */
final class StallReport {
    private StallReport() {}

    static String of(GuestPlatform platform, Iterable<PvBackend> backends) {
        StringBuilder sb = new StringBuilder("jxen threads:\n");
        for (Map.Entry<Thread, StackTraceElement[]> e : Thread.getAllStackTraces().entrySet()) {
            if (!e.getKey().getName().startsWith("jxen")) continue;
            sb.append("  ").append(e.getKey().getName()).append(" (").append(e.getKey().getState()).append(")\n");
            StackTraceElement[] frames = e.getValue();
            for (int i = 0; i < Math.min(frames.length, 12); i++) sb.append("      at ").append(frames[i]).append('\n');
        }
        GuestDomain guest = platform.guest();
        PortManager ports = platform.ports();
        var abi = guest.abi();
        sb.append("event channels (").append(abi instanceof FifoAbi ? "FIFO" : "2-level").append("):\n");
        for (int v = 0; v < guest.shared().vcpuCount(); v++) {
            sb.append("  vCPU ").append(v).append(" upcall_pending ").append(guest.shared().vcpuInfo(v).getByte(0));
            if (abi instanceof FifoAbi fifo && fifo.controlBlock(v) != null) {
                var cb = fifo.controlBlock(v);
                sb.append(" ready 0x").append(Integer.toHexString(cb.getIntVolatile(0))).append(" heads");
                for (int p = 0; p < 16; p++) {
                    int head = cb.getIntVolatile(8 + 4L * p);
                    if (head != 0) sb.append(" [").append(p).append("]=").append(head);
                }
            }
            sb.append('\n');
        }
        for (int port = 1; port < ports.validPorts(); port++) {
            Channel ch = ports.channel(port);
            if (ch.isFree()) continue;
            sb.append("  port ").append(port).append(' ').append(ch.binding()).append(" vcpu ").append(ch.vcpu())
                    .append(abi.isPending(port) ? " pending" : "").append(abi.isMasked(port) ? " masked" : "");
            if (abi instanceof FifoAbi fifo) sb.append(" word 0x").append(Integer.toHexString(fifo.eventWord(port)));
            sb.append('\n');
        }
        for (PvBackend b : backends) {
            String rings = b.ringState();
            if (!rings.isEmpty()) sb.append("  ").append(b.name()).append(": ").append(rings).append('\n');
        }
        return sb.toString().strip();
    }
}
