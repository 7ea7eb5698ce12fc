package org.jxen.engine.evtchn;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicReferenceArray;

import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.abi.SharedInfoLayout;
import org.jxen.engine.memory.GuestRegion;

/**
 * Where a domain's shared event state lives right now: the shared_info page, each vCPU's vcpu_info, and the latched
 * layout width. Before the guest maps shared_info (XENMEM_add_to_physmap) the page is a private one, as Xen's own
 * page is invisible until mapped; mapping copies it into the chosen guest page and switches over. vCPUs at or above
 * XEN_LEGACY_MAX_VCPUS have no slot in shared_info and use a private dummy until they register a vcpu_info.
 *
 * <p>Locations are published with volatile writes; senders read them without a lock. A relocation racing a send may
 * land that send's bits in the old page: Xen has the same window, and the guest's own protocol (register before
 * use) closes it.
 */
public final class SharedState {
    private final int vcpuCount;
    private volatile GuestWidth width = GuestWidth.BITS_64;
    private volatile GuestRegion sharedInfo;
    private final AtomicReferenceArray<GuestRegion> vcpuInfo;
    /** Bumped after every change of the width or of a location, so the ABIs know when to recompute their send words. */
    private volatile int generation;
    /** Whether vcpu_info[v] was explicitly registered (VCPUOP_register_vcpu_info) rather than the default slot. */
    private final boolean[] registered;

    public SharedState(int vcpuCount) {
        this.vcpuCount = vcpuCount;
        MemorySegment page = Arena.ofAuto().allocate(SharedInfoLayout.PAGE_SIZE, SharedInfoLayout.PAGE_SIZE);
        this.sharedInfo = GuestRegion.of(page, 0, SharedInfoLayout.PAGE_SIZE);
        this.vcpuInfo = new AtomicReferenceArray<>(vcpuCount);
        this.registered = new boolean[vcpuCount];
        for (int v = 0; v < vcpuCount; v++) vcpuInfo.set(v, defaultVcpuInfo(v));
    }

    private GuestRegion defaultVcpuInfo(int vcpu) {
        if (vcpu < SharedInfoLayout.LEGACY_MAX_VCPUS) {
            return sharedInfo.slice(SharedInfoLayout.vcpuInfoOffset(vcpu), SharedInfoLayout.VCPU_INFO_SIZE);
        }
        MemorySegment dummy = Arena.ofAuto().allocate(SharedInfoLayout.VCPU_INFO_SIZE, 64);
        return GuestRegion.of(dummy, 0, SharedInfoLayout.VCPU_INFO_SIZE);
    }

    public int vcpuCount() {
        return vcpuCount;
    }

    public GuestWidth width() {
        return width;
    }

    /** Latches the layout (hvm_latch_shinfo_size). Existing bits are not converted, as in Xen. */
    public void latch(GuestWidth newWidth) {
        width = newWidth;
        changed();
    }

    /** Changes so far: a value other than the last one seen means the width or a location moved since. */
    int generation() {
        return generation;
    }

    private synchronized void changed() {
        generation = generation + 1;
    }

    /** The current shared_info page. */
    public GuestRegion sharedInfo() {
        return sharedInfo;
    }

    /** The current vcpu_info of {@code vcpu} (which must exist). */
    public GuestRegion vcpuInfo(int vcpu) {
        return vcpuInfo.get(vcpu);
    }

    /**
     * Moves shared_info to {@code page} (a 4 KiB guest page), carrying the current contents over; vCPUs still on
     * their default slot follow it. Caller holds the domain's write lock.
     */
    public synchronized void relocateSharedInfo(GuestRegion page) {
        relocateSharedInfo(page, true);
    }

    /** As above; {@code carry} false when the page already holds the contents (restore). */
    synchronized void relocateSharedInfo(GuestRegion page, boolean carry) {
        if (page.length() != SharedInfoLayout.PAGE_SIZE) throw new IllegalArgumentException("shared_info is one page");
        GuestRegion old = sharedInfo;
        if (old.backing() == page.backing() && old.baseOffset() == page.baseOffset()) return;
        if (carry) MemorySegment.copy(old.asSegment(), 0, page.asSegment(), 0, SharedInfoLayout.PAGE_SIZE);
        sharedInfo = page;
        for (int v = 0; v < Math.min(vcpuCount, SharedInfoLayout.LEGACY_MAX_VCPUS); v++) {
            if (!registered[v]) vcpuInfo.set(v, defaultVcpuInfo(v));
        }
        changed();
    }

    /**
     * Moves vcpu_info of {@code vcpu} to {@code region} (VCPUOP_register_vcpu_info), carrying the current contents
     * over and, as Xen does, marking every selector bit pending so nothing raised meanwhile is lost. Returns the new
     * region; the caller raises the upcall.
     */
    public synchronized GuestRegion registerVcpuInfo(int vcpu, GuestRegion region) {
        GuestRegion old = vcpuInfo.get(vcpu);
        if (vcpu >= SharedInfoLayout.LEGACY_MAX_VCPUS && !registered[vcpu]) region.clear(); // Xen's dummy is not carried
        else MemorySegment.copy(old.asSegment(), 0, region.asSegment(), 0, SharedInfoLayout.VCPU_INFO_SIZE);
        GuestWidth w = width;
        if (w == GuestWidth.BITS_64) region.putLongVolatile(w.pendingSelOffset, -1L);
        else region.putIntVolatile(w.pendingSelOffset, -1);
        registered[vcpu] = true;
        vcpuInfo.set(vcpu, region);
        changed();
        region.setBit(SharedInfoLayout.UPCALL_PENDING, 0); // and the caller injects the upcall, as Xen does
        return region;
    }

    /** Restore: vcpu_info of {@code vcpu} is at {@code region}, whose contents are already right. */
    synchronized void restoreVcpuInfo(int vcpu, GuestRegion region) {
        registered[vcpu] = true;
        vcpuInfo.set(vcpu, region);
        changed();
    }

    /** Whether {@code vcpu} registered its own vcpu_info. */
    public synchronized boolean isRegistered(int vcpu) {
        return registered[vcpu];
    }
}
