package org.jxen.engine.pvclock;

import java.math.BigInteger;

/**
 * The TSC-to-nanoseconds scale a guest applies to TSC deltas ({@code vcpu_time_info.tsc_to_system_mul} and
 * {@code tsc_shift}, {@code public/xen.h}): {@code ns = ((delta << shift) * mul) >> 32}, shifting right for a negative
 * shift. Chosen as Xen's set_time_scale does: the frequency is shifted into (10^9, 2*10^9] Hz, so {@code mul} is
 * the largest 32-bit fraction that fits and the conversion loses the least precision.
 */
public record TscScale(int mul, int shift) {
    private static final long NS_PER_SEC = 1_000_000_000L;

    public static TscScale forKhz(long khz) {
        return forHz(khz * 1000);
    }

    public static TscScale forHz(long hz) {
        if (hz <= 0) throw new IllegalArgumentException("TSC frequency must be positive: " + hz);
        long tps = hz;
        int shift = 0;
        while (tps > 2 * NS_PER_SEC) {
            tps >>>= 1;
            shift--;
        }
        while (tps <= NS_PER_SEC) {
            tps <<= 1;
            shift++;
        }
        // div_frac(10^9, tps): (10^9 << 32) / tps, which is < 2^32 since tps > 10^9.
        long mul = BigInteger.valueOf(NS_PER_SEC).shiftLeft(32).divide(BigInteger.valueOf(tps)).longValueExact();
        return new TscScale((int) mul, shift);
    }

    /** What a guest computes from a TSC delta (Linux's pvclock_scale_delta): 64 x 32 -> 96-bit product, top 64 bits. */
    public long toNanos(long tscDelta) {
        long d = shift >= 0 ? tscDelta << shift : tscDelta >>> -shift;
        long m = Integer.toUnsignedLong(mul);
        return Math.unsignedMultiplyHigh(d, m) << 32 | ((d * m) >>> 32);
    }
}
