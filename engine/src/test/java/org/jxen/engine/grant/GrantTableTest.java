package org.jxen.engine.grant;

import static org.junit.jupiter.api.Assertions.*;
import static org.jxen.engine.grant.GrantTable.*;

import java.lang.foreign.ValueLayout;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.Test;
import org.jxen.engine.abi.DomId;
import org.jxen.engine.abi.Errno;
import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.evtchn.DomainConfig;
import org.jxen.engine.hypercall.HypercallArgs;
import org.jxen.engine.memory.GuestRegion;
import org.jxen.engine.platform.MemoryOp;
import org.jxen.engine.testing.EventFixture;

/** Grant tables v1: the guest's table ops, a backend mapping a granted page, and revokes racing maps. */
class GrantTableTest {
    private static final long ARG = 0x1800, LIST = 0x1C00, TABLE_GFN = 0x20, DATA_GFN = 0x30;

    private static EventFixture fixture() {
        return new EventFixture(GuestWidth.BITS_64, DomainConfig.of(1), 256 * 1024);
    }

    /** The guest places frame 0 of its grant table at TABLE_GFN (XENMEM_add_to_physmap, XENMAPSPACE_grant_table). */
    private static void placeFrame(EventFixture f, GrantTable table, int idx, long gfn) {
        var s = f.ram.segment();
        s.set(ValueLayout.JAVA_SHORT_UNALIGNED, ARG, (short) DomId.DOMID_SELF);
        s.set(ValueLayout.JAVA_INT_UNALIGNED, ARG + 4, MemoryOp.MAPSPACE_GRANT_TABLE);
        s.set(ValueLayout.JAVA_LONG_UNALIGNED, ARG + 8, idx);
        s.set(ValueLayout.JAVA_LONG_UNALIGNED, ARG + 16, gfn);
        assertEquals(0, new MemoryOp(f.ports, f.ram, table).handle(HypercallArgs.from64(12, MemoryOp.ADD_TO_PHYSMAP, ARG, 0, 0, 0), f.vmem));
    }

    /** The guest writes grant entry {@code ref} in its (placed) frame 0. */
    private static void grant(EventFixture f, int ref, int flags, int domid, long frame) {
        GuestRegion t = f.ram.page(TABLE_GFN).orElseThrow();
        t.putIntVolatile(ref * 8L + 4, (int) frame);
        t.putIntVolatile(ref * 8L, flags | (domid << 16)); // flags last, as a guest publishes an entry
    }

    private static int flags(EventFixture f, int ref) {
        return f.ram.page(TABLE_GFN).orElseThrow().getIntVolatile(ref * 8L) & 0xFFFF;
    }

    @Test
    void tableOps() {
        try (var f = fixture()) {
            GrantTable table = new GrantTable(4);
            GrantTableOp op = new GrantTableOp(table, 1);
            placeFrame(f, table, 0, TABLE_GFN);
            var s = f.ram.segment();
            // query_size
            s.set(ValueLayout.JAVA_SHORT_UNALIGNED, ARG, (short) DomId.DOMID_SELF);
            assertEquals(0, op.handle(HypercallArgs.from64(20, GrantTableOp.QUERY_SIZE, ARG, 1, 0, 0), f.vmem));
            assertEquals(1, s.get(ValueLayout.JAVA_INT_UNALIGNED, ARG + 4));
            assertEquals(4, s.get(ValueLayout.JAVA_INT_UNALIGNED, ARG + 8));
            assertEquals(0, s.get(ValueLayout.JAVA_SHORT_UNALIGNED, ARG + 12));
            assertEquals(-Errno.EINVAL, op.handle(HypercallArgs.from64(20, GrantTableOp.QUERY_SIZE, ARG, 2, 0, 0), f.vmem), "count must be 1");
            s.set(ValueLayout.JAVA_SHORT_UNALIGNED, ARG, (short) 42);
            assertEquals(0, op.handle(HypercallArgs.from64(20, GrantTableOp.QUERY_SIZE, ARG, 1, 0, 0), f.vmem));
            assertEquals(GrantTableOp.GNTST_BAD_DOMAIN, s.get(ValueLayout.JAVA_SHORT_UNALIGNED, ARG + 12));
            // setup_table: grow to 2 frames, list their gfns
            s.set(ValueLayout.JAVA_SHORT_UNALIGNED, ARG, (short) DomId.DOMID_SELF);
            s.set(ValueLayout.JAVA_INT_UNALIGNED, ARG + 4, 2);
            s.set(ValueLayout.JAVA_LONG_UNALIGNED, ARG + 16, LIST);
            assertEquals(0, op.handle(HypercallArgs.from64(20, GrantTableOp.SETUP_TABLE, ARG, 1, 0, 0), f.vmem));
            assertEquals(0, s.get(ValueLayout.JAVA_SHORT_UNALIGNED, ARG + 8));
            assertEquals(TABLE_GFN, s.get(ValueLayout.JAVA_LONG_UNALIGNED, LIST));
            assertEquals(INVALID_GFN, s.get(ValueLayout.JAVA_LONG_UNALIGNED, LIST + 8), "frame 1 not placed yet");
            assertEquals(2, table.frames());
            s.set(ValueLayout.JAVA_INT_UNALIGNED, ARG + 4, Integer.MAX_VALUE);
            assertEquals(0, op.handle(HypercallArgs.from64(20, GrantTableOp.SETUP_TABLE, ARG, 1, 0, 0), f.vmem));
            assertEquals(GrantTableOp.GNTST_GENERAL_ERROR, s.get(ValueLayout.JAVA_SHORT_UNALIGNED, ARG + 8), "2^31 frames: refused");
            assertEquals(2, table.frames(), "and the table did not grow");
            s.set(ValueLayout.JAVA_INT_UNALIGNED, ARG + 4, 1);
            s.set(ValueLayout.JAVA_LONG_UNALIGNED, ARG + 16, -8L);
            assertEquals(-Errno.EFAULT, op.handle(HypercallArgs.from64(20, GrantTableOp.SETUP_TABLE, ARG, 1, 0, 0), f.vmem), "bad frame list");
            // versions
            s.set(ValueLayout.JAVA_INT_UNALIGNED, ARG, 2);
            assertEquals(-Errno.ENOSYS, op.handle(HypercallArgs.from64(20, GrantTableOp.SET_VERSION, ARG, 1, 0, 0), f.vmem), "v2 not implemented");
            s.set(ValueLayout.JAVA_INT_UNALIGNED, ARG, 3);
            assertEquals(-Errno.EINVAL, op.handle(HypercallArgs.from64(20, GrantTableOp.SET_VERSION, ARG, 1, 0, 0), f.vmem));
            s.set(ValueLayout.JAVA_INT_UNALIGNED, ARG, 1);
            assertEquals(0, op.handle(HypercallArgs.from64(20, GrantTableOp.SET_VERSION, ARG, 1, 0, 0), f.vmem));
            s.set(ValueLayout.JAVA_LONG_UNALIGNED, ARG, 0);
            s.set(ValueLayout.JAVA_SHORT_UNALIGNED, ARG, (short) DomId.DOMID_SELF);
            assertEquals(0, op.handle(HypercallArgs.from64(20, GrantTableOp.GET_VERSION, ARG, 1, 0, 0), f.vmem));
            assertEquals(1, s.get(ValueLayout.JAVA_INT_UNALIGNED, ARG + 4));
            assertEquals(-Errno.ENOSYS, op.handle(HypercallArgs.from64(20, GrantTableOp.COPY, ARG, 1, 0, 0), f.vmem));
            assertEquals(-Errno.ENOSYS, op.handle(HypercallArgs.from64(20, 999, ARG, 1, 0, 0), f.vmem));
        }
    }

    @Test
    void backendMapsAGrantedPageAndRevokeWhileMappedFails() {
        try (var f = fixture()) {
            GrantTable table = new GrantTable(4);
            placeFrame(f, table, 0, TABLE_GFN);
            GrantMapper mapper = new GrantMapper(table, f.ram, DomId.DOM0);
            grant(f, 5, GTF_PERMIT_ACCESS, 0, DATA_GFN);
            GrantMapper.Result r = mapper.map(5, false);
            assertEquals(GrantMapper.GNTST_OKAY, r.status());
            r.mapping().page().putIntVolatile(0, 0xB0B0CAFE);
            assertEquals(0xB0B0CAFE, f.ram.segment().get(ValueLayout.JAVA_INT, DATA_GFN * 4096), "the guest sees the backend's write");
            assertEquals(GTF_PERMIT_ACCESS | GTF_READING | GTF_WRITING, flags(f, 5));
            GuestRegion frame = f.ram.page(TABLE_GFN).orElseThrow();
            assertFalse(GrantMapper.guestRevoke(frame, 5), "revoke while mapped fails, as in Xen");
            mapper.unmap(r.mapping());
            assertEquals(GTF_PERMIT_ACCESS, flags(f, 5), "the last unmap clears reading/writing");
            assertTrue(GrantMapper.guestRevoke(frame, 5));
            assertEquals(GrantMapper.GNTST_GENERAL_ERROR, mapper.map(5, true).status(), "revoked: no longer mappable");

            grant(f, 6, GTF_PERMIT_ACCESS | GTF_READONLY, 0, DATA_GFN);
            assertEquals(GrantMapper.GNTST_PERMISSION_DENIED, mapper.map(6, false).status());
            GrantMapper.Result ro = mapper.map(6, true);
            assertThrows(IllegalArgumentException.class, () -> ro.mapping().page().putIntVolatile(0, 1), "a read-only mapping refuses writes");
            assertEquals(0xB0B0CAFE, ro.mapping().page().getIntVolatile(0), "and reads the guest's page");
            assertEquals(GTF_PERMIT_ACCESS | GTF_READONLY | GTF_READING, flags(f, 6));
            mapper.unmap(ro.mapping());
            grant(f, 7, GTF_PERMIT_ACCESS, 3, DATA_GFN);
            assertEquals(GrantMapper.GNTST_GENERAL_ERROR, mapper.map(7, true).status(), "granted to another domain");
            grant(f, 8, GTF_PERMIT_ACCESS, 0, 0x100000);
            assertEquals(GrantMapper.GNTST_BAD_PAGE, mapper.map(8, true).status(), "frame beyond RAM");
            assertEquals(GTF_PERMIT_ACCESS, flags(f, 8), "nothing left set by a failed map");
            assertEquals(GrantMapper.GNTST_BAD_GNTREF, mapper.map(4 * ENTRIES_PER_FRAME, true).status());
            assertEquals(GrantMapper.GNTST_BAD_GNTREF, mapper.map(-1, true).status());
        }
    }

    @Test
    void revokeRacingMapsNeverRevokesAMappedGrant() throws Exception {
        try (var f = fixture()) {
            GrantTable table = new GrantTable(4);
            placeFrame(f, table, 0, TABLE_GFN);
            GrantMapper mapper = new GrantMapper(table, f.ram, DomId.DOM0);
            GuestRegion frame = f.ram.page(TABLE_GFN).orElseThrow();
            grant(f, 9, GTF_PERMIT_ACCESS, 0, DATA_GFN);
            AtomicBoolean stop = new AtomicBoolean();
            AtomicLong revokes = new AtomicLong(), maps = new AtomicLong();
            AtomicBoolean bad = new AtomicBoolean();
            Thread guest = Thread.ofPlatform().start(() -> {
                while (!stop.get()) {
                    if (GrantMapper.guestRevoke(frame, 9)) {
                        revokes.incrementAndGet();
                        grant(f, 9, GTF_PERMIT_ACCESS, 0, DATA_GFN); // grant it again
                    }
                }
            });
            long end = System.nanoTime() + 300_000_000L;
            while (System.nanoTime() < end) {
                GrantMapper.Result r = mapper.map(9, false);
                if (r.status() == GrantMapper.GNTST_OKAY) {
                    maps.incrementAndGet();
                    int fl = flags(f, 9);
                    if ((fl & GTF_TYPE_MASK) != GTF_PERMIT_ACCESS || (fl & GTF_WRITING) == 0) bad.set(true); // revoked under a mapping
                    mapper.unmap(r.mapping());
                }
            }
            stop.set(true);
            guest.join();
            assertFalse(bad.get(), "a grant was revoked while mapped");
            assertTrue(maps.get() > 0 && revokes.get() > 0, "both sides made progress: " + maps + " maps, " + revokes + " revokes");
        }
    }
}
