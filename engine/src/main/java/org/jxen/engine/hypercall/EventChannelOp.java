package org.jxen.engine.hypercall;

import static org.jxen.engine.abi.EvtchnStructs.*;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import org.jxen.engine.abi.Errno;
import org.jxen.engine.abi.EvtchnOp;
import org.jxen.engine.evtchn.Binding;
import org.jxen.engine.evtchn.FifoControl;
import org.jxen.engine.fastpath.FastPath;
import org.jxen.engine.evtchn.PortManager;
import org.jxen.engine.evtchn.PortStatus;
import org.jxen.engine.memory.GuestVirtualMemory;
import org.jxen.engine.jfr.SendEvent;

/**
 * HYPERVISOR_event_channel_op(cmd, arg): copies the command's struct in from guest-virtual memory, calls the port
 * manager, and copies the whole struct back for commands with outputs, exactly as Xen's do_event_channel_op does (so
 * bytes Xen does not write, such as an unused union member of evtchn_status, come back as the guest wrote them).
 * A struct that cannot be read, or an output that cannot be written, is -EFAULT; in the latter case the operation
 * has happened (Xen: "Cleaning up here would be a mess!").
 */
public final class EventChannelOp {
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED;
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED;

    private final PortManager ports;
    /** The fast path in front of the port manager, if any (each calling thread uses its own grace-period slot). */
    private volatile FastPath fastPath;
    /** EVTCHNOP_init_control/expand_array, when the domain has guest memory to map (-ENOSYS without). */
    private final FifoControl fifo;
    /**
     * Whether EVTCHNOP_init_control is answered (the VMM's choice, as a Xen built without FIFO or QEMU's Xen emulation
     * answers -ENOSYS; Linux then stays on 2-level events, {@code drivers/xen/events/events_base.c}).
     */
    private volatile boolean fifoOffered = true;

    /** A domain without FIFO support (no guest memory to map control blocks from). */
    public EventChannelOp(PortManager ports) {
        this(ports, null);
    }

    public EventChannelOp(PortManager ports, FifoControl fifo) {
        this.ports = ports;
        this.fifo = fifo;
    }

    /** Whether the guest may switch to the FIFO ABI (EVTCHNOP_init_control); a domain already on FIFO stays on it. */
    public void offerFifo(boolean offered) {
        this.fifoOffered = offered;
    }

    /** Whether the guest is offered the FIFO ABI. */
    public boolean fifoOffered() {
        return fifoOffered && fifo != null;
    }

    /** Puts {@code fast} in front of the port manager for EVTCHNOP_send. */
    public void setFastPath(FastPath fast) {
        this.fastPath = fast;
    }

    private long trySendFast(int port) {
        FastPath fast = fastPath;
        return fast == null ? FastPath.MISS : fast.trySend(port);
    }

    /** Runs command {@code cmd} with its struct at guest-virtual {@code arg}; returns Xen's result. */
    public long invoke(int cmd, long arg, GuestVirtualMemory mem) {
        return switch (cmd) {
            case EvtchnOp.SEND -> send(arg, mem);
            case EvtchnOp.BIND_INTERDOMAIN -> withStruct(mem, arg, BIND_INTERDOMAIN_SIZE, s -> {
                int rc = ports.bindInterdomain(u16(s, BIND_INTERDOMAIN_REMOTE_DOM), s.get(U32, BIND_INTERDOMAIN_REMOTE_PORT));
                return output(rc, s, BIND_INTERDOMAIN_LOCAL_PORT);
            });
            case EvtchnOp.BIND_VIRQ -> withStruct(mem, arg, BIND_VIRQ_SIZE, s ->
                    output(ports.bindVirq(s.get(U32, BIND_VIRQ_VIRQ), s.get(U32, BIND_VIRQ_VCPU)), s, BIND_VIRQ_PORT));
            case EvtchnOp.BIND_PIRQ -> withStruct(mem, arg, BIND_PIRQ_SIZE, s ->
                    output(ports.bindPirq(s.get(U32, BIND_PIRQ_PIRQ), s.get(U32, BIND_PIRQ_FLAGS)), s, BIND_PIRQ_PORT));
            case EvtchnOp.CLOSE -> withStruct(mem, arg, PORT_ONLY_SIZE, s -> input(ports.close(s.get(U32, 0))));
            case EvtchnOp.STATUS -> withStruct(mem, arg, STATUS_SIZE, EventChannelOp.this::status);
            case EvtchnOp.ALLOC_UNBOUND -> withStruct(mem, arg, ALLOC_UNBOUND_SIZE, s -> output(
                    ports.allocUnbound(u16(s, ALLOC_UNBOUND_DOM), u16(s, ALLOC_UNBOUND_REMOTE_DOM)), s, ALLOC_UNBOUND_PORT));
            case EvtchnOp.BIND_IPI -> withStruct(mem, arg, BIND_IPI_SIZE, s ->
                    output(ports.bindIpi(s.get(U32, BIND_IPI_VCPU)), s, BIND_IPI_PORT));
            case EvtchnOp.BIND_VCPU -> withStruct(mem, arg, BIND_VCPU_SIZE, s ->
                    input(ports.bindVcpu(s.get(U32, BIND_VCPU_PORT), s.get(U32, BIND_VCPU_VCPU))));
            case EvtchnOp.UNMASK -> withStruct(mem, arg, PORT_ONLY_SIZE, s -> input(ports.unmask(s.get(U32, 0))));
            case EvtchnOp.RESET, EvtchnOp.RESET_CONT -> withStruct(mem, arg, RESET_SIZE, s -> input(ports.reset(u16(s, 0))));
            case EvtchnOp.INIT_CONTROL -> initControl(arg, mem);
            case EvtchnOp.EXPAND_ARRAY -> expandArray(arg, mem);
            case EvtchnOp.SET_PRIORITY -> withStruct(mem, arg, SET_PRIORITY_SIZE, s ->
                    input(ports.setPriority(s.get(U32, SET_PRIORITY_PORT), s.get(U32, SET_PRIORITY_PRIORITY))));
            default -> -Errno.ENOSYS;
        };
    }

    private long send(long arg, GuestVirtualMemory mem) {
        long port = mem.readU32(arg);
        if (port < 0) return port;
        SendEvent event = new SendEvent();
        event.begin();
        long rc = trySendFast((int) port);
        boolean fast = rc != FastPath.MISS;
        if (!fast) rc = ports.send((int) port);
        if (event.shouldCommit()) {
            event.port = (int) port;
            event.fastPath = fast;
            event.result = rc;
            event.commit();
        }
        return rc;
    }

    private long initControl(long arg, GuestVirtualMemory mem) {
        FifoControl f = fifo;
        if (f == null || !fifoOffered) return -Errno.ENOSYS;
        return withStruct(mem, arg, INIT_CONTROL_SIZE, s -> {
            int rc = f.initControl(s.get(ValueLayout.JAVA_LONG_UNALIGNED, INIT_CONTROL_GFN),
                    s.get(U32, INIT_CONTROL_OFFSET), s.get(U32, INIT_CONTROL_VCPU));
            if (rc != 0) return new Result(rc, false);
            s.set(ValueLayout.JAVA_BYTE, INIT_CONTROL_LINK_BITS, (byte) f.linkBits());
            // Xen fills link_bits even on failure, but copies the struct back only on success.
            return new Result(0, true);
        });
    }

    private long expandArray(long arg, GuestVirtualMemory mem) {
        FifoControl f = fifo;
        if (f == null) return -Errno.ENOSYS;
        return withStruct(mem, arg, EXPAND_ARRAY_SIZE, s -> input(f.expandArray(s.get(ValueLayout.JAVA_LONG_UNALIGNED, 0))));
    }

    private Result status(MemorySegment s) {
        PortStatus st = ports.status(u16(s, STATUS_DOM), s.get(U32, STATUS_PORT));
        if (st.rc() != 0) return new Result(st.rc(), false);
        s.set(U32, STATUS_STATUS, st.status());
        switch (st.binding()) {
            case Binding.Unbound u -> s.set(U16, STATUS_U_DOM, (short) u.remoteDomid());
            case Binding.Interdomain i -> {
                s.set(U16, STATUS_U_DOM, (short) i.remoteDomid());
                s.set(U32, STATUS_U_PORT, i.remotePort());
            }
            case Binding.Pirq p -> s.set(U32, STATUS_U_WORD, p.pirq());
            case Binding.Virq v -> s.set(U32, STATUS_U_WORD, v.virq());
            default -> {}
        }
        s.set(U32, STATUS_VCPU, st.vcpu());
        return new Result(0, true);
    }

    /** An operation's result and whether the struct must be copied back. */
    private record Result(int rc, boolean copyBack) {}

    @FunctionalInterface
    private interface StructOp {
        Result apply(MemorySegment struct);
    }

    private static long withStruct(GuestVirtualMemory mem, long arg, int size, StructOp op) {
        MemorySegment s = MemorySegment.ofArray(new byte[size]);
        int rc = mem.read(arg, s);
        if (rc != 0) return rc;
        Result r = op.apply(s);
        if (r.copyBack() && mem.write(arg, s) != 0) return -Errno.EFAULT;
        return r.rc();
    }

    /** A port-returning command: on success the port goes into the struct, which is copied back, and 0 returned. */
    private static Result output(int rc, MemorySegment s, long portOffset) {
        if (rc < 0) return new Result(rc, false);
        s.set(U32, portOffset, rc);
        return new Result(0, true);
    }

    private static Result input(int rc) {
        return new Result(rc, false);
    }

    private static int u16(MemorySegment s, long offset) {
        return Short.toUnsignedInt(s.get(U16, offset));
    }
}
