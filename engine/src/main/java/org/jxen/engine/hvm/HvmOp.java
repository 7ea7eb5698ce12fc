package org.jxen.engine.hvm;

import static org.jxen.engine.hvm.HvmParam.*;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import org.jxen.engine.abi.DomId;
import org.jxen.engine.abi.Errno;
import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.evtchn.GuestDomain;
import org.jxen.engine.hypercall.HypercallArgs;
import org.jxen.engine.hypercall.HypercallDispatcher;
import org.jxen.engine.memory.GuestVirtualMemory;

/**
 * HYPERVISOR_hvm_op for the event-channel side of the platform: HVMOP_get_param, HVMOP_set_param (with Xen's guest
 * access rules; setting CALLBACK_IRQ latches the shared_info layout from the caller's mode, as
 * hvm_latch_shinfo_size does) and HVMOP_set_evtchn_upcall_vector. Other HVMOPs: -ENOSYS.
 */
public final class HvmOp implements HypercallDispatcher.Handler {
    private final GuestDomain guest;
    private final HvmParams params;

    public HvmOp(GuestDomain guest, HvmParams params) {
        this.guest = guest;
        this.params = params;
    }

    @Override
    public long handle(HypercallArgs args, GuestVirtualMemory mem) {
        int op = HypercallArgs.u32(args.a1());
        return switch (op) {
            case HVMOP_GET_PARAM, HVMOP_SET_PARAM -> param(op == HVMOP_SET_PARAM, args, mem);
            case HVMOP_SET_EVTCHN_UPCALL_VECTOR -> {
                MemorySegment s = MemorySegment.ofArray(new byte[UPCALL_VECTOR_SIZE]);
                int rc = mem.read(args.a2(), s);
                if (rc != 0) yield rc;
                yield params.setVcpuUpcallVector(s.get(ValueLayout.JAVA_INT_UNALIGNED, UPCALL_VECTOR_VCPU),
                        Byte.toUnsignedInt(s.get(ValueLayout.JAVA_BYTE, UPCALL_VECTOR_VECTOR)));
            }
            default -> -Errno.ENOSYS;
        };
    }

    private long param(boolean set, HypercallArgs args, GuestVirtualMemory mem) {
        MemorySegment s = MemorySegment.ofArray(new byte[PARAM_SIZE]);
        int rc = mem.read(args.a2(), s);
        if (rc != 0) return rc;
        int domid = Short.toUnsignedInt(s.get(ValueLayout.JAVA_SHORT_UNALIGNED, PARAM_DOMID));
        int denied = DomId.checkSelf(domid, guest.domid());
        if (denied != 0) return denied;
        int index = s.get(ValueLayout.JAVA_INT_UNALIGNED, PARAM_INDEX);
        if (set) {
            long value = s.get(ValueLayout.JAVA_LONG_UNALIGNED, PARAM_VALUE);
            int r = params.guestSet(index, value);
            if (r == 0 && index == CALLBACK_IRQ) guest.shared().latch(args.mode() == GuestWidth.BITS_64 ? GuestWidth.BITS_64 : GuestWidth.BITS_32);
            return r;
        }
        int[] r = new int[1];
        long value = params.guestGet(index, r);
        if (r[0] != 0) return r[0];
        s.set(ValueLayout.JAVA_LONG_UNALIGNED, PARAM_VALUE, value);
        return mem.write(args.a2(), s) == 0 ? 0 : -Errno.EFAULT;
    }
}
