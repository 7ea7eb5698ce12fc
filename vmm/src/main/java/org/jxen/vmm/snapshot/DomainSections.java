package org.jxen.vmm.snapshot;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

import org.jxen.engine.evtchn.DomainSnapshot;
import org.jxen.engine.evtchn.SnapshotCodec;

/**
 * The codecs of a domain's sections that are not tied to KVM: the engine's event channels and the platform's state
 * (the VMM's extensions of the engine's snapshot: timers, runstates, vCPU lifecycle, grant table, holes, HVM
 * parameters), each its own section though the engine carries them together.
 */
public final class DomainSections {
    private DomainSections() {}

    /** The largest engine or platform section (a domain's ports and private grant frames are far smaller). */
    private static final int MAX_STATE = 64 << 20;
    private static final int MAX_EXTENSIONS = 256;

    /** The engine's snapshot without the platform's extensions (format in docs/save-format.md, "Event-channel snapshot"). */
    public static final SectionCodec<DomainSnapshot> ENGINE = SectionCodec.of("engine", 1, MAX_STATE,
            (s, out) -> SnapshotCodec.write(withoutExtensions(s), out), (v, in) -> SnapshotCodec.read(in));

    /** The platform's extensions: i32 count, then (UTF tag, i32 length, bytes) each. */
    public static final SectionCodec<List<DomainSnapshot.Extension>> PLATFORM = SectionCodec.of("platform", 1, MAX_STATE, (list, out) -> {
        out.writeInt(list.size());
        for (DomainSnapshot.Extension e : list) {
            out.writeUTF(e.tag());
            out.writeInt(e.data().length);
            out.write(e.data());
        }
    }, (v, in) -> {
        int n = in.readInt();
        if (n < 0 || n > MAX_EXTENSIONS) throw new IOException(n + " platform parts");
        List<DomainSnapshot.Extension> list = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            String tag = in.readUTF();
            int length = in.readInt();
            if (length < 0 || length > in.available()) throw new IOException("platform part " + tag + " of " + length + " bytes");
            list.add(new DomainSnapshot.Extension(tag, in.readNBytes(length)));
        }
        return List.copyOf(list);
    });

    /** {@code s} with no extensions: what the engine section holds. */
    public static DomainSnapshot withoutExtensions(DomainSnapshot s) {
        return new DomainSnapshot(s.domid(), s.vcpus(), s.nrPirqs(), s.maxPort(), s.width32(), s.sharedInfoGpa(), s.privateSharedInfo(),
                s.vcpuInfoGpa(), s.privateVcpuInfo(), s.guestValidPorts(), s.guestPorts(), s.backendValidPorts(), s.backendPorts(), s.fifo(),
                List.of());
    }
}
