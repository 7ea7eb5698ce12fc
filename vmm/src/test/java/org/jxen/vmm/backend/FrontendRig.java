package org.jxen.vmm.backend;

import static org.junit.jupiter.api.Assertions.*;

import java.io.ByteArrayInputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;

import org.jxen.engine.abi.DomId;
import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.evtchn.DomainConfig;
import org.jxen.engine.grant.GrantMapper;
import org.jxen.engine.grant.GrantTable;
import org.jxen.engine.memory.GuestRegion;
import org.jxen.engine.testing.EventFixture;
import org.jxen.vmm.backend.xenbus.BackendContext;
import org.jxen.vmm.xenstore.XenStore;
import org.jxen.vmm.xenstore.XsError;

/**
 * A guest's side of PV devices, played by the test: guest RAM with a grant table placed in it, event channels with
 * the fast path, XenStore, and helpers that do what a Linux frontend does — grant pages to dom0, write its XenStore
 * nodes as the guest (permission checks apply), allocate its port and send on it.
 */
public final class FrontendRig implements AutoCloseable {
    public static final long GRANT_GFN = 0x30;
    public final EventFixture f;
    public final GrantTable grants;
    public final XenStore store;
    public final BackendContext context;
    public final int domid;
    private int nextRef = 8; // Linux keeps the first refs for itself (GNTTAB_NR_RESERVED_ENTRIES)

    public FrontendRig() {
        f = new EventFixture(GuestWidth.BITS_64, DomainConfig.of(1), 4L << 20).withFastPath();
        grants = new GrantTable(4);
        store = new XenStore(XenStore.Quota.DEFAULT);
        domid = f.guest.domid();
        assertEquals(0, grants.place(0, GRANT_GFN, f.ram.page(GRANT_GFN).orElseThrow()));
        store.populateDomain(domid, "guest", 0, 0);
        context = new BackendContext(f.ports, f.backendSignals, new GrantMapper(grants, f.ram, DomId.DOM0), store, domid);
    }

    /**
     * The same guest restored into a new domain after a save: its event channels restored from a snapshot over the
     * same RAM ({@link EventFixture#saveAndRestore}, done here), XenStore from {@code storeTree} (as
     * {@link XenStore#writeTree} wrote it), a new grant mapper with nothing mapped. {@code saved} stays usable for its
     * old backends' shutdown (they touch the old engine only); only this rig is closed.
     */
    public FrontendRig(FrontendRig saved, byte[] storeTree) throws IOException {
        f = saved.f;
        f.saveAndRestore();
        grants = saved.grants;
        store = new XenStore(XenStore.Quota.DEFAULT);
        store.readTree(new DataInputStream(new ByteArrayInputStream(storeTree)));
        domid = saved.domid;
        nextRef = saved.nextRef;
        context = new BackendContext(f.ports, f.backendSignals, new GrantMapper(grants, f.ram, DomId.DOM0), store, domid);
    }

    /** A guest page (zeroed). */
    public GuestRegion page(long gfn) {
        GuestRegion p = f.ram.page(gfn).orElseThrow();
        p.clear();
        return p;
    }

    /** Grants dom0 access to {@code gfn} (gnttab_grant_foreign_access): the frame first, the flags last. */
    public int grant(long gfn, boolean readOnly) {
        int ref = nextRef++;
        GuestRegion t = f.ram.page(GRANT_GFN).orElseThrow();
        t.putIntVolatile(ref * 8L + 4, (int) gfn);
        int flags = GrantTable.GTF_PERMIT_ACCESS | (readOnly ? GrantTable.GTF_READONLY : 0);
        t.putIntRelease(ref * 8L, flags | (DomId.DOM0 << 16));
        return ref;
    }

    /** The grant entry's flags (GTF_reading/writing show whether dom0 still maps it). */
    public int grantFlags(int ref) {
        return f.ram.page(GRANT_GFN).orElseThrow().getIntVolatile(ref * 8L) & 0xFFFF;
    }

    /** An unbound port for dom0, as a frontend allocates the one it writes to "event-channel". */
    public int allocPort() {
        int port = f.ports.allocUnbound(DomId.DOMID_SELF, DomId.DOM0);
        assertTrue(port > 0);
        return port;
    }

    public void write(String path, String value) {
        try {
            store.write(domid, 0, path, value.getBytes(StandardCharsets.UTF_8));
        } catch (XsError e) {
            fail(path + ": " + e.errno());
        }
    }

    public String read(String path) {
        try {
            return new String(store.read(domid, 0, path), StandardCharsets.UTF_8);
        } catch (XsError e) {
            return null;
        }
    }

    /** Waits (generously) until {@code path} reads {@code value}. */
    public void await(String path, String value) throws InterruptedException {
        long deadline = System.nanoTime() + 20_000_000_000L;
        while (!value.equals(read(path))) {
            if (System.nanoTime() > deadline) fail(path + " is " + read(path) + ", not " + value);
            Thread.sleep(1);
        }
    }

    /** Waits until the int at {@code offset} of {@code page} is {@code value}. */
    public static void awaitInt(GuestRegion page, long offset, int value) throws InterruptedException {
        long deadline = System.nanoTime() + 20_000_000_000L;
        while (page.getIntVolatile(offset) != value) {
            if (System.nanoTime() > deadline) fail("index at " + offset + " is " + page.getIntVolatile(offset) + ", not " + value);
            Thread.sleep(1);
        }
    }

    @Override
    public void close() {
        f.close();
    }
}
