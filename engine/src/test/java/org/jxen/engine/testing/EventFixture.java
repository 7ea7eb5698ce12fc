package org.jxen.engine.testing;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.ConcurrentLinkedQueue;

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
import org.jxen.engine.memory.GuestMemory;
import org.jxen.engine.memory.GuestRegion;
import org.jxen.engine.memory.GuestVirtualMemory;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.jxen.engine.evtchn.SnapshotCodec;
import org.jxen.engine.evtchn.Snapshots;

/**
 * A guest domain over real native memory, with the pieces a test needs: the port manager, the EVTCHNOP hypercall
 * layer over identity-mapped guest RAM, a record of upcalls and backend notifications, and guest-eye views of the
 * shared_info bits. shared_info is mapped at {@link #SHARED_INFO_GPA}.
 */
public final class EventFixture implements AutoCloseable {
    public static final long SHARED_INFO_GPA = 0x2000;
    /** Where tests put hypercall argument structs. */
    public static final long ARG_GPA = 0x1000;
    public static final long RAM_SIZE = 64 * 1024;

    public final Arena arena = Arena.ofShared();
    public final GuestMemory ram;
    public GuestDomain guest;
    public BackendDomain backend = new BackendDomain(DomId.DOM0);
    public PortManager ports;
    public EventChannelOp op;
    /** Backend ports given a recording signal (re-registered after a restore, as backends do). */
    private final Set<Integer> registeredBackendPorts = new TreeSet<>();
    public final GuestVirtualMemory vmem;
    public final ConcurrentLinkedQueue<Integer> upcalls = new ConcurrentLinkedQueue<>();
    public final ConcurrentLinkedQueue<Integer> backendNotifications = new ConcurrentLinkedQueue<>();
    public final GuestWidth width;
    /** Set by {@link #withFastPath()}. */
    public RouteTable routes;
    /** init_control / expand_array; with the fast path it waits out lock-free senders as GuestPlatform's does. */
    public FifoControl fifoControl;
    public FastPath fastPath;
    public BackendSignals backendSignals;
    public RouteSync routeSync;
    public final AtomicInteger openSignalRefs = new AtomicInteger();

    public EventFixture(GuestWidth width, DomainConfig config) {
        this(width, config, RAM_SIZE);
    }

    public EventFixture(GuestWidth width, DomainConfig config, long ramSize) {
        this.width = width;
        this.ram = new GuestMemory(arena.allocate(ramSize, GuestMemory.PAGE_SIZE));
        this.guest = new GuestDomain(config);
        guest.shared().latch(width);
        guest.shared().relocateSharedInfo(ram.region(SHARED_INFO_GPA, SharedInfoLayout.PAGE_SIZE).orElseThrow());
        guest.setUpcallSink(upcalls::add);
        backend.setNotifier(backendNotifications::add);
        this.ports = new PortManager(guest, backend);
        this.fifoControl = new FifoControl(ports, ram);
        this.op = new EventChannelOp(ports, fifoControl);
        this.vmem = new GuestVirtualMemory(ram, AddressTranslator.IDENTITY);
    }

    /**
     * Puts the fast path in front of the port manager: routes kept in step by RouteSync, EVTCHNOP_send through a
     * sender, and backend ports signalled through {@link RecordingSignal}s registered with
     * {@link #registerBackendPort} (which log to {@link #backendNotifications}, as the notifier did).
     */
    public EventFixture withFastPath() {
        routes = new RouteTable(() -> guest.abi().portLimit(), guest.vcpuCount(), ReaderSlots.global());
        fastPath = new FastPath(guest, routes);
        backendSignals = new BackendSignals();
        routeSync = RouteSync.install(ports, routes, backendSignals);
        op.setFastPath(fastPath);
        // -Djxen.test.noGracePeriod=true shows what the grace period prevents (FifoConcurrentDeliveryTest then fails).
        if (!Boolean.getBoolean("jxen.test.noGracePeriod")) fifoControl.setGracePeriod(routes.readers()::synchronize);
        return this;
    }

    /** With the fast path: gives backend port {@code port} a recording signal (the caller's reference). */
    public void registerBackendPort(int port) {
        if (backendSignals != null) {
            registeredBackendPorts.add(port);
            backendSignals.register(port, RecordingSignal.create(port, backendNotifications, openSignalRefs));
        }
    }

    /**
     * Saves the domain's event-channel state (through the binary codec) and replaces the engine with one restored from
     * it over the same RAM, as a resumed VM would be. The fast path, if any, is re-installed and backends re-register.
     */
    public void saveAndRestore() {
        try {
            var snap = Snapshots.capture(ports, ram);
            var bytes = new ByteArrayOutputStream();
            SnapshotCodec.write(snap, new DataOutputStream(bytes));
            var decoded = SnapshotCodec.read(
                    new DataInputStream(new ByteArrayInputStream(bytes.toByteArray())));
            PortManager restored = Snapshots.restore(decoded, ram, guest.config().pirqAccess());
            guest = restored.guest();
            backend = restored.backend();
            ports = restored;
            guest.setUpcallSink(upcalls::add);
            backend.setNotifier(backendNotifications::add);
            fifoControl = new FifoControl(ports, ram);
            op = new EventChannelOp(ports, fifoControl);
            if (fastPath != null) {
                if (routes != null) routes.reset();
                withFastPath();
                for (int port : List.copyOf(registeredBackendPorts)) {
                    if (!ports.backendChannel(port).isFree()) registerBackendPort(port);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static EventFixture of(GuestWidth width) {
        return new EventFixture(width, DomainConfig.of(4));
    }

    // ---- hypercalls through guest memory ----------------------------------------------------------------------

    /** Writes the struct words (each int at offset 4*i; for u16 fields use {@link #structBytes}) and calls cmd. */
    public long call(int cmd, int... words) {
        MemorySegment s = ram.segment().asSlice(ARG_GPA, 64);
        s.fill((byte) 0);
        for (int i = 0; i < words.length; i++) s.set(ValueLayout.JAVA_INT_UNALIGNED, 4L * i, words[i]);
        return op.invoke(cmd, ARG_GPA, vmem);
    }

    /** Calls cmd with raw struct bytes already placed at ARG_GPA by the caller. */
    public long callRaw(int cmd) {
        return op.invoke(cmd, ARG_GPA, vmem);
    }

    public MemorySegment structBytes() {
        return ram.segment().asSlice(ARG_GPA, 64);
    }

    public int argU32(long offset) {
        return ram.segment().get(ValueLayout.JAVA_INT_UNALIGNED, ARG_GPA + offset);
    }

    public int argU16(long offset) {
        return Short.toUnsignedInt(ram.segment().get(ValueLayout.JAVA_SHORT_UNALIGNED, ARG_GPA + offset));
    }

    // ---- guest-eye view of shared_info --------------------------------------------------------------------------

    public GuestRegion sharedInfo() {
        return guest.shared().sharedInfo();
    }

    public boolean pending(int port) {
        return sharedInfo().testBit(width.pendingOffset, port);
    }

    public boolean masked(int port) {
        return sharedInfo().testBit(width.maskOffset, port);
    }

    public void mask(int port) {
        sharedInfo().setBit(width.maskOffset, port);
    }

    public void clearPendingBit(int port) {
        sharedInfo().clearBit(width.pendingOffset, port);
    }

    public long selector(int vcpu) {
        GuestRegion vi = guest.shared().vcpuInfo(vcpu);
        return width == GuestWidth.BITS_64 ? vi.getLongVolatile(width.pendingSelOffset)
                : Integer.toUnsignedLong(vi.getIntVolatile(width.pendingSelOffset));
    }

    public boolean upcallPending(int vcpu) {
        return guest.shared().vcpuInfo(vcpu).testBit(SharedInfoLayout.UPCALL_PENDING, 0);
    }

    /** What a guest does after handling: clear upcall_pending and the selector. */
    public void acknowledge(int vcpu) {
        GuestRegion vi = guest.shared().vcpuInfo(vcpu);
        vi.clearBit(SharedInfoLayout.UPCALL_PENDING, 0);
        if (width == GuestWidth.BITS_64) vi.getAndSetLong(width.pendingSelOffset, 0);
        else vi.getAndSetInt(width.pendingSelOffset, 0);
    }

    /** Things to close with the fixture (timer threads of a test's platform). */
    public final List<AutoCloseable> closeWith = new CopyOnWriteArrayList<>();

    @Override
    public void close() {
        for (AutoCloseable c : closeWith) {
            try {
                c.close();
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }
        arena.close();
    }
}
