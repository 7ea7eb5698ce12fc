package org.jxen.vmm.backend.block;

import static org.jxen.vmm.backend.block.Blkif.*;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;

import org.jxen.engine.grant.GrantMapper;
import org.jxen.engine.grant.GrantMapper.Mapping;
import org.jxen.engine.memory.GuestRegion;
import org.jxen.sys.BlockFile;
import org.jxen.sys.SyscallException;
import org.jxen.sys.Errno;
import org.jxen.vmm.backend.ring.SharedRing;
import org.jxen.vmm.backend.xenbus.BackendContext;
import org.jxen.vmm.backend.xenbus.PvBackend;
import org.jxen.vmm.backend.xenbus.XenbusDevice;

/**
 * blkback for xen-blkfront: a raw image file as the guest's {@code xvdX}, following Linux's
 * {@code drivers/block/xen-blkback} (the XenStore keys it writes and reads, its checks on every request) over the
 * {@code blkif.h} ring, in the layout the frontend names ({@link BlkifProtocol}: 64-bit guests' and 32-bit ones'). Reads, writes, flushes (fdatasync before the response: a flushed write survives the guest and
 * jxen), barriers (served as flushes), discards (holes punched in the image), indirect descriptors (up to 256
 * segments), multi-page rings and persistent grants (kept mapped until the frontend disconnects).
 *
 * <p>Requests are served in ring order by the device's I/O thread, woken by the frontend's notification; the
 * responses of a batch are published together and the frontend is notified once if it asked to be. A request is
 * checked whole — operation, segment count, every segment's sector range within its page, the range within the
 * disk, writes to a read-only disk, every grant mapped with the access the transfer needs — before any byte moves;
 * a bad one gets BLKIF_RSP_ERROR (an unknown operation BLKIF_RSP_EOPNOTSUPP) and nothing else happens. A ring whose
 * producer index runs past it stops the device with one line; the domain runs on.
 */
public final class BlockBackend extends PvBackend {
    private static final Logger LOG = System.getLogger(BlockBackend.class.getName());
    private final BlockFile file;
    private final long sectors;
    private final LongAdder requests = new LongAdder(), errors = new LongAdder(), bytesRead = new LongAdder(), bytesWritten = new LongAdder();
    private final byte[] slot = new byte[REQUEST_SIZE];
    private final ByteBuffer request = ByteBuffer.wrap(slot).order(ByteOrder.LITTLE_ENDIAN);
    private final byte[] response = new byte[RESPONSE_SIZE];
    private final ByteBuffer responseView = ByteBuffer.wrap(response).order(ByteOrder.LITTLE_ENDIAN);
    private final byte[] indirectPage = new byte[4096];

    // The connection (I/O thread only).
    private SharedRing ring;
    private final List<Mapping> ringPages = new ArrayList<>();
    private int port = -1;
    private boolean persistent;
    /** The ring's layout, from the frontend's protocol node at connect. */
    private BlkifProtocol protocol = BlkifProtocol.X86_64;
    private final Map<Integer, Mapping> persistentGrants = new HashMap<>();

    private final int index;
    private final DiskSpec spec;

    /** The {@code index}th disk of the guest, {@code spec}, backed by {@code file} (opened from it; this backend now owns it). */
    public BlockBackend(BackendContext context, int index, DiskSpec spec, BlockFile file) {
        super(context, "vbd", DiskSpec.deviceId(index), "vbd " + DiskSpec.deviceName(index),
                frontendNodes(index), backendNodes(file));
        this.file = file;
        this.index = index;
        this.spec = spec;
        this.sectors = file.size() >>> SECTOR_SHIFT;
        start();
    }

    /**
     * A saved domain's disk, as {@link #save} wrote it after {@link #readDevice}: its XenStore nodes come with the
     * restored tree and its connection is taken over as it was (see {@link #reconnect}); a connection that cannot be
     * taken over stops this disk (one line), not the domain.
     */
    public BlockBackend(BackendContext context, SavedDisk saved, BlockFile file, DataInputStream connection) {
        super(context, "vbd", DiskSpec.deviceId(saved.index()), "vbd " + DiskSpec.deviceName(saved.index()));
        if (file.size() >>> SECTOR_SHIFT != bus.readBackendUnsigned("sectors", file.size() >>> SECTOR_SHIFT))
            LOG.log(Level.WARNING, name() + ": " + saved.spec().file() + " is not the size it had when the domain was saved");
        this.file = file;
        this.index = saved.index();
        this.spec = saved.spec();
        this.sectors = file.size() >>> SECTOR_SHIFT;
        resume(connection);
        start();
    }

    /** What a save says of a disk: its position (xvda, xvdb...) and its --disk. */
    public record SavedDisk(int index, DiskSpec spec) {}

    /** Kind tag of a saved disk in a domain's save. */
    public static final String KIND = "vbd";

    /** Reads what {@link #saveDevice} wrote (after the kind tag). */
    public static SavedDisk readDevice(DataInputStream in) throws IOException {
        int index = in.readInt();
        String file = in.readUTF();
        boolean ro = in.readBoolean();
        if (index < 0 || index >= DiskSpec.MAX_DISKS) throw new IOException("a saved disk's position " + index + " is impossible");
        return new SavedDisk(index, new DiskSpec(Path.of(file), ro));
    }

    @Override
    protected void saveDevice(DataOutputStream out) throws IOException {
        out.writeUTF(KIND);
        out.writeInt(index);
        out.writeUTF(spec.file().toAbsolutePath().toString());
        out.writeBoolean(spec.readOnly());
    }

    /** The backend's port and the grants it keeps mapped (persistent ones); the rings are named in XenStore. */
    @Override
    protected void saveConnection(DataOutputStream out) throws IOException {
        out.writeInt(port);
        out.writeInt(persistentGrants.size());
        for (int ref : persistentGrants.keySet()) out.writeInt(ref);
    }

    /** connect()'s ring mapping again, the saved port taken over, the persistent grants mapped again. */
    @Override
    protected boolean reconnect(DataInputStream saved) throws IOException {
        int savedPort = saved.readInt();
        int kept = saved.readInt();
        if (kept < 0 || kept > MAX_PERSISTENT_GRANTS) throw new IOException("a saved disk keeps " + kept + " grants");
        int[] refs = new int[kept];
        for (int i = 0; i < kept; i++) refs[i] = saved.readInt();
        protocol = BlkifProtocol.named(bus.readFrontend("protocol"));
        if (protocol == null) return fail("unknown fe protocol " + bus.readFrontend("protocol"));
        if (!mapRing()) return false;
        port = xce.reattach(savedPort);
        if (port < 0) return fail("taking over event channel " + savedPort + " after the restore: " + Errno.describe(-port));
        persistent = bus.readFrontendUnsigned("feature-persistent", 0) == 1;
        for (int ref : refs) {
            GrantMapper.Result r = context.grants().map(ref, false);
            if (r.status() != GrantMapper.GNTST_OKAY) return fail("mapping persistent grant " + ref + " again after the restore (GNTST " + r.status() + ")");
            persistentGrants.put(ref, r.mapping());
        }
        return true;
    }

    private static Map<String, String> frontendNodes(int index) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("virtual-device", Integer.toString(DiskSpec.deviceId(index)));
        m.put("device-type", "disk");
        m.put("trusted", "1");
        return m;
    }

    /** What blkback writes before InitWait (xen_blkbk_probe): the ring and indirect limits, the device's identity. */
    private static Map<String, String> backendNodes(BlockFile file) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("device-type", "disk");
        m.put("mode", file.readOnly() ? "r" : "w");
        m.put("type", "file");
        m.put("feature-max-indirect-segments", Integer.toString(MAX_INDIRECT_SEGMENTS));
        m.put("max-ring-page-order", Integer.toString(MAX_RING_PAGE_ORDER));
        return m;
    }

    @Override
    protected boolean readyToConnect(int frontendState) {
        return true; // blkfront publishes its rings and switches to Initialised
    }

    /** connect_ring (read_per_ring_refs) and connect: the frontend's ring and port, then the disk's details. */
    @Override
    protected boolean connect() {
        String named = bus.readFrontend("protocol");
        protocol = BlkifProtocol.named(named);
        if (protocol == null) return fail("unknown fe protocol " + named);
        if (bus.readFrontendUnsigned("multi-queue-num-queues", 1) != 1) return fail("the guest asks for more queues than the 1 offered");
        long evtchn = bus.readFrontendUnsigned("event-channel", -1);
        if (evtchn < 0) return fail("reading " + bus.frontendPath() + "/event-channel");
        if (!mapRing()) return false;
        port = xce.bindInterdomain(context.domid(), (int) evtchn);
        if (port < 0) return fail("binding event channel " + evtchn + ": " + Errno.describe(-port));
        persistent = bus.readFrontendUnsigned("feature-persistent", 0) == 1;
        bus.writeBackend("feature-flush-cache", "1");
        bus.writeBackend("feature-barrier", "0");
        if (!file.readOnly()) {
            bus.writeBackend("feature-discard", "1");
            bus.writeBackend("discard-granularity", "4096");
            bus.writeBackend("discard-alignment", "0");
            bus.writeBackend("discard-secure", "0");
        }
        bus.writeBackend("feature-persistent", "1");
        bus.writeBackend("sectors", Long.toString(sectors));
        bus.writeBackend("info", Integer.toString(file.readOnly() ? VDISK_READONLY : 0));
        bus.writeBackend("sector-size", "512");
        bus.writeBackend("physical-sector-size", "512");
        return true;
    }

    /** The frontend's ring pages (ring-ref, or ring-ref0.. with ring-page-order), mapped. */
    private boolean mapRing() {
        long order = bus.readFrontendUnsigned("ring-page-order", -1);
        if (order > MAX_RING_PAGE_ORDER) return fail("requested ring page order " + order + " exceeds max " + MAX_RING_PAGE_ORDER);
        int pages = order < 0 ? 1 : 1 << order;
        List<GuestRegion> regions = new ArrayList<>();
        for (int i = 0; i < pages; i++) {
            String key = order < 0 ? "ring-ref" : "ring-ref" + i;
            long ref = bus.readFrontendUnsigned(key, -1);
            if (ref < 0 || ref > Integer.MAX_VALUE) return fail("reading " + bus.frontendPath() + "/" + key);
            GrantMapper.Result r = context.grants().map((int) ref, false);
            if (r.status() != GrantMapper.GNTST_OKAY) return fail("mapping ring-ref " + ref + " (GNTST " + r.status() + ")");
            ringPages.add(r.mapping());
            regions.add(r.mapping().page());
        }
        ring = SharedRing.attach(regions, protocol.slotSize);
        return true;
    }

    private boolean fail(String reason) {
        bus.fatal(reason);
        return false;
    }

    @Override
    protected void disconnect() {
        if (port >= 0) xce.unbind(port);
        port = -1;
        for (Mapping m : persistentGrants.values()) context.grants().unmap(m);
        persistentGrants.clear();
        for (Mapping m : ringPages) context.grants().unmap(m);
        ringPages.clear();
        ring = null;
    }

    @Override
    protected void serve() {
        boolean notify = false;
        while (true) {
            int n = ring.unconsumedRequests();
            if (n == SharedRing.BROKEN) {
                stopRing("frontend provided bogus ring requests (req_prod past the ring); the device stops");
                return;
            }
            if (n == 0) {
                notify |= ring.pushResponses();
                if (!ring.finalCheckForRequests()) break;
                continue;
            }
            for (int i = 0; i < n; i++) {
                ring.takeRequest(slot);
                serveOne();
            }
            notify |= ring.pushResponses();
        }
        if (notify) xce.notify(port);
    }

    /** One request, copied out of the ring: checked, performed, answered. */
    private void serveOne() {
        requests.increment();
        int op = request.get(OPERATION) & 0xFF;
        long id = request.getLong(protocol.id);
        int answeredOp = op == OP_INDIRECT ? request.get(INDIRECT_OP) & 0xFF : op;
        short status = switch (op) {
            case OP_READ, OP_WRITE, OP_FLUSH_DISKCACHE, OP_WRITE_BARRIER -> transfer(op, directSegments(op));
            case OP_INDIRECT -> answeredOp == OP_READ || answeredOp == OP_WRITE ? transfer(answeredOp, indirectSegments()) : RSP_ERROR;
            case OP_DISCARD -> discard();
            default -> RSP_EOPNOTSUPP;
        };
        if (status != RSP_OKAY) errors.increment();
        responseView.putLong(RSP_ID, id);
        responseView.put(RSP_OPERATION, (byte) answeredOp);
        responseView.putShort(RSP_STATUS, status);
        ring.putResponse(response, protocol.responseSize);
    }

    /** A segment: a granted page and the sectors of it (first..last, 0..7) the transfer covers. */
    private record Segment(int gref, int first, int last) {
        int sectors() {
            return last - first + 1;
        }
    }

    /** The segments in the request itself; null if their count is impossible for {@code op}. */
    private List<Segment> directSegments(int op) {
        int n = request.get(NR_SEGMENTS) & 0xFF;
        boolean flush = op == OP_FLUSH_DISKCACHE || op == OP_WRITE_BARRIER;
        if (n > MAX_DIRECT_SEGMENTS || (n == 0 && !flush)) return null;
        List<Segment> segs = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            int at = protocol.segments + i * SEGMENT_SIZE;
            segs.add(new Segment(request.getInt(at), request.get(at + 4) & 0xFF, request.get(at + 5) & 0xFF));
        }
        return segs;
    }

    /** The segments listed in the indirect pages, copied out of them; null if the request is malformed. */
    private List<Segment> indirectSegments() {
        int n = request.getShort(INDIRECT_NR_SEGMENTS) & 0xFFFF;
        if (n == 0 || n > MAX_INDIRECT_SEGMENTS) return null;
        int pages = (n + SEGMENTS_PER_INDIRECT_PAGE - 1) / SEGMENTS_PER_INDIRECT_PAGE;
        List<Segment> segs = new ArrayList<>(n);
        ByteBuffer page = ByteBuffer.wrap(indirectPage).order(ByteOrder.LITTLE_ENDIAN);
        for (int p = 0; p < pages; p++) {
            int gref = request.getInt(protocol.indirectGrefs + 4 * p);
            Mapping m = mapped(gref, false);
            if (m == null) return null;
            try {
                m.page().asSegment().asByteBuffer().get(indirectPage);
            } finally {
                release(m);
            }
            for (int i = p * SEGMENTS_PER_INDIRECT_PAGE; i < Math.min(n, (p + 1) * SEGMENTS_PER_INDIRECT_PAGE); i++) {
                int at = (i % SEGMENTS_PER_INDIRECT_PAGE) * SEGMENT_SIZE;
                segs.add(new Segment(page.getInt(at), page.get(at + 4) & 0xFF, page.get(at + 5) & 0xFF));
            }
        }
        return segs;
    }

    /** Read or write (a flush or barrier writes its segments, if any, then makes everything written durable). */
    private short transfer(int op, List<Segment> segs) {
        if (segs == null) return RSP_ERROR;
        boolean toGuest = op == OP_READ;
        if (!toGuest && file.readOnly()) return RSP_ERROR;
        long sector = request.getLong(protocol.sector), total = 0;
        for (Segment s : segs) {
            if (s.last() >= SECTORS_PER_PAGE || s.last() < s.first()) return RSP_ERROR;
            total += s.sectors();
        }
        if (total > 0 && (sector < 0 || sector + total < sector || sector + total > sectors)) return RSP_ERROR;
        List<Mapping> maps = new ArrayList<>(segs.size());
        try {
            for (Segment s : segs) {
                Mapping m = mapped(s.gref(), toGuest);
                if (m == null) return RSP_ERROR;
                maps.add(m);
            }
            long offset = sector << SECTOR_SHIFT;
            for (int i = 0; i < segs.size(); i++) {
                Segment s = segs.get(i);
                var bytes = maps.get(i).page().asSegment().asSlice((long) s.first() << SECTOR_SHIFT, (long) s.sectors() << SECTOR_SHIFT);
                int rc = toGuest ? file.read(bytes, offset) : file.write(bytes, offset);
                if (rc != 0) return ioError(rc);
                offset += bytes.byteSize();
            }
            (toGuest ? bytesRead : bytesWritten).add(total << SECTOR_SHIFT);
            if (op == OP_FLUSH_DISKCACHE || op == OP_WRITE_BARRIER) {
                int rc = file.flush();
                if (rc != 0) return ioError(rc);
            }
            return RSP_OKAY;
        } finally {
            for (Mapping m : maps) release(m);
        }
    }

    private short discard() {
        if (file.readOnly()) return RSP_ERROR;
        long sector = request.getLong(protocol.sector), count = request.getLong(protocol.discardNrSectors);
        if (sector < 0 || count < 0 || sector + count < sector || sector + count > sectors) return RSP_ERROR;
        if (count == 0) return RSP_OKAY;
        int rc = file.discard(sector << SECTOR_SHIFT, count << SECTOR_SHIFT);
        if (rc == -Errno.EOPNOTSUPP) return RSP_EOPNOTSUPP;
        return rc == 0 ? RSP_OKAY : ioError(rc);
    }

    private short ioError(int rc) {
        LOG.log(Level.ERROR, name() + ": I/O error on the image: " + Errno.describe(-rc));
        return RSP_ERROR;
    }

    /**
     * The guest page behind {@code gref} with the access a transfer needs ({@code writable}: data going to the guest);
     * null if the grant does not allow it. With persistent grants, a grant the guest gave read-write is mapped once and
     * kept; anything else is mapped for this request only.
     */
    private Mapping mapped(int gref, boolean writable) {
        if (persistent) {
            Mapping kept = persistentGrants.get(gref);
            if (kept != null) return kept;
            GrantMapper.Result r = context.grants().map(gref, false);
            if (r.status() == GrantMapper.GNTST_OKAY) {
                if (persistentGrants.size() < MAX_PERSISTENT_GRANTS) persistentGrants.put(gref, r.mapping());
                return r.mapping();
            }
            if (writable || r.status() != GrantMapper.GNTST_PERMISSION_DENIED) return null;
        }
        GrantMapper.Result r = context.grants().map(gref, !writable);
        return r.status() == GrantMapper.GNTST_OKAY ? r.mapping() : null;
    }

    /** Ends a mapping taken for one request (a persistent one stays). */
    private void release(Mapping m) {
        if (persistentGrants.get(m.ref()) != m) context.grants().unmap(m);
    }

    @Override
    public String ringState() {
        SharedRing r = ring;
        return r == null ? "" : "port " + port + ": " + r.describe();
    }

    @Override
    public void releaseHostFiles() {
        file.unlock();
    }

    @Override
    public boolean reclaimHostFiles() {
        try {
            file.relock();
            return true;
        } catch (SyscallException e) {
            LOG.log(Level.ERROR, name() + ": its image is locked by another process now; not written until that one ends (" + e.getMessage() + ")");
            return false;
        }
    }

    /** Requests served, requests answered with an error, bytes read and written. */
    @Override
    public Map<String, Long> counters() {
        return Map.of("requests", requests.sum(), "errors", errors.sum(), "bytes-read", bytesRead.sum(), "bytes-written", bytesWritten.sum());
    }

    @Override
    protected void release() {
        file.close();
    }
}
