package org.jxen.vmm.kvm;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import org.jxen.engine.evtchn.SnapshotCodec;
import org.jxen.engine.memory.GuestMemory;
import org.jxen.sys.kvm.KvmAbi;

/**
 * A whole saved domain, as {@code jxen run --save-on-exit} writes it and {@code --restore} reads it (format in
 * docs/save-format.md): the RAM size and vCPU count, Xen system time at the save, the event channels with the
 * platform's sections, the PV devices, the in-kernel interrupt controllers, each vCPU's KVM state, and the RAM's
 * non-zero pages. Big-endian. Reading checks every count and size before allocating: a damaged file is one
 * IOException line, never a partly built domain.
 */
record SaveFile(long memoryBytes, int vcpus, long systemTimeNs, GuestPlatform.Saved platform, List<byte[]> irqchips,
        List<VcpuState> vcpuStates) {
    static final byte[] MAGIC = "JXENSAVE".getBytes(StandardCharsets.US_ASCII);
    static final int VERSION = 1;
    private static final int MAX_SECTION = 64 << 20;

    /** Writes the file (to a temporary beside it, renamed at the end: a failed save leaves no half file). */
    void write(Path file, GuestMemory ram) throws IOException {
        Path tmp = file.resolveSibling(file.getFileName() + ".partial");
        try (DataOutputStream out = new DataOutputStream(new BufferedOutputStream(Files.newOutputStream(tmp), 1 << 16))) {
            out.write(MAGIC);
            out.writeShort(VERSION);
            out.writeLong(memoryBytes);
            out.writeInt(vcpus);
            out.writeLong(systemTimeNs);
            ByteArrayOutputStream snap = new ByteArrayOutputStream();
            SnapshotCodec.write(platform.snapshot(), new DataOutputStream(snap));
            writeBytes(out, snap.toByteArray());
            writeBytes(out, platform.devices());
            out.writeInt(irqchips.size());
            for (byte[] chip : irqchips) out.write(chip);
            for (VcpuState v : vcpuStates) v.write(out);
            writeRam(out, ram);
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(tmp);
            throw e;
        }
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /** Non-zero populated pages as (gfn, 4096 bytes), then -1: a mostly empty RAM stays a small file. */
    private static void writeRam(DataOutputStream out, GuestMemory ram) throws IOException {
        MemorySegment seg = ram.segment();
        byte[] page = new byte[(int) GuestMemory.PAGE_SIZE];
        for (long gfn = 0; gfn < ram.frames(); gfn++) {
            if (!ram.populated(gfn)) continue;
            long at = gfn << GuestMemory.PAGE_SHIFT;
            if (isZero(seg, at)) continue;
            MemorySegment.copy(seg, ValueLayout.JAVA_BYTE, at, page, 0, page.length);
            out.writeLong(gfn);
            out.write(page);
        }
        out.writeLong(-1);
    }

    private static boolean isZero(MemorySegment seg, long at) {
        for (long o = 0; o < GuestMemory.PAGE_SIZE; o += 8) if (seg.get(ValueLayout.JAVA_LONG_UNALIGNED, at + o) != 0) return false;
        return true;
    }

    private static void writeBytes(DataOutputStream out, byte[] b) throws IOException {
        out.writeInt(b.length);
        out.write(b);
    }

    private static byte[] readBytes(DataInputStream in, String what) throws IOException {
        int n = in.readInt();
        if (n < 0 || n > MAX_SECTION) throw new IOException(what + ": " + n + " bytes");
        byte[] b = new byte[n];
        in.readFully(b);
        return b;
    }

    /** An open save file: its state read, its RAM still to be copied into the new domain's memory. */
    static final class Reader implements AutoCloseable {
        private final DataInputStream in;
        final SaveFile saved;

        Reader(Path file) throws IOException {
            in = new DataInputStream(new BufferedInputStream(Files.newInputStream(file), 1 << 16));
            try {
                saved = readState();
            } catch (EOFException e) {
                in.close();
                throw new IOException("the save file ends early");
            } catch (IOException | RuntimeException e) {
                in.close();
                throw e;
            }
        }

        private SaveFile readState() throws IOException {
            byte[] magic = new byte[MAGIC.length];
            in.readFully(magic);
            if (!Arrays.equals(magic, MAGIC)) throw new IOException("not a jxen save file");
            int version = in.readUnsignedShort();
            if (version != VERSION) throw new IOException("save format version " + version + " (this jxen reads " + VERSION + ")");
            long memory = in.readLong();
            if (memory < (2L << 20) || memory > (3L << 30) || (memory & (GuestMemory.PAGE_SIZE - 1)) != 0)
                throw new IOException("RAM size " + memory);
            int vcpus = in.readInt();
            if (vcpus < 1 || vcpus > 32) throw new IOException(vcpus + " vCPUs");
            long systemTime = in.readLong();
            if (systemTime < 0) throw new IOException("system time " + systemTime);
            var snapshot = SnapshotCodec.read(new DataInputStream(new ByteArrayInputStream(readBytes(in, "event channels"))));
            byte[] devices = readBytes(in, "devices");
            int chips = in.readInt();
            if (chips < 0 || chips > 3) throw new IOException(chips + " interrupt controllers");
            List<byte[]> irqchips = new ArrayList<>();
            for (int i = 0; i < chips; i++) {
                byte[] chip = new byte[KvmAbi.SIZEOF_KVM_IRQCHIP];
                in.readFully(chip);
                irqchips.add(chip);
            }
            List<VcpuState> states = new ArrayList<>();
            for (int v = 0; v < vcpus; v++) states.add(VcpuState.read(in));
            return new SaveFile(memory, vcpus, systemTime, new GuestPlatform.Saved(snapshot, devices), irqchips, states);
        }

        /** Copies the saved pages into {@code ram} (zeroed, of the saved size). */
        void readRam(GuestMemory ram) throws IOException {
            byte[] page = new byte[(int) GuestMemory.PAGE_SIZE];
            try {
                for (long gfn = in.readLong(); gfn != -1; gfn = in.readLong()) {
                    if (gfn < 0 || gfn >= ram.frames()) throw new IOException("RAM page " + gfn + " beyond " + ram.frames());
                    in.readFully(page);
                    MemorySegment.copy(page, 0, ram.segment(), ValueLayout.JAVA_BYTE, gfn << GuestMemory.PAGE_SHIFT, page.length);
                }
            } catch (EOFException e) {
                throw new IOException("the save file ends early");
            }
        }

        @Override
        public void close() throws IOException {
            in.close();
        }
    }
}
