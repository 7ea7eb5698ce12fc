package org.jxen.sys;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

/**
 * How a vCPU thread is kicked out of a blocking KVM_RUN: SIGPIPE to its kernel thread id interrupts the blocking
 * call with EINTR (the JVM's own SIGPIPE handler ignores the signal, so nothing else happens). Shown here on a
 * blocking epoll_wait, which behaves as KVM_RUN does for signals.
 */
class ThreadKickTest {
    @Test
    void sigpipeInterruptsABlockingCallAndTheJvmCarriesOn() throws Exception {
        try (Epoll epoll = new Epoll()) {
            CompletableFuture<Integer> tid = new CompletableFuture<>();
            CompletableFuture<Integer> woke = new CompletableFuture<>();
            Thread t = Thread.ofPlatform().start(() -> {
                tid.complete(Libc.gettid());
                woke.complete(epoll.await(-1, token -> {}));
            });
            int target = tid.get(60, TimeUnit.SECONDS);
            // Signal until the thread is out (it may not have entered epoll_wait yet when the first one arrives).
            long deadline = System.nanoTime() + 60_000_000_000L;
            while (!woke.isDone() && System.nanoTime() < deadline) {
                assertEquals(0, Libc.signalThread(target, Libc.SIGPIPE));
                Thread.sleep(10);
            }
            assertEquals(0, woke.get(60, TimeUnit.SECONDS), "epoll_wait ended by the signal, with nothing ready");
            t.join();
            assertTrue(Libc.gettid() > 0);
        }
    }
}
