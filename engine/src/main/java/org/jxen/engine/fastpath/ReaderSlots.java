package org.jxen.engine.fastpath;

import java.lang.System.Logger;
import java.lang.System.Logger.Level;
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
 * <p>Ordering: the slot's store in {@link Slot#enter} must be visible before the route is read, and the writer's
 * unpublishing store (volatile) before it reads the slots: a store-load pair on each side. By default the reader pays
 * with a volatile store (a locked instruction on x86, as SRCU's smp_mb in srcu_read_lock). Once the VMM has given a
 * heavy fence ({@link #useHeavyFence}: membarrier(2), a barrier on every running thread of the process), slots made
 * from then on enter with an opaque store instead (a compiler barrier, no CPU fence) and the writer runs the heavy
 * fence before reading the slots, which orders every reader's store before the writer's reads: readers pay nothing,
 * the rare writer pays for all (liburcu's membarrier flavour; Linux's classic RCU likewise puts no fence in readers).
 * Slots made before stay volatile, which the writer's fence serves as well. {@link Slot#exit} is a release store
 * after the delivery.
 */
public final class ReaderSlots {
    private static final Logger LOG = System.getLogger(ReaderSlots.class.getName());

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
        /** Whether a writer's heavy fence orders this reader (then it enters without a fence of its own). */
        private final boolean fencedByWriter;
        /** The owning thread, weakly: a dead thread's slot (always even) is dropped from the registry. */
        private final WeakReference<Thread> owner = new WeakReference<>(Thread.currentThread());
        @SuppressWarnings("unused") private long p11, p12, p13, p14, p15, p16, p17;

        private Slot(boolean fencedByWriter) {
            this.fencedByWriter = fencedByWriter;
        }

        /** Enters a read-side critical section. Only the owning thread calls this. */
        public void enter() {
            if (fencedByWriter) SEQ.setOpaque(this, seq + 1);
            else SEQ.setVolatile(this, seq + 1);
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
    /** The writers' fence on every reader thread, once the VMM gave one; null: readers fence themselves. */
    private volatile Runnable heavyFence;
    private final ThreadLocal<Slot> mine = ThreadLocal.withInitial(this::register);

    private ReaderSlots() {}

    /** The calling thread's slot (created on first use). */
    public Slot current() {
        return mine.get();
    }

    /**
     * From now on writers run {@code fence} (a full barrier on every running thread of the process) before they read
     * the slots, and slots made from now on enter without a fence. Once set it stays; a second call is ignored.
     */
    public synchronized void useHeavyFence(Runnable fence) {
        if (heavyFence == null) heavyFence = fence;
    }

    private synchronized Slot register() {
        Slot s = new Slot(heavyFence != null);
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
        Runnable fence = heavyFence;
        if (fence != null) fence.run(); // every reader's slot store is now visible to the reads below
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
                        LOG.log(Level.WARNING, "route grace period waiting >1 s on reader slot " + i + " (a Sender shared between threads?)");
                        reported = true;
                    }
                    LockSupport.parkNanos(10_000);
                }
            }
        }
    }
}
