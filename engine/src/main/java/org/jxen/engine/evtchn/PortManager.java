package org.jxen.engine.evtchn;

import java.util.List;
import java.util.concurrent.locks.Lock;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Supplier;

import org.jxen.engine.abi.DomId;
import org.jxen.engine.abi.Errno;
import org.jxen.engine.abi.Virq;

/**
 * The port manager: every EVTCHNOP_* on the guest's port space, with Xen's results and error codes in Xen's order of
 * checks ({@code common/event_channel.c}), plus the host-side operations (raise a VIRQ or PIRQ, the backends' side of
 * interdomain channels).
 *
 * <p>Locking: one read-write lock for the guest and the backend domain together (Xen's event_lock plus the
 * per-channel lock, merged: jxen has exactly two domains). Binds, closes, resets and bind_vcpu take it for writing;
 * send, unmask and status take it for reading, so a send is atomic with respect to a close, as Xen's channel read
 * lock makes it. The ABI's bit operations are atomic, so concurrent readers may raise events in parallel. The fast
 * path does not come here at all.
 *
 * <p>Every argument is the guest's raw value: ports and vCPUs are uint32 in the ABI and arrive here as Java ints,
 * so "negative" means "huge" and is rejected as such.
 */
public final class PortManager {
    private final GuestDomain guest;
    private final BackendDomain backend;
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    private final Lock read = lock.readLock();
    private final Lock write = lock.writeLock();
    private volatile PortObserver observer = PortObserver.NONE;
    private volatile InboundRoutes inbound = InboundRoutes.NONE;

    public PortManager(GuestDomain guest, BackendDomain backend) {
        if (guest.domid() == backend.domid()) throw new IllegalArgumentException("guest and backend share a domid");
        this.guest = guest;
        this.backend = backend;
    }

    public GuestDomain guest() {
        return guest;
    }

    public BackendDomain backend() {
        return backend;
    }

    public void setObserver(PortObserver observer) {
        this.observer = observer;
    }

    /** Backend notifies go through {@code path} where it carries them (kvm mode's irqfds), else the engine raises. */
    public void setInboundRoutes(InboundRoutes path) {
        this.inbound = path;
    }

    /** Computes {@code action} with the port table frozen (no bind, close or reset meanwhile). */
    public <T> T underWriteLock(Supplier<T> action) {
        write.lock();
        try {
            return action.get();
        } finally {
            write.unlock();
        }
    }

    /** Runs {@code action} with the port table frozen (no bind, close or reset meanwhile). */
    public void withWriteLock(Runnable action) {
        write.lock();
        try {
            action.run();
        } finally {
            write.unlock();
        }
    }

    /** rcu_lock_domain_by_any_id: DOMID_SELF is the guest. */
    private EventDomain domainByAnyId(int dom) {
        return dom == DomId.DOMID_SELF ? guest : domainById(dom);
    }

    private EventDomain domainById(int dom) {
        if (dom == guest.domid()) return guest;
        if (dom == backend.domid()) return backend;
        return null;
    }

    // ---- EVTCHNOP_alloc_unbound (6) -------------------------------------------------------------------------

    /** Allocates a port of domain {@code dom} that {@code remoteDom} may bind to: the port, or an errno. */
    public int allocUnbound(int dom, int remoteDom) {
        EventDomain d = domainByAnyId(dom);
        if (d == null) return -Errno.ESRCH;
        if (d != guest) return -Errno.EPERM; // XSM_TARGET: a domU acts on itself only
        write.lock();
        try {
            return allocUnboundLocked(guest, remoteDom == DomId.DOMID_SELF ? guest.domid() : remoteDom);
        } finally {
            write.unlock();
        }
    }

    private int allocUnboundLocked(EventDomain d, int remoteDomid) {
        int port = d.allocatePort();
        if (port < 0) return port;
        Channel ch = Channel.bound(new Binding.Unbound(remoteDomid), 0);
        d.ports.set(port, ch);
        d.initPort(port, ch);
        changed(d, port, ch);
        return port;
    }

    // ---- EVTCHNOP_bind_interdomain (0) ----------------------------------------------------------------------

    /** Connects a new guest port to {@code remoteDom}'s unbound {@code remotePort}: the local port, or an errno. */
    public int bindInterdomain(int remoteDom, int remotePort) {
        EventDomain rd = domainByAnyId(remoteDom);
        if (rd == null) return -Errno.ESRCH;
        write.lock();
        try {
            return bindInterdomainLocked(guest, rd, remotePort);
        } finally {
            write.unlock();
        }
    }

    private int bindInterdomainLocked(EventDomain ld, EventDomain rd, int rport) {
        int lport = ld.allocatePort();
        if (lport < 0) return lport;
        if (!rd.ports.isValid(rport)) return -Errno.EINVAL;
        Channel rch = rd.ports.get(rport);
        if (!(rch.binding() instanceof Binding.Unbound u) || u.remoteDomid() != ld.domid()) return -Errno.EINVAL;

        Channel lch = Channel.bound(new Binding.Interdomain(rd.domid(), rport), 0);
        ld.ports.set(lport, lch);
        ld.initPort(lport, lch);
        Channel rnew = new Channel(new Binding.Interdomain(ld.domid(), lport), rch.vcpu(), rch.priority());
        rd.ports.set(rport, rnew);
        changed(ld, lport, lch);
        changed(rd, rport, rnew);
        // Notifications sent to the unbound remote port were dropped: conservatively raise the new local port.
        ld.raise(lport, lch);
        return lport;
    }

    // ---- EVTCHNOP_bind_virq (1) -----------------------------------------------------------------------------

    public int bindVirq(int virq, int vcpu) {
        if (virq < 0 || virq >= Virq.COUNT) return -Errno.EINVAL;
        if (Virq.isGlobal(virq) && vcpu != 0) return -Errno.EINVAL;
        if (!guest.hasVcpu(vcpu)) return -Errno.ENOENT;
        write.lock();
        try {
            if (guest.virqPort(vcpu, virq) != 0) return -Errno.EEXIST;
            int port = guest.allocatePort();
            if (port < 0) return port;
            Channel ch = Channel.bound(new Binding.Virq(virq), vcpu);
            guest.ports.set(port, ch);
            guest.initPort(port, ch);
            guest.setVirqPort(vcpu, virq, port);
            changed(guest, port, ch);
            return port;
        } finally {
            write.unlock();
        }
    }

    // ---- EVTCHNOP_bind_pirq (2) -----------------------------------------------------------------------------

    public int bindPirq(int pirq, int flags) {
        if (pirq < 0 || pirq >= guest.config().nrPirqs()) return -Errno.EINVAL;
        if (!guest.config().pirqAccess().test(pirq)) return -Errno.EPERM;
        write.lock();
        try {
            if (guest.pirqPort(pirq) != 0) return -Errno.EEXIST;
            int port = guest.allocatePort();
            if (port < 0) return port;
            Channel ch = Channel.bound(new Binding.Pirq(pirq), 0);
            guest.ports.set(port, ch);
            guest.initPort(port, ch);
            guest.setPirqPort(pirq, port);
            changed(guest, port, ch);
            return port;
        } finally {
            write.unlock();
        }
    }

    // ---- EVTCHNOP_bind_ipi (7) ------------------------------------------------------------------------------

    public int bindIpi(int vcpu) {
        if (!guest.hasVcpu(vcpu)) return -Errno.ENOENT;
        write.lock();
        try {
            int port = guest.allocatePort();
            if (port < 0) return port;
            Channel ch = Channel.bound(Binding.IPI, vcpu);
            guest.ports.set(port, ch);
            guest.initPort(port, ch);
            changed(guest, port, ch);
            return port;
        } finally {
            write.unlock();
        }
    }

    // ---- EVTCHNOP_close (3) ---------------------------------------------------------------------------------

    public int close(int port) {
        write.lock();
        try {
            return closeLocked(guest, port);
        } finally {
            write.unlock();
        }
    }

    private int closeLocked(EventDomain d, int port) {
        if (!d.ports.isValid(port)) return -Errno.EINVAL;
        Channel ch = d.ports.get(port);
        switch (ch.binding()) {
            case Binding.Free f -> {
                return -Errno.EINVAL;
            }
            case Binding.Reserved r -> {
                return -Errno.EINVAL;
            }
            default -> {}
        }
        if (d == guest) observer.closing(port);
        switch (ch.binding()) {
            case Binding.Pirq p -> guest.setPirqPort(p.pirq(), 0);
            case Binding.Virq v -> {
                for (int vcpu = 0; vcpu < guest.vcpuCount(); vcpu++) {
                    if (guest.virqPort(vcpu, v.virq()) == port) guest.setVirqPort(vcpu, v.virq(), 0);
                }
            }
            case Binding.Interdomain i -> {
                EventDomain rd = domainById(i.remoteDomid());
                Channel rch = rd.ports.get(i.remotePort());
                Channel unbound = new Channel(new Binding.Unbound(d.domid()), rch.vcpu(), rch.priority());
                rd.ports.set(i.remotePort(), unbound);
                changed(rd, i.remotePort(), unbound);
            }
            default -> {}
        }
        // Clear the pending event so a re-bound port starts clean; the vCPU binding goes back to 0.
        d.clearPending(port);
        d.ports.set(port, Channel.FREE);
        return 0;
    }

    // ---- EVTCHNOP_send (4) ----------------------------------------------------------------------------------

    public int send(int port) {
        read.lock();
        try {
            return sendLocked(guest, port);
        } finally {
            read.unlock();
        }
    }

    private int sendLocked(EventDomain ld, int port) {
        if (!ld.ports.isValid(port)) return -Errno.EINVAL;
        Channel ch = ld.ports.get(port);
        switch (ch.binding()) {
            case Binding.Interdomain i -> {
                EventDomain rd = domainById(i.remoteDomid());
                rd.raise(i.remotePort(), rd.ports.get(i.remotePort()));
                return 0;
            }
            case Binding.Ipi ipi -> {
                ld.raise(port, ch);
                return 0;
            }
            case Binding.Unbound u -> {
                return 0; // silently dropped
            }
            default -> {
                return -Errno.EINVAL;
            }
        }
    }

    // ---- EVTCHNOP_status (5) --------------------------------------------------------------------------------

    public PortStatus status(int dom, int port) {
        EventDomain d = domainByAnyId(dom);
        if (d == null) return PortStatus.error(-Errno.ESRCH);
        if (d != guest) return PortStatus.error(-Errno.EPERM);
        read.lock();
        try {
            if (!guest.ports.isValid(port)) return PortStatus.error(-Errno.EINVAL);
            return PortStatus.of(guest.ports.get(port));
        } finally {
            read.unlock();
        }
    }

    // ---- EVTCHNOP_bind_vcpu (8) -----------------------------------------------------------------------------

    public int bindVcpu(int port, int vcpu) {
        if (!guest.hasVcpu(vcpu)) return -Errno.ENOENT;
        write.lock();
        try {
            if (!guest.ports.isValid(port)) return -Errno.EINVAL;
            Channel ch = guest.ports.get(port);
            boolean movable = switch (ch.binding()) {
                case Binding.Virq v -> Virq.isGlobal(v.virq());
                case Binding.Unbound u -> true;
                case Binding.Interdomain i -> true;
                case Binding.Pirq p -> true;
                default -> false;
            };
            if (!movable) return -Errno.EINVAL;
            if (ch.vcpu() != vcpu) {
                Channel moved = ch.withVcpu(vcpu);
                guest.ports.set(port, moved);
                changed(guest, port, moved);
            }
            return 0;
        } finally {
            write.unlock();
        }
    }

    // ---- EVTCHNOP_unmask (9) --------------------------------------------------------------------------------

    public int unmask(int port) {
        read.lock();
        try {
            if (!guest.ports.isValid(port)) return -Errno.EINVAL;
            Channel ch = guest.ports.get(port);
            // event.h evtchn_port_unmask: a free or reserved port is left as it is (its mask bit stays set), still 0.
            if (ch.usable()) guest.abi().unmask(ch.vcpu(), port, ch.priority());
            return 0;
        } finally {
            read.unlock();
        }
    }

    // ---- EVTCHNOP_reset (10) --------------------------------------------------------------------------------

    /** Closes every port of the guest and returns it to the 2-level ABI. */
    public int reset(int dom) {
        EventDomain d = domainByAnyId(dom);
        if (d == null) return -Errno.ESRCH;
        if (d != guest) return -Errno.EPERM;
        write.lock();
        try {
            for (int port = 1; port < guest.ports.validPorts(); port++) closeLocked(guest, port);
            guest.clearBindings();
            if (!(guest.abi() instanceof TwoLevelAbi)) guest.setAbi(guest.twoLevel());
            return 0;
        } finally {
            write.unlock();
        }
    }

    // ---- EVTCHNOP_set_priority (13) -------------------------------------------------------------------------

    public int setPriority(int port, int priority) {
        write.lock();
        try {
            if (!guest.ports.isValid(port)) return -Errno.EINVAL;
            // event.h evtchn_port_set_priority: no such op (2-level) -ENOSYS, then an unusable port -EACCES, then the
            // ABI's own check (FIFO: priority > 15 is -EINVAL).
            if (!guest.abi().hasPriorities()) return -Errno.ENOSYS;
            if (!guest.ports.get(port).usable()) return -Errno.EACCES;
            int rc = guest.abi().setPriority(port, priority);
            if (rc == 0) {
                Channel ch = guest.ports.get(port).withPriority(priority);
                guest.ports.set(port, ch);
                changed(guest, port, ch);
            }
            return rc;
        } finally {
            write.unlock();
        }
    }

    // ---- host side: raising guest ports ---------------------------------------------------------------------

    /** Raises a bound guest port as if its peer had sent on it (control socket, irqfd-like injection). */
    public int raise(int port) {
        read.lock();
        try {
            if (!guest.ports.isValid(port)) return -Errno.EINVAL;
            Channel ch = guest.ports.get(port);
            if (ch.isFree() || ch.binding() instanceof Binding.Reserved) return -Errno.EINVAL;
            guest.raise(port, ch);
            return 0;
        } finally {
            read.unlock();
        }
    }

    /**
     * Raises a VIRQ (send_guest_vcpu_virq / send_guest_global_virq): per-vCPU VIRQs on {@code vcpu}'s binding,
     * global ones on vCPU 0's binding, delivered to the port's notify vCPU. Returns whether a port was bound.
     */
    public boolean raiseVirq(int vcpu, int virq) {
        if (virq < 0 || virq >= Virq.COUNT) return false;
        int owner = Virq.isGlobal(virq) ? 0 : vcpu;
        if (!guest.hasVcpu(owner)) return false;
        read.lock();
        try {
            int port = guest.virqPort(owner, virq);
            if (port == 0) return false;
            guest.raise(port, guest.ports.get(port));
            return true;
        } finally {
            read.unlock();
        }
    }

    /** Raises a PIRQ's port (a device interrupt routed as an event). Returns whether a port was bound. */
    public boolean raisePirq(int pirq) {
        if (pirq < 0 || pirq >= guest.config().nrPirqs()) return false;
        read.lock();
        try {
            int port = guest.pirqPort(pirq);
            if (port == 0) return false;
            guest.raise(port, guest.ports.get(port));
            return true;
        } finally {
            read.unlock();
        }
    }

    // ---- backend side of interdomain channels ---------------------------------------------------------------

    /** The backend allocates a port for the guest to bind (xenevtchn_bind_unbound_port). */
    public int backendAllocUnbound(int remoteDom) {
        if (domainByAnyId(remoteDom) != guest) return -Errno.ESRCH;
        write.lock();
        try {
            return allocUnboundLocked(backend, guest.domid());
        } finally {
            write.unlock();
        }
    }

    /** The backend binds the guest's unbound {@code guestPort} (xenevtchn_bind_interdomain): its local port. */
    public int backendBindInterdomain(int remoteDom, int guestPort) {
        if (domainByAnyId(remoteDom) != guest) return -Errno.ESRCH;
        write.lock();
        try {
            return bindInterdomainLocked(backend, guest, guestPort);
        } finally {
            write.unlock();
        }
    }

    /** The backend notifies its peer (xenevtchn_notify). */
    public int backendNotify(int backendPort) {
        read.lock();
        try {
            if (inbound.notify(backendPort)) return 0;
            return sendLocked(backend, backendPort);
        } finally {
            read.unlock();
        }
    }

    /** The backend closes its port (xenevtchn_unbind); the guest's side reverts to unbound. */
    public int backendClose(int backendPort) {
        write.lock();
        try {
            return closeLocked(backend, backendPort);
        } finally {
            write.unlock();
        }
    }

    /** The channel of a backend port (for the backend API and tests). */
    public Channel backendChannel(int backendPort) {
        read.lock();
        try {
            return backend.ports.isValid(backendPort) ? backend.ports.get(backendPort) : Channel.FREE;
        } finally {
            read.unlock();
        }
    }

    /** The channel of a guest port, or FREE beyond the valid range (inspection, save, tests). */
    public Channel channel(int port) {
        read.lock();
        try {
            return guest.ports.isValid(port) ? guest.ports.get(port) : Channel.FREE;
        } finally {
            read.unlock();
        }
    }

    /** d->valid_evtchns of the guest. */
    public int validPorts() {
        read.lock();
        try {
            return guest.ports.validPorts();
        } finally {
            read.unlock();
        }
    }

    /**
     * Consistency of the port tables (for fuzzers, stress tests and restore): see {@link PortInvariants}. Returns the
     * violations (empty when consistent).
     */
    public List<String> checkInvariants() {
        read.lock();
        try {
            return PortInvariants.check(guest, backend, this::domainById);
        } finally {
            read.unlock();
        }
    }

    private void changed(EventDomain d, int port, Channel ch) {
        if (d == guest) observer.changed(port, ch);
    }
}
