package org.jxen.vmm.backend;

import java.lang.System.Logger;
import java.lang.System.Logger.Level;

import org.jxen.sys.Errno;

/**
 * The I/O thread of a ring backend: it sleeps in epoll on its event channel (and its wake-up) and services the ring
 * each time it is woken — by the guest's notification, or by host-side work ({@link #wake()}). Nothing polls.
 */
public final class BackendLoop implements AutoCloseable {
    private static final Logger LOG = System.getLogger(BackendLoop.class.getName());
    private final XenEvtchnHandle xce;
    private final Runnable service;
    private final String name;
    private volatile Thread thread;
    private volatile boolean stop;

    /** Starts the thread; {@code service} runs on it after every wake-up (and once at start). */
    public BackendLoop(String name, XenEvtchnHandle xce, Runnable service) {
        this.xce = xce;
        this.service = service;
        this.name = name;
        this.thread = Thread.ofPlatform().name(name).daemon().start(this::run);
    }

    private void run() {
        serviceOnce();
        while (!stop) {
            int port = xce.awaitPending(-1);
            if (stop || port == -Errno.EBADF) return; // stopped, or the handle was closed under us
            if (port >= 0) xce.unmask(port);
            serviceOnce();
        }
    }

    private void serviceOnce() {
        try {
            service.run();
        } catch (RuntimeException bug) { // a jxen bug: the guest's other requests still deserve answers
            LOG.log(Level.ERROR, "bug in backend " + thread.getName() + "; it keeps serving", bug);
        }
    }

    /** Asks for a service pass (host-side data to send). */
    public void wake() {
        xce.wakeup();
    }

    /** Stops the thread and waits for it; false (reported) if it would not stop. Idempotent. */
    public boolean stop() {
        stop = true;
        xce.wakeup();
        return ThreadStop.join(thread, "backend " + thread.getName());
    }

    /**
     * After a {@link #stop} that was a pause (a live migration that failed before the destination took over): a new
     * thread on the same handle, which services the ring once at once (what arrived meanwhile). False if the old
     * thread had not ended.
     */
    public synchronized boolean restart() {
        if (thread.isAlive()) return false;
        stop = false;
        thread = Thread.ofPlatform().name(name).daemon().start(this::run);
        return true;
    }

    @Override
    public void close() {
        stop();
    }
}
