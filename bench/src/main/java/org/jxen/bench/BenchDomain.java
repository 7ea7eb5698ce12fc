package org.jxen.bench;

import java.lang.foreign.Arena;

import org.jxen.engine.abi.DomId;
import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.abi.SharedInfoLayout;
import org.jxen.engine.evtchn.BackendDomain;
import org.jxen.engine.evtchn.DomainConfig;
import org.jxen.engine.evtchn.GuestDomain;
import org.jxen.engine.evtchn.PortManager;
import org.jxen.engine.fastpath.BackendSignals;
import org.jxen.engine.fastpath.FastPath;
import org.jxen.engine.fastpath.ReaderSlots;
import org.jxen.engine.fastpath.RouteSync;
import org.jxen.engine.fastpath.RouteTable;
import org.jxen.engine.hypercall.EventChannelOp;
import org.jxen.engine.memory.AddressTranslator;
import org.jxen.engine.memory.GuestMemory;
import org.jxen.engine.memory.GuestRegion;
import org.jxen.engine.memory.GuestVirtualMemory;

/** A guest domain set up for measuring: guest RAM, shared_info mapped, fast path installed, no upcall work. */
public final class BenchDomain implements AutoCloseable {
    public static final long SHARED_INFO_GPA = 0x10000;
    public static final long ARG_GPA = 0x1000;

    public final Arena arena = Arena.ofShared();
    public final GuestMemory ram = new GuestMemory(arena.allocate(1 << 20, GuestMemory.PAGE_SIZE));
    public final GuestDomain guest;
    public final PortManager ports;
    public final RouteTable routes;
    public final FastPath fastPath;
    public final EventChannelOp evtchnOp;
    public final GuestVirtualMemory vmem = new GuestVirtualMemory(ram, AddressTranslator.IDENTITY);
    public final GuestWidth width = GuestWidth.BITS_64;

    public BenchDomain(int vcpus) {
        guest = new GuestDomain(DomainConfig.of(vcpus));
        guest.shared().latch(width);
        guest.shared().relocateSharedInfo(ram.region(SHARED_INFO_GPA, SharedInfoLayout.PAGE_SIZE).orElseThrow());
        ports = new PortManager(guest, new BackendDomain(DomId.DOM0));
        routes = new RouteTable(() -> guest.abi().portLimit(), vcpus, new ReaderSlots());
        fastPath = new FastPath(guest, routes);
        RouteSync.install(ports, routes, new BackendSignals());
        evtchnOp = new EventChannelOp(ports);
    }

    public GuestRegion sharedInfo() {
        return guest.shared().sharedInfo();
    }

    /** What the guest does after an upcall, cheaply: clear the pending bit, the selector and upcall_pending. */
    public void consume(int vcpu, int port) {
        sharedInfo().clearBit(width.pendingOffset, port);
        GuestRegion vi = guest.shared().vcpuInfo(vcpu);
        vi.getAndSetLong(width.pendingSelOffset, 0);
        vi.clearBit(SharedInfoLayout.UPCALL_PENDING, 0);
    }

    @Override
    public void close() {
        arena.close();
    }
}
