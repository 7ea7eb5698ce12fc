package org.jxen.engine.platform;

import static org.junit.jupiter.api.Assertions.*;

import java.io.ByteArrayOutputStream;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.Test;
import org.jxen.engine.abi.DomId;
import org.jxen.engine.abi.Errno;
import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.abi.SharedInfoLayout;
import org.jxen.engine.evtchn.DomainConfig;
import org.jxen.engine.hypercall.HypercallArgs;
import org.jxen.engine.testing.EventFixture;
import java.lang.foreign.MemorySegment;
import java.util.List;

/** sched_op (block, poll, shutdown), vcpu_op register_vcpu_info, memory_op add_to_physmap, console_io, xen_version. */
class PlatformOpsTest {
    private static final long ARG = 0x1800, LIST = 0x1C00;

    /** A Java thread standing in for a vCPU: block sleeps on a semaphore, wake releases it. */
    static final class TestVcpu implements VcpuControl {
        final int id;
        final Semaphore wakes = new Semaphore(0);
        final AtomicInteger shutdownReason = new AtomicInteger(-1);

        TestVcpu(int id) {
            this.id = id;
        }

        @Override
        public int vcpu() {
            return id;
        }

        @Override
        public void prepareBlock() {
            wakes.drainPermits();
        }

        @Override
        public void block(long deadline) {
            try {
                long left = deadline == Long.MAX_VALUE ? Long.MAX_VALUE : deadline - System.nanoTime();
                if (left > 0 && wakes.tryAcquire(Math.min(left, 10_000_000_000L), TimeUnit.NANOSECONDS)) wakes.drainPermits();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }

        @Override
        public void wake() {
            wakes.release();
        }

        @Override
        public void yield() {
            Thread.yield();
        }

        @Override
        public void shutdown(int reason) {
            shutdownReason.set(reason);
        }
    }

    private static long systemTime() {
        return System.nanoTime();
    }

    /** sched_poll { ports ptr; nr_ports; timeout } in the 64-bit layout, ports at LIST. */
    private static long poll(EventFixture f, SchedOp sched, TestVcpu v, long timeout, int... ports) {
        var s = f.ram.segment();
        for (int i = 0; i < ports.length; i++) s.set(ValueLayout.JAVA_INT_UNALIGNED, LIST + 4L * i, ports[i]);
        s.set(ValueLayout.JAVA_LONG_UNALIGNED, ARG, LIST);
        s.set(ValueLayout.JAVA_INT_UNALIGNED, ARG + 8, ports.length);
        s.set(ValueLayout.JAVA_LONG_UNALIGNED, ARG + 16, timeout);
        return sched.handle(v, HypercallArgs.from64(29, SchedOp.POLL, ARG, 0, 0, 0), f.vmem);
    }

    @Test
    void pollReturnsAtOnceTimesOutAndIsWokenByMaskedPortOrUpcall() throws Exception {
        try (var f = EventFixture.of(GuestWidth.BITS_64)) {
            TestVcpu[] vcpus = {new TestVcpu(0), new TestVcpu(1), new TestVcpu(2), new TestVcpu(3)};
            SchedOp sched = new SchedOp(f.guest, i -> vcpus[i], PlatformOpsTest::systemTime);
            f.guest.setUpcallSink(v -> vcpus[v].wake()); // an upcall kicks the vCPU, as vcpu_kick does
            int a = f.ports.bindIpi(1), b = f.ports.bindIpi(1), c = f.ports.bindIpi(1);

            f.ports.send(a);
            assertEquals(0, poll(f, sched, vcpus[1], 0, a, b), "a polled port is already pending");
            f.clearPendingBit(a);
            assertEquals(0, poll(f, sched, vcpus[1], 0, b), "upcall already pending: returns at once");
            f.acknowledge(1);

            long t0 = System.nanoTime();
            assertEquals(0, poll(f, sched, vcpus[1], systemTime() - 1, b), "a past absolute timeout");
            assertEquals(0, poll(f, sched, vcpus[1], systemTime() + 50_000_000L, b), "times out");
            assertTrue(System.nanoTime() - t0 >= 45_000_000L);

            f.mask(b);
            CompletableFuture<Long> polling = CompletableFuture.supplyAsync(() -> poll(f, sched, vcpus[1], 0, b));
            Thread.sleep(50);
            assertFalse(polling.isDone());
            f.ports.send(b); // masked: no upcall, but the poller wakes
            assertEquals(0, polling.get(60, TimeUnit.SECONDS));
            assertFalse(f.upcallPending(1));

            f.clearPendingBit(b);
            CompletableFuture<Long> polling2 = CompletableFuture.supplyAsync(() -> poll(f, sched, vcpus[1], 0, b));
            Thread.sleep(50);
            f.ports.send(c); // another port's upcall wakes it too
            assertEquals(0, polling2.get(60, TimeUnit.SECONDS));

            assertEquals(-Errno.EINVAL, poll(f, sched, vcpus[2], 0, new int[129]), "at most 128 ports");
            assertEquals(-Errno.EINVAL, poll(f, sched, vcpus[2], 0, 5000), "a port beyond the ABI's limit");
            f.ram.segment().set(ValueLayout.JAVA_LONG_UNALIGNED, ARG, -64L);
            f.ram.segment().set(ValueLayout.JAVA_INT_UNALIGNED, ARG + 8, 2);
            assertEquals(-Errno.EFAULT, sched.handle(vcpus[2], HypercallArgs.from64(29, SchedOp.POLL, ARG, 0, 0, 0), f.vmem));
            assertFalse(f.guest.pollers().isArmed(2), "a failed poll leaves nothing armed");
        }
    }

    @Test
    void blockSleepsUntilAnUpcallAndShutdownReports() throws Exception {
        try (var f = EventFixture.of(GuestWidth.BITS_64)) {
            TestVcpu[] vcpus = {new TestVcpu(0), new TestVcpu(1)};
            SchedOp sched = new SchedOp(f.guest, i -> vcpus[i], PlatformOpsTest::systemTime);
            f.guest.setUpcallSink(v -> vcpus[v].wake());
            int p = f.ports.bindIpi(0);
            CompletableFuture<Long> blocked = CompletableFuture.supplyAsync(() -> sched.handle(vcpus[0],
                    HypercallArgs.from64(29, SchedOp.BLOCK, 0, 0, 0, 0), f.vmem));
            Thread.sleep(50);
            assertFalse(blocked.isDone());
            f.ports.send(p);
            assertEquals(0, blocked.get(60, TimeUnit.SECONDS));
            assertEquals(0, sched.handle(vcpus[0], HypercallArgs.from64(29, SchedOp.BLOCK, 0, 0, 0, 0), f.vmem),
                    "upcall still pending: no sleep");
            f.ram.segment().set(ValueLayout.JAVA_INT_UNALIGNED, ARG, 3);
            assertEquals(0, sched.handle(vcpus[1], HypercallArgs.from64(29, SchedOp.SHUTDOWN, ARG, 0, 0, 0), f.vmem));
            assertEquals(3, vcpus[1].shutdownReason.get(), "SHUTDOWN_crash");
            // shutdown_code records a code (the first one, as a u8) that a later shutdown reports instead of its own.
            SchedOp coded = new SchedOp(f.guest, i -> vcpus[i], PlatformOpsTest::systemTime);
            f.ram.segment().set(ValueLayout.JAVA_INT_UNALIGNED, ARG, 0x104); // reboot (1) in the low byte
            assertEquals(0, coded.handle(vcpus[1], HypercallArgs.from64(29, SchedOp.SHUTDOWN_CODE, ARG, 0, 0, 0), f.vmem));
            assertEquals(3, vcpus[1].shutdownReason.get(), "recording a code shuts nothing down");
            f.ram.segment().set(ValueLayout.JAVA_INT_UNALIGNED, ARG, 2);
            assertEquals(0, coded.handle(vcpus[1], HypercallArgs.from64(29, SchedOp.SHUTDOWN_CODE, ARG, 0, 0, 0), f.vmem));
            f.ram.segment().set(ValueLayout.JAVA_INT_UNALIGNED, ARG, 0);
            assertEquals(0, coded.handle(vcpus[1], HypercallArgs.from64(29, SchedOp.SHUTDOWN, ARG, 0, 0, 0), f.vmem));
            assertEquals(4, vcpus[1].shutdownReason.get(), "poweroff reported with the first recorded code (0x104 & 0xFF)");
            assertEquals(-Errno.EFAULT, sched.handle(vcpus[1], HypercallArgs.from64(29, SchedOp.SHUTDOWN, -4, 0, 0, 0), f.vmem));
            assertEquals(-Errno.EPERM, sched.handle(vcpus[1], HypercallArgs.from64(29, SchedOp.REMOTE_SHUTDOWN, ARG, 0, 0, 0), f.vmem));
            assertEquals(-Errno.ENOSYS, sched.handle(vcpus[1], HypercallArgs.from64(29, 99, ARG, 0, 0, 0), f.vmem));
        }
    }

    @Test
    void registerVcpuInfoMovesItAndLosesNothing() {
        try (var f = new EventFixture(GuestWidth.BITS_64, DomainConfig.of(2), 256 * 1024)) {
            VcpuOp op = new VcpuOp(f.ports, f.ram);
            TestVcpu self = new TestVcpu(1);
            int p = f.ports.bindIpi(1);
            var s = f.ram.segment();
            s.set(ValueLayout.JAVA_LONG_UNALIGNED, ARG, 0x30);
            s.set(ValueLayout.JAVA_INT_UNALIGNED, ARG + 8, 4096 - 64 + 8);
            assertEquals(-Errno.EINVAL, op.handle(self, HypercallArgs.from64(24, VcpuOp.REGISTER_VCPU_INFO, 1, ARG, 0, 0), f.vmem), "crosses the page");
            s.set(ValueLayout.JAVA_INT_UNALIGNED, ARG + 8, 0x100);
            assertEquals(-Errno.ENOENT, op.handle(self, HypercallArgs.from64(24, VcpuOp.REGISTER_VCPU_INFO, 7, ARG, 0, 0), f.vmem));
            assertEquals(-Errno.EINVAL, op.handle(self, HypercallArgs.from64(24, VcpuOp.REGISTER_VCPU_INFO, 0, ARG, 0, 0), f.vmem), "another, running vCPU");
            s.set(ValueLayout.JAVA_LONG_UNALIGNED, ARG, 0x1000);
            assertEquals(-Errno.EINVAL, op.handle(self, HypercallArgs.from64(24, VcpuOp.REGISTER_VCPU_INFO, 1, ARG, 0, 0), f.vmem), "gfn beyond RAM");
            s.set(ValueLayout.JAVA_LONG_UNALIGNED, ARG, 0x30);
            f.upcalls.clear();
            assertEquals(0, op.handle(self, HypercallArgs.from64(24, VcpuOp.REGISTER_VCPU_INFO, 1, ARG, 0, 0), f.vmem));
            long gpa = 0x30L * 4096 + 0x100;
            assertEquals(gpa, f.guest.shared().vcpuInfo(1).baseOffset());
            assertEquals(-1L, s.get(ValueLayout.JAVA_LONG_UNALIGNED, gpa + 8), "every selector bit set: nothing is lost");
            assertEquals(1, s.get(ValueLayout.JAVA_BYTE, gpa + SharedInfoLayout.UPCALL_PENDING));
            assertEquals(List.of(1), List.copyOf(f.upcalls), "and the upcall injected");
            assertEquals(-Errno.EINVAL, op.handle(self, HypercallArgs.from64(24, VcpuOp.REGISTER_VCPU_INFO, 1, ARG, 0, 0), f.vmem), "once only");
            s.set(ValueLayout.JAVA_LONG_UNALIGNED, gpa + 8, 0L);
            s.set(ValueLayout.JAVA_BYTE, gpa, (byte) 0);
            f.ports.send(p);
            assertEquals(1L, s.get(ValueLayout.JAVA_LONG_UNALIGNED, gpa + 8), "events land in the new place");
            assertEquals(-Errno.ENOSYS, op.handle(self, HypercallArgs.from64(24, VcpuOp.UP, 1, 0, 0, 0), f.vmem));
        }
    }

    /** common/domain.c map_vcpu_info: another vCPU's vcpu_info may be registered while it is offline (Linux does it for each AP). */
    @Test
    void registerVcpuInfoForAnOfflineVcpuOnly() {
        try (var f = new EventFixture(GuestWidth.BITS_64, DomainConfig.of(2), 256 * 1024)) {
            VcpuSet vcpus = new VcpuSet(2, VcpuLifecycle.NONE);
            VcpuOp op = new VcpuOp(f.ports, f.ram).withVcpus(vcpus, null);
            TestVcpu boot = new TestVcpu(0);
            var s = f.ram.segment();
            s.set(ValueLayout.JAVA_LONG_UNALIGNED, ARG, 0x31);
            s.set(ValueLayout.JAVA_INT_UNALIGNED, ARG + 8, 0x40);
            assertEquals(0, op.handle(boot, HypercallArgs.from64(24, VcpuOp.REGISTER_VCPU_INFO, 1, ARG, 0, 0), f.vmem), "vCPU 1 is offline");
            assertEquals(0x31L * 4096 + 0x40, f.guest.shared().vcpuInfo(1).baseOffset());
            TestVcpu one = new TestVcpu(1);
            s.set(ValueLayout.JAVA_LONG_UNALIGNED, ARG, 0x32);
            assertEquals(-Errno.EINVAL, op.handle(one, HypercallArgs.from64(24, VcpuOp.REGISTER_VCPU_INFO, 0, ARG, 0, 0), f.vmem),
                    "vCPU 0 is up (from boot): only it may register its own");
        }
    }

    @Test
    void addToPhysmapPlacesSharedInfo() {
        try (var f = new EventFixture(GuestWidth.BITS_32, DomainConfig.of(1), 256 * 1024)) {
            MemoryOp op = new MemoryOp(f.ports, f.ram);
            int p = f.ports.bindIpi(0);
            f.ports.send(p);
            var s = f.ram.segment();
            // 32-bit struct: domid u16, size u16, space u32, idx u32, gpfn u32
            s.set(ValueLayout.JAVA_SHORT_UNALIGNED, ARG, (short) DomId.DOMID_SELF);
            s.set(ValueLayout.JAVA_INT_UNALIGNED, ARG + 4, MemoryOp.MAPSPACE_SHARED_INFO);
            s.set(ValueLayout.JAVA_INT_UNALIGNED, ARG + 8, 0);
            s.set(ValueLayout.JAVA_INT_UNALIGNED, ARG + 12, 0x35);
            assertEquals(0, (int) op.handle(HypercallArgs.from32(12, MemoryOp.ADD_TO_PHYSMAP, ARG, 0, 0, 0), f.vmem));
            assertEquals(0x35L * 4096, f.guest.shared().sharedInfo().baseOffset());
            assertTrue(f.pending(p), "contents carried over");
            s.set(ValueLayout.JAVA_INT_UNALIGNED, ARG + 12, 0x100000);
            assertEquals(-Errno.EINVAL, (int) op.handle(HypercallArgs.from32(12, MemoryOp.ADD_TO_PHYSMAP, ARG, 0, 0, 0), f.vmem));
            s.set(ValueLayout.JAVA_INT_UNALIGNED, ARG + 8, 1);
            assertEquals(-Errno.EINVAL, (int) op.handle(HypercallArgs.from32(12, MemoryOp.ADD_TO_PHYSMAP, ARG, 0, 0, 0), f.vmem), "idx must be 0");
            s.set(ValueLayout.JAVA_SHORT_UNALIGNED, ARG, (short) 42);
            assertEquals(-Errno.ESRCH, (int) op.handle(HypercallArgs.from32(12, MemoryOp.ADD_TO_PHYSMAP, ARG, 0, 0, 0), f.vmem));
            assertEquals(-Errno.ENOSYS, (int) op.handle(HypercallArgs.from32(12, 35, ARG, 0, 0, 0), f.vmem), "an unknown memory_op");
        }
    }

    @Test
    void memoryMapAndReservations() {
        try (var f = new EventFixture(GuestWidth.BITS_64, DomainConfig.of(1), 256 * 1024)) {
            var map = List.of(new E820Entry(0, 0x9F000, E820Entry.RAM), new E820Entry(0xFC000000L, 0x1000, E820Entry.RESERVED),
                    new E820Entry(0x100000, 0x200000, E820Entry.RAM));
            MemoryOp op = new MemoryOp(f.ports, f.ram, null, map);
            var s = f.ram.segment();
            s.set(ValueLayout.JAVA_INT_UNALIGNED, ARG, 2); // room for two entries
            s.set(ValueLayout.JAVA_LONG_UNALIGNED, ARG + 8, LIST);
            s.asSlice(LIST, 80).fill((byte) 0xAA);
            assertEquals(0, op.handle(HypercallArgs.from64(12, MemoryOp.MEMORY_MAP, ARG, 0, 0, 0), f.vmem));
            assertEquals(2, s.get(ValueLayout.JAVA_INT_UNALIGNED, ARG), "min(requested, offered)");
            assertEquals(0x9F000, s.get(ValueLayout.JAVA_LONG_UNALIGNED, LIST + 8));
            assertEquals(E820Entry.RESERVED, s.get(ValueLayout.JAVA_INT_UNALIGNED, LIST + 20 + 16), "packed 20-byte entries");
            assertEquals((byte) 0xAA, s.get(ValueLayout.JAVA_BYTE, LIST + 40), "nothing written past what was asked");
            s.set(ValueLayout.JAVA_INT_UNALIGNED, ARG, -1); // a huge count: just what there is
            assertEquals(0, op.handle(HypercallArgs.from64(12, MemoryOp.MEMORY_MAP, ARG, 0, 0, 0), f.vmem));
            assertEquals(3, s.get(ValueLayout.JAVA_INT_UNALIGNED, ARG));
            s.set(ValueLayout.JAVA_LONG_UNALIGNED, ARG + 8, -64L);
            assertEquals(-Errno.EFAULT, op.handle(HypercallArgs.from64(12, MemoryOp.MEMORY_MAP, ARG, 0, 0, 0), f.vmem));
            assertEquals(-Errno.ENOSYS, new MemoryOp(f.ports, f.ram).handle(HypercallArgs.from64(12, MemoryOp.MEMORY_MAP, ARG, 0, 0, 0), f.vmem),
                    "no map: -ENOSYS, as Xen without an e820");
            s.set(ValueLayout.JAVA_SHORT_UNALIGNED, ARG, (short) DomId.DOMID_SELF);
            assertEquals(64, op.handle(HypercallArgs.from64(12, MemoryOp.CURRENT_RESERVATION, ARG, 0, 0, 0), f.vmem), "256 KiB = 64 pages");
            assertEquals(64, op.handle(HypercallArgs.from64(12, MemoryOp.MAXIMUM_RESERVATION, ARG, 0, 0, 0), f.vmem));
            s.set(ValueLayout.JAVA_SHORT_UNALIGNED, ARG, (short) 0);
            assertEquals(-Errno.EPERM, op.handle(HypercallArgs.from64(12, MemoryOp.CURRENT_RESERVATION, ARG, 0, 0, 0), f.vmem));
            assertEquals(-Errno.EFAULT, op.handle(HypercallArgs.from64(12, MemoryOp.CURRENT_RESERVATION, -2, 0, 0, 0), f.vmem));
            assertEquals(63, op.handle(HypercallArgs.from64(12, MemoryOp.MAXIMUM_RAM_PAGE, 0, 0, 0, 0), f.vmem));
            assertEquals(-Errno.EINVAL, op.handle(HypercallArgs.from64(12, MemoryOp.MAXIMUM_RAM_PAGE | (5 << 6), 0, 0, 0, 0), f.vmem),
                    "a continuation start extent on a command that has none");
        }
    }

    @Test
    void consoleWriteIsChunkedAndBounded() {
        try (var f = EventFixture.of(GuestWidth.BITS_64)) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            ConsoleIo op = new ConsoleIo(out);
            byte[] text = "hello from a guest, more than one chunk long: ".repeat(10).getBytes(StandardCharsets.US_ASCII);
            f.ram.segment().asSlice(0x3000, text.length).copyFrom(MemorySegment.ofArray(text));
            assertEquals(0, op.handle(HypercallArgs.from64(18, ConsoleIo.WRITE, text.length, 0x3000, 0, 0), f.vmem));
            assertArrayEquals(text, out.toByteArray());
            assertEquals(-Errno.EFAULT, op.handle(HypercallArgs.from64(18, ConsoleIo.WRITE, 0xFFFF_FFFFL, EventFixture.RAM_SIZE - 100, 0, 0), f.vmem));
            assertEquals(text.length, out.size(), "a 4 GiB count ends at the first chunk that leaves RAM, writing nothing more");
            assertEquals(-Errno.EPERM, op.handle(HypercallArgs.from64(18, ConsoleIo.READ, 10, 0x3000, 0, 0), f.vmem));
        }
    }

    @Test
    void xenVersionStringsArePaddedWithZeros() {
        try (var f = EventFixture.of(GuestWidth.BITS_64)) {
            XenVersion op = new XenVersion(new byte[16]);
            assertEquals(0x40013, op.handle(HypercallArgs.from64(17, XenVersion.VERSION, 0, 0, 0, 0), f.vmem));
            var s = f.ram.segment();
            s.asSlice(ARG, 1024).fill((byte) 0xAA);
            assertEquals(0, op.handle(HypercallArgs.from64(17, XenVersion.EXTRAVERSION, ARG, 0, 0, 0), f.vmem));
            assertEquals(".0-jxen", s.getString(ARG));
            for (int i = 7; i < 16; i++) assertEquals(0, s.get(ValueLayout.JAVA_BYTE, ARG + i), "byte " + i + " zeroed");
            assertEquals((byte) 0xAA, s.get(ValueLayout.JAVA_BYTE, ARG + 16), "nothing written past the buffer");
            s.asSlice(ARG, 1024).fill((byte) 0xAA);
            assertEquals(0, op.handle(HypercallArgs.from64(17, XenVersion.CAPABILITIES, ARG, 0, 0, 0), f.vmem));
            assertTrue(s.getString(ARG).contains("hvm-3.0-x86_64"));
            assertEquals(0, s.get(ValueLayout.JAVA_BYTE, ARG + 1023));
            s.set(ValueLayout.JAVA_INT_UNALIGNED, ARG, 0);
            assertEquals(0, op.handle(HypercallArgs.from64(17, XenVersion.GET_FEATURES, ARG, 0, 0, 0), f.vmem));
            assertEquals(XenVersion.FEATURES_0, s.get(ValueLayout.JAVA_INT_UNALIGNED, ARG + 4));
            s.set(ValueLayout.JAVA_INT_UNALIGNED, ARG, 5);
            op.handle(HypercallArgs.from64(17, XenVersion.GET_FEATURES, ARG, 0, 0, 0), f.vmem);
            assertEquals(0, s.get(ValueLayout.JAVA_INT_UNALIGNED, ARG + 4), "other submaps empty");
            assertEquals(0, op.handle(HypercallArgs.from32(17, XenVersion.PLATFORM_PARAMETERS, ARG, 0, 0, 0), f.vmem));
            assertEquals(0xF5800000, s.get(ValueLayout.JAVA_INT_UNALIGNED, ARG));
            assertEquals(4096, op.handle(HypercallArgs.from64(17, XenVersion.PAGESIZE, 0, 0, 0, 0), f.vmem));
            assertEquals(-Errno.EPERM, op.handle(HypercallArgs.from64(17, XenVersion.COMMANDLINE, ARG, 0, 0, 0), f.vmem));
            assertEquals(-Errno.ENOSYS, op.handle(HypercallArgs.from64(17, 77, ARG, 0, 0, 0), f.vmem));
            assertEquals(-Errno.EFAULT, op.handle(HypercallArgs.from64(17, XenVersion.EXTRAVERSION, -8, 0, 0, 0), f.vmem));
        }
    }
}
