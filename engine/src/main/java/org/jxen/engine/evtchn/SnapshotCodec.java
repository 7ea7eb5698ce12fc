package org.jxen.engine.evtchn;

import java.io.DataInput;
import java.io.DataOutput;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import org.jxen.engine.abi.FifoLayout;
import org.jxen.engine.abi.SharedInfoLayout;

/**
 * The versioned binary form of a {@link DomainSnapshot} (big-endian; layout in docs/save-format.md). Reading checks
 * every count and length against its limit before allocating, so a damaged or hostile file is an IOException with
 * one line, never an OutOfMemoryError.
 */
public final class SnapshotCodec {
    static final byte[] MAGIC = {'J', 'X', 'E', 'N', 'E', 'V', 'T', 'S'};
    public static final int VERSION = 1;
    private static final int MAX_VCPUS = 4096;
    private static final int MAX_EXTENSIONS = 256;
    private static final int MAX_EXTENSION_BYTES = 64 << 20;

    private SnapshotCodec() {}

    public static void write(DomainSnapshot s, DataOutput out) throws IOException {
        out.write(MAGIC);
        out.writeShort(VERSION);
        out.writeShort(s.domid());
        out.writeInt(s.vcpus());
        out.writeInt(s.nrPirqs());
        out.writeInt(s.maxPort());
        out.writeBoolean(s.width32());
        out.writeLong(s.sharedInfoGpa());
        if (s.sharedInfoGpa() < 0) out.write(s.privateSharedInfo());
        for (int v = 0; v < s.vcpus(); v++) {
            out.writeLong(s.vcpuInfoGpa()[v]);
            byte[] area = s.privateVcpuInfo().get(v);
            out.writeByte(area.length);
            out.write(area);
        }
        writePorts(out, s.guestValidPorts(), s.guestPorts());
        writePorts(out, s.backendValidPorts(), s.backendPorts());
        out.writeBoolean(s.fifo() != null);
        if (s.fifo() != null) {
            DomainSnapshot.Fifo f = s.fifo();
            for (long gpa : f.controlBlockGpa()) out.writeLong(gpa);
            out.writeInt(f.eventPageGpa().length);
            for (long gpa : f.eventPageGpa()) out.writeLong(gpa);
            for (int[] row : f.tails()) for (int t : row) out.writeInt(t);
            out.writeInt(f.lastQueues().size());
            for (int[] lq : f.lastQueues()) {
                out.writeInt(lq[0]);
                out.writeInt(lq[1]);
            }
            out.writeInt(f.held().length);
            for (int p : f.held()) out.writeInt(p);
        }
        out.writeInt(s.extensions().size());
        for (DomainSnapshot.Extension e : s.extensions()) {
            out.writeUTF(e.tag());
            out.writeInt(e.data().length);
            out.write(e.data());
        }
    }

    private static void writePorts(DataOutput out, int valid, List<DomainSnapshot.PortEntry> ports) throws IOException {
        out.writeInt(valid);
        out.writeInt(ports.size());
        for (DomainSnapshot.PortEntry e : ports) {
            out.writeInt(e.port());
            out.writeByte(e.kind());
            out.writeInt(e.a());
            out.writeInt(e.b());
            out.writeInt(e.vcpu());
            out.writeByte(e.priority());
        }
    }

    public static DomainSnapshot read(DataInput in) throws IOException {
        byte[] magic = new byte[MAGIC.length];
        in.readFully(magic);
        if (!Arrays.equals(magic, MAGIC)) throw new IOException("not a jxen event-channel snapshot");
        int version = in.readUnsignedShort();
        if (version != VERSION) throw new IOException("snapshot version " + version + " (this jxen reads " + VERSION + ")");
        int domid = in.readUnsignedShort();
        int vcpus = bounded(in.readInt(), 1, MAX_VCPUS, "vcpus");
        int nrPirqs = bounded(in.readInt(), 0, 1 << 20, "nr_pirqs");
        int maxPort = in.readInt();
        boolean width32 = in.readBoolean();
        long sharedGpa = in.readLong();
        byte[] privateShared = new byte[sharedGpa < 0 ? SharedInfoLayout.PAGE_SIZE : 0];
        in.readFully(privateShared);
        long[] vcpuGpa = new long[vcpus];
        List<byte[]> privateVcpu = new ArrayList<>();
        for (int v = 0; v < vcpus; v++) {
            vcpuGpa[v] = in.readLong();
            int len = in.readUnsignedByte();
            if (len != 0 && len != SharedInfoLayout.VCPU_INFO_SIZE) throw new IOException("bad vcpu_info area length " + len);
            byte[] area = new byte[len];
            in.readFully(area);
            privateVcpu.add(area);
        }
        int guestValid = bounded(in.readInt(), PortTable.BUCKET, FifoLayout.NR_CHANNELS, "valid ports");
        List<DomainSnapshot.PortEntry> guestPorts = readPorts(in, guestValid);
        int backendValid = bounded(in.readInt(), PortTable.BUCKET, FifoLayout.NR_CHANNELS, "backend valid ports");
        List<DomainSnapshot.PortEntry> backendPorts = readPorts(in, backendValid);
        DomainSnapshot.Fifo fifo = null;
        if (in.readBoolean()) {
            long[] cb = new long[vcpus];
            for (int v = 0; v < vcpus; v++) cb[v] = in.readLong();
            long[] pages = new long[bounded(in.readInt(), 0, FifoLayout.MAX_EVENT_ARRAY_PAGES, "event pages")];
            for (int i = 0; i < pages.length; i++) pages[i] = in.readLong();
            int[][] tails = new int[vcpus][FifoLayout.MAX_QUEUES];
            for (int[] row : tails) for (int q = 0; q < row.length; q++) row[q] = bounded(in.readInt(), 0, FifoLayout.NR_CHANNELS - 1, "tail");
            int nLast = bounded(in.readInt(), 0, FifoLayout.NR_CHANNELS, "last queues");
            List<int[]> last = new ArrayList<>();
            for (int i = 0; i < nLast; i++) last.add(new int[] {in.readInt(), in.readInt()});
            int[] held = new int[bounded(in.readInt(), 0, FifoLayout.NR_CHANNELS, "held ports")];
            for (int i = 0; i < held.length; i++) held[i] = in.readInt();
            fifo = new DomainSnapshot.Fifo(cb, pages, tails, last, held);
        }
        int nExt = bounded(in.readInt(), 0, MAX_EXTENSIONS, "extensions");
        List<DomainSnapshot.Extension> ext = new ArrayList<>();
        for (int i = 0; i < nExt; i++) {
            String tag = in.readUTF();
            byte[] data = new byte[bounded(in.readInt(), 0, MAX_EXTENSION_BYTES, "extension length")];
            in.readFully(data);
            ext.add(new DomainSnapshot.Extension(tag, data));
        }
        return new DomainSnapshot(domid, vcpus, nrPirqs, maxPort, width32, sharedGpa, privateShared, vcpuGpa, privateVcpu,
                guestValid, guestPorts, backendValid, backendPorts, fifo, ext);
    }

    private static List<DomainSnapshot.PortEntry> readPorts(DataInput in, int valid) throws IOException {
        int n = bounded(in.readInt(), 0, valid, "port count");
        List<DomainSnapshot.PortEntry> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            out.add(new DomainSnapshot.PortEntry(in.readInt(), in.readUnsignedByte(), in.readInt(), in.readInt(), in.readInt(),
                    in.readUnsignedByte()));
        }
        return out;
    }

    private static int bounded(int v, int min, int max, String what) throws IOException {
        if (v < min || v > max) throw new IOException("snapshot has a bad " + what + ": " + v);
        return v;
    }
}
