package org.jxen.vmm.kvm;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.ByteArrayInputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.List;
import java.util.Optional;

import org.jxen.engine.evtchn.DomainSnapshot;
import org.jxen.engine.evtchn.SnapshotCodec;
import org.jxen.engine.memory.GuestMemory;
import org.jxen.sys.Libc;
import org.jxen.sys.kvm.KvmAbi;
import org.jxen.sys.kvm.PitState;
import org.jxen.vmm.snapshot.DomainSections;
import org.jxen.vmm.snapshot.RamSections;
import org.jxen.vmm.snapshot.SectionCodec;
import org.jxen.vmm.snapshot.SectionHeader;
import org.jxen.vmm.snapshot.SnapshotException;
import org.jxen.vmm.snapshot.SnapshotFormat;
import org.jxen.vmm.snapshot.SnapshotReader;
import org.jxen.vmm.snapshot.SnapshotWriter;
import org.jxen.vmm.xenstore.XenStore;

/**
 * A whole saved domain, as {@code jxen run --save-on-exit} writes it and {@code --restore} reads it (format in
 * docs/save-format.md): a section container ({@link org.jxen.vmm.snapshot}) of the domain's size and clock, the
 * engine's event channels, the platform's state, the console and XenStore, each disk and NIC, the in-kernel interrupt
 * controllers, the in-kernel PIT of a domain that has one, each vCPU's KVM state, then the RAM's non-zero pages. Saves
 * in format 1 (before the container) are still read. Reading checks every count and size before allocating: a damaged
 * file is one IOException line naming the section, never a partly built domain.
 */
record SaveFile(long memoryBytes, int vcpus, long systemTimeNs, GuestPlatform.Saved platform, List<byte[]> irqchips,
        Optional<PitState> pit, List<VcpuState> vcpuStates) {
    private static final int MAX_VCPUS = 32, IRQCHIPS = 3, MAX_DEVICES = 64;
    private static final int MAX_SECTION = 64 << 20;

    /** The domain's shape and clock: the first section, so a reader knows the RAM and vCPUs before anything else. */
    record Domain(long memoryBytes, int vcpus, long systemTimeNs) {}

    static final SectionCodec<Domain> DOMAIN = SectionCodec.of("domain", 1, 20, (d, out) -> {
        out.writeLong(d.memoryBytes());
        out.writeInt(d.vcpus());
        out.writeLong(d.systemTimeNs());
    }, (v, in) -> checked(new Domain(in.readLong(), in.readInt(), in.readLong())));
    /**
     * Xen system time when a live migration's source stopped (i64 ns): it replaces the {@code domain} section's, which a
     * migration sends first, while the guest still runs (docs/save-format.md, "Live migration").
     */
    static final SectionCodec<Long> CLOCK = SectionCodec.of("clock", 1, 8, (t, out) -> out.writeLong(t), (v, in) -> {
        long t = in.readLong();
        if (t < 0) throw new IOException("system time " + t);
        return t;
    });
    /** The console's and XenStore's ports, the XenStore tree and the guest's XenStore connection ({@code PvDevices.save}). */
    static final SectionCodec<byte[]> PV_DEVICES = SectionCodec.bytes("pv-devices", 1, 16, MAX_SECTION);
    /** One disk's or NIC's record, as its backend writes it ({@code PvBackend.save}); device/N in the order attached. */
    static final SectionCodec<byte[]> DEVICE = SectionCodec.bytes("device", 1, 1, 1 << 20);
    /** {@code struct kvm_irqchip} as KVM_GET_IRQCHIP gives it: irqchip/0 master PIC, /1 slave PIC, /2 IOAPIC. */
    static final SectionCodec<byte[]> IRQCHIP = SectionCodec.bytes("irqchip", 1, KvmAbi.SIZEOF_KVM_IRQCHIP, KvmAbi.SIZEOF_KVM_IRQCHIP);
    /** The in-kernel i8254 of a domain run with {@code --pit}; a save without it restores a domain without one. */
    static final SectionCodec<PitState> PIT = PitSection.CODEC;
    /** One vCPU's KVM state ({@link VcpuState}); vcpu/N for KVM vCPU index N. */
    static final SectionCodec<VcpuState> VCPU = SectionCodec.of("vcpu", 1, 1 << 20, (s, out) -> s.write(out), (v, in) -> VcpuState.read(in));

    private static Domain checked(Domain d) throws IOException {
        if (d.memoryBytes() < (2L << 20) || d.memoryBytes() > (3L << 30) || (d.memoryBytes() & (GuestMemory.PAGE_SIZE - 1)) != 0)
            throw new IOException("RAM size " + d.memoryBytes());
        if (d.vcpus() < 1 || d.vcpus() > MAX_VCPUS) throw new IOException(d.vcpus() + " vCPUs");
        if (d.systemTimeNs() < 0) throw new IOException("system time " + d.systemTimeNs());
        return d;
    }

    /** Writes the file (to a temporary beside it, renamed at the end: a failed save leaves no half file). */
    void write(Path file, GuestMemory ram) throws IOException {
        Path tmp = file.resolveSibling(file.getFileName() + ".partial");
        try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(tmp), 1 << 16)) {
            write(out, ram);
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(tmp);
            throw e;
        }
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /** Writes the container to {@code out} (a file, a socket), RAM last and streamed; flushed, not closed. */
    void write(OutputStream out, GuestMemory ram) throws IOException {
        SnapshotWriter w = new SnapshotWriter(out);
        w.write(DOMAIN, new Domain(memoryBytes, vcpus, systemTimeNs));
        writeState(w);
        RamSections.write(w, ram);
        w.finish();
    }

    /**
     * Writes the domain's state sections, from {@code engine} to the last {@code vcpu/N}, without the domain section
     * and RAM: a live migration sends them after its RAM rounds, preceded by {@link #CLOCK} and followed by the last
     * pages.
     */
    void writeState(SnapshotWriter w) throws IOException {
        w.write(DomainSections.ENGINE, platform.snapshot());
        w.write(DomainSections.PLATFORM, platform.snapshot().extensions());
        w.write(PV_DEVICES, platform.devices());
        for (int i = 0; i < platform.backends().size(); i++) w.write(DEVICE, i, platform.backends().get(i));
        for (int i = 0; i < irqchips.size(); i++) w.write(IRQCHIP, i, irqchips.get(i));
        if (pit.isPresent()) w.write(PIT, pit.get());
        for (int v = 0; v < vcpuStates.size(); v++) w.write(VCPU, v, vcpuStates.get(v));
    }

    /** An open save: its state read (either format), its RAM still to be copied into the new domain's memory. */
    static final class Reader implements AutoCloseable {
        private final InputStream in;
        /** Format 2's sections, and the first RAM section's header (null if none); null for format 1. */
        private final SnapshotReader sections;
        private SectionHeader firstRam;
        /**
         * RAM sections that came before the state (a live migration's rounds, sent while the guest ran): kept here, in
         * a mapping of the domain's size, until {@link #readRam} has the domain's memory; null if none came.
         */
        private Arena earlyArena;
        private GuestMemory early;
        private BitSet earlyFrames;
        final SaveFile saved;

        Reader(Path file) throws IOException {
            this(new BufferedInputStream(Files.newInputStream(file), 1 << 16), Files.size(file), "save file");
        }

        /**
         * Reads a save's state from {@code in} ({@code size} bytes, or -1 if unknown; {@code source} names it in
         * messages: "save file"). Closes {@code in} if that fails.
         */
        Reader(InputStream in, long size, String source) throws IOException {
            this.in = in;
            try {
                int format = SnapshotReader.readFormat(in, source);
                if (format == SnapshotFormat.LEGACY) {
                    sections = null;
                    saved = FormatOne.readState(new DataInputStream(in), source);
                } else {
                    sections = new SnapshotReader(in, size < 0 ? -1 : size - SnapshotFormat.MAGIC.length - 2, source);
                    saved = readSections();
                }
            } catch (IOException | RuntimeException e) {
                releaseEarly();
                in.close();
                throw e;
            }
        }

        private SaveFile readSections() throws IOException {
            SectionHeader h = sections.next();
            if (h == null || !h.tag().equals(DOMAIN.kind()))
                throw new SnapshotException(h == null ? null : h.tag(), "the save does not begin with its domain section");
            Domain domain = sections.read(DOMAIN, h);
            long systemTime = domain.systemTimeNs();
            boolean stateBegun = false;
            Long clock = null;
            DomainSnapshot engine = null;
            List<DomainSnapshot.Extension> platform = null;
            byte[] devices = null;
            PitState pit = null;
            byte[][] backends = new byte[MAX_DEVICES][], chips = new byte[IRQCHIPS][];
            VcpuState[] states = new VcpuState[domain.vcpus()];
            while ((h = sections.next()) != null && !(stateBegun && h.kind().equals(RamSections.KIND))) {
                stateBegun |= !h.kind().equals(RamSections.KIND);
                switch (h.kind()) {
                    case RamSections.KIND -> RamSections.read(sections, h, early(domain), gfn -> earlyFrames.set((int) gfn));
                    case "clock" -> {
                        clock = sections.read(CLOCK, once(h, clock));
                        systemTime = clock;
                    }
                    case "engine" -> engine = sections.read(DomainSections.ENGINE, once(h, engine));
                    case "platform" -> platform = sections.read(DomainSections.PLATFORM, once(h, platform));
                    case "pv-devices" -> devices = sections.read(PV_DEVICES, once(h, devices));
                    case "device" -> backends[indexed(h, backends, "devices")] = sections.read(DEVICE, h);
                    case "irqchip" -> chips[indexed(h, chips, "interrupt controllers")] = sections.read(IRQCHIP, h);
                    case "pit" -> pit = sections.read(PIT, once(h, pit));
                    case "vcpu" -> states[indexed(h, states, "vCPUs")] = sections.read(VCPU, h);
                    default -> throw sections.unknown(h);
                }
            }
            firstRam = h;
            missing(engine, DomainSections.ENGINE.kind());
            missing(platform, DomainSections.PLATFORM.kind());
            missing(devices, PV_DEVICES.kind());
            for (int i = 0; i < IRQCHIPS; i++) missing(chips[i], SnapshotFormat.tag(IRQCHIP.kind(), i));
            for (int v = 0; v < states.length; v++) missing(states[v], SnapshotFormat.tag(VCPU.kind(), v));
            int count = 0;
            while (count < MAX_DEVICES && backends[count] != null) count++;
            for (int i = count; i < MAX_DEVICES; i++) if (backends[i] != null) missing(null, SnapshotFormat.tag(DEVICE.kind(), count));
            return new SaveFile(domain.memoryBytes(), domain.vcpus(), systemTime,
                    new GuestPlatform.Saved(engine.withExtensions(platform), devices, List.of(Arrays.copyOf(backends, count))),
                    List.of(chips), Optional.ofNullable(pit), List.of(states));
        }

        /** The mapping that holds RAM sent before the state, made at the first such section. */
        private GuestMemory early(Domain domain) {
            if (early == null) {
                earlyArena = Arena.ofShared();
                early = new GuestMemory(Libc.mmap(earlyArena, domain.memoryBytes(), Libc.PROT_READ | Libc.PROT_WRITE,
                        Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS | Libc.MAP_NORESERVE, -1, 0));
                earlyFrames = new BitSet();
            }
            return early;
        }

        /** {@code h}, a section that has no index and is not there twice. */
        private SectionHeader once(SectionHeader h, Object already) throws SnapshotException {
            if (h.index() >= 0) throw sections.misplaced(h, "has an index; there is one " + h.kind() + " section");
            if (already != null) throw sections.misplaced(h, "appears twice");
            return h;
        }

        /** The index of {@code h}, one of {@code slots.length} sections of its kind, not there twice. */
        private int indexed(SectionHeader h, Object[] slots, String what) throws SnapshotException {
            int i = h.index();
            if (i < 0) throw sections.misplaced(h, "has no index");
            if (i >= slots.length) throw sections.misplaced(h, "is beyond the save's " + slots.length + " " + what);
            if (slots[i] != null) throw sections.misplaced(h, "appears twice");
            return i;
        }

        private static void missing(Object part, String tag) throws SnapshotException {
            if (part == null) throw new SnapshotException(tag, "the save has no section " + tag);
        }

        /** Copies the saved pages into {@code ram} (zeroed, of the saved size); then the save must end. */
        void readRam(GuestMemory ram) throws IOException {
            if (sections == null) {
                FormatOne.readRam(new DataInputStream(in), ram);
                return;
            }
            if (early != null) {
                // One copy per page sent before the state (at the destination of a migration, after its last byte).
                for (int gfn = earlyFrames.nextSetBit(0); gfn >= 0; gfn = earlyFrames.nextSetBit(gfn + 1))
                    MemorySegment.copy(early.segment(), (long) gfn << GuestMemory.PAGE_SHIFT, ram.segment(), (long) gfn << GuestMemory.PAGE_SHIFT, GuestMemory.PAGE_SIZE);
                releaseEarly();
            }
            for (SectionHeader h = firstRam; h != null; h = sections.next()) {
                if (!h.kind().equals(RamSections.KIND)) throw sections.misplaced(h, "follows the RAM (the domain's state comes before it)");
                RamSections.read(sections, h, ram);
            }
            if (sections.trailing() > 0) throw new SnapshotException(null, "the save has " + sections.trailing() + " bytes after its end section");
        }

        private void releaseEarly() {
            if (earlyArena != null) earlyArena.close();
            earlyArena = null;
            early = null;
        }

        @Override
        public void close() throws IOException {
            releaseEarly();
            in.close();
        }
    }

    /**
     * Format 1, written before the section container: one record, field after field (docs/save-format.md, "Format
     * 1"). Read only.
     */
    private static final class FormatOne {
        private FormatOne() {}

        static SaveFile readState(DataInputStream in, String source) throws IOException {
            try {
                Domain domain = checked(new Domain(in.readLong(), in.readInt(), in.readLong()));
                var snapshot = SnapshotCodec.read(new DataInputStream(new ByteArrayInputStream(readBytes(in, "event channels"))));
                byte[] devices = readBytes(in, "devices");
                int chips = in.readInt();
                if (chips < 0 || chips > IRQCHIPS) throw new IOException(chips + " interrupt controllers");
                List<byte[]> irqchips = new ArrayList<>();
                for (int i = 0; i < chips; i++) {
                    byte[] chip = new byte[KvmAbi.SIZEOF_KVM_IRQCHIP];
                    in.readFully(chip);
                    irqchips.add(chip);
                }
                List<VcpuState> states = new ArrayList<>();
                for (int v = 0; v < domain.vcpus(); v++) states.add(VcpuState.read(in));
                return new SaveFile(domain.memoryBytes(), domain.vcpus(), domain.systemTimeNs(), splitDevices(snapshot, devices), irqchips, Optional.empty(), states);
            } catch (EOFException e) {
                throw new IOException("the " + source + " ends early");
            }
        }

        private static byte[] readBytes(DataInputStream in, String what) throws IOException {
            int n = in.readInt();
            if (n < 0 || n > MAX_SECTION) throw new IOException(what + ": " + n + " bytes");
            byte[] b = in.readNBytes(n);
            if (b.length != n) throw new EOFException();
            return b;
        }

        /**
         * Format 1 keeps the disks' and NICs' records after the console's and XenStore's state, in the same bytes, and
         * a save from before disks and NICs has none: the state is walked (ports, tree, connection) to find where the
         * records begin, if anything follows it.
         */
        private static GuestPlatform.Saved splitDevices(DomainSnapshot snapshot, byte[] blob) throws IOException {
            try {
                return splitDevices(snapshot, blob, new ByteArrayInputStream(blob));
            } catch (EOFException e) {
                throw new IOException("the saved devices end early");
            }
        }

        private static GuestPlatform.Saved splitDevices(DomainSnapshot snapshot, byte[] blob, ByteArrayInputStream bytes) throws IOException {
            DataInputStream in = new DataInputStream(bytes);
            in.skipNBytes(16); // console port, store port, their backends' ports
            new XenStore(XenStore.Quota.DEFAULT).readTree(in); // read again (and checked) by the restore
            skipBytes(in, bytes, "a partial XenStore request");
            int replies = in.readInt();
            if (replies < 0 || replies > 1 << 16) throw new IOException("xenstore: " + replies + " pending replies");
            for (int i = 0; i < replies; i++) skipBytes(in, bytes, "a pending XenStore reply");
            int watches = in.readInt();
            if (watches < 0 || watches > 1 << 16) throw new IOException("xenstore: " + watches + " watches");
            for (int i = 0; i < 2 * watches; i++) in.readUTF();
            int transactions = in.readInt();
            if (transactions < 0 || transactions > 1 << 16) throw new IOException("xenstore: " + transactions + " transactions");
            in.skipNBytes(4L * transactions);
            byte[] devices = Arrays.copyOf(blob, blob.length - bytes.available());
            List<byte[]> records = new ArrayList<>();
            if (bytes.available() > 0) {
                int n = in.readInt();
                if (n < 0 || n > MAX_DEVICES) throw new IOException("the save lists " + n + " PV devices");
                for (int i = 0; i < n; i++) records.add(skipBytes(in, bytes, "a saved PV device's record"));
                if (bytes.available() > 0) throw new IOException("the saved devices have " + bytes.available() + " bytes after their end");
            }
            return new GuestPlatform.Saved(snapshot, devices, records);
        }

        /** Reads an i32 length and that many bytes, the length checked against what is left. */
        private static byte[] skipBytes(DataInputStream in, ByteArrayInputStream bytes, String what) throws IOException {
            int len = in.readInt();
            if (len < 0 || len > bytes.available()) throw new IOException(what + " is damaged");
            return in.readNBytes(len);
        }

        static void readRam(DataInputStream in, GuestMemory ram) throws IOException {
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
    }
}
