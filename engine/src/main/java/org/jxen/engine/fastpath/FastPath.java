package org.jxen.engine.fastpath;

import org.jxen.engine.abi.Errno;
import org.jxen.engine.abi.EvtchnOp;
import org.jxen.engine.evtchn.EventChannelAbi;
import org.jxen.engine.evtchn.FifoAbi;
import org.jxen.engine.evtchn.GuestDomain;
import org.jxen.engine.evtchn.TwoLevelAbi;

/**
 * EVTCHNOP_send for the ports the route table knows, without the port manager: look the route up without a lock,
 * deliver, done. A miss (no route) returns {@link #MISS} so the caller falls through to the
 * port manager. Each sending thread uses its own {@link Sender} (its reader slot).
 */
public final class FastPath {
    /** trySend's answer when the port has no route: the caller goes to the port manager. */
    public static final long MISS = Long.MIN_VALUE;

    private final GuestDomain guest;
    private final RouteTable routes;

    public FastPath(GuestDomain guest, RouteTable routes) {
        this.guest = guest;
        this.routes = routes;
    }

    public RouteTable routes() {
        return routes;
    }

    /** A sender for the calling thread (it uses that thread's grace-period slot: use it on that thread only). */
    public Sender newSender() {
        return new Sender(routes.readers().current());
    }

    /** EVTCHNOP_send on the calling thread's slot: Xen's result, or MISS. */
    public long trySend(int port) {
        return send(routes.readers().current(), port);
    }

    private long send(ReaderSlots.Slot slot, int port) {
        slot.enter();
        try {
            Route r = routes.lookup(port);
            if (r == null) return MISS;
            if (r.type() == EvtchnOp.STAT_VIRQ) return -Errno.EINVAL; // VIRQ ports cannot be sent on
            deliver(r);
            return 0;
        } finally {
            slot.exit();
        }
    }

    /** A thread's handle on the fast path, caching its slot. Use it on the thread that created it. */
    public final class Sender {
        private final ReaderSlots.Slot slot;

        private Sender(ReaderSlots.Slot slot) {
            this.slot = slot;
        }

        /** The guest sends on {@code port}: Xen's result, or MISS for the port manager. */
        public long trySend(int port) {
            return send(slot, port);
        }

        /** The host raises a routed port (a VIRQ from a timer, an IPI): true if it had a route. */
        public boolean raise(int port) {
            slot.enter();
            try {
                Route r = routes.lookup(port);
                if (r == null) return false;
                deliver(r);
                return true;
            } finally {
                slot.exit();
            }
        }
    }

    /**
     * One call site per ABI: a domain switches from 2-level to FIFO at most once a boot, and through one shared
     * interface call the 2-level sends' type profile made C2 throw the compiled send away at the switch and left the
     * FIFO send interpreted or at C1's profiling tier for a while (issue 36); each site here stays monomorphic.
     */
    private void deliver(Route r) {
        if (!r.isLocal()) {
            r.signal().signal();
            return;
        }
        EventChannelAbi abi = guest.abi();
        if (abi instanceof TwoLevelAbi twoLevel) twoLevel.setPending(r.vcpu(), r.targetPort(), r.priority());
        else if (abi instanceof FifoAbi fifo) fifo.setPending(r.vcpu(), r.targetPort(), r.priority());
        else abi.setPending(r.vcpu(), r.targetPort(), r.priority());
    }
}
