package org.jxen.engine.fastpath;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.lang.ref.WeakReference;
import java.util.Arrays;
import java.util.concurrent.locks.LockSupport;

/**
 * Grace periods for route tables (an RCU-like scheme), one instance for the process ({@link #global()}): every
 * thread that sends gets one slot, the same for every route table, so no per-table thread-local state can outlive
 * its table. Each slot has a sequence number:
 * odd while it is inside a lookup-and-deliver, even outside. A writer that has unpublished a route calls
 * {@link #synchronize()}: it waits until every slot it saw odd has moved on, so no sender can still hold the old
 * route (and its eventfd) when synchronize returns. Readers never wait; writers wait only for senders already in
 * flight, never for a sender that starts later (it can only see the new table).
 *
 * <p>Ordering: {@link Slot#enter} is a volatile store (a StoreLoad fence on x86, as SRCU's smp_mb in
 * srcu_read_lock), so the slot is visible before the route is read; the writer's unpublishing store is volatile too,
 * before it reads the slots. {@link Slot#exit} is a release store after the delivery.
 */
public final class ReaderSlots {
    /** One thread's reader state, padded against false sharing with other slots. */
    public static final class Slot {
        private static final VarHandle SEQ;

        static {
            try {
                SEQ = MethodHandles.lookup().findVarHandle(Slot.class, "seq", long.class);
            } catch (ReflectiveOperationException e) {
                throw new ExceptionInInitializerError(e);
            }
        }

        @SuppressWarnings("unused") private long p01, p02, p03, p04, p05, p06, p07;
        private long seq;
        /** The owning thread, weakly: a dead thread's slot (always even) is dropped from the registry. */
        private final WeakReference<Thread> owner = new WeakReference<>(Thread.currentThread());
        @SuppressWarnings("unused") private long p11, p12, p13, p14, p15, p16, p17;

        /** Enters a read-side critical section. Only the owning thread calls this. */
        public void enter() {
            SEQ.setVolatile(this, seq + 1);
        }

        /** Leaves it. */
        public void exit() {
            SEQ.setRelease(this, seq + 1);
        }

        long read() {
            return (long) SEQ.getVolatile(this);
        }

        boolean ownerGone() {
            Thread t = owner.get();
            return t == null || !t.isAlive();
        }
    }

    private static final ReaderSlots GLOBAL = new ReaderSlots();

    /** The process's grace-period domain. */
    public static ReaderSlots global() {
        return GLOBAL;
    }

    private volatile Slot[] slots = new Slot[0];
    private final ThreadLocal<Slot> mine = ThreadLocal.withInitial(this::register);

    private ReaderSlots() {}

    /** The calling thread's slot (created on first use). */
    public Slot current() {
        return mine.get();
    }

    private synchronized Slot register() {
        Slot s = new Slot();
        Slot[] live = Arrays.stream(slots).filter(x -> !(x.ownerGone() && (x.read() & 1) == 0)).toArray(Slot[]::new);
        Slot[] grown = Arrays.copyOf(live, live.length + 1);
        grown[grown.length - 1] = s;
        slots = grown;
        return s;
    }

    /**
     * Waits until every reader that was inside a critical section when this was called has left it. Readers never
     * block inside one, so a wait beyond a second means a misused slot (shared between threads): it is reported once.
     */
    public void synchronize() {
        Slot[] snapshot = slots;
        long[] seen = new long[snapshot.length];
        for (int i = 0; i < snapshot.length; i++) seen[i] = snapshot[i].read();
        for (int i = 0; i < snapshot.length; i++) {
            if ((seen[i] & 1) == 0) continue;
            int spins = 0;
            long start = 0;
            boolean reported = false;
            while (snapshot[i].read() == seen[i]) {
                if (++spins < 1000) {
                    Thread.onSpinWait();
                } else if (spins < 1100) {
                    Thread.yield();
                } else {
                    if (start == 0) start = System.nanoTime();
                    else if (!reported && System.nanoTime() - start > 1_000_000_000L) {
                        System.err.println("jxen: route grace period waiting >1 s on reader slot " + i + " (a Sender shared between threads?)");
                        reported = true;
                    }
                    LockSupport.parkNanos(10_000);
                }
            }
        }
    }
}
