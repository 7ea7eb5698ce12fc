package org.jxen.vmm.kvm;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/** The first reason the domain stops (any vCPU, the timeout, the user); later ones are ignored. */
public final class DomainStop {
    private final AtomicReference<RunOutcome> outcome = new AtomicReference<>();
    private final CountDownLatch stopped = new CountDownLatch(1);
    private volatile Runnable onStop = () -> {};

    /** Called once, by the thread that stops the domain first (kicks every vCPU out of KVM_RUN). */
    public void onStop(Runnable r) {
        this.onStop = r;
    }

    public void request(RunOutcome o) {
        if (outcome.compareAndSet(null, o)) {
            onStop.run();
            stopped.countDown();
        }
    }

    public boolean requested() {
        return outcome.get() != null;
    }

    /** Waits for a stop; null if {@code timeoutMillis} passed first. */
    public RunOutcome await(long timeoutMillis) throws InterruptedException {
        return stopped.await(timeoutMillis, TimeUnit.MILLISECONDS) ? outcome.get() : null;
    }

    public RunOutcome outcome() {
        return outcome.get();
    }
}
