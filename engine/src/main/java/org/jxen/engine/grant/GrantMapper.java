package org.jxen.engine.grant;

import static org.jxen.engine.grant.GrantTable.*;


import java.util.HashMap;
import java.util.Map;
import java.util.Optional;

import org.jxen.engine.memory.GuestMemory;
import org.jxen.engine.memory.GuestRegion;

/**
 * The backend side, shaped like libxengnttab's map/unmap: a backend in domain {@code backendDomid} maps a guest's
 * grant reference as a bounded view of the granted guest page. As Xen's map_grant_ref: the entry must permit access
 * to this domain; a read-write map needs an entry without GTF_readonly; GTF_reading (and GTF_writing for read-write)
 * are set with a compare-and-set on the entry's flags+domid word that fails if the guest changed the entry meanwhile
 * (a concurrent revoke wins or loses atomically). Unmapping the last mapping clears them, so the guest's revoke (which
 * only succeeds while neither is set) can go ahead.
 */
public final class GrantMapper {
    /** GNTST_* status codes. */
    public static final int GNTST_OKAY = 0, GNTST_GENERAL_ERROR = -1, GNTST_BAD_GNTREF = -4, GNTST_BAD_PAGE = -9,
            GNTST_PERMISSION_DENIED = -8;

    /** A mapping: the granted page and how it is held. */
    public record Mapping(int ref, boolean readOnly, GuestRegion page) {}

    /** A map's outcome: a mapping, or a GNTST status. */
    public record Result(int status, Mapping mapping) {}

    private final GrantTable table;
    private final GuestMemory ram;
    private final int backendDomid;
    /** Active mappings per ref: {readers, writers} (Xen's act->pin). */
    private final Map<Integer, int[]> pins = new HashMap<>();

    public GrantMapper(GrantTable table, GuestMemory ram, int backendDomid) {
        this.table = table;
        this.ram = ram;
        this.backendDomid = backendDomid;
    }

    public synchronized Result map(int ref, boolean readOnly) {
        GuestRegion frame = table.frameOf(ref);
        if (frame == null) return new Result(GNTST_BAD_GNTREF, null);
        long off = entryOffset(ref);
        int needed = readOnly ? GTF_READING : GTF_READING | GTF_WRITING;
        while (true) {
            int combo = frame.getIntVolatile(off); // flags (low 16) | domid (high 16)
            int flags = combo & 0xFFFF, domid = combo >>> 16;
            if ((flags & GTF_TYPE_MASK) != GTF_PERMIT_ACCESS || domid != backendDomid) return new Result(GNTST_GENERAL_ERROR, null);
            if (!readOnly && (flags & GTF_READONLY) != 0) return new Result(GNTST_PERMISSION_DENIED, null);
            if (frame.compareAndSetInt(off, combo, combo | needed)) break; // the guest changed it: look again
        }
        long gfn = Integer.toUnsignedLong(frame.getIntVolatile(off + 4));
        Optional<GuestRegion> page = ram.page(gfn);
        int[] pin = pins.computeIfAbsent(ref, r -> new int[2]);
        if (page.isEmpty()) {
            release(frame, off, pin);
            return new Result(GNTST_BAD_PAGE, null);
        }
        if (readOnly) pin[0]++;
        else pin[1]++;
        return new Result(GNTST_OKAY, new Mapping(ref, readOnly, readOnly ? page.get().readOnly() : page.get()));
    }

    /** Drops a mapping; the last reader/writer clears GTF_reading/GTF_writing. */
    public synchronized void unmap(Mapping m) {
        int[] pin = pins.get(m.ref());
        if (pin == null) return;
        if (m.readOnly()) pin[0]--;
        else pin[1]--;
        GuestRegion frame = table.frameOf(m.ref());
        if (frame != null) release(frame, entryOffset(m.ref()), pin);
        if (pin[0] == 0 && pin[1] == 0) pins.remove(m.ref());
    }

    private static void release(GuestRegion frame, long off, int[] pin) {
        int clear = 0;
        if (pin[1] == 0) clear |= GTF_WRITING;
        if (pin[0] == 0 && pin[1] == 0) clear |= GTF_READING;
        if (clear != 0) frame.getAndBitwiseAndInt(off, ~clear);
    }

    /** A guest-side revoke, as Linux's gnttab_end_foreign_access_ref does: succeeds only while nothing maps it. */
    public static boolean guestRevoke(GuestRegion frame, int ref) {
        long off = entryOffset(ref);
        while (true) {
            int combo = frame.getIntVolatile(off);
            if ((combo & (GTF_READING | GTF_WRITING)) != 0) return false;
            if (frame.compareAndSetInt(off, combo, combo & 0xFFFF0000)) return true; // flags -> 0
        }
    }


}
