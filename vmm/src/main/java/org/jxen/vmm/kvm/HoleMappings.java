package org.jxen.vmm.kvm;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;

import org.jxen.engine.memory.GuestMemory;
import org.jxen.engine.memory.GuestRegion;
import org.jxen.engine.memory.HoleFrames;
import org.jxen.sys.Libc;
import org.jxen.sys.kvm.KvmException;
import org.jxen.sys.kvm.KvmVm;

/**
 * Host pages at guest frames above RAM, one KVM memory slot each: where a guest places grant-table frames in a hole
 * of its physmap. At most {@link #MAX_PAGES} at once (the grant table has fewer frames); a page the guest moves away
 * from loses its slot and is kept for the next placement, so a guest moving frames around costs no more host memory.
 * The pages belong to the domain's RAM arena and live until it closes (a backend may still be reading a moved frame).
 */
final class HoleMappings implements HoleFrames {
    static final int MAX_PAGES = 64;
    /** Slot 0 is RAM. */
    private static final int FIRST_SLOT = 1;
    /** The IOAPIC, LAPIC, KVM's TSS and identity map and the BIOS window: nothing of the guest's goes there. */
    private static final long PLATFORM_WINDOW_START = 0xFEC00L, PLATFORM_WINDOW_END = 0x100000L;
    /** 1 TiB: far above any hole Linux picks for a guest of jxen's sizes, within every CPU's physical address width. */
    private static final long GFN_LIMIT = 1L << (40 - GuestMemory.PAGE_SHIFT);

    private record Mapping(int slot, MemorySegment page) {}

    private final KvmVm vm;
    private final Arena arena;
    private final long ramFrames;
    private final Map<Long, Mapping> mapped = new HashMap<>();
    private final Deque<Mapping> spare = new ArrayDeque<>();
    private int nextSlot = FIRST_SLOT;

    HoleMappings(KvmVm vm, Arena arena, long ramFrames) {
        this.vm = vm;
        this.arena = arena;
        this.ramFrames = ramFrames;
    }

    @Override
    public synchronized Optional<GuestRegion> map(long gfn) {
        Mapping m = mapped.get(gfn);
        if (m != null) return Optional.of(GuestRegion.of(m.page(), 0, GuestMemory.PAGE_SIZE));
        if (gfn < ramFrames || gfn >= GFN_LIMIT || (gfn >= PLATFORM_WINDOW_START && gfn < PLATFORM_WINDOW_END)) return Optional.empty();
        m = spare.poll();
        if (m == null) {
            if (nextSlot - FIRST_SLOT >= MAX_PAGES) return Optional.empty();
            m = new Mapping(nextSlot++, Libc.mmap(arena, GuestMemory.PAGE_SIZE, Libc.PROT_READ | Libc.PROT_WRITE,
                    Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS, -1, 0));
        } else {
            m.page().fill((byte) 0);
        }
        try {
            vm.setMemory(m.slot(), gfn << GuestMemory.PAGE_SHIFT, m.page());
        } catch (KvmException e) {
            spare.push(m);
            return Optional.empty();
        }
        mapped.put(gfn, m);
        return Optional.of(GuestRegion.of(m.page(), 0, GuestMemory.PAGE_SIZE));
    }

    @Override
    public synchronized void unmap(long gfn) {
        Mapping m = mapped.remove(gfn);
        if (m == null) return;
        vm.deleteMemory(m.slot());
        spare.push(m);
    }
}
