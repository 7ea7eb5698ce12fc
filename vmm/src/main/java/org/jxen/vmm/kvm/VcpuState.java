package org.jxen.vmm.kvm;

import static org.jxen.sys.kvm.KvmAbi.*;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;

import org.jxen.sys.kvm.KvmVcpu;
import org.jxen.sys.kvm.KvmVcpu.StateBlock;
import org.jxen.sys.kvm.KvmException;
import org.jxen.sys.kvm.KvmVm;

/**
 * One vCPU's KVM state for a save: the {@code <linux/kvm.h>} structs as KVM hands them out (registers, segment and
 * control registers, FPU/SSE and, where KVM has them, XSAVE and XCR0, the local APIC, pending events), the MP state,
 * and the MSRs KVM keeps that a guest sets (SYSENTER, SYSCALL, PAT, TSC, ...). The structs are carried as bytes:
 * jxen does not interpret them, and KVM checks them when they are set again.
 */
record VcpuState(int mpState, Map<StateBlock, byte[]> blocks, List<long[]> msrs) {
    /** IA32_TSC, SYSENTER_CS/ESP/EIP, PAT, MISC_ENABLE, EFER is in sregs; STAR, LSTAR, CSTAR, SFMASK, KERNEL_GS_BASE, TSC_AUX. */
    static final int[] MSRS = {0x10, 0x174, 0x175, 0x176, 0x277, 0x1A0, 0xC000_0081, 0xC000_0082, 0xC000_0083, 0xC000_0084,
            0xC000_0102, 0xC000_0103};
    /** The order KVM needs them back in: sregs (APIC base, modes) before the APIC; events last. */
    private static final StateBlock[] ORDER = {StateBlock.REGS, StateBlock.FPU, StateBlock.XSAVE, StateBlock.XCRS, StateBlock.SREGS,
            StateBlock.LAPIC, StateBlock.EVENTS};

    /**
     * Reads a stopped vCPU's state (its thread has left KVM_RUN and completed any pending I/O). {@code xsave}: KVM has
     * KVM_CAP_XSAVE and KVM_CAP_XCRS.
     */
    static VcpuState capture(KvmVcpu v, boolean xsave) {
        Map<StateBlock, byte[]> blocks = new EnumMap<>(StateBlock.class);
        for (StateBlock b : ORDER) {
            if (!xsave && (b == StateBlock.XSAVE || b == StateBlock.XCRS)) continue;
            blocks.put(b, v.getState(b));
        }
        List<long[]> msrs = new ArrayList<>();
        for (int index : MSRS) {
            OptionalLong value = v.readMsr(index);
            if (value.isPresent()) msrs.add(new long[] {index, value.getAsLong()});
        }
        return new VcpuState(v.mpState(), blocks, msrs);
    }

    /** Sets this state on a new vCPU (its CPUID already set, so KVM accepts the same features). */
    void apply(KvmVcpu v) {
        for (StateBlock b : ORDER) {
            byte[] data = blocks.get(b);
            if (data == null) continue;
            v.setState(b, data);
            if (b == StateBlock.SREGS) {
                for (long[] m : msrs) {
                    if (!v.writeMsr((int) m[0], m[1])) throw new KvmException("KVM_SET_MSRS(0x" + Long.toHexString(m[0]) + ")", 0);
                }
            }
        }
        v.setMpState(mpState);
    }

    void write(DataOutputStream out) throws IOException {
        out.writeInt(mpState);
        out.writeInt(blocks.size());
        for (var e : blocks.entrySet()) {
            out.writeUTF(e.getKey().name());
            out.writeInt(e.getValue().length);
            out.write(e.getValue());
        }
        out.writeInt(msrs.size());
        for (long[] m : msrs) {
            out.writeInt((int) m[0]);
            out.writeLong(m[1]);
        }
    }

    static VcpuState read(DataInputStream in) throws IOException {
        int mp = in.readInt();
        if (mp < 0 || mp > 16) throw new IOException("vCPU MP state " + mp);
        int n = in.readInt();
        if (n < 0 || n > StateBlock.values().length) throw new IOException("vCPU state: " + n + " blocks");
        Map<StateBlock, byte[]> blocks = new EnumMap<>(StateBlock.class);
        for (int i = 0; i < n; i++) {
            StateBlock b;
            try {
                b = StateBlock.valueOf(in.readUTF());
            } catch (IllegalArgumentException e) {
                throw new IOException("vCPU state: unknown block");
            }
            int len = in.readInt();
            if (len != b.size) throw new IOException("vCPU state: " + b + " of " + len + " bytes, expected " + b.size);
            byte[] data = new byte[len];
            in.readFully(data);
            blocks.put(b, data);
        }
        for (StateBlock required : new StateBlock[] {StateBlock.REGS, StateBlock.SREGS, StateBlock.FPU, StateBlock.LAPIC, StateBlock.EVENTS})
            if (!blocks.containsKey(required)) throw new IOException("vCPU state: no " + required);
        int m = in.readInt();
        if (m < 0 || m > MSRS.length) throw new IOException("vCPU state: " + m + " MSRs");
        List<long[]> msrs = new ArrayList<>();
        for (int i = 0; i < m; i++) {
            int index = in.readInt();
            if (Arrays.stream(MSRS).noneMatch(x -> x == index)) throw new IOException("vCPU state: MSR 0x" + Integer.toHexString(index));
            msrs.add(new long[] {index, in.readLong()});
        }
        return new VcpuState(mp, blocks, msrs);
    }

    /** Whether this KVM can save and restore XSAVE state and XCR0. */
    static boolean hasXsave(KvmVm vm) {
        return vm.checkExtension(KVM_CAP_XSAVE) > 0 && vm.checkExtension(KVM_CAP_XCRS) > 0;
    }
}
