package org.jxen.engine.evtchn;

import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.abi.SharedInfoLayout;
import org.jxen.engine.memory.GuestBitmap;
import org.jxen.engine.memory.GuestRegion;

/**
 * Where a send's bits are right now, computed once per change of the {@link SharedState} (width latched, shared_info
 * mapped, a vcpu_info registered or restored) rather than on every send: the 2-level pending and mask bitmaps, and per
 * vCPU the selector and {@code evtchn_upcall_pending}. Each is a {@link GuestBitmap} whose bounds were proven against
 * its region here; the send then only adds a port's word offset.
 *
 * <p>Immutable; {@link Cache} publishes it without a lock (final fields). A send racing a relocation may use the
 * previous words once, as a send reading the previous region did before (SharedState's comment: Xen has the same
 * window).
 */
final class SendWords {
    /** A vCPU's selector (one bit per bitmap word) and its upcall_pending byte, as bitmaps. */
    record Vcpu(GuestBitmap selector, GuestBitmap upcallPending) {}

    final int generation;
    /** Ports the 2-level layout has (pending and mask hold this many bits). */
    final int twoLevelPorts;
    /** port >>> selectorShift is a port's selector bit. */
    final int selectorShift;
    final GuestBitmap pending;
    final GuestBitmap mask;
    private final Vcpu[] vcpus;

    private SendWords(int generation, SharedState shared) {
        this.generation = generation;
        GuestWidth w = shared.width();
        GuestRegion si = shared.sharedInfo();
        this.twoLevelPorts = w.twoLevelPorts();
        this.selectorShift = w.selectorShift;
        this.pending = si.bitmap(w.pendingOffset, twoLevelPorts);
        this.mask = si.bitmap(w.maskOffset, twoLevelPorts);
        this.vcpus = new Vcpu[shared.vcpuCount()];
        for (int v = 0; v < vcpus.length; v++) {
            GuestRegion vi = shared.vcpuInfo(v);
            vcpus[v] = new Vcpu(vi.bitmap(w.pendingSelOffset, w.bitsPerWord()), vi.bitmap(SharedInfoLayout.UPCALL_PENDING, 1));
        }
    }

    Vcpu vcpu(int vcpu) {
        return vcpus[vcpu];
    }

    /** An ABI's current words: recomputed when the shared state's generation moved. */
    static final class Cache {
        private final SharedState shared;
        private SendWords words;

        Cache(SharedState shared) {
            this.shared = shared;
            this.words = new SendWords(shared.generation(), shared);
        }

        SendWords get() {
            SendWords w = words;
            int g = shared.generation(); // read before the locations, so a change meanwhile is seen next time
            if (w.generation != g) words = w = new SendWords(g, shared);
            return w;
        }
    }
}
