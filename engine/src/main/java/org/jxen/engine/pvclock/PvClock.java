package org.jxen.engine.pvclock;

import java.lang.invoke.VarHandle;

import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.abi.SharedInfoLayout;
import org.jxen.engine.memory.GuestRegion;

/**
 * Keeps a vCPU's {@code vcpu_time_info} (in its vcpu_info) and the domain's wallclock (in shared_info) as Xen does,
 * with the version protocol a guest's lock-free reader relies on: the version goes odd, the fields change, the
 * version goes even, with write barriers between (Xen's update_vcpu_system_time / update_domain_wallclock_time). A
 * guest reads version, fields, version, and retries while the two differ or are odd.
 */
public final class PvClock {
    /** XEN_PVCLOCK_TSC_STABLE_BIT: every vCPU's TSC runs in step, so the guest may skip its cross-vCPU fixup. */
    public static final byte TSC_STABLE = 1;
    /** wc_sec_hi: after wc_nsec in the 64-bit layout; in arch_shared_info in the 32-bit one ({@code arch-x86/xen.h}). */
    public static final int WC_SEC_HI_64 = 3084, WC_SEC_HI_32 = 2340;

    private PvClock() {}

    /** Publishes {@code sample} and {@code scale} in the vcpu_info region {@code vcpuInfo}. */
    public static void updateVcpuTime(GuestRegion vcpuInfo, ClockSample sample, TscScale scale, boolean tscStable) {
        GuestRegion t = vcpuInfo.slice(SharedInfoLayout.VCPU_TIME, 32);
        int odd = beginUpdate(t, SharedInfoLayout.TIME_VERSION);
        t.putLongVolatile(SharedInfoLayout.TIME_TSC_TIMESTAMP, sample.tsc());
        t.putLongVolatile(SharedInfoLayout.TIME_SYSTEM_TIME, sample.systemTimeNs());
        t.putIntVolatile(SharedInfoLayout.TIME_TSC_TO_SYSTEM_MUL, scale.mul());
        t.putByte(SharedInfoLayout.TIME_TSC_SHIFT, (byte) scale.shift());
        t.putByte(SharedInfoLayout.TIME_FLAGS, tscStable ? TSC_STABLE : 0);
        endUpdate(t, SharedInfoLayout.TIME_VERSION, odd);
    }

    /** Makes the version at {@code at} odd (a guest-corrupted odd version stays odd) before the fields change. */
    private static int beginUpdate(GuestRegion r, int at) {
        int version = r.getIntVolatile(at);
        int odd = (version & 1) != 0 ? version + 2 : version + 1;
        r.putIntVolatile(at, odd);
        VarHandle.storeStoreFence();
        return odd;
    }

    /** Makes it even again once they have. */
    private static void endUpdate(GuestRegion r, int at, int odd) {
        VarHandle.storeStoreFence();
        r.putIntVolatile(at, odd + 1);
    }

    /**
     * Publishes the wallclock: the UTC time at which system time was zero ({@code bootEpochNs} since 1970), so a guest
     * computes now = wallclock + system time.
     */
    public static void updateWallclock(GuestRegion sharedInfo, GuestWidth width, long bootEpochNs) {
        int at = width.wallclockOffset;
        long sec = Math.floorDiv(bootEpochNs, 1_000_000_000L);
        int nsec = (int) Math.floorMod(bootEpochNs, 1_000_000_000L);
        int odd = beginUpdate(sharedInfo, at);
        sharedInfo.putIntVolatile(at + 4, (int) sec);
        sharedInfo.putIntVolatile(at + 8, nsec);
        sharedInfo.putIntVolatile(width == GuestWidth.BITS_64 ? WC_SEC_HI_64 : WC_SEC_HI_32, (int) (sec >>> 32));
        endUpdate(sharedInfo, at, odd);
    }

    /** What a guest reads (Linux's pvclock_clocksource_read without the cross-vCPU fixup): ns at guest TSC {@code tsc}. */
    public static long guestRead(GuestRegion vcpuInfo, long tsc) {
        GuestRegion t = vcpuInfo.slice(SharedInfoLayout.VCPU_TIME, 32);
        while (true) {
            int v1 = t.getIntVolatile(SharedInfoLayout.TIME_VERSION);
            VarHandle.loadLoadFence();
            long stamp = t.getLongVolatile(SharedInfoLayout.TIME_TSC_TIMESTAMP);
            long system = t.getLongVolatile(SharedInfoLayout.TIME_SYSTEM_TIME);
            int mul = t.getIntVolatile(SharedInfoLayout.TIME_TSC_TO_SYSTEM_MUL);
            int shift = t.getByte(SharedInfoLayout.TIME_TSC_SHIFT);
            VarHandle.loadLoadFence();
            int v2 = t.getIntVolatile(SharedInfoLayout.TIME_VERSION);
            if ((v1 & 1) == 0 && v1 == v2) return system + new TscScale(mul, shift).toNanos(tsc - stamp);
            Thread.onSpinWait();
        }
    }
}
