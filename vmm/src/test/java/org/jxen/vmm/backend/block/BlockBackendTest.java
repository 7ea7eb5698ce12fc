package org.jxen.vmm.backend.block;

import static org.junit.jupiter.api.Assertions.*;
import static org.jxen.vmm.backend.block.Blkif.*;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Random;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.jxen.engine.grant.GrantTable;
import org.jxen.engine.memory.GuestRegion;
import org.jxen.sys.BlockFile;
import org.jxen.vmm.backend.FrontendRig;

/** blkback driven by a Java blkfront over real rings, grants, event channels and XenStore. */
class BlockBackendTest {
    private static final int DATA_GFN = 0x80, SECTORS = 2048; // a 1 MiB disk
    @TempDir Path tmp;

    private Path image(boolean pattern) throws IOException {
        byte[] b = new byte[SECTORS * 512];
        if (pattern) for (int i = 0; i < b.length; i++) b[i] = (byte) (i * 31 + (i >> 9));
        Path p = tmp.resolve("disk-" + System.nanoTime() + ".img");
        Files.write(p, b);
        return p;
    }

    private static String sha(Path p) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(p)));
    }

    private static byte[] bytes(GuestRegion page, int from, int len) {
        byte[] out = new byte[len];
        page.asSegment().asSlice(from, len).asByteBuffer().get(out);
        return out;
    }

    @ParameterizedTest(name = "persistent grants {0}")
    @ValueSource(booleans = {false, true})
    void writesReachTheImageReadsComeBackAndFlushesAreAnswered(boolean persistent) throws Exception {
        Path img = image(true);
        try (FrontendRig rig = new FrontendRig(); BlockBackend be = new BlockBackend(rig.context, 0, new DiskSpec(img, false), BlockFile.open(img, false))) {
            BlkFront fe = new BlkFront(rig, DiskSpec.deviceId(0));
            assertEquals("51712", rig.read(fe.dir + "/virtual-device"));
            fe.connect(persistent);
            assertEquals(Integer.toString(SECTORS), rig.read(fe.backend() + "/sectors"));
            assertEquals("0", rig.read(fe.backend() + "/info"));
            assertEquals("512", rig.read(fe.backend() + "/sector-size"));
            assertEquals("1", rig.read(fe.backend() + "/feature-flush-cache"));
            assertEquals("256", rig.read(fe.backend() + "/feature-max-indirect-segments"));

            GuestRegion a = rig.page(DATA_GFN), b = rig.page(DATA_GFN + 1);
            for (int i = 0; i < 4096; i++) {
                a.putByte(i, (byte) (i ^ 0x5A));
                b.putByte(i, (byte) (i ^ 0xA5));
            }
            int ra = rig.grant(DATA_GFN, !persistent), rb = rig.grant(DATA_GFN + 1, !persistent);
            // sectors 100..: a's sectors 2..7 (3 KiB), then b's 0..3 (2 KiB)
            assertEquals(RSP_OKAY, fe.call(fe.rw(OP_WRITE, 7, 100, new int[] {ra, 2, 7}, new int[] {rb, 0, 3})));
            byte[] disk = Files.readAllBytes(img);
            assertArrayEquals(bytes(a, 1024, 3072), Arrays.copyOfRange(disk, 100 * 512, 106 * 512));
            assertArrayEquals(bytes(b, 0, 2048), Arrays.copyOfRange(disk, 106 * 512, 110 * 512));
            assertEquals((byte) ((110 * 512) * 31 + 110), disk[110 * 512], "the sector after the request is untouched");

            int rc = rig.grant(DATA_GFN + 2, false);
            GuestRegion c = rig.page(DATA_GFN + 2);
            assertEquals(RSP_OKAY, fe.call(fe.rw(OP_READ, 8, 100, new int[] {rc, 0, 7})));
            assertArrayEquals(Arrays.copyOfRange(disk, 100 * 512, 108 * 512), bytes(c, 0, 4096));
            assertTrue(rig.f.pending(fe.port), "the response raised the frontend's port");

            assertEquals(RSP_OKAY, fe.call(fe.rw(OP_FLUSH_DISKCACHE, 9, 0)));
            assertEquals(RSP_OKAY, fe.call(fe.rw(OP_FLUSH_DISKCACHE, 10, 200, new int[] {ra, 0, 7})), "a flush with data writes it");
            assertArrayEquals(bytes(a, 0, 4096), Arrays.copyOfRange(Files.readAllBytes(img), 200 * 512, 208 * 512));
            if (!persistent) assertEquals(0, rig.grantFlags(ra) & (GrantTable.GTF_READING | GrantTable.GTF_WRITING), "unmapped after the request");
            else assertNotEquals(0, rig.grantFlags(ra) & GrantTable.GTF_WRITING, "a persistent grant stays mapped");

            ByteBuffer discard = fe.slot().put(0, (byte) OP_DISCARD).putLong(8, 11).putLong(16, 512).putLong(24, 16);
            int st = fe.call(discard);
            assertTrue(st == RSP_OKAY || st == RSP_EOPNOTSUPP, "discard answered " + st);
            if (st == RSP_OKAY) assertArrayEquals(new byte[16 * 512], Arrays.copyOfRange(Files.readAllBytes(img), 512 * 512, 528 * 512));

            rig.write(fe.dir + "/state", "5"); // blkfront_closing
            rig.await(fe.backend() + "/state", "5");
            rig.write(fe.dir + "/state", "6");
            rig.await(fe.backend() + "/state", "6");
            assertEquals(0, rig.grantFlags(ra) & (GrantTable.GTF_READING | GrantTable.GTF_WRITING), "disconnect unmaps persistent grants");
        }
    }

    /**
     * A 32-bit frontend's ring (PVH GRUB's xendisk: protocol x86_32-abi, 108-byte slots with the id at 4, 12-byte
     * responses): its reads and writes land where it asked, its ids come back whole, a discard's count is read from
     * its offset, and a response leaves the rest of its slot alone. Then GRUB's hand-over: Closed, back to
     * Initialising (the backend to InitWait, as Linux's blkback frontend_changed does), and a 64-bit frontend
     * connects to the same device.
     */
    @Test
    void aThirtyTwoBitFrontendIsServedInItsLayoutAndHandsTheDiskOver() throws Exception {
        Path img = image(true);
        try (FrontendRig rig = new FrontendRig(); BlockBackend be = new BlockBackend(rig.context, 0, new DiskSpec(img, false), BlockFile.open(img, false))) {
            BlkFront fe = new BlkFront(rig, DiskSpec.deviceId(0), BlkifProtocol.X86_32);
            assertEquals("2", rig.read(fe.backend() + "/state"), "InitWait before the frontend does anything (GRUB only waits while it is 2)");
            fe.connect(false);
            GuestRegion page = rig.page(DATA_GFN);
            int ref = rig.grant(DATA_GFN, false);
            long id = 0x1122_3344_5566_7788L;
            assertEquals(RSP_OKAY, fe.call(fe.rw(OP_READ, id, 300, new int[] {ref, 0, 7})));
            byte[] disk = Files.readAllBytes(img);
            assertArrayEquals(Arrays.copyOfRange(disk, 300 * 512, 308 * 512), bytes(page, 0, 4096), "sector_number read at offset 12");
            long slot0 = 64;
            assertEquals(300, fe.ring.page.getIntVolatile(slot0 + 12), "the response is 12 bytes: the request's sector_number after it remains");

            for (int i = 0; i < 4096; i++) page.putByte(i, (byte) (i * 3));
            assertEquals(RSP_OKAY, fe.call(fe.rw(OP_WRITE, 2, 40, new int[] {ref, 1, 2})));
            assertArrayEquals(bytes(page, 512, 1024), Arrays.copyOfRange(Files.readAllBytes(img), 40 * 512, 42 * 512), "seg[0] read at offset 20");
            ByteBuffer discard = fe.slot().put(0, (byte) OP_DISCARD).putLong(4, 3).putLong(12, 512).putLong(20, 16);
            int st = fe.call(discard);
            assertTrue(st == RSP_OKAY || st == RSP_EOPNOTSUPP, "discard answered " + st);
            if (st == RSP_OKAY) assertArrayEquals(new byte[16 * 512], Arrays.copyOfRange(Files.readAllBytes(img), 512 * 512, 528 * 512));
            assertEquals(RSP_ERROR, fe.call(fe.rw(OP_READ, 4, SECTORS - 1, new int[] {ref, 0, 7})), "past the end, in this layout too");

            rig.write(fe.dir + "/state", "6"); // grub_xendisk_fini: Closed, wait for the backend's Closed
            rig.await(fe.backend() + "/state", "6");
            rig.write(fe.dir + "/state", "1"); // "prepare for handoff"
            rig.await(fe.backend() + "/state", "2");
            rig.page(BlkFront.RING_GFN).clear(); // the next frontend's fresh ring
            BlkFront linux = new BlkFront(rig, DiskSpec.deviceId(0));
            linux.connect(false);
            assertEquals(RSP_OKAY, linux.call(linux.rw(OP_READ, 5, 40, new int[] {ref, 0, 7})));
            assertArrayEquals(Arrays.copyOfRange(Files.readAllBytes(img), 40 * 512, 48 * 512), bytes(page, 0, 4096), "served in the 64-bit layout now");
        }
    }

    /**
     * A save and restore with the disk connected (jxen save / restore): the backend pauses and writes its record, the
     * domain's event channels and XenStore are restored into a new domain over the same RAM, and a new backend takes
     * the ring over from the record: the frontend goes on with the same ring, port and grants, never told.
     */
    @ParameterizedTest(name = "persistent grants {0}")
    @ValueSource(booleans = {false, true})
    void aConnectedDiskIsTakenOverAfterASaveAndRestore(boolean persistent) throws Exception {
        Path img = image(true);
        FrontendRig rig = new FrontendRig();
        FrontendRig restored = null;
        BlockBackend before = new BlockBackend(rig.context, 0, new DiskSpec(img, false), BlockFile.open(img, false));
        try {
            BlkFront fe = new BlkFront(rig, DiskSpec.deviceId(0));
            fe.connect(persistent);
            GuestRegion a = rig.page(DATA_GFN);
            for (int i = 0; i < 4096; i++) a.putByte(i, (byte) (i * 7));
            int ra = rig.grant(DATA_GFN, false);
            assertEquals(RSP_OKAY, fe.call(fe.rw(OP_WRITE, 1, 100, new int[] {ra, 0, 7})));

            // The save: the I/O thread stops with every request answered; the record and XenStore's tree are written.
            assertTrue(before.pause());
            ByteArrayOutputStream record = new ByteArrayOutputStream(), tree = new ByteArrayOutputStream();
            before.save(new DataOutputStream(record));
            rig.store.writeTree(new DataOutputStream(tree));
            restored = new FrontendRig(rig, tree.toByteArray()); // the new domain, restored from the save
            before.close(); // the old domain goes: its unmapping clears the grants' flags in the (shared) RAM
            assertEquals(0, rig.grantFlags(ra) & (GrantTable.GTF_READING | GrantTable.GTF_WRITING));

            DataInputStream in = new DataInputStream(new ByteArrayInputStream(record.toByteArray()));
            assertEquals(BlockBackend.KIND, in.readUTF());
            BlockBackend.SavedDisk saved = BlockBackend.readDevice(in);
            assertEquals(new BlockBackend.SavedDisk(0, new DiskSpec(img.toAbsolutePath(), false)), saved);
            try (BlockBackend after = new BlockBackend(restored.context, saved, BlockFile.open(img, false), in)) {
                assertTrue(after.connected(), "the connection is taken over");
                assertEquals("4", restored.read(fe.backend() + "/state"), "still Connected: nothing renegotiated");
                if (persistent) assertNotEquals(0, rig.grantFlags(ra) & GrantTable.GTF_WRITING, "the persistent grant is mapped again");

                // The frontend goes on: the sectors written before the save read back, a new write reaches the image.
                int rc = rig.grant(DATA_GFN + 1, false);
                GuestRegion c = rig.page(DATA_GFN + 1);
                assertEquals(RSP_OKAY, fe.call(fe.rw(OP_READ, 2, 100, new int[] {rc, 0, 7})));
                assertArrayEquals(bytes(a, 0, 4096), bytes(c, 0, 4096));
                for (int i = 0; i < 4096; i++) a.putByte(i, (byte) (i * 13));
                assertEquals(RSP_OKAY, fe.call(fe.rw(OP_WRITE, 3, 300, new int[] {ra, 0, 7})));
                assertArrayEquals(bytes(a, 0, 4096), Arrays.copyOfRange(Files.readAllBytes(img), 300 * 512, 308 * 512));

                restored.write(fe.dir + "/state", "5"); // and disconnects as usual
                restored.await(fe.backend() + "/state", "5");
                assertEquals(0, rig.grantFlags(ra) & (GrantTable.GTF_READING | GrantTable.GTF_WRITING), "disconnect unmaps");
            }
        } finally {
            before.close();
            (restored != null ? restored : rig).close();
        }
    }

    @Test
    void aDamagedSavedConnectionStopsTheDiskNotTheRestore() throws Exception {
        Path img = image(true);
        try (FrontendRig rig = new FrontendRig()) {
            DataInputStream damaged = new DataInputStream(new ByteArrayInputStream(new byte[] {1, 0, 0})); // connected, then it ends
            try (BlockBackend be = new BlockBackend(rig.context, new BlockBackend.SavedDisk(0, new DiskSpec(img, false)),
                    BlockFile.open(img, false), damaged)) {
                assertFalse(be.connected());
                assertTrue(rig.read("/local/domain/0/backend/vbd/" + rig.domid + "/" + DiskSpec.deviceId(0) + "/error").contains("damaged"));
            }
        }
    }

    @Test
    void anUnknownProtocolIsFatalForTheConnection() throws Exception {
        Path img = image(false);
        try (FrontendRig rig = new FrontendRig(); BlockBackend be = new BlockBackend(rig.context, 0, new DiskSpec(img, false), BlockFile.open(img, false))) {
            String dir = "/local/domain/" + rig.domid + "/device/vbd/" + DiskSpec.deviceId(0);
            String backend = rig.read(dir + "/backend");
            rig.await(backend + "/state", "2");
            rig.page(BlkFront.RING_GFN);
            rig.write(dir + "/ring-ref", Integer.toString(rig.grant(BlkFront.RING_GFN, false)));
            rig.write(dir + "/event-channel", Integer.toString(rig.allocPort()));
            rig.write(dir + "/protocol", "arm-abi");
            rig.write(dir + "/state", "3");
            rig.await(backend + "/state", "5");
            assertEquals("unknown fe protocol arm-abi", rig.read(backend + "/error"), "Linux blkback's message");
            assertFalse(be.connected());
        }
    }

    @Test
    void indirectRequestsCarry256Segments() throws Exception {
        Path img = image(true);
        try (FrontendRig rig = new FrontendRig(); BlockBackend be = new BlockBackend(rig.context, 1, new DiskSpec(img, false), BlockFile.open(img, false))) {
            BlkFront fe = new BlkFront(rig, DiskSpec.deviceId(1));
            fe.connect(false);
            // 256 segments of one sector each, over 32 pages (sector s of page s/8): 128 KiB read from sector 1000.
            GuestRegion ind = rig.page(0x60);
            int indRef = rig.grant(0x60, true);
            int[] refs = new int[32];
            for (int p = 0; p < 32; p++) {
                rig.page(DATA_GFN + p);
                refs[p] = rig.grant(DATA_GFN + p, false);
            }
            for (int s = 0; s < 256; s++) {
                ind.putIntVolatile(s * 8L, refs[s / 8]);
                ind.putByte(s * 8L + 4, (byte) (s % 8));
                ind.putByte(s * 8L + 5, (byte) (s % 8));
            }
            ByteBuffer r = fe.slot().put(0, (byte) OP_INDIRECT).put(1, (byte) OP_READ).putShort(2, (short) 256).putLong(8, 42).putLong(16, 1000)
                    .putInt(28, indRef);
            assertEquals(RSP_OKAY, fe.call(r));
            byte[] disk = Files.readAllBytes(img);
            for (int p = 0; p < 32; p++)
                assertArrayEquals(Arrays.copyOfRange(disk, (1000 + 8 * p) * 512, (1008 + 8 * p) * 512), bytes(rig.f.ram.page(DATA_GFN + p).orElseThrow(), 0, 4096));
            ByteBuffer tooMany = fe.slot().put(0, (byte) OP_INDIRECT).put(1, (byte) OP_READ).putShort(2, (short) 257).putLong(8, 43).putInt(28, indRef);
            assertEquals(RSP_ERROR, fe.call(tooMany));
            ByteBuffer flushOp = fe.slot().put(0, (byte) OP_INDIRECT).put(1, (byte) OP_FLUSH_DISKCACHE).putShort(2, (short) 1).putLong(8, 44).putInt(28, indRef);
            assertEquals(RSP_ERROR, fe.call(flushOp));
        }
    }

    @Test
    void badRequestsGetErrorsAndWriteNothing() throws Exception {
        Path img = image(true);
        String before = sha(img);
        try (FrontendRig rig = new FrontendRig(); BlockBackend be = new BlockBackend(rig.context, 0, new DiskSpec(img, false), BlockFile.open(img, false))) {
            BlkFront fe = new BlkFront(rig, DiskSpec.deviceId(0));
            fe.connect(false);
            rig.page(DATA_GFN);
            int ok = rig.grant(DATA_GFN, false), ro = rig.grant(DATA_GFN + 1, true);
            assertEquals(RSP_ERROR, fe.call(fe.rw(OP_WRITE, 1, 0, new int[] {4000, 0, 7})), "a ref past the table");
            assertEquals(RSP_ERROR, fe.call(fe.rw(OP_WRITE, 2, 0, new int[] {ok, 0, 7}, new int[] {200, 0, 7})), "one bad grant fails it all");
            assertEquals(RSP_ERROR, fe.call(fe.rw(OP_WRITE, 3, 0, new int[] {ok, 5, 4})), "last before first");
            assertEquals(RSP_ERROR, fe.call(fe.rw(OP_WRITE, 4, 0, new int[] {ok, 0, 8})), "a sector past the page");
            assertEquals(RSP_ERROR, fe.call(fe.rw(OP_WRITE, 5, SECTORS - 7, new int[] {ok, 0, 7})), "past the end of the disk");
            assertEquals(RSP_ERROR, fe.call(fe.rw(OP_WRITE, 6, Long.MAX_VALUE - 2, new int[] {ok, 0, 7})), "sector overflow");
            assertEquals(RSP_ERROR, fe.call(fe.rw(OP_WRITE, 7, -8, new int[] {ok, 0, 7})), "a negative sector");
            assertEquals(RSP_ERROR, fe.call(fe.rw(OP_READ, 8, 0, new int[] {ro, 0, 7})), "a read into a read-only grant");
            assertEquals(RSP_ERROR, fe.call(fe.rw(OP_READ, 9, 0)), "no segments");
            ByteBuffer twelve = fe.rw(OP_WRITE, 10, 0, new int[] {ok, 0, 0});
            twelve.put(1, (byte) 12);
            assertEquals(RSP_ERROR, fe.call(twelve), "more than 11 direct segments");
            assertEquals(RSP_EOPNOTSUPP, fe.call(fe.rw(9, 11, 0, new int[] {ok, 0, 7})), "an unknown operation");
            assertEquals(RSP_EOPNOTSUPP, fe.call(fe.rw(255, 12, 0)), "an unknown operation");
            ByteBuffer farDiscard = fe.slot().put(0, (byte) OP_DISCARD).putLong(8, 13).putLong(16, SECTORS - 1).putLong(24, 2);
            assertEquals(RSP_ERROR, fe.call(farDiscard));
            int grantedElsewhere = rig.grant(DATA_GFN + 2, false);
            var t = rig.f.ram.page(FrontendRig.GRANT_GFN).orElseThrow();
            t.putIntRelease(grantedElsewhere * 8L, GrantTable.GTF_PERMIT_ACCESS | (7 << 16)); // for domain 7, not dom0
            assertEquals(RSP_ERROR, fe.call(fe.rw(OP_WRITE, 14, 0, new int[] {grantedElsewhere, 0, 7})), "a grant for another domain");
            assertEquals(0, rig.grantFlags(ok) & (GrantTable.GTF_READING | GrantTable.GTF_WRITING), "failed requests leave nothing mapped");
            assertEquals(RSP_OKAY, fe.call(fe.rw(OP_READ, 15, 0, new int[] {ok, 0, 7})), "the device still works");
        }
        assertEquals(before, sha(img), "no bad request wrote anything");
    }

    @Test
    void aReadOnlyDiskRefusesWritesAndDiscards() throws Exception {
        Path img = image(true);
        String before = sha(img);
        try (FrontendRig rig = new FrontendRig(); BlockBackend be = new BlockBackend(rig.context, 1, new DiskSpec(img, true), BlockFile.open(img, true))) {
            BlkFront fe = new BlkFront(rig, DiskSpec.deviceId(1));
            assertEquals("r", rig.read("/local/domain/0/backend/vbd/" + rig.domid + "/" + DiskSpec.deviceId(1) + "/mode"));
            fe.connect(true);
            assertEquals(Integer.toString(VDISK_READONLY), rig.read(fe.backend() + "/info"));
            rig.page(DATA_GFN);
            int ref = rig.grant(DATA_GFN, false);
            assertEquals(RSP_ERROR, fe.call(fe.rw(OP_WRITE, 1, 0, new int[] {ref, 0, 7})));
            assertEquals(RSP_ERROR, fe.call(fe.rw(OP_FLUSH_DISKCACHE, 2, 0, new int[] {ref, 0, 7})));
            assertEquals(RSP_ERROR, fe.call(fe.slot().put(0, (byte) OP_DISCARD).putLong(8, 3).putLong(16, 0).putLong(24, 8)));
            assertEquals(RSP_OKAY, fe.call(fe.rw(OP_READ, 4, 0, new int[] {ref, 0, 7})));
        }
        assertEquals(before, sha(img));
    }

    @Test
    void aRingOverrunStopsTheDeviceAndTheFrontendCanStartOver() throws Exception {
        Path img = image(true);
        try (FrontendRig rig = new FrontendRig(); BlockBackend be = new BlockBackend(rig.context, 0, new DiskSpec(img, false), BlockFile.open(img, false))) {
            BlkFront fe = new BlkFront(rig, DiskSpec.deviceId(0));
            fe.connect(false);
            fe.ring.page.putIntRelease(0, 1000); // req_prod far beyond what 32 slots hold
            assertEquals(0, rig.f.ports.send(fe.port));
            rig.await(fe.backend() + "/state", "5");
            assertNotNull(rig.read(fe.backend() + "/error"));
            assertEquals(0, rig.grantFlags(8) & (GrantTable.GTF_READING | GrantTable.GTF_WRITING), "the ring page is unmapped");
            rig.write(fe.dir + "/state", "6");
            rig.await(fe.backend() + "/state", "6");
            rig.write(fe.dir + "/state", "1"); // a driver that starts over
            BlkFront again = new BlkFront(rig, DiskSpec.deviceId(0));
            again.connect(false);
            rig.page(DATA_GFN);
            assertEquals(RSP_OKAY, again.call(again.rw(OP_READ, 1, 0, new int[] {rig.grant(DATA_GFN, false), 0, 7})));
        }
    }

    @Test
    void randomRequestsAreAllAnsweredAndNeverWriteAReadOnlyDisk() throws Exception {
        Path img = image(true);
        String before = sha(img);
        long seed = Long.getLong("jxen.test.seed", 20261202L);
        Random rnd = new Random(seed);
        try (FrontendRig rig = new FrontendRig(); BlockBackend be = new BlockBackend(rig.context, 0, new DiskSpec(img, true), BlockFile.open(img, true))) {
            BlkFront fe = new BlkFront(rig, DiskSpec.deviceId(0));
            fe.connect(rnd.nextBoolean());
            int[] refs = new int[8];
            for (int i = 0; i < refs.length; i++) refs[i] = rig.grant(DATA_GFN + i, rnd.nextBoolean());
            for (int n = 0; n < 3000; n++) {
                ByteBuffer r = fe.slot();
                for (int i = 0; i < Blkif.REQUEST_SIZE; i++) r.put(i, (byte) rnd.nextInt());
                r.put(0, (byte) rnd.nextInt(8)); // mostly real operations, with random everything else
                if (rnd.nextInt(3) == 0) r.put(1, (byte) (1 + rnd.nextInt(11)));
                if (rnd.nextBoolean()) r.putLong(16, rnd.nextInt(SECTORS));
                for (int s = 0; s < 11; s++) if (rnd.nextBoolean()) r.putInt(24 + 8 * s, refs[rnd.nextInt(refs.length)]);
                int status = fe.call(r);
                assertTrue(status == RSP_OKAY || status == RSP_ERROR || status == RSP_EOPNOTSUPP, "seed " + seed + ": status " + status);
            }
            assertTrue(be.connected(), "seed " + seed + ": the device is still connected");
        }
        assertEquals(before, sha(img), "seed " + seed);
    }
}
