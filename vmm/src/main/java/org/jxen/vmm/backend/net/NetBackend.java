package org.jxen.vmm.backend.net;

import static org.jxen.vmm.backend.net.Netif.*;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;

import org.jxen.engine.grant.GrantMapper;
import org.jxen.engine.grant.GrantMapper.Mapping;
import org.jxen.sys.Errno;
import org.jxen.vmm.backend.ring.SharedRing;
import org.jxen.vmm.backend.xenbus.BackendContext;
import org.jxen.vmm.backend.xenbus.PvBackend;
import org.jxen.vmm.backend.xenbus.XenbusDevice;

/**
 * netback for xen-netfront: the guest's {@code vifN} joined to a {@link FrameLink} (a host TAP interface, or passt's
 * user-mode network), following Linux's
 * {@code drivers/net/xen-netback} (the XenStore keys, the checks on every transmit request) over the {@code netif.h}
 * rings. One queue, one event channel for both rings, the copying receive path (feature-rx-copy; flipping is long
 * gone), scatter-gather both ways, and transmit checksum offload: a frame sent with NETTXF_csum_blank gets its TCP or
 * UDP checksum finished here before it reaches the TAP.
 *
 * <p>The device's I/O thread does everything: woken by the frontend's notification it copies each transmitted packet
 * out of the granted pages, answers every slot it took and writes the frame to the TAP; woken by the TAP's
 * descriptor (readable) it reads frames into the receive buffers the frontend posted. With no buffer posted it stops
 * watching the TAP (the kernel queues, then drops, as a full NIC would) until the frontend posts more. A packet that
 * breaks the ring protocol (slots past the page, more slots than published, a bad extra-info slot) stops the vif
 * with one line, as netback's {@code xenvif_fatal_tx_err} does; a bad grant only fails that packet.
 */
public final class NetBackend extends PvBackend {
    private static final Logger LOG = System.getLogger(NetBackend.class.getName());
    private final FrameLink link;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment txFrame = arena.allocate(MAX_FRAME), rxFrame = arena.allocate(MAX_FRAME);
    private final LongAdder txPackets = new LongAdder(), txBytes = new LongAdder(), txErrors = new LongAdder(), txDropped = new LongAdder(),
            rxPackets = new LongAdder(), rxBytes = new LongAdder(), rxErrors = new LongAdder(), rxDropped = new LongAdder();
    private final byte[] slot = new byte[TX_SLOT];
    private final ByteBuffer request = ByteBuffer.wrap(slot).order(ByteOrder.LITTLE_ENDIAN);
    private final byte[] response = new byte[Math.max(TX_RSP_SIZE, RX_RSP_SIZE)];
    private final ByteBuffer responseView = ByteBuffer.wrap(response).order(ByteOrder.LITTLE_ENDIAN);
    /** The length of a frame read from the TAP and not yet delivered (no receive buffer was posted), or 0. */
    private int heldFrame;
    private boolean linkErrorReported;

    // The connection (I/O thread only).
    private SharedRing tx, rx;
    private final List<Mapping> ringPages = new ArrayList<>();
    private int port = -1;
    private boolean frontendSg;

    private final int devid;
    private final NetSpec spec;

    /** The guest's NIC {@code devid}, joined to {@code link} (which this backend now owns). */
    public NetBackend(BackendContext context, int devid, NetSpec spec, FrameLink link) {
        super(context, "vif", devid, "vif " + devid, frontendNodes(devid, spec), backendNodes(devid, spec));
        this.link = link;
        this.devid = devid;
        this.spec = spec;
        xce.watchHost(link.fd());
        xce.armHost(false); // until a frontend connects
        start();
    }

    /**
     * A saved domain's NIC, as {@link #save} wrote it after {@link #readDevice}, joined to {@code link} again: its
     * XenStore nodes come with the restored tree and its connection is taken over as it was. A frame read from the
     * TAP and not yet delivered when the domain was saved is lost, as on a wire.
     */
    public NetBackend(BackendContext context, SavedNic saved, FrameLink link, DataInputStream connection) {
        super(context, "vif", saved.devid(), "vif " + saved.devid());
        this.link = link;
        this.devid = saved.devid();
        this.spec = saved.spec();
        xce.watchHost(link.fd());
        xce.armHost(false);
        resume(connection);
        start();
    }

    /** What a save says of a NIC: its device id and its --net. */
    public record SavedNic(int devid, NetSpec spec) {}

    /** Marks a saved user link (passt) where older saves have a TAP's name. */
    private static final String USER_MARK = ":";

    /** Kind tag of a saved NIC in a domain's save. */
    public static final String KIND = "vif";

    /** Reads what {@link #saveDevice} wrote (after the kind tag). */
    public static SavedNic readDevice(DataInputStream in) throws IOException {
        int devid = in.readInt();
        String link = in.readUTF();
        byte[] mac = new byte[6];
        in.readFully(mac);
        try {
            // A TAP's name, or ':' and a user link's --net text (':' is in no interface name: Linux's dev_valid_name).
            NetSpec.Link l = link.startsWith(USER_MARK) ? NetSpec.parse(link.substring(USER_MARK.length())).link() : new NetSpec.Tap(link);
            return new SavedNic(devid, new NetSpec(l, mac));
        } catch (IllegalArgumentException e) {
            throw new IOException("a saved NIC: " + e.getMessage());
        }
    }

    @Override
    protected void saveDevice(DataOutputStream out) throws IOException {
        out.writeUTF(KIND);
        out.writeInt(devid);
        out.writeUTF(switch (spec.link()) {
            case NetSpec.Tap t -> t.name();
            case NetSpec.User u -> USER_MARK + spec.linkText();
        });
        out.write(spec.mac());
    }

    /** The backend's port; the rings and the frontend's features are named in XenStore. */
    @Override
    protected void saveConnection(DataOutputStream out) throws IOException {
        out.writeInt(port);
    }

    /** connect()'s two rings mapped again and the saved port taken over; receiving resumes at once. */
    @Override
    protected boolean reconnect(DataInputStream saved) throws IOException {
        int savedPort = saved.readInt();
        SharedRing txRing = ring("tx-ring-ref", TX_SLOT), rxRing = ring("rx-ring-ref", RX_SLOT);
        if (txRing == null || rxRing == null) return false;
        port = xce.reattach(savedPort);
        if (port < 0) return fail("taking over event channel " + savedPort + " after the restore: " + Errno.describe(-port));
        tx = txRing;
        rx = rxRing;
        frontendSg = bus.readFrontendUnsigned("feature-sg", 0) == 1;
        xce.armHost(true);
        return true;
    }

    /** What libxl gives netfront in its own directory: its handle and MAC (xen_net_read_mac reads it there). */
    private static Map<String, String> frontendNodes(int devid, NetSpec spec) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("handle", Integer.toString(devid));
        m.put("mac", spec.macText());
        return m;
    }

    /** What netback offers before InitWait (netback_probe): the features this backend has, and no others. */
    private static Map<String, String> backendNodes(int devid, NetSpec spec) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("handle", Integer.toString(devid));
        m.put("mac", spec.macText());
        m.put("feature-rx-copy", "1");
        m.put("feature-rx-flip", "0");
        m.put("feature-sg", "1");
        m.put("feature-gso-tcpv4", "0");
        m.put("feature-gso-tcpv6", "0");
        m.put("feature-ipv6-csum-offload", "1");
        m.put("feature-multicast-control", "0");
        m.put("feature-split-event-channels", "0");
        return m;
    }

    @Override
    protected boolean readyToConnect(int frontendState) {
        return frontendState == XenbusDevice.CONNECTED; // netfront publishes its rings, then goes to Connected
    }

    /** connect_data_rings and read_xenbus_vif_flags: the frontend's two rings, its port and what it can receive. */
    @Override
    protected boolean connect() {
        if (bus.readFrontendUnsigned("multi-queue-num-queues", 1) != 1) return fail("the guest asks for more queues than the 1 offered");
        if (bus.readFrontendUnsigned("request-rx-copy", 0) != 1) return fail("the frontend must use the copying receive path (request-rx-copy)");
        if (bus.readFrontendUnsigned("feature-rx-notify", 0) != 1) return fail("feature-rx-notify is mandatory");
        long evtchn = bus.readFrontendUnsigned("event-channel", -1);
        if (evtchn < 0) return fail("reading " + bus.frontendPath() + "/event-channel (split event channels are not offered)");
        SharedRing txRing = ring("tx-ring-ref", TX_SLOT), rxRing = ring("rx-ring-ref", RX_SLOT);
        if (txRing == null || rxRing == null) return false;
        port = xce.bindInterdomain(context.domid(), (int) evtchn);
        if (port < 0) return fail("binding event channel " + evtchn + ": " + Errno.describe(-port));
        tx = txRing;
        rx = rxRing;
        frontendSg = bus.readFrontendUnsigned("feature-sg", 0) == 1;
        xce.armHost(heldFrame == 0);
        return true;
    }

    private SharedRing ring(String key, int slotSize) {
        long ref = bus.readFrontendUnsigned(key, -1);
        if (ref < 0 || ref > Integer.MAX_VALUE) {
            fail("reading " + bus.frontendPath() + "/" + key);
            return null;
        }
        GrantMapper.Result r = context.grants().map((int) ref, false);
        if (r.status() != GrantMapper.GNTST_OKAY) {
            fail("mapping " + key + " " + ref + " (GNTST " + r.status() + ")");
            return null;
        }
        ringPages.add(r.mapping());
        return SharedRing.attach(List.of(r.mapping().page()), slotSize);
    }

    private boolean fail(String reason) {
        bus.fatal(reason);
        return false;
    }

    @Override
    protected void disconnect() {
        xce.armHost(false);
        if (port >= 0) xce.unbind(port);
        port = -1;
        for (Mapping m : ringPages) context.grants().unmap(m);
        ringPages.clear();
        tx = rx = null;
    }

    @Override
    protected void serve() {
        boolean notify = serveTransmit();
        if (tx == null) return; // the vif stopped
        notify |= serveReceive();
        if (rx == null) return;
        if (notify) xce.notify(port);
    }

    // ---- guest to link ------------------------------------------------------------------------------------------

    /** A transmit request as copied out of its slot. */
    private record TxRequest(int gref, int offset, int flags, int id, int size) {
        boolean more() {
            return (flags & TXF_MORE_DATA) != 0;
        }
    }

    private TxRequest takeTx() {
        tx.takeRequest(slot);
        return new TxRequest(request.getInt(TX_GREF), request.getShort(TX_OFFSET) & 0xFFFF, request.getShort(TX_FLAGS) & 0xFFFF,
                request.getShort(TX_ID) & 0xFFFF, request.getShort(TX_SIZE) & 0xFFFF);
    }

    /** Every published packet, each answered slot by slot; whether the frontend asked to be notified of the answers. */
    private boolean serveTransmit() {
        boolean notify = false;
        while (true) {
            int n = tx.unconsumedRequests();
            if (n == SharedRing.BROKEN) {
                stopRing("frontend provided bogus tx ring requests (req_prod past the ring); the vif stops");
                return false;
            }
            if (n == 0) {
                notify |= tx.pushResponses();
                if (!tx.finalCheckForRequests()) return notify;
                continue;
            }
            while (n > 0) {
                int used = transmitOne(n);
                if (used < 0) return false; // the vif stopped
                n -= used;
            }
            notify |= tx.pushResponses();
        }
    }

    /**
     * One packet: its first request, its extra-info slots, its further fragments (xenvif_count_requests,
     * xenvif_get_extras); the slots it took, or -1 if it broke the protocol and the vif stopped.
     */
    private int transmitOne(int available) {
        TxRequest first = takeTx();
        int taken = 1, extras = 0;
        boolean gso = false;
        if ((first.flags() & TXF_EXTRA_INFO) != 0) {
            boolean more = true;
            while (more) {
                if (taken == available) return fatal("missing extra info");
                tx.takeRequest(slot);
                taken++;
                extras++;
                int type = slot[EXTRA_TYPE] & 0xFF;
                if (type == 0 || type >= EXTRA_MAX) return fatal("invalid extra type: " + type);
                gso |= type == EXTRA_GSO;
                more = (slot[EXTRA_FLAGS] & EXTRA_FLAG_MORE) != 0;
            }
        }
        List<TxRequest> frags = new ArrayList<>();
        boolean drop = false, more = first.more();
        int firstLength = first.size();
        while (more) {
            if (frags.size() + 1 >= FATAL_SLOTS) return fatal("too many slots (" + (frags.size() + 1) + ") in a packet");
            if (taken == available) return fatal("asked for " + (taken + 1) + " slots but only " + available + " are published");
            TxRequest frag = takeTx();
            taken++;
            frags.add(frag);
            more = frag.more();
            if (frag.size() > firstLength) drop = true; // a slot larger than what remains of the packet
            else firstLength -= frag.size();
            if (frag.offset() + frag.size() > PAGE) return fatal("a slot crosses its page (offset " + frag.offset() + ", size " + frag.size() + ")");
        }
        if (!drop && first.offset() + firstLength > PAGE) return fatal("a slot crosses its page (offset " + first.offset() + ", size " + firstLength + ")");
        drop |= frags.size() + 1 > MAX_SLOTS || first.size() < ETH_HLEN || gso; // GSO is not offered: such a packet is refused
        short status = drop ? RSP_ERROR : copyPacket(first, firstLength, frags);
        respondTx(first.id(), status);
        for (int i = 0; i < extras; i++) respondTx(0, RSP_NULL);
        for (TxRequest f : frags) respondTx(f.id(), status);
        if (status != RSP_OKAY) {
            txErrors.increment();
            return taken;
        }
        int length = first.size();
        if ((first.flags() & TXF_CSUM_BLANK) != 0 && !PartialChecksum.finish(txFrame, length)) {
            txDropped.increment(); // netback drops what checksum_setup cannot handle
            return taken;
        }
        if (link.write(txFrame.asSlice(0, length)) != 0) txDropped.increment(); // the interface is down: lost on the wire
        else {
            txPackets.increment();
            txBytes.add(length);
        }
        return taken;
    }

    /** Copies the packet's slots into {@link #txFrame}: OKAY, or ERROR if a grant cannot be mapped for reading. */
    private short copyPacket(TxRequest first, int firstLength, List<TxRequest> frags) {
        long at = copySlot(first.gref(), first.offset(), firstLength, 0);
        for (TxRequest f : frags) {
            if (at < 0) break;
            at = copySlot(f.gref(), f.offset(), f.size(), at);
        }
        return at < 0 ? RSP_ERROR : RSP_OKAY;
    }

    private long copySlot(int gref, int offset, int length, long at) {
        GrantMapper.Result r = context.grants().map(gref, true);
        if (r.status() != GrantMapper.GNTST_OKAY) return -1;
        try {
            MemorySegment.copy(r.mapping().page().asSegment(), offset, txFrame, at, length);
        } finally {
            context.grants().unmap(r.mapping());
        }
        return at + length;
    }

    private void respondTx(int id, short status) {
        responseView.putShort(TX_RSP_ID, (short) id);
        responseView.putShort(TX_RSP_STATUS, status);
        tx.putResponse(response, TX_RSP_SIZE);
    }

    private int fatal(String reason) {
        stopRing("fatal error on the tx ring: " + reason + "; the vif stops");
        return -1;
    }

    // ---- link to guest ------------------------------------------------------------------------------------------

    /** Frames from the TAP into posted receive buffers while both last; whether the frontend asked to be notified. */
    private boolean serveReceive() {
        boolean notify = false;
        int delivered = 0;
        while (true) {
            if (heldFrame == 0) {
                int n = link.read(rxFrame);
                if (n == 0) {
                    xce.armHost(true); // drained: wake on the next frame
                    break;
                }
                if (n < 0) {
                    if (!linkErrorReported) LOG.log(Level.ERROR, name() + ": reading " + link.name() + ": " + Errno.describe(-n));
                    linkErrorReported = true;
                    xce.armHost(false);
                    break;
                }
                heldFrame = n;
            }
            int needed = (heldFrame + PAGE - 1) / PAGE;
            if (needed > 1 && !frontendSg) { // a frame the frontend cannot take in one page
                rxDropped.increment();
                heldFrame = 0;
                continue;
            }
            int available = rx.unconsumedRequests();
            if (available == SharedRing.BROKEN) {
                stopRing("frontend provided bogus rx ring requests (req_prod past the ring); the vif stops");
                return false;
            }
            if (available < needed) {
                notify |= rx.pushResponses();
                if (rx.finalCheckForRequests(needed)) continue;
                xce.armHost(false); // the frontend's notification of new buffers wakes us
                break;
            }
            deliver(heldFrame, needed);
            heldFrame = 0;
            if (++delivered % 32 == 0) notify |= rx.pushResponses();
        }
        notify |= rx.pushResponses();
        return notify;
    }

    /** Copies the held frame into the next {@code slots} receive buffers, one response per buffer. */
    private void deliver(int length, int slots) {
        boolean failed = false;
        for (int i = 0; i < slots; i++) {
            rx.takeRequest(slot);
            int id = request.getShort(RX_ID) & 0xFFFF, gref = request.getInt(RX_GREF);
            int from = i * PAGE, chunk = Math.min(PAGE, length - from);
            short status = (short) chunk;
            GrantMapper.Result r = context.grants().map(gref, false);
            if (r.status() != GrantMapper.GNTST_OKAY) {
                status = RSP_ERROR;
                failed = true;
            } else {
                try {
                    MemorySegment.copy(rxFrame, from, r.mapping().page().asSegment(), 0, chunk);
                } finally {
                    context.grants().unmap(r.mapping());
                }
            }
            responseView.putShort(RX_RSP_ID, (short) id);
            responseView.putShort(RX_RSP_OFFSET, (short) 0);
            responseView.putShort(RX_RSP_FLAGS, (short) (i + 1 < slots ? RXF_MORE_DATA : 0));
            responseView.putShort(RX_RSP_STATUS, status);
            rx.putResponse(response, RX_RSP_SIZE);
        }
        if (failed) rxErrors.increment();
        else {
            rxPackets.increment();
            rxBytes.add(length);
        }
    }

    @Override
    public String ringState() {
        SharedRing t = tx, r = rx;
        return t == null || r == null ? "" : "tx: " + t.describe() + "; rx: " + r.describe();
    }

    /** Packets and bytes each way (tx: from the guest), and those refused or dropped. */
    @Override
    public Map<String, Long> counters() {
        Map<String, Long> m = new LinkedHashMap<>();
        m.put("tx-packets", txPackets.sum());
        m.put("tx-bytes", txBytes.sum());
        m.put("tx-errors", txErrors.sum());
        m.put("tx-dropped", txDropped.sum());
        m.put("rx-packets", rxPackets.sum());
        m.put("rx-bytes", rxBytes.sum());
        m.put("rx-errors", rxErrors.sum());
        m.put("rx-dropped", rxDropped.sum());
        return m;
    }

    /** The link's name: the TAP's, or passt's socket (for messages and tests). */
    public String linkName() {
        return link.name();
    }

    @Override
    protected void release() {
        link.close(); // after the handle's epoll, which watched it, was closed
        arena.close();
    }
}
