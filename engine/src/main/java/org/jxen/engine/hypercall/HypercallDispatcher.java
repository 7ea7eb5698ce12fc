package org.jxen.engine.hypercall;

import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.concurrent.atomic.LongAdder;

import org.jxen.engine.abi.Errno;
import org.jxen.engine.abi.Hypercall;
import org.jxen.engine.memory.GuestVirtualMemory;
import org.jxen.engine.jfr.HypercallEvent;

/**
 * Hypercall number to handler, as Xen's hvm_hypercall_table. The engine registers HYPERVISOR_event_channel_op; the
 * VMM registers the rest (console_io, sched_op, memory_op, ...). Xen's rules at the edge: a hypercall from guest user
 * mode is -EPERM; a number without a handler is -ENOSYS. A handler that throws is a jxen bug: the guest gets -EFAULT,
 * the bug is counted and reported, and the vCPU loop goes on (in strict mode, used by tests and fuzzers, it throws).
 */
public final class HypercallDispatcher {
    private static final Logger LOG = System.getLogger(HypercallDispatcher.class.getName());

    /** One hypercall's implementation. Returns Xen's result; must not throw for any guest input. */
    @FunctionalInterface
    public interface Handler {
        long handle(HypercallArgs args, GuestVirtualMemory memory);
    }

    /** Told about a handler that threw (a jxen bug). */
    @FunctionalInterface
    public interface BugReporter {
        void report(HypercallArgs args, RuntimeException bug);
    }

    private final AtomicReferenceArray<Handler> handlers = new AtomicReferenceArray<>(Hypercall.COUNT);
    private final LongAdder calls = new LongAdder();
    private final LongAdder bugs = new LongAdder();
    private volatile BugReporter bugReporter = (args, bug) -> LOG.log(Level.ERROR, "bug in hypercall " + args.number() + " (answered -EFAULT)", bug);
    private final boolean strict;

    public HypercallDispatcher(boolean strict) {
        this.strict = strict;
    }

    /** A dispatcher serving HYPERVISOR_event_channel_op through {@code evtchnOp}. */
    public static HypercallDispatcher withEventChannels(EventChannelOp evtchnOp, boolean strict) {
        HypercallDispatcher d = new HypercallDispatcher(strict);
        d.register(Hypercall.EVENT_CHANNEL_OP, (args, mem) -> evtchnOp.invoke(HypercallArgs.u32(args.a1()), args.a2(), mem));
        return d;
    }

    public void register(int number, Handler handler) {
        handlers.set(number, handler);
    }

    public void setBugReporter(BugReporter reporter) {
        this.bugReporter = reporter;
    }

    /**
     * Runs a hypercall. {@code userMode}: the vCPU was at CPL > 0 (Xen: -EPERM for HVM guests).
     * Returns the value for RAX (already truncated for 32-bit callers).
     */
    public long dispatch(HypercallArgs args, GuestVirtualMemory memory, boolean userMode) {
        calls.increment();
        HypercallEvent event = new HypercallEvent();
        event.begin();
        long rc;
        if (userMode) {
            rc = -Errno.EPERM;
        } else {
            Handler h = args.number() >= 0 && args.number() < Hypercall.COUNT ? handlers.get(args.number()) : null;
            rc = h == null ? -Errno.ENOSYS : invoke(h, args, memory);
        }
        if (event.shouldCommit()) {
            event.number = args.number();
            event.arg1 = args.a1();
            event.result = rc;
            event.commit();
        }
        return args.resultRegister(rc);
    }

    private long invoke(Handler h, HypercallArgs args, GuestVirtualMemory memory) {
        try {
            return h.handle(args, memory);
        } catch (RuntimeException bug) {
            if (strict) throw bug;
            bugs.increment();
            bugReporter.report(args, bug);
            return -Errno.EFAULT;
        }
    }

    public long calls() {
        return calls.sum();
    }

    /** Handler exceptions seen (each one a jxen bug). */
    public long bugs() {
        return bugs.sum();
    }
}
