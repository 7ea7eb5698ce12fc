package org.jxen.engine.grant;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

import org.jxen.engine.abi.Errno;
import org.jxen.engine.memory.GuestMemory;
import org.jxen.engine.memory.GuestRegion;
import org.jxen.engine.memory.HoleFrames;

/**
 * A guest's grant table, version 1 ({@code public/grant_table.h}, Xen's {@code common/grant_table.c}): frames of
 * {@code grant_entry_v1 { uint16_t flags; domid_t domid; uint32_t frame; }}, 512 to a page, grown on demand up to
 * {@code maxFrames}. Like shared_info, a frame is a private page until the guest places it in its physmap
 * (XENMEM_add_to_physmap, XENMAPSPACE_grant_table); from then on it is that guest page.
 */
public final class GrantTable {
    public static final int ENTRY_SIZE = 8, ENTRIES_PER_FRAME = 4096 / ENTRY_SIZE;
    public static final int GTF_INVALID = 0, GTF_PERMIT_ACCESS = 1, GTF_TYPE_MASK = 3, GTF_READONLY = 1 << 2,
            GTF_READING = 1 << 3, GTF_WRITING = 1 << 4;
    /** The refs Xen's toolstack fills before the guest runs ({@code public/grant_table.h} GNTTAB_RESERVED_*). */
    public static final int RESERVED_CONSOLE = 0, RESERVED_XENSTORE = 1;
    /** INVALID_GFN as setup_table reports an unplaced frame. */
    public static final long INVALID_GFN = -1L;

    private final int maxFrames;
    private final List<GuestRegion> frames = new ArrayList<>();
    private final List<Long> gfns = new ArrayList<>();

    public GrantTable(int maxFrames) {
        this.maxFrames = maxFrames;
        grow(1); // Xen starts a table with one frame
    }

    public synchronized int maxFrames() {
        return maxFrames;
    }

    public synchronized int frames() {
        return frames.size();
    }

    /** gnttab_grow_table: false if {@code n} exceeds the maximum. */
    public synchronized boolean grow(int n) {
        if (n > maxFrames) return false;
        while (frames.size() < n) {
            MemorySegment page = Arena.ofAuto().allocate(4096, 4096);
            frames.add(GuestRegion.of(page, 0, 4096));
            gfns.add(INVALID_GFN);
        }
        return true;
    }

    /** The gfn frame {@code i} is placed at, or INVALID_GFN (also for a frame the table does not have yet). */
    public synchronized long gfn(int i) {
        return i >= 0 && i < gfns.size() ? gfns.get(i) : INVALID_GFN;
    }

    /**
     * XENMAPSPACE_grant_table: frame {@code idx} becomes guest page {@code page} (contents carried over), growing the
     * table if needed. -EINVAL past the maximum.
     */
    public synchronized int place(int idx, long gfn, GuestRegion page) {
        if (idx < 0 || idx >= maxFrames) return -Errno.EINVAL;
        grow(idx + 1);
        GuestRegion old = frames.get(idx);
        if (old.backing() != page.backing() || old.baseOffset() != page.baseOffset()) {
            MemorySegment.copy(old.asSegment(), 0, page.asSegment(), 0, 4096);
        }
        frames.set(idx, page);
        gfns.set(idx, gfn);
        return 0;
    }

    /**
     * A saved table: per frame its gfn, with the frame's contents where guest RAM does not hold them (an unplaced,
     * private frame: INVALID_GFN; a frame placed in a hole above RAM), else an empty array (see {@link #contentsSaved}).
     */
    public record Saved(long[] gfns, List<byte[]> privateFrames) {}

    /** Whether a save carries the contents of a frame at {@code gfn}: it is not in guest RAM of {@code ramFrames} frames. */
    public static boolean contentsSaved(long gfn, long ramFrames) {
        return gfn == INVALID_GFN || gfn < 0 || gfn >= ramFrames;
    }

    public synchronized Saved save(long ramFrames) {
        long[] g = new long[frames.size()];
        List<byte[]> priv = new ArrayList<>();
        for (int i = 0; i < g.length; i++) {
            g[i] = gfns.get(i);
            priv.add(contentsSaved(g[i], ramFrames) ? frames.get(i).asSegment().toArray(ValueLayout.JAVA_BYTE) : new byte[0]);
        }
        return new Saved(g, priv);
    }

    /**
     * Rebuilds a saved table over {@code ram}, which holds the saved RAM, mapping frames that were in a hole above RAM
     * through {@code holes} again; IllegalArgumentException if it does not fit.
     */
    public synchronized void restore(Saved s, GuestMemory ram, HoleFrames holes) {
        int n = s.gfns().length;
        if (n < 1 || n > maxFrames || s.privateFrames().size() != n) throw new IllegalArgumentException("grant table: " + n + " frames");
        grow(n);
        for (int i = 0; i < n; i++) {
            long gfn = s.gfns()[i];
            boolean carried = contentsSaved(gfn, ram.frames());
            if (carried && s.privateFrames().get(i).length != 4096) throw new IllegalArgumentException("grant table: frame " + i);
            if (gfn == INVALID_GFN) {
                MemorySegment.copy(MemorySegment.ofArray(s.privateFrames().get(i)), 0, frames.get(i).asSegment(), 0, 4096);
                continue;
            }
            GuestRegion page = carried
                    ? holes.map(gfn).orElseThrow(() -> new IllegalArgumentException("grant table: frame at gfn " + gfn + " cannot be mapped again"))
                    : ram.page(gfn).orElseThrow(() -> new IllegalArgumentException("grant table: frame at gfn " + gfn + " outside RAM"));
            if (carried) MemorySegment.copy(MemorySegment.ofArray(s.privateFrames().get(i)), 0, page.asSegment(), 0, 4096);
            frames.set(i, page);
            gfns.set(i, gfn);
        }
    }

    /**
     * Entry {@code ref} grants {@code backendDomid} access to the guest's frame {@code gfn}, as xc_dom_gnttab_seed
     * (tools/libs/guest/xg_dom_boot.c) writes the console's and XenStore's entries before the guest starts: a guest
     * that allocates grants by scanning for a free entry (PVH GRUB from ref 0) then keeps its hands off them. Nothing
     * is written when the backend is the guest itself, as there.
     */
    public synchronized void seed(int ref, int guestDomid, int backendDomid, long gfn) {
        if (guestDomid == backendDomid) return;
        GuestRegion frame = frameOf(ref);
        if (frame == null) throw new IllegalArgumentException("grant ref " + ref + " is beyond the table");
        long at = entryOffset(ref);
        frame.asSegment().set(ValueLayout.JAVA_SHORT_UNALIGNED, at + 2, (short) backendDomid);
        frame.asSegment().set(ValueLayout.JAVA_INT_UNALIGNED, at + 4, (int) gfn);
        frame.asSegment().set(ValueLayout.JAVA_SHORT_UNALIGNED, at, (short) GTF_PERMIT_ACCESS);
    }

    /** The frame holding entry {@code ref}, or null if ref is beyond the table. */
    synchronized GuestRegion frameOf(int ref) {
        if (ref < 0 || ref >= frames.size() * ENTRIES_PER_FRAME) return null;
        return frames.get(ref / ENTRIES_PER_FRAME);
    }

    static long entryOffset(int ref) {
        return (long) (ref % ENTRIES_PER_FRAME) * ENTRY_SIZE;
    }
}
