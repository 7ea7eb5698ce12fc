package org.jxen.sys;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One I/O thread waiting in epoll on many descriptors and running each one's handler when it becomes readable.
 * Handlers run on the loop thread and must not block. {@link #unregister} returns only once the handler can no longer
 * run, so the caller may close the descriptor right after. {@link #close()} wakes the thread through an eventfd, waits
 * for it to finish, then releases the epoll instance, so nothing is used after it is freed.
 */
public final class IoLoop implements AutoCloseable {
    private static final long WAKE_TOKEN = 0;

    private final Epoll epoll = new Epoll();
    private final EventFd wake = EventFd.create();
    private final ConcurrentHashMap<Long, Runnable> handlers = new ConcurrentHashMap<>();
    private final AtomicLong nextToken = new AtomicLong(1);
    private final Thread thread;
    private volatile boolean stopping;
    /** The token whose handler the loop thread is running (0: none). */
    private volatile long running;

    public IoLoop(String name) {
        epoll.add(wake.fd(), WAKE_TOKEN);
        thread = Thread.ofPlatform().name(name).daemon().start(this::run);
    }

    /** Watches {@code fd}; {@code onReady} runs on the loop thread while it is readable. Returns a token. */
    public long register(int fd, Runnable onReady) {
        long token = nextToken.getAndIncrement();
        handlers.put(token, onReady);
        epoll.add(fd, token);
        return token;
    }

    /** Stops watching {@code fd}; when this returns (off the loop thread) its handler is not running and never will. */
    public void unregister(int fd, long token) {
        epoll.remove(fd);
        handlers.remove(token);
        // The loop publishes the token before looking its handler up, so once it is not this token, a later lookup
        // finds the handler gone.
        while (!isLoopThread() && running == token) Thread.onSpinWait();
    }

    public boolean isLoopThread() {
        return Thread.currentThread() == thread;
    }

    private void run() {
        while (!stopping) {
            epoll.await(-1, token -> {
                if (token == WAKE_TOKEN) {
                    wake.drain();
                    return;
                }
                running = token;
                try {
                    Runnable h = handlers.get(token);
                    if (h != null) h.run();
                } finally {
                    running = 0;
                }
            });
        }
    }

    @Override
    public void close() {
        if (stopping) return;
        stopping = true;
        wake.signal();
        try {
            thread.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        epoll.close();
        wake.close();
    }
}
