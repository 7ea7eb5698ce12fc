package org.jxen.engine.hvm;

import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLongArray;

import org.jxen.engine.abi.Errno;

/**
 * A domain's HVM parameters and upcall vectors. The toolstack side (jxen) sets anything; the guest reads and sets
 * only what Xen allows it (-EPERM otherwise). HVM_PARAM_CALLBACK_IRQ of type VECTOR gives the domain-wide upcall
 * vector; HVMOP_set_evtchn_upcall_vector gives a per-vCPU one, which takes precedence (Xen's hvm_assert_evtchn_irq).
 */
public final class HvmParams {
    private final AtomicLongArray params = new AtomicLongArray(HvmParam.COUNT);
    private final AtomicIntegerArray vcpuVectors;

    public HvmParams(int vcpus) {
        this.vcpuVectors = new AtomicIntegerArray(vcpus);
    }

    /** Toolstack write (no guest rules). */
    public void set(int index, long value) {
        params.set(index, value);
    }

    public long get(int index) {
        return params.get(index);
    }

    /** The guest reads its own parameter: the value, or -EINVAL / -EPERM in {@code rc[0]}. */
    public long guestGet(int index, int[] rc) {
        if (index < 0 || index >= HvmParam.COUNT) {
            rc[0] = -Errno.EINVAL;
            return 0;
        }
        if (!HvmParam.guestMayRead(index)) {
            rc[0] = -Errno.EPERM;
            return 0;
        }
        rc[0] = 0;
        return params.get(index);
    }

    /** The guest sets its own parameter: 0, -EINVAL or -EPERM. */
    public int guestSet(int index, long value) {
        if (index < 0 || index >= HvmParam.COUNT) return -Errno.EINVAL;
        if (!HvmParam.guestMayWrite(index)) return -Errno.EPERM;
        params.set(index, value);
        return 0;
    }

    /** HVMOP_set_evtchn_upcall_vector: -ENOENT for no such vCPU, -EINVAL for a vector below 0x10. */
    public int setVcpuUpcallVector(int vcpu, int vector) {
        // arch/x86/hvm/hvm.c hvmop_set_evtchn_upcall_vector: the vector is checked before the vCPU is looked up.
        if (vector < 0x10) return -Errno.EINVAL;
        if (vcpu < 0 || vcpu >= vcpuVectors.length()) return -Errno.ENOENT;
        vcpuVectors.set(vcpu, vector);
        return 0;
    }

    /** The vector {@code vcpu} set with HVMOP_set_evtchn_upcall_vector, or 0. */
    public int vcpuUpcallVector(int vcpu) {
        return vcpuVectors.get(vcpu);
    }

    /**
     * The vector to inject for an upcall to {@code vcpu}: its own vector if it set one, else the domain-wide
     * CALLBACK_IRQ vector, else 0 (no vector-type callback configured).
     */
    public int upcallVector(int vcpu) {
        int v = vcpuVectors.get(vcpu);
        if (v != 0) return v;
        long cb = params.get(HvmParam.CALLBACK_IRQ);
        return (cb >>> 56) == HvmParam.CALLBACK_TYPE_VECTOR ? (int) (cb & 0xFF) : 0;
    }
}
