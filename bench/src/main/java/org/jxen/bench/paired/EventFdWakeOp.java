package org.jxen.bench.paired;

import org.jxen.sys.Epoll;
import org.jxen.sys.EventFd;

/**
 * eventfd notify → wake: a thread signals an eventfd on which an echo thread waits in epoll; the echo signals back.
 * A sample is one round trip (two notify→wake hops), measured per operation on both sides.
 */
final class EventFdWakeOp implements PairedOp {
    private final CReferences c;
    private final EventFd ping = EventFd.create(), pong = EventFd.create();
    private final Epoll pongWait = new Epoll();
    private final Thread echo;
    private volatile boolean stop;

    EventFdWakeOp(CReferences c) {
        this.c = c;
        pongWait.add(pong.fd(), 1);
        echo = Thread.ofPlatform().name("echo").daemon().start(() -> {
            try (Epoll wait = new Epoll()) {
                wait.add(ping.fd(), 1);
                while (!stop) {
                    if (wait.await(100, t -> {}) > 0 && ping.drain() > 0) pong.signal();
                }
            }
        });
        c.setupEventFd();
    }

    @Override
    public String name() {
        return "eventfd-wake";
    }

    @Override
    public Double target() {
        return null;
    }

    @Override
    public boolean latency() {
        return true;
    }

    @Override
    public long batch(boolean quick) {
        return quick ? 500 : 3000;
    }

    @Override
    public long runJxen(long iters, long[] samples) {
        for (int i = 0; i < iters; i++) {
            long t0 = System.nanoTime();
            ping.signal();
            while (pongWait.await(1000, t -> {}) == 0) {
                // EINTR or timeout: keep waiting
            }
            pong.drain();
            samples[i] = System.nanoTime() - t0;
        }
        return 0;
    }

    @Override
    public long runC(long iters, long[] samples) {
        long[] s = c.runEventFd((int) iters);
        System.arraycopy(s, 0, samples, 0, s.length);
        return 0;
    }

    @Override
    public void close() {
        stop = true;
        try {
            echo.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        c.teardownEventFd();
        pongWait.close();
        ping.close();
        pong.close();
    }
}
