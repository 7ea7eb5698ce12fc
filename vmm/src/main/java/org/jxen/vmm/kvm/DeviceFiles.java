package org.jxen.vmm.kvm;

import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.io.ByteArrayInputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

import org.jxen.sys.BlockFile;
import org.jxen.sys.Errno;
import org.jxen.sys.SyscallException;
import org.jxen.sys.TapDevice;
import org.jxen.vmm.backend.block.BlockBackend;
import org.jxen.vmm.backend.block.DiskSpec;
import org.jxen.vmm.backend.net.FrameLink;
import org.jxen.vmm.backend.net.NetBackend;
import org.jxen.vmm.backend.net.NetSpec;
import org.jxen.vmm.backend.net.PasstLink;
import org.jxen.vmm.backend.net.TapLink;
import org.jxen.vmm.backend.xenbus.BackendContext;
import org.jxen.vmm.backend.xenbus.PvBackend;

/**
 * The host side of a domain's PV disks and NICs, opened before anything else is built so that a missing image, TAP or
 * passt is reported first: the {@code --disk} images, the {@code --net} links (a TAP, or a passt started here), and for a restore each saved device's image or
 * TAP again. Each file is pushed into the builder's scope as it is opened; what comes back is, per device in the
 * order the platform attaches them, the backend to build over it.
 */
final class DeviceFiles {
    private static final Logger LOG = System.getLogger(DeviceFiles.class.getName());

    private DeviceFiles() {}

    /** A backend to attach, built over the file already opened. */
    interface Attach extends Function<BackendContext, PvBackend> {}

    /**
     * Opens the run's disks, a saved domain's devices ({@code saved}: one record per disk or NIC, as {@code PvBackend.save}
     * wrote them; empty at boot), then the run's NICs; IOException naming the first that cannot be had.
     */
    static List<Attach> open(RunConfig config, List<byte[]> saved, ResourceScope scope) throws IOException {
        List<Attach> attach = new ArrayList<>();
        for (int i = 0; i < config.disks().size(); i++) {
            DiskSpec spec = config.disks().get(i);
            BlockFile file = scope.push("disk " + spec.file(), openDisk(spec, "--disk " + spec.file()));
            int index = i;
            attach.add(context -> new BlockBackend(context, index, spec, file));
        }
        for (byte[] record : saved) attach.add(openSaved(record, scope));
        for (int i = 0; i < config.nets().size(); i++) {
            NetSpec spec = config.nets().get(i);
            FrameLink link = scope.push("NIC " + spec.linkText(), openLink(spec, "--net " + spec.linkText()));
            int index = i;
            attach.add(context -> new NetBackend(context, index, spec, link));
        }
        return attach;
    }

    /**
     * A saved disk or NIC: its record names its image or TAP, opened again here, and holds its connection, which the
     * new backend takes over (the guest's frontend never notices the move).
     */
    private static Attach openSaved(byte[] record, ResourceScope scope) throws IOException {
        DataInputStream in = new DataInputStream(new ByteArrayInputStream(record));
        String kind = in.readUTF();
        return switch (kind) {
            case BlockBackend.KIND -> {
                BlockBackend.SavedDisk d = BlockBackend.readDevice(in);
                BlockFile file = scope.push("disk " + d.spec().file(), openDisk(d.spec(), "the saved domain's disk " + d.spec().file()));
                yield context -> new BlockBackend(context, d, file, in);
            }
            case NetBackend.KIND -> {
                NetBackend.SavedNic nic = NetBackend.readDevice(in);
                FrameLink link = scope.push("NIC " + nic.spec().linkText(), openLink(nic.spec(), "the saved domain's NIC (" + nic.spec().linkText() + ")"));
                yield context -> new NetBackend(context, nic, link, in);
            }
            default -> throw new IOException("the save has a PV device of an unknown kind (" + kind + ")");
        };
    }

    /** Opens one image (read-only ones read-only); {@code origin} names it in a failure (the option, or the saved device). */
    private static BlockFile openDisk(DiskSpec d, String origin) throws IOException {
        BlockFile f;
        try {
            f = BlockFile.open(d.file(), d.readOnly());
        } catch (SyscallException e) {
            if (e.errno() == Errno.EAGAIN || e.errno() == Errno.EACCES) // another open holds a conflicting lock (BlockFile.open)
                throw new IOException(origin + ": the image is in use (locked by another process, e.g. a second jxen or a QEMU"
                        + (d.readOnly() ? " writing it" : "; only ,ro users can share an image") + ")");
            throw new IOException(origin + ": cannot open it " + (d.readOnly() ? "read-only" : "read-write") + " ("
                    + Errno.describe(e.errno()) + ")");
        }
        if (f.size() < 512) {
            f.close();
            throw new IOException(origin + ": a disk image needs at least one 512-byte sector");
        }
        if (f.size() % 512 != 0) LOG.log(Level.WARNING, d.file() + ": the last " + (f.size() % 512) + " bytes (less than a sector) are not part of the disk");
        return f;
    }

    /** How long passt may take to accept on its socket (it does in milliseconds; an emulated VM is slower). */
    private static final long PASST_START_MILLIS = 30_000;

    /**
     * Attaches to one TAP or starts passt; {@code origin} names it in a failure (the option, or the saved device a
     * restore reattaches).
     */
    private static FrameLink openLink(NetSpec n, String origin) throws IOException {
        return switch (n.link()) {
            case NetSpec.Tap t -> {
                try {
                    yield new TapLink(TapDevice.open(t.name()));
                } catch (SyscallException e) {
                    throw new IOException(origin + ": cannot attach to the TAP interface (" + Errno.describe(e.errno())
                            + (e.errno() == Errno.EPERM ? "; creating one needs CAP_NET_ADMIN: make it first with 'ip tuntap add " + t.name()
                                    + " mode tap user $USER'" : "") + ")");
                }
            }
            case NetSpec.User u -> PasstLink.start(u, PASST_START_MILLIS);
        };
    }
}
