package org.jxen.vmm.cpu;

import java.util.ArrayList;
import java.util.List;

import org.jxen.sys.kvm.CpuidEntry;

import org.jxen.engine.platform.XenVersion;
import org.jxen.engine.pvclock.TscScale;

/**
 * The CPUID table a vCPU sees ({@code public/arch-x86/cpuid.h}): the host's supported leaves with the hypervisor bit
 * set and this vCPU's APIC id filled in, KVM's own hypervisor leaves removed, and Xen's leaves at 0x40000000:
 * <ul>
 * <li>0x40000000: the highest Xen leaf and the signature "XenVMMXenVMM";</li>
 * <li>0x40000001: the Xen version (major &lt;&lt; 16 | minor);</li>
 * <li>0x40000002: one hypercall page, written through MSR 0x40000000;</li>
 * <li>0x40000003: the TSC sub-leaves (mode "never emulate", guest and host kHz, the tsc-to-ns scale);</li>
 * <li>0x40000004: HVM features: VCPU_ID_PRESENT (EBX = Xen vCPU id), DOMID_PRESENT (ECX = domid), UPCALL_VECTOR
 * (per-vCPU upcall vectors, HVMOP_set_evtchn_upcall_vector);</li>
 * <li>0x40000005: PV parameters, all zero for an HVM guest (as Xen).</li>
 * </ul>
 * Nothing answers at 0x40000100 (Xen moves its leaves there only for Viridian guests): that leaf is explicitly zero,
 * so a guest probing for a second hypervisor block finds none.
 */
public final class XenCpuid {
    public static final int BASE = 0x4000_0000;
    /** XEN_CPUID_MAX_NUM_LEAVES. */
    public static final int MAX_LEAVES = 5;
    /** "XenVMMXenVMM" in EBX, ECX, EDX. */
    public static final int SIGNATURE_EBX = 0x566e_6558, SIGNATURE_ECX = 0x6558_4d4d, SIGNATURE_EDX = 0x4d4d_566e;
    /** The MSR a guest writes the hypercall page's address to. */
    public static final int HYPERCALL_MSR = 0x4000_0000;
    public static final int TSC_HOST_RELIABLE = 1 << 1;
    public static final int TSC_MODE_NEVER_EMULATE = 2;
    public static final int HVM_X2APIC_VIRT = 1 << 1, HVM_VCPU_ID_PRESENT = 1 << 3, HVM_DOMID_PRESENT = 1 << 4,
            HVM_UPCALL_VECTOR = 1 << 6;
    /** CPUID.1:ECX bit 31: running under a hypervisor. */
    public static final int ECX_HYPERVISOR = 1 << 31;

    private XenCpuid() {}

    /**
     * The table for one vCPU.
     *
     * @param host       what KVM_GET_SUPPORTED_CPUID offered
     * @param xenVcpuId  Xen's vCPU id (what VCPUOPs name), reported in 0x40000004 EBX
     * @param apicId     the vCPU's APIC id, reported in leaf 1 EBX[31:24] and the x2APIC topology leaves' EDX
     * @param tscKhz     the guest TSC frequency (KVM_GET_TSC_KHZ)
     */
    public static List<CpuidEntry> forVcpu(List<CpuidEntry> host, int xenVcpuId, int apicId, int domid, long tscKhz,
            boolean tscReliable) {
        List<CpuidEntry> out = new ArrayList<>();
        for (CpuidEntry e : host) {
            if (Integer.compareUnsigned(e.function(), BASE) >= 0 && Integer.compareUnsigned(e.function(), 0x4000_FFFF) <= 0)
                continue; // KVM's own signature and features: a Xen guest must see Xen there
            out.add(switch (e.function()) {
                case 1 -> e.withEbx((e.ebx() & 0x00FF_FFFF) | (apicId << 24)).withEcx(e.ecx() | ECX_HYPERVISOR);
                case 0xB, 0x1F -> e.withEdx(apicId);
                default -> e;
            });
        }
        TscScale scale = TscScale.forKhz(tscKhz);
        out.add(CpuidEntry.of(BASE, BASE + MAX_LEAVES, SIGNATURE_EBX, SIGNATURE_ECX, SIGNATURE_EDX));
        out.add(CpuidEntry.of(BASE + 1, (XenVersion.MAJOR << 16) | XenVersion.MINOR, 0, 0, 0));
        out.add(CpuidEntry.of(BASE + 2, 1, HYPERCALL_MSR, 0, 0));
        int khz = (int) Math.min(tscKhz, 0xFFFF_FFFFL);
        out.add(CpuidEntry.sub(BASE + 3, 0, tscReliable ? TSC_HOST_RELIABLE : 0, TSC_MODE_NEVER_EMULATE, khz, 0));
        out.add(CpuidEntry.sub(BASE + 3, 1, 0, 0, scale.mul(), scale.shift()));
        out.add(CpuidEntry.sub(BASE + 3, 2, khz, 0, 0, 0));
        out.add(CpuidEntry.sub(BASE + 4, 0, HVM_X2APIC_VIRT | HVM_VCPU_ID_PRESENT | HVM_DOMID_PRESENT | HVM_UPCALL_VECTOR,
                xenVcpuId, domid, 0));
        out.add(CpuidEntry.sub(BASE + 5, 0, 0, 0, 0, 0));
        out.add(CpuidEntry.of(BASE + 0x100, 0, 0, 0, 0));
        return List.copyOf(out);
    }

    /** What the guest reads for CPUID(function, index) from {@code table}: the entry, or zeros (as KVM for a hole). */
    public static int[] lookup(List<CpuidEntry> table, int function, int index) {
        for (CpuidEntry e : table)
            if (e.matches(function, index)) return new int[] {e.eax(), e.ebx(), e.ecx(), e.edx()};
        return new int[4];
    }
}
