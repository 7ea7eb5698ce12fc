package org.jxen.vmm.kvm;

import org.jxen.engine.fastpath.ReaderSlots;
import org.jxen.sys.Membarrier;

/**
 * Gives the route table's grace periods the kernel's membarrier(2), so fast-path senders (vCPU threads, on every
 * EVTCHNOP_send) enter their read-side section without a fence of their own and the rare route change pays instead
 * ({@link ReaderSlots#useHeavyFence}). Where the kernel lacks private expedited membarrier, or with
 * {@code -Djxen.membarrier=false} (the benchmarks' ablation), readers keep fencing themselves.
 */
public final class GracePeriodFence {
    private GracePeriodFence() {}

    private static final boolean INSTALLED = install();

    /** Installs it once for the process (before the first sender, so every vCPU thread benefits); true if in use. */
    public static boolean installed() {
        return INSTALLED;
    }

    private static boolean install() {
        if (!Boolean.parseBoolean(System.getProperty("jxen.membarrier", "true")) || !Membarrier.registerPrivateExpedited()) return false;
        ReaderSlots.global().useHeavyFence(Membarrier::privateExpedited);
        return true;
    }
}
