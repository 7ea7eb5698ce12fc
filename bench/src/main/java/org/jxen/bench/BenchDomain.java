package org.jxen.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import org.jxen.engine.abi.DomId;
import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.abi.SharedInfoLayout;
import org.jxen.engine.evtchn.BackendDomain;
import org.jxen.engine.evtchn.DomainConfig;
import org.jxen.engine.evtchn.FifoControl;
import org.jxen.engine.evtchn.GuestDomain;
import org.jxen.engine.evtchn.PortManager;
import org.jxen.engine.fastpath.BackendSignals;
import org.jxen.engine.fastpath.FastPath;
import org.jxen.engine.fastpath.ReaderSlots;
import org.jxen.engine.fastpath.RouteSync;
import org.jxen.engine.fastpath.RouteTable;
import org.jxen.engine.hypercall.EventChannelOp;
import org.jxen.engine.memory.AddressTranslator;
import org.jxen.engine.memory.GuestBitmap;
import org.jxen.engine.memory.GuestBits;
import org.jxen.engine.memory.GuestMemory;
import org.jxen.engine.memory.GuestRegion;
import org.jxen.engine.memory.GuestVirtualMemory;
import org.jxen.vmm.kvm.GracePeriodFence;

/** A guest domain set up for measuring: guest RAM, shared_info mapped, fast path in front of the hypercall layer, no upcall work. */
public final class BenchDomain implements AutoCloseable {
    public static final long SHARED_INFO_GPA = 0x10000;
    public static final long ARG_GPA = 0x1000;

    public final Arena arena = Arena.ofShared();
    /** 2 MiB: shared_info, argument structs, a FIFO control block (gfn 0x20) and up to 128 event-array pages (0x100..). */
    public final GuestMemory ram = new GuestMemory(arena.allocate(2 << 20, GuestMemory.PAGE_SIZE));
    public static final long CONTROL_GFN = 0x20;
    public static final long ARRAY_GFN = 0x100;
    public final GuestDomain guest;
    public final PortManager ports;
    public final RouteTable routes;
    public final FastPath fastPath;
    public final EventChannelOp evtchnOp;
    public final FifoControl fifo;
    public final GuestVirtualMemory vmem = new GuestVirtualMemory(ram, AddressTranslator.IDENTITY);
    public final GuestWidth width = GuestWidth.BITS_64;

    /** The guest's own view, fixed once (the undo's pointers): shared_info, each vcpu_info, FIFO control blocks and event pages. */
    private final GuestRegion guestSharedInfo;
    private final GuestRegion[] guestVcpuInfo;
    private final GuestRegion[] guestControlBlocks;
    private GuestRegion[] guestEventPages = new GuestRegion[0];
    /** The same as the undo addresses them, fixed once as the C undo's pointers: segment, words and masks. */
    private final GuestBitmap guestPending;
    private final GuestBitmap[] guestUpcall;
    private final long[] guestSelector;
    private final GuestBitmap[] guestReady;
    private long[] guestEventWords0 = new long[0];

    public BenchDomain(int vcpus) {
        guest = new GuestDomain(DomainConfig.of(vcpus));
        guest.shared().latch(width);
        guest.shared().relocateSharedInfo(ram.region(SHARED_INFO_GPA, SharedInfoLayout.PAGE_SIZE).orElseThrow());
        guestSharedInfo = guest.shared().sharedInfo();
        guestVcpuInfo = new GuestRegion[vcpus];
        for (int v = 0; v < vcpus; v++) guestVcpuInfo[v] = guest.shared().vcpuInfo(v);
        guestPending = guestSharedInfo.bitmap(width.pendingOffset, width.twoLevelPorts());
        guestUpcall = new GuestBitmap[vcpus];
        guestSelector = new long[vcpus];
        for (int v = 0; v < vcpus; v++) {
            guestUpcall[v] = guestVcpuInfo[v].bitmap(SharedInfoLayout.UPCALL_PENDING, 1);
            guestSelector[v] = guestVcpuInfo[v].bitmap(width.pendingSelOffset, 64).base();
        }
        guestReady = new GuestBitmap[vcpus];
        guestControlBlocks = new GuestRegion[vcpus];
        ports = new PortManager(guest, new BackendDomain(DomId.DOM0));
        GracePeriodFence.installed(); // as jxen runs: senders without a fence, route changes with membarrier
        routes = new RouteTable(() -> guest.abi().portLimit(), vcpus, ReaderSlots.global());
        fastPath = new FastPath(guest, routes);
        RouteSync.install(ports, routes, new BackendSignals());
        fifo = new FifoControl(ports, ram);
        fifo.setGracePeriod(routes.readers()::synchronize);
        evtchnOp = new EventChannelOp(ports, fifo);
        evtchnOp.setFastPath(fastPath); // as GuestPlatform does: the hypercall layer sends through the fast path first
    }

    public GuestRegion sharedInfo() {
        return guest.shared().sharedInfo();
    }

    /**
     * What the guest does after an upcall, cheaply: clear the pending bit, the selector and upcall_pending. Through
     * regions looked up once, as the C reference's undo uses fixed pointers: the undo is the guest's work, not jxen's.
     */
    public void consume(int vcpu, int port) {
        GuestBitmap pending = guestPending, upcall = guestUpcall[vcpu];
        MemorySegment m = pending.segment(), vi = upcall.segment();
        long pendingWord = pending.word(port), selector = guestSelector[vcpu], upcallWord = upcall.word(0);
        int pendingMask = pending.mask(port), upcallMask = upcall.mask(0);
        GuestBits.testAndClear(m, pendingWord, pendingMask);
        GuestBits.getAndSetLong(vi, selector, 0);
        GuestBits.testAndClear(vi, upcallWord, upcallMask);
    }

    /** Switches to FIFO: a control block for every vCPU and enough event-array pages for {@code ports} ports. */
    public void switchToFifo(int ports) {
        for (int v = 0; v < guest.vcpuCount(); v++) {
            if (fifo.initControl(CONTROL_GFN + v, 0, v) != 0) throw new IllegalStateException("init_control");
            guestControlBlocks[v] = ram.page(CONTROL_GFN + v).orElseThrow();
            guestReady[v] = guestControlBlocks[v].bitmap(0, 16);
        }
        int pages = (ports + 1 + 1023) / 1024;
        guestEventPages = new GuestRegion[pages];
        guestEventWords0 = new long[pages];
        for (int page = 0; page < pages; page++) {
            if (fifo.expandArray(ARRAY_GFN + page) != 0) throw new IllegalStateException("expand_array");
            guestEventPages[page] = ram.page(ARRAY_GFN + page).orElseThrow();
            guestEventWords0[page] = guestEventPages[page].baseOffset();
        }
    }

    /** The FIFO guest's undo of a send on {@code port} at {@code priority} on vCPU 0: unlink, clear READY and upcall. */
    public void consumeFifo(int port, int priority) {
        consumeFifo(0, port, priority);
    }

    /** The same on vCPU {@code vcpu} (its control block, its vcpu_info). */
    public void consumeFifo(int vcpu, int port, int priority) {
        MemorySegment m = ram.segment();
        long word = guestEventWords0[port >>> 10] + (port & 1023) * 4L;
        GuestBitmap ready = guestReady[vcpu], upcall = guestUpcall[vcpu];
        long readyWord = ready.word(priority), upcallWord = upcall.word(0);
        int readyMask = ready.mask(priority), upcallMask = upcall.mask(0);
        while (true) {
            int w = GuestBits.test(m, word, -1);
            if (GuestBits.compareAndSet(m, word, w, w & ~((1 << 29) | ((1 << 17) - 1) | (1 << 31)))) break;
        }
        GuestBits.testAndClear(ready.segment(), readyWord, readyMask);
        GuestBits.testAndClear(upcall.segment(), upcallWord, upcallMask);
    }

    @Override
    public void close() {
        arena.close();
    }
}
