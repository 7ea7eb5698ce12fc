package org.jxen.engine.pvclock;

import static org.junit.jupiter.api.Assertions.*;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import java.util.concurrent.atomic.AtomicBoolean;

import org.junit.jupiter.api.Test;
import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.abi.SharedInfoLayout;
import org.jxen.engine.memory.GuestRegion;

/** The TSC scale as Xen picks it, the vcpu_time_info version protocol, cross-vCPU monotonicity, the wallclock. */
class PvClockTest {
    private final MemorySegment page = Arena.ofAuto().allocate(4096, 4096);
    private final GuestRegion shared = GuestRegion.of(page, 0, 4096);

    private GuestRegion vcpuInfo(int vcpu) {
        return shared.slice(SharedInfoLayout.vcpuInfoOffset(vcpu), SharedInfoLayout.VCPU_INFO_SIZE);
    }

    @Test
    void scaleIsXensSetTimeScale() {
        TscScale s = TscScale.forKhz(2_445_000); // this host's TSC
        assertEquals(-1, s.shift(), "2.445 GHz is shifted once into (1, 2] GHz");
        assertEquals(3_513_265_681L, Integer.toUnsignedLong(s.mul()), "(10^9 << 32) / 1.2225e9");
        assertEquals(new TscScale(Integer.MIN_VALUE, 1), TscScale.forHz(1_000_000_000L), "1 GHz: 2^31 after one left shift");
        assertEquals(2, TscScale.forHz(300_000_000L).shift());
        assertThrows(IllegalArgumentException.class, () -> TscScale.forHz(0));
    }

    @Test
    void scaleConvertsAccuratelyAtEveryFrequency() {
        long seed = Long.getLong("jxen.pvclock.seed", System.nanoTime());
        Random rnd = new Random(seed);
        for (int i = 0; i < 10_000; i++) {
            long hz = 1_000_000L + (long) (rnd.nextDouble() * 10_000_000_000L);
            TscScale s = TscScale.forHz(hz);
            long oneSecond = s.toNanos(hz);
            assertTrue(Math.abs(oneSecond - 1_000_000_000L) <= 2, "seed " + seed + ": " + hz + " Hz: 1 s = " + oneSecond + " ns");
            long tenMinutes = s.toNanos(hz * 600);
            assertTrue(Math.abs(tenMinutes - 600_000_000_000L) <= 1_000, "seed " + seed + ": " + hz + " Hz: 600 s = " + tenMinutes);
        }
    }

    @Test
    void aReaderNeverSeesATornUpdate() throws Exception {
        // With a 1 GHz scale and system_time == tsc_timestamp in every update, a consistent read at TSC T is exactly T;
        // a read mixing two updates is off by their difference.
        TscScale gHz = TscScale.forHz(1_000_000_000L);
        AtomicBoolean done = new AtomicBoolean();
        Thread writer = new Thread(() -> {
            for (long k = 1; k <= 300_000; k++) PvClock.updateVcpuTime(vcpuInfo(0), new ClockSample(k * 7919, k * 7919), gHz, true);
            done.set(true);
        });
        PvClock.updateVcpuTime(vcpuInfo(0), new ClockSample(0, 0), gHz, true);
        writer.start();
        long reads = 0;
        while (!done.get()) {
            assertEquals(1_000_000_000_000L, PvClock.guestRead(vcpuInfo(0), 1_000_000_000_000L));
            reads++;
        }
        writer.join();
        assertTrue(reads > 0);
        assertEquals(0, vcpuInfo(0).getIntVolatile(SharedInfoLayout.VCPU_TIME) & 1, "version even at rest");
        assertEquals(PvClock.TSC_STABLE, vcpuInfo(0).getByte(SharedInfoLayout.VCPU_TIME + SharedInfoLayout.TIME_FLAGS));
    }

    @Test
    void anOddVersionLeftByTheGuestStaysOddDuringTheUpdate() {
        vcpuInfo(1).putIntVolatile(SharedInfoLayout.VCPU_TIME, 5);
        PvClock.updateVcpuTime(vcpuInfo(1), new ClockSample(1, 2), TscScale.forKhz(1_000_000), false);
        assertEquals(8, vcpuInfo(1).getIntVolatile(SharedInfoLayout.VCPU_TIME));
    }

    @Test
    void timeNeverGoesBackwardsAcrossVcpus() {
        TscScale scale = TscScale.forKhz(2_445_000);
        MasterClock master = new MasterClock(scale, new ClockSample(123_456_789L, 5_000_000L));
        for (int v = 0; v < 4; v++) PvClock.updateVcpuTime(vcpuInfo(v), master.anchor(), scale, true);
        long seed = Long.getLong("jxen.pvclock.seed", System.nanoTime());
        Random rnd = new Random(seed);
        long tsc = 123_456_789L;
        long last = Long.MIN_VALUE;
        for (int i = 0; i < 1_000_000; i++) {
            tsc += rnd.nextInt(5000);
            long now = PvClock.guestRead(vcpuInfo(rnd.nextInt(4)), tsc);
            assertTrue(now >= last, "seed " + seed + ": time went back at read " + i);
            assertEquals(master.systemTimeAt(tsc), now);
            last = now;
        }
    }

    @Test
    void wallclockInBothLayouts() {
        long epochNs = 1_795_000_000_123_456_789L; // 2026-11
        PvClock.updateWallclock(shared, GuestWidth.BITS_64, epochNs);
        assertEquals(2, shared.getIntVolatile(GuestWidth.BITS_64.wallclockOffset), "version bumped twice");
        assertEquals((int) 1_795_000_000L, shared.getIntVolatile(3076));
        assertEquals(123_456_789, shared.getIntVolatile(3080));
        assertEquals(0, shared.getIntVolatile(PvClock.WC_SEC_HI_64));
        long after2106 = 5_000_000_000L * 1_000_000_000L; // seconds no longer fit 32 bits
        PvClock.updateWallclock(shared, GuestWidth.BITS_32, after2106);
        assertEquals((int) 5_000_000_000L, page.get(ValueLayout.JAVA_INT, 2308));
        assertEquals(1, page.get(ValueLayout.JAVA_INT, PvClock.WC_SEC_HI_32), "wc_sec_hi in arch_shared_info");
    }
}
