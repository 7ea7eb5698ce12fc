package org.jxen.vmm.backend;

import java.io.InputStream;
import java.io.OutputStream;

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
    private final int consolePort, storePort;

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
        int consoleBackendPort = consoleHandle.bindInterdomain(domid, consolePort);
        int storeBackendPort = storeHandle.bindInterdomain(domid, storePort);
        store.populateDomain(domid, name, consoleGfn, consolePort);
        console = new ConsoleBackend(consoleRing, consoleHandle, consoleBackendPort, out, in);
        xenstore = new XenStoreBackend(storeRing, storeHandle, storeBackendPort, store, domid);
        params.set(HvmParam.CONSOLE_PFN, consoleGfn);
        params.set(HvmParam.CONSOLE_EVTCHN, consolePort);
        params.set(HvmParam.STORE_PFN, storeGfn);
        params.set(HvmParam.STORE_EVTCHN, storePort);
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

    @Override
    public void close() {
        xenstore.close();
        console.close();
        storeHandle.close();
        consoleHandle.close();
    }
}
