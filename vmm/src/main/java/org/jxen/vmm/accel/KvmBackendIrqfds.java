package org.jxen.vmm.accel;

import static org.jxen.sys.kvm.KvmAbi.*;

import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.BooleanSupplier;
import java.util.function.IntUnaryOperator;

import org.jxen.engine.evtchn.InboundRoutes;
import org.jxen.sys.Errno;
import org.jxen.sys.EventFd;
import org.jxen.sys.kvm.GsiRoute;

/**
 * kvm mode, 2-level events: a backend's notify reaches the guest through an irqfd. Each guest port bound to a backend
 * gets an eventfd and a GSI that KVM routes to that port on its vCPU ({@code KVM_IRQ_ROUTING_XEN_EVTCHN};
 * {@code arch/x86/kvm/xen.c}: {@code kvm_xen_setup_evtchn}, {@code kvm_xen_set_evtchn_fast}); the backend's notify is
 * one write to it, and KVM sets the pending bit, the selector and upcall_pending, kicks the vCPU or wakes its poll,
 * with no jxen thread in between: the seed's eventfd path, reversed.
 *
 * <p>KVM delivers 2-level events only, into a shared_info it knows: the irqfds are installed at the first notify that
 * finds both, and removed in the FIFO switch's grace period ({@link #abiChecked}), after which the engine raises
 * (jxen's FIFO). A deassign returns once an injection already started has finished ({@code kvm_irqfd_deassign}
 * flushes its work), so nothing is delivered to a port after it closes or leaves 2-level. Route changes arrive under
 * the port manager's write lock, notifies under its read lock; this object's lock is a leaf.
 */
final class KvmBackendIrqfds implements InboundRoutes, AutoCloseable {
    private static final Logger LOG = System.getLogger(KvmBackendIrqfds.class.getName());
    /** GSIs below this are the in-kernel PIC's and IOAPIC's (KVM_IOAPIC_NUM_PINS), kept as KVM set them up. */
    private static final int FIRST_GSI = 24;

    private record Route(int guestPort, int backendPort, int vcpu, int gsi, EventFd eventFd) {}

    private final KvmXenCalls vm;
    private final IntUnaryOperator apicIdOf;
    private final BooleanSupplier twoLevel, sharedInfoKnown;
    /** By guest port: every route, installed or not. */
    private final Map<Integer, Route> routes = new HashMap<>();
    /** By backend port: what a notify reads, lock-free (written under this object's lock). */
    private final Map<Integer, Route> byBackend = new ConcurrentHashMap<>();
    private final BitSet gsis = new BitSet();
    private final LongAdder delivered = new LongAdder();
    private volatile boolean installed;
    private volatile boolean refused;
    private volatile boolean closed;

    KvmBackendIrqfds(KvmXenCalls vm, BooleanSupplier twoLevel, BooleanSupplier sharedInfoKnown, IntUnaryOperator apicIdOf) {
        this.vm = vm;
        this.apicIdOf = apicIdOf;
        this.twoLevel = twoLevel;
        this.sharedInfoKnown = sharedInfoKnown;
    }

    @Override
    public synchronized void routed(int guestPort, int backendPort, int vcpu) {
        Route have = routes.get(guestPort);
        if (have != null && have.backendPort() == backendPort && have.vcpu() == vcpu) return;
        if (have != null && have.backendPort() != backendPort) {
            unrouted(guestPort);
            have = null;
        }
        int gsi = have != null ? have.gsi() : allocateGsi();
        EventFd fd = have != null ? have.eventFd() : installed ? EventFd.create() : null;
        Route r = new Route(guestPort, backendPort, vcpu, gsi, fd);
        routes.put(guestPort, r);
        byBackend.put(backendPort, r);
        if (!installed) return;
        // A moved vCPU only changes the table (the irqfd follows it); a new route also needs its irqfd.
        if (!pushTable() || (have == null && !assign(r))) uninstall(true);
    }

    @Override
    public synchronized void unrouted(int guestPort) {
        Route r = routes.remove(guestPort);
        if (r == null) return;
        byBackend.remove(r.backendPort(), r);
        if (installed) {
            if (vm.irqfd(r.eventFd().fd(), r.gsi(), false) != 0 || !pushTable()) uninstall(true);
        }
        if (r.eventFd() != null) r.eventFd().close();
        gsis.clear(r.gsi());
    }

    @Override
    public boolean notify(int backendPort) {
        if (!installed && !install()) return false;
        Route r = byBackend.get(backendPort);
        if (r == null || r.eventFd() == null || !r.eventFd().signal()) return false;
        delivered.increment();
        return true;
    }

    /** After the guest's event-channel ABI may have changed (grace period, write lock held): none while not 2-level. */
    synchronized void abiChecked() {
        if (installed && !twoLevel.getAsBoolean()) uninstall(false);
    }

    /** Notifies delivered through an irqfd so far (tests, the control socket). */
    long delivered() {
        return delivered.sum();
    }

    /** Whether the irqfds are in KVM now. */
    boolean installed() {
        return installed;
    }

    private synchronized boolean install() {
        if (installed) return true;
        if (closed || refused || !twoLevel.getAsBoolean() || !sharedInfoKnown.getAsBoolean()) return false;
        for (Route r : List.copyOf(routes.values())) {
            Route withFd = new Route(r.guestPort(), r.backendPort(), r.vcpu(), r.gsi(), EventFd.create());
            routes.put(r.guestPort(), withFd);
            byBackend.put(r.backendPort(), withFd);
        }
        if (!pushTable()) {
            uninstall(true);
            return false;
        }
        for (Route r : routes.values()) {
            if (!assign(r)) {
                uninstall(true);
                return false;
            }
        }
        installed = true;
        return true;
    }

    /** Deassigns every irqfd (each returns once its injections are done), then gives KVM its default table back. */
    private void uninstall(boolean afterRefusal) {
        installed = false;
        if (afterRefusal) refused = true; // from now on the engine raises every notify (correct, a little slower)
        for (Route r : List.copyOf(routes.values())) {
            if (r.eventFd() == null) continue;
            vm.irqfd(r.eventFd().fd(), r.gsi(), false); // -ENOENT for one never assigned: nothing to undo
            r.eventFd().close();
            Route bare = new Route(r.guestPort(), r.backendPort(), r.vcpu(), r.gsi(), null);
            routes.put(r.guestPort(), bare);
            byBackend.put(r.backendPort(), bare);
        }
        int rc = vm.setGsiRouting(defaultRoutes());
        if (rc != 0) LOG.log(Level.WARNING, "KVM refused its default GSI routing back (" + Errno.describe(-rc) + ")");
    }

    private boolean assign(Route r) {
        int rc = vm.irqfd(r.eventFd().fd(), r.gsi(), true);
        if (rc != 0) report("an irqfd for port " + r.guestPort(), rc);
        return rc == 0;
    }

    private boolean pushTable() {
        List<GsiRoute> table = defaultRoutes();
        for (Route r : routes.values()) table.add(new GsiRoute.XenEvtchn(r.gsi(), r.guestPort(), apicIdOf.applyAsInt(r.vcpu())));
        int rc = vm.setGsiRouting(table);
        if (rc != 0) report("the GSI routing of " + routes.size() + " backend ports", rc);
        return rc == 0;
    }

    private int allocateGsi() {
        int gsi = gsis.nextClearBit(FIRST_GSI);
        gsis.set(gsi);
        return gsi;
    }

    private void report(String what, int rc) {
        if (!refused) LOG.log(Level.WARNING, "KVM refused " + what + " (" + Errno.describe(-rc) + "); jxen raises backends' events itself");
    }

    /**
     * KVM's own table for the in-kernel irqchip ({@code arch/x86/kvm/irq_comm.c}: {@code kvm_setup_default_irq_routing}):
     * GSIs 0-15 to the PIC pin and the IOAPIC pin of that number, 16-23 to the IOAPIC. KVM_SET_GSI_ROUTING replaces the
     * whole table, so it is listed before jxen's entries.
     */
    private static List<GsiRoute> defaultRoutes() {
        List<GsiRoute> table = new ArrayList<>();
        for (int gsi = 0; gsi < FIRST_GSI; gsi++) {
            table.add(new GsiRoute.Irqchip(gsi, KVM_IRQCHIP_IOAPIC, gsi));
            if (gsi < 16) table.add(new GsiRoute.Irqchip(gsi, gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE, gsi % 8));
        }
        return table;
    }

    /** With the guest stopped and every backend detached. */
    @Override
    public synchronized void close() {
        closed = true;
        for (Route r : routes.values()) {
            if (r.eventFd() == null) continue;
            if (installed) vm.irqfd(r.eventFd().fd(), r.gsi(), false);
            r.eventFd().close();
        }
        installed = false;
        routes.clear();
        byBackend.clear();
    }
}
