package org.jxen.vmm.backend;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;

import org.jxen.engine.abi.DomId;
import org.jxen.engine.evtchn.PortManager;
import org.jxen.engine.fastpath.BackendSignals;
import org.jxen.engine.hvm.HvmParam;
import org.jxen.engine.hvm.HvmParams;
import org.jxen.engine.memory.GuestMemory;
import org.jxen.engine.memory.GuestRegion;
import org.jxen.vmm.xenstore.XenStore;
import org.jxen.vmm.xenstore.XenStoreBackend;

/**
 * The two PV devices every Xen guest expects, set up at domain build as the toolstack does: for each, a ring page in
 * guest RAM (the VMM keeps it out of the memory map it offers), a guest port allocated unbound for dom0 and bound by the
 * backend, the backend's I/O thread, and the HVM parameters the guest reads (CONSOLE_PFN/EVTCHN, STORE_PFN/EVTCHN).
 * XenStore is populated with the guest's /local/domain entries.
 */
public final class PvDevices implements AutoCloseable {
    private final XenEvtchnHandle consoleHandle, storeHandle;
    private final ConsoleBackend console;
    private final XenStoreBackend xenstore;
    private final int consolePort, storePort, consoleBackendPort, storeBackendPort;
    private final XenStore store;

    public PvDevices(PortManager ports, BackendSignals signals, GuestMemory ram, HvmParams params, XenStore store, String name,
            long consoleGfn, long storeGfn, OutputStream out, InputStream in) {
        int domid = ports.guest().domid();
        GuestRegion consoleRing = ram.page(consoleGfn).orElseThrow(() -> new IllegalArgumentException("console ring outside RAM"));
        GuestRegion storeRing = ram.page(storeGfn).orElseThrow(() -> new IllegalArgumentException("xenstore ring outside RAM"));
        consoleRing.clear();
        storeRing.clear();
        consoleHandle = new XenEvtchnHandle(ports, signals);
        storeHandle = new XenEvtchnHandle(ports, signals);
        consolePort = ports.allocUnbound(DomId.DOMID_SELF, DomId.DOM0);
        storePort = ports.allocUnbound(DomId.DOMID_SELF, DomId.DOM0);
        if (consolePort < 0 || storePort < 0) throw new IllegalStateException("no free ports for the PV devices");
        consoleBackendPort = consoleHandle.bindInterdomain(domid, consolePort);
        storeBackendPort = storeHandle.bindInterdomain(domid, storePort);
        this.store = store;
        store.populateDomain(domid, name, consoleGfn, consolePort, ram.size() >> 10, ports.guest().vcpuCount());
        console = new ConsoleBackend(consoleRing, consoleHandle, consoleBackendPort, out, in);
        xenstore = new XenStoreBackend(storeRing, storeHandle, storeBackendPort, store, domid);
        params.set(HvmParam.CONSOLE_PFN, consoleGfn);
        params.set(HvmParam.CONSOLE_EVTCHN, consolePort);
        params.set(HvmParam.STORE_PFN, storeGfn);
        params.set(HvmParam.STORE_EVTCHN, storePort);
    }

    /**
     * The devices of a restored domain: the rings are left as the saved RAM has them, the backends take over their
     * saved ports (eventfds and routes installed again), and XenStore gets its saved tree and connection back.
     * {@code saved} is what {@link #save} wrote.
     */
    public PvDevices(PortManager ports, BackendSignals signals, GuestMemory ram, XenStore store, long consoleGfn, long storeGfn,
            OutputStream out, InputStream in, DataInputStream saved) throws IOException {
        int domid = ports.guest().domid();
        GuestRegion consoleRing = ram.page(consoleGfn).orElseThrow(() -> new IOException("console ring outside RAM"));
        GuestRegion storeRing = ram.page(storeGfn).orElseThrow(() -> new IOException("xenstore ring outside RAM"));
        consolePort = saved.readInt();
        storePort = saved.readInt();
        consoleBackendPort = saved.readInt();
        storeBackendPort = saved.readInt();
        this.store = store;
        store.readTree(saved);
        consoleHandle = new XenEvtchnHandle(ports, signals);
        storeHandle = new XenEvtchnHandle(ports, signals);
        if (consoleHandle.reattach(consoleBackendPort) < 0 || storeHandle.reattach(storeBackendPort) < 0) {
            consoleHandle.close();
            storeHandle.close();
            throw new IOException("the saved PV device ports are not bound to the guest");
        }
        console = new ConsoleBackend(consoleRing, consoleHandle, consoleBackendPort, out, in);
        try {
            xenstore = new XenStoreBackend(storeRing, storeHandle, storeBackendPort, store, domid, saved);
        } catch (UncheckedIOException e) {
            console.close();
            consoleHandle.close();
            storeHandle.close();
            throw e.getCause();
        }
    }

    /** Stops both backends' I/O threads, so their state and the rings stay still for a save; false if one would not stop. */
    public boolean pause() {
        return console.pause() & xenstore.pause();
    }

    /** After {@link #pause}, the save abandoned: both I/O threads serve again; false if one had not stopped. */
    public boolean unpause() {
        return console.unpause() & xenstore.unpause();
    }

    /** Ports, the XenStore tree and the XenStore connection's state (after {@link #pause}). */
    public void save(DataOutputStream out) throws IOException {
        out.writeInt(consolePort);
        out.writeInt(storePort);
        out.writeInt(consoleBackendPort);
        out.writeInt(storeBackendPort);
        store.writeTree(out);
        xenstore.save(out);
    }

    /** The XenStore the guest's connection talks to (host-side writes, inspection). */
    public XenStore store() {
        return store;
    }

    public int consolePort() {
        return consolePort;
    }

    public int storePort() {
        return storePort;
    }

    public ConsoleBackend console() {
        return console;
    }

    public XenStoreBackend xenstore() {
        return xenstore;
    }

    /** Stops both backends and closes their handles; false (reported) if a backend thread would not stop. */
    public boolean stop() {
        boolean stopped = xenstore.stop() & console.stop();
        storeHandle.close();
        consoleHandle.close();
        return stopped;
    }

    @Override
    public void close() {
        stop();
    }
}
