package org.jxen.sys.kvm;

import static org.jxen.sys.kvm.KvmAbi.*;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * KVM's dirty log of one memory slot (Documentation/virt/kvm/api.rst: KVM_GET_DIRTY_LOG, KVM_CLEAR_DIRTY_LOG,
 * KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2): which guest pages the guest, or KVM on its behalf, wrote since the previous
 * {@link #fetch}. Pages written through the host mapping (the VMM's own writes) are not logged.
 *
 * <p>Where KVM offers manual protection, it is enabled: KVM_GET_DIRTY_LOG then only reads the log, and
 * KVM_CLEAR_DIRTY_LOG re-protects exactly the pages read, just before the caller copies them (QEMU does the same,
 * {@code kvm_log_clear} in accel/kvm/kvm-all.c), so a page written between the two is logged again. Without it,
 * KVM_GET_DIRTY_LOG clears and re-protects in one call. The bitmap KVM fills is a native segment of this log's arena.
 * Not thread-safe: one migration at a time uses it.
 */
public final class DirtyLog implements AutoCloseable {
    private final KvmVm vm;
    private final int slot;
    private final long gpa;
    private final MemorySegment host;
    private final long pages;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment bitmap;
    private final boolean manualProtect;
    private boolean logging;

    private DirtyLog(KvmVm vm, int slot, long gpa, MemorySegment host, boolean manualProtect) {
        this.vm = vm;
        this.slot = slot;
        this.gpa = gpa;
        this.host = host;
        this.pages = host.byteSize() >>> 12;
        this.manualProtect = manualProtect;
        this.bitmap = arena.allocate(words() * 8L, 8);
    }

    /**
     * Turns the dirty log on for slot {@code slot}, which maps {@code host} at {@code gpa} (set again with
     * KVM_MEM_LOG_DIRTY_PAGES). From now on every page the guest writes is logged until {@link #fetch}.
     */
    public static DirtyLog start(KvmVm vm, int slot, long gpa, MemorySegment host) {
        boolean manual = (vm.checkExtension(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2) & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE) != 0
                && vm.tryEnableCap(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE) == 0;
        DirtyLog log = new DirtyLog(vm, slot, gpa, host, manual);
        try {
            vm.setMemory(slot, gpa, host, KVM_MEM_LOG_DIRTY_PAGES);
        } catch (RuntimeException e) {
            log.arena.close();
            throw e;
        }
        log.logging = true;
        return log;
    }

    /** Pages in the slot (bits in a {@link #fetch}). */
    public long pages() {
        return pages;
    }

    /** Whether KVM_CLEAR_DIRTY_LOG is in use (KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 offered and enabled). */
    public boolean manualProtect() {
        return manualProtect;
    }

    private int words() {
        return (int) ((pages + 63) >>> 6);
    }

    /**
     * The pages written since the start or the previous fetch, bit {@code p % 64} of word {@code p / 64} for page
     * {@code p} of the slot; they are logged afresh from now on. KvmException if KVM refuses.
     */
    public long[] fetch() {
        if (!logging) throw new IllegalStateException("the dirty log is stopped");
        int rc = vm.getDirtyLog(slot, bitmap);
        if (rc < 0) throw new KvmException("KVM_GET_DIRTY_LOG", -rc);
        long[] dirty = bitmap.toArray(ValueLayout.JAVA_LONG);
        if (manualProtect) {
            rc = vm.clearDirtyLog(slot, 0, (int) pages, bitmap);
            if (rc < 0) throw new KvmException("KVM_CLEAR_DIRTY_LOG", -rc);
        }
        return dirty;
    }

    /** Turns the log off (the slot set again without the flag): the guest writes at full speed again. Idempotent. */
    public void stop() {
        if (!logging) return;
        logging = false;
        vm.setMemory(slot, gpa, host, 0);
    }

    /** Stops the log and releases the bitmap. */
    @Override
    public void close() {
        try {
            stop();
        } finally {
            arena.close();
        }
    }
}
