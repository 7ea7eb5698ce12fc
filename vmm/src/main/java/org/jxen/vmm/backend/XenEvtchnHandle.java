package org.jxen.vmm.backend;

import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.jxen.engine.evtchn.PortManager;
import org.jxen.engine.fastpath.BackendSignals;
import org.jxen.sys.Epoll;
import org.jxen.sys.Errno;
import org.jxen.sys.EventFd;
import org.jxen.engine.evtchn.Binding;

/**
 * A backend's handle on event channels, shaped like libxenevtchn ({@code xenevtchn_open}, {@code bind_interdomain},
 * {@code bind_unbound_port}, {@code unbind}, {@code notify}, {@code pending}, {@code unmask}, {@code fd}).
 *
 * <p>Each bound port has its own eventfd, which the guest's sends signal directly from the fast path (or through
 * the backend domain's notifier on the slow path); all of them sit in one epoll instance whose descriptor
 * ({@link #fd()}) the backend polls. As with Linux's /dev/xen/evtchn, a port returned by {@link #pending()} stays
 * masked (its wake-ups are held back, not lost) until {@link #unmask} is called. The mask lives here, not in the
 * kernel: each eventfd is registered edge-triggered, so every signal of it is one report and its counter never needs
 * reading, and a report for a masked port is only remembered (unmask then signals the port's eventfd again). An event
 * costs the backend the wait and nothing more: no read, no epoll_ctl. (The counter, never read, would saturate after
 * 2^64 signals: centuries at any rate an eventfd can be written.)
 *
 * <p>Results are ports (≥ 0) or negative Linux errno values, as libxenevtchn's -1/errno pairs would be. Calls are
 * serialized on the handle; {@link #fd()} may be polled from any thread.
 */
public final class XenEvtchnHandle implements AutoCloseable {
    private final PortManager ports;
    private final BackendSignals signals;
    private final Epoll epoll = new Epoll();
    private final Map<Integer, BoundPort> bound = new HashMap<>();
    private final ArrayDeque<Integer> ready = new ArrayDeque<>();
    /** Wakes a thread blocked in awaitPending (host-side work for the backend, or shutdown). */
    private final EventFd kick = EventFd.create();
    private static final long KICK = -1, HOST_FD = -2;
    /** A host descriptor whose readability also ends a wait (a NIC backend's TAP), or -1; the handle does not own it. */
    private int hostFd = -1;
    private boolean hostArmed;
    private boolean closed;
    /** A wakeup() collected (and drained) but not yet reported to a waiter. */
    private boolean kicked;
    /** Threads inside the blocking epoll_wait: close() wakes them and waits for them before closing the descriptors. */
    private int waiters;

    /** A bound port: its eventfd and its mask, kept by the handle (guarded by the handle's lock). */
    private static final class BoundPort {
        final EventFd eventFd;
        /** Reported and not yet unmasked: its reports are held back. */
        boolean masked;
        /** A report came while masked: unmask reports the port again. */
        boolean held;

        BoundPort(EventFd eventFd) {
            this.eventFd = eventFd;
        }
    }

    /** xenevtchn_open(): a handle on the backend domain of {@code ports}. */
    public XenEvtchnHandle(PortManager ports, BackendSignals signals) {
        this.ports = ports;
        this.signals = signals;
        epoll.add(kick.fd(), KICK);
    }

    /** Makes a blocked (or the next) {@link #awaitPending} return, with -1 if no port is pending. */
    public void wakeup() {
        kick.signal();
    }

    /**
     * Makes {@code fd}'s readability end a wait too (awaitPending then returns -1, as for a wakeup), while armed. The
     * epoll is level-triggered: a backend that cannot take more from the descriptor now disarms it until it can.
     * The caller keeps the descriptor open until this handle is closed.
     */
    public synchronized void watchHost(int fd) {
        if (hostFd >= 0) throw new IllegalStateException("one host descriptor per handle");
        epoll.add(fd, HOST_FD);
        hostFd = fd;
        hostArmed = true;
    }

    /** Arms or disarms the host descriptor given to {@link #watchHost}. */
    public synchronized void armHost(boolean armed) {
        if (hostFd < 0 || closed || armed == hostArmed) return;
        epoll.modify(hostFd, armed ? Epoll.EPOLLIN : 0, HOST_FD);
        hostArmed = armed;
    }

    /**
     * The descriptor to poll: readable when some bound port has a notification. One for a masked port is held back
     * when collected (until its unmask), so {@link #pending()} may then answer -1.
     */
    public int fd() {
        return epoll.fd();
    }

    /** Binds to the guest's unbound {@code remotePort} (the guest did alloc_unbound for dom0). */
    public synchronized int bindInterdomain(int domid, int remotePort) {
        if (closed) return -Errno.EBADF;
        int port = ports.backendBindInterdomain(domid, remotePort);
        if (port >= 0) attach(port);
        return port;
    }

    /** Allocates a port that the guest {@code domid} can bind to with bind_interdomain. */
    public synchronized int bindUnboundPort(int domid) {
        if (closed) return -Errno.EBADF;
        int port = ports.backendAllocUnbound(domid);
        if (port >= 0) attach(port);
        return port;
    }

    /**
     * Takes over a backend port that is already bound to the guest (a restored domain's): its eventfd and route are
     * installed again, as bind_interdomain would have. -EINVAL if the port is not an interdomain backend port.
     */
    public synchronized int reattach(int port) {
        if (closed) return -Errno.EBADF;
        var ch = ports.backendChannel(port);
        if (ch == null || !(ch.binding() instanceof Binding.Interdomain) || bound.containsKey(port)) return -Errno.EINVAL;
        attach(port);
        return port;
    }

    private void attach(int port) {
        EventFd ev = EventFd.create();
        bound.put(port, new BoundPort(ev));
        epoll.add(ev.fd(), Epoll.EPOLLIN | Epoll.EPOLLET, port);
        signals.register(port, new EventFdSignal(ev)); // delivers the notification bind_interdomain raised
    }

    /** Closes the port; the guest's end reverts to unbound. */
    public synchronized int unbind(int port) {
        BoundPort bp = bound.remove(port);
        if (bp == null) return -Errno.ENOTCONN;
        // Close first (no slow-path notification can follow), then unregister (routes to it are gone), then free.
        ports.backendClose(port);
        signals.unregister(port);
        epoll.remove(bp.eventFd.fd());
        bp.eventFd.close();
        ready.remove(port);
        return 0;
    }

    /** Notifies the guest's end of {@code port}. */
    public int notify(int port) {
        synchronized (this) {
            if (!bound.containsKey(port)) return -Errno.ENOTCONN;
        }
        int rc = ports.backendNotify(port);
        return rc == 0 ? 0 : -Errno.EINVAL;
    }

    /** The next port with a notification, now masked; -1 if none (does not block). */
    public synchronized int pending() {
        if (ready.isEmpty()) epoll.await(0, this::collect);
        return takeReady();
    }

    /** Takes one readiness report (under the lock: it may run on the waiting thread as epoll_wait returns). */
    private synchronized void collect(long token) {
        if (token == KICK) {
            kick.drain();
            kicked = true;
        } else if (token == HOST_FD) {
            kicked = true; // the owner reads the descriptor on its pass
        } else {
            BoundPort bp = bound.get((int) token);
            if (bp == null) return; // unbound since
            if (bp.masked) {
                bp.held = true;
            } else {
                bp.masked = true; // reported: masked until unmask
                ready.add((int) token);
            }
        }
    }

    /** Whether a wakeup() was seen since the last call (it must end the next wait even if a poll drained it). */
    private synchronized boolean takeKick() {
        boolean k = kicked;
        kicked = false;
        return k;
    }

    private int takeReady() {
        while (!ready.isEmpty()) {
            int port = ready.poll();
            if (bound.containsKey(port)) return port;
        }
        return -1;
    }

    /**
     * Blocks up to {@code timeoutMillis} (-1: forever) for a notification; returns the port (masked), -1 if none, or
     * -EBADF once the handle is closed (a close while this thread waits wakes it with that answer).
     */
    public int awaitPending(int timeoutMillis) {
        synchronized (this) {
            if (closed) return -Errno.EBADF;
            int port = takeReady();
            // A wakeup() that an earlier pending() drained must still end this wait: otherwise it is lost.
            boolean kick = takeKick();
            if (port >= 0 || kick) return port;
            if (timeoutMillis == 0) {
                port = pending();
                kicked = false;
                return port;
            }
            waiters++;
        }
        long deadline = timeoutMillis < 0 ? 0 : System.nanoTime() + timeoutMillis * 1_000_000L;
        int wait = timeoutMillis;
        while (true) {
            // No look before blocking: epoll_wait returns at once if a port or the kick is already readable. The
            // reports are collected as it returns, while this thread still counts as a waiter (close() has not
            // closed the kick).
            try {
                epoll.await(wait, this::collect); // one waiting thread: the backend's
            } finally {
                synchronized (this) {
                    waiters--;
                    notifyAll();
                }
            }
            synchronized (this) {
                if (closed) return -Errno.EBADF;
                int port = takeReady();
                if (takeKick() | port >= 0) return port; // a wakeup collected with a port ends this wait too
                // Only masked ports' reports (held for their unmask): wait on, for what is left of the timeout.
                if (timeoutMillis >= 0) {
                    wait = (int) Math.max(0, (deadline - System.nanoTime()) / 1_000_000L);
                    if (wait == 0) return -1;
                }
                waiters++;
            }
        }
    }

    /** Lets notifications on {@code port} through again (one that arrived while masked fires now). */
    public synchronized int unmask(int port) {
        BoundPort bp = bound.get(port);
        if (bp == null) return -Errno.ENOTCONN;
        bp.masked = false;
        if (bp.held) {
            bp.held = false;
            // Report it again through its eventfd (a syscall only for a send that came while masked): a wait in
            // progress on another thread sees it, and fd() is readable, as for any other notification.
            bp.eventFd.signal();
        }
        return 0;
    }

    /** Ports bound through this handle. */
    public synchronized List<Integer> boundPorts() {
        return List.copyOf(bound.keySet());
    }

    /**
     * Unbinds every port, wakes a thread waiting in {@link #awaitPending} (it returns -EBADF) and waits for it to leave
     * epoll_wait, then closes the descriptors: none is closed under a waiter, so none can be recycled under it.
     */
    @Override
    public synchronized void close() {
        if (closed) return;
        for (int port : List.copyOf(bound.keySet())) unbind(port);
        closed = true;
        kick.signal();
        boolean interrupted = false;
        while (waiters > 0) {
            try {
                wait();
            } catch (InterruptedException e) {
                interrupted = true; // closing the descriptors under the waiter is what this wait prevents
            }
        }
        if (interrupted) Thread.currentThread().interrupt();
        epoll.close();
        kick.close();
    }
}
