package org.jxen.vmm.kvm;

import static org.junit.jupiter.api.Assertions.*;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.jxen.engine.abi.EvtchnOp;
import org.jxen.engine.abi.Hypercall;
import org.jxen.engine.abi.Virq;
import org.jxen.engine.grant.GrantMapper;
import org.jxen.engine.grant.GrantTable;
import org.jxen.engine.hvm.HvmParam;
import org.jxen.engine.memory.GuestMemory;
import org.jxen.engine.memory.HoleFrames;
import org.jxen.engine.memory.GuestRegion;
import org.jxen.engine.platform.VcpuHvmContext;
import org.jxen.engine.platform.VcpuLifecycle;
import org.jxen.engine.platform.VcpuOp;
import org.jxen.engine.pvclock.ClockSample;
import org.jxen.engine.pvclock.MasterClock;
import org.jxen.engine.pvclock.TscScale;
import org.jxen.sys.Libc;
import org.jxen.vmm.backend.ConsoleBackend;
import org.jxen.vmm.backend.OpenFds;
import org.jxen.vmm.boot.GuestLayout;
import org.jxen.vmm.control.ControlServer;

/**
 * Closing a running domain, 1,000 times, while everything that can touch guest memory is busy: two vCPU threads
 * (fake vCPUs through the real exit handlers) sending IPIs and writing the PV console ring, the console and XenStore
 * backends, a 1 ms periodic timer, a control-socket client injecting events, and a backend thread writing through a
 * grant mapping that nobody tells to stop. Guest RAM is a real mmap owned by an arena, closed in the order
 * {@link XenDomain#close} uses. The JVM must survive; the grant user's late access must throw
 * IllegalStateException; the process's descriptors and mappings must come back to where they started.
 */
@Tag("slow")
class DomainCloseStressTest {
    private static final long RAM = 4L << 20;
    private static final int ITERATIONS = Integer.getInteger("jxen.close.iterations", 1000);
    private static final long ARG0 = 0x8000, ARG1 = 0x8800, SHARED_GFN = 0x20, HYPERCALL_PAGE = 0x9000, TABLE_GFN = 0x30, DATA_GFN = 0x31;
    private static final int DOMID_SELF = 0x7FF0, GRANT_REF = 5;

    @Test
    void closingABusyDomainNeverCrashesAndReleasesEverything(@TempDir Path dir) throws Exception {
        cycle(dir, 0); // warm-up: classes, JIT, the JVM's own thread pools and their stacks
        startVirtualThreadPollers(dir);
        long fds = OpenFds.count(), maps = mappings();
        Map<String, String> fdsBefore = OpenFds.targets();
        long lateAccesses = 0;
        for (int i = 1; i <= ITERATIONS; i++) lateAccesses += cycle(dir, i);
        long fdsAfter = OpenFds.count(), mapsAfter = mappings();
        System.out.printf("close stress: %d domains closed while busy; %d late accesses threw; fds %d -> %d, mappings %d -> %d%n",
                ITERATIONS, lateAccesses, fds, fdsAfter, maps, mapsAfter);
        assertTrue(lateAccesses >= ITERATIONS, "every run's grant user outlived the domain and was refused");
        // Each domain opens ~10 descriptors and 1 RAM mapping + thread stacks: a leak shows as thousands.
        assertTrue(fdsAfter <= fds + 2, "descriptors leaked: " + fds + " -> " + fdsAfter + "; new: " + OpenFds.added(fdsBefore, OpenFds.targets()));
        assertTrue(mapsAfter <= maps + 64, "mappings leaked: " + maps + " -> " + mapsAfter);
    }

    /**
     * The control socket serves each client on a virtual thread, and the JDK opens its virtual-thread pollers (four
     * epoll instances, kept for the JVM's life) the first time such a thread parks on a socket: whether the warm-up's
     * client made it park is a race, and a CI run once counted the pollers, opened mid-run, as a leak. A read that
     * certainly parks opens them before the count.
     */
    private static void startVirtualThreadPollers(Path dir) throws Exception {
        try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            server.bind(UnixDomainSocketAddress.of(dir.resolve("pollers.sock")));
            try (SocketChannel client = SocketChannel.open(server.getLocalAddress()); SocketChannel accepted = server.accept()) {
                Thread reader = Thread.ofVirtual().start(() -> {
                    try {
                        accepted.read(ByteBuffer.allocate(1));
                    } catch (IOException e) {
                        throw new IllegalStateException(e);
                    }
                });
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                while (reader.getState() != Thread.State.WAITING && System.nanoTime() < deadline) Thread.sleep(1);
                client.write(ByteBuffer.wrap(new byte[] {1}));
                reader.join();
            }
        }
    }

    /** One domain: built, made busy, closed; returns how many late accesses threw (1 expected). */
    private long cycle(Path dir, int n) throws Exception {
        Arena ramArena = Arena.ofShared();
        GuestMemory ram = new GuestMemory(Libc.mmap(ramArena, RAM, Libc.PROT_READ | Libc.PROT_WRITE,
                Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS | Libc.MAP_NORESERVE, -1, 0));
        FakeVcpu[] vcpus = {new FakeVcpu(0), new FakeVcpu(1)};
        GuestLayout layout = GuestLayout.standard(RAM);
        long t0 = System.nanoTime();
        MasterClock clock = new MasterClock(TscScale.forKhz(2_000_000), new ClockSample(0, 0));
        VcpuLifecycle lifecycle = new VcpuLifecycle() {
            @Override
            public void start(int vcpu, VcpuHvmContext context) {}

            @Override
            public void stop(int vcpu) {}
        };
        OutputStream discard = OutputStream.nullOutputStream();
        GuestPlatform platform = new GuestPlatform(new PlatformSpec(ram, layout, 2, v -> vcpus[v], v -> v, lifecycle, (apic, vector) -> 1, clock,
                () -> System.nanoTime() - t0, gfn -> {}, discard, new ByteArrayInputStream(new byte[0]), HoleFrames.NONE));
        for (FakeVcpu v : vcpus) v.exits = platform.exitHandler(ram, v);
        MemorySegment mem = ram.segment();

        // What a guest does first: the hypercall page, shared_info, a callback vector, a periodic timer on vCPU 0.
        assertFalse(vcpus[0].wrmsr(0x4000_0000, HYPERCALL_PAGE));
        args(mem, ARG0, DOMID_SELF | 0 << 16, 0, 0, (int) SHARED_GFN);
        assertEquals(0, vcpus[0].hypercall32(Hypercall.MEMORY_OP, 7 /* add_to_physmap */, ARG0, 0));
        mem.set(ValueLayout.JAVA_SHORT_UNALIGNED, ARG0, (short) DOMID_SELF);
        mem.set(ValueLayout.JAVA_INT_UNALIGNED, ARG0 + 4, HvmParam.CALLBACK_IRQ);
        mem.set(ValueLayout.JAVA_LONG_UNALIGNED, ARG0 + 8, 2L << 56 | 0xF3);
        assertEquals(0, vcpus[0].hypercall32(Hypercall.HVM_OP, 0 /* set_param */, ARG0, 0));
        args(mem, ARG0, Virq.TIMER, 0, 0);
        assertEquals(0, vcpus[0].hypercall32(Hypercall.EVENT_CHANNEL_OP, EvtchnOp.BIND_VIRQ, ARG0, 0));
        mem.set(ValueLayout.JAVA_LONG_UNALIGNED, ARG0, 1_000_000L);
        assertEquals(0, vcpus[0].hypercall32(Hypercall.VCPU_OP, VcpuOp.SET_PERIODIC_TIMER, 0, ARG0));
        int[] ipi = new int[2];
        for (int v = 0; v < 2; v++) {
            long arg = v == 0 ? ARG0 : ARG1;
            args(mem, arg, v, 0);
            assertEquals(0, vcpus[v].hypercall32(Hypercall.EVENT_CHANNEL_OP, EvtchnOp.BIND_IPI, arg, 0));
            ipi[v] = mem.get(ValueLayout.JAVA_INT_UNALIGNED, arg + 4);
        }
        int consolePort = platform.devices().consolePort();

        // A grant the guest made to dom0: one table frame, entry GRANT_REF permits access to DATA_GFN.
        platform.grants().grow(1);
        platform.grants().place(0, TABLE_GFN, ram.page(TABLE_GFN).orElseThrow());
        GuestRegion table = ram.page(TABLE_GFN).orElseThrow();
        table.putIntVolatile(GRANT_REF * GrantTable.ENTRY_SIZE + 4, (int) DATA_GFN);
        table.putIntVolatile(GRANT_REF * GrantTable.ENTRY_SIZE, GrantTable.GTF_PERMIT_ACCESS);

        AtomicBoolean vcpusRun = new AtomicBoolean(true);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        List<Thread> vcpuThreads = new CopyOnWriteArrayList<>();
        for (int v = 0; v < 2; v++) {
            int self = v;
            long arg = v == 0 ? ARG0 : ARG1;
            vcpuThreads.add(Thread.ofPlatform().name("fake-vcpu-" + v).start(() -> {
                try {
                    GuestRegion ring = ram.page(layout.consoleGfn()).orElseThrow();
                    int prod = 0;
                    while (vcpusRun.get()) {
                        args(mem, arg, ipi[self]);
                        vcpus[self].hypercall32(Hypercall.EVENT_CHANNEL_OP, EvtchnOp.SEND, arg, 0);
                        if (self == 1) { // vCPU 1 writes the console, as a guest's hvc driver
                            ring.putByte(ConsoleBackend.OUT + (prod & (ConsoleBackend.OUT_SIZE - 1)), (byte) 'x');
                            ring.putIntRelease(ConsoleBackend.OUT_PROD, ++prod);
                            args(mem, arg, consolePort);
                            vcpus[self].hypercall32(Hypercall.EVENT_CHANNEL_OP, EvtchnOp.SEND, arg, 0);
                        }
                    }
                } catch (Throwable t) {
                    failure.compareAndSet(null, t);
                }
            }));
        }

        // A backend that maps the grant and writes through it until the memory goes away (nobody stops it).
        AtomicLong lateAccessThrew = new AtomicLong();
        CountDownLatch mapped = new CountDownLatch(1);
        GrantMapper mapper = new GrantMapper(platform.grants(), ram, 0);
        Thread grantUser = Thread.ofPlatform().name("grant-user").start(() -> {
            GrantMapper.Result r = mapper.map(GRANT_REF, false);
            if (r.status() != GrantMapper.GNTST_OKAY) {
                failure.compareAndSet(null, new AssertionError("map: " + r.status()));
                mapped.countDown();
                return;
            }
            mapped.countDown();
            try {
                for (int i = 0; ; i++) r.mapping().page().putIntVolatile((i & 1023) * 4, i);
            } catch (IllegalStateException closed) {
                lateAccessThrew.incrementAndGet(); // the arena is closed: refused, not a crash
            } catch (Throwable t) {
                failure.compareAndSet(null, t);
            }
        });

        // The control socket with a client injecting the IPI port, line after line.
        Path socket = dir.resolve("c" + n + ".sock");
        ControlServer control = new ControlServer(socket, platform.controlTarget());
        CountDownLatch injected = new CountDownLatch(1);
        Thread client = Thread.ofPlatform().name("control-client").start(() -> {
            try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
                ch.connect(UnixDomainSocketAddress.of(socket));
                byte[] req = ("{\"execute\": \"xen-event-inject\", \"arguments\": {\"port\": " + ipi[0] + "}}\n").getBytes(StandardCharsets.UTF_8);
                ByteBuffer reply = ByteBuffer.allocate(4096);
                while (true) {
                    ch.write(ByteBuffer.wrap(req));
                    reply.clear();
                    if (ch.read(reply) < 0) return;
                    injected.countDown();
                }
            } catch (IOException closed) {
                // the server went away: what a client sees of a closing domain
            }
        });

        assertTrue(mapped.await(60, TimeUnit.SECONDS));
        assertTrue(injected.await(60, TimeUnit.SECONDS), "the control client was served");

        // XenDomain.close's order: control clients, vCPU threads, the platform's threads, then RAM.
        control.close();
        vcpusRun.set(false);
        for (Thread t : vcpuThreads) t.join();
        assertTrue(platform.stop(), "the platform's threads stopped");
        ramArena.close();
        grantUser.join(60_000);
        client.join(60_000);
        assertFalse(grantUser.isAlive(), "the grant user was refused and ended");
        assertNull(failure.get(), () -> "a thread failed: " + failure.get());
        assertThrows(IllegalStateException.class, () -> mem.get(ValueLayout.JAVA_INT, 0), "a late access throws");
        return lateAccessThrew.get();
    }

    private static void args(MemorySegment mem, long at, int... words) {
        for (int i = 0; i < words.length; i++) mem.set(ValueLayout.JAVA_INT_UNALIGNED, at + 4L * i, words[i]);
    }

    private static long mappings() throws IOException {
        return Files.readAllLines(Path.of("/proc/self/maps")).size();
    }
}
