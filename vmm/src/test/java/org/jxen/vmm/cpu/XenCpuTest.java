package org.jxen.vmm.cpu;

import static org.junit.jupiter.api.Assertions.*;

import java.lang.foreign.Arena;
import java.util.List;

import org.jxen.sys.kvm.CpuidEntry;

import org.junit.jupiter.api.Test;
import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.abi.Hypercall;
import org.jxen.engine.evtchn.DomainConfig;
import org.jxen.engine.evtchn.GuestDomain;
import org.jxen.engine.memory.GuestMemory;
import org.jxen.engine.memory.GuestRegion;
import org.jxen.engine.platform.XenVersion;
import org.jxen.engine.pvclock.TscScale;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;

/** The CPUID table, the hypercall page and the MSR rules a Xen guest sees. */
class XenCpuTest {
    private static final List<CpuidEntry> HOST = List.of(
            CpuidEntry.of(0, 0xD, 0x756e_6547, 0x6c65_746e, 0x4965_6e69),
            CpuidEntry.of(1, 0x906A3, 0x0A00_0800, 0x7ffa_3203, 0x1f8b_fbff),
            CpuidEntry.sub(0xB, 0, 1, 1, 0x100, 0x55),
            CpuidEntry.sub(0xB, 1, 4, 2, 0x201, 0x55),
            CpuidEntry.of(0x4000_0000, 0x4000_0001, 0x4b4d_564b, 0x564b_4d56, 0x4d), // "KVMKVMKVM"
            CpuidEntry.of(0x4000_0001, 0x0100_07fb, 0, 0, 0),
            CpuidEntry.of(0x8000_0000, 0x8000_0008, 0, 0, 0));

    private final List<CpuidEntry> table = XenCpuid.forVcpu(HOST, 1, 2, 7, 2_445_000, true);

    private int[] cpuid(int fn, int idx) {
        return XenCpuid.lookup(table, fn, idx);
    }

    @Test
    void xenLeavesReplaceKvmsAndCarryIds() {
        assertArrayEquals(new int[] {0x4000_0005, XenCpuid.SIGNATURE_EBX, XenCpuid.SIGNATURE_ECX, XenCpuid.SIGNATURE_EDX},
                cpuid(0x4000_0000, 0));
        byte[] sig = new byte[12];
        int[] l = cpuid(0x4000_0000, 0);
        for (int i = 0; i < 4; i++) {
            sig[i] = (byte) (l[1] >>> (8 * i));
            sig[4 + i] = (byte) (l[2] >>> (8 * i));
            sig[8 + i] = (byte) (l[3] >>> (8 * i));
        }
        assertEquals("XenVMMXenVMM", new String(sig, StandardCharsets.US_ASCII));
        assertEquals((XenVersion.MAJOR << 16) | XenVersion.MINOR, cpuid(0x4000_0001, 0)[0]);
        assertArrayEquals(new int[] {1, 0x4000_0000, 0, 0}, cpuid(0x4000_0002, 0), "one page, MSR 0x40000000");
        int[] hvm = cpuid(0x4000_0004, 0);
        assertEquals(XenCpuid.HVM_VCPU_ID_PRESENT | XenCpuid.HVM_DOMID_PRESENT,
                hvm[0] & (XenCpuid.HVM_VCPU_ID_PRESENT | XenCpuid.HVM_DOMID_PRESENT));
        assertNotEquals(0, hvm[0] & XenCpuid.HVM_UPCALL_VECTOR);
        assertEquals(1, hvm[1], "Xen vCPU id in EBX");
        assertEquals(7, hvm[2], "domid in ECX");
        assertArrayEquals(new int[4], cpuid(0x4000_0005, 0), "PV parameters: none for HVM");
        assertArrayEquals(new int[4], cpuid(0x4000_0100, 0), "nothing at the Viridian-shifted base");
        assertEquals(1, table.stream().filter(e -> e.function() == 0x4000_0000).count(), "KVM's signature is gone");
    }

    @Test
    void tscLeafMatchesThePvclockScale() {
        TscScale s = TscScale.forKhz(2_445_000);
        assertArrayEquals(new int[] {XenCpuid.TSC_HOST_RELIABLE, XenCpuid.TSC_MODE_NEVER_EMULATE, 2_445_000, 0}, cpuid(0x4000_0003, 0));
        assertArrayEquals(new int[] {0, 0, s.mul(), s.shift()}, cpuid(0x4000_0003, 1));
        assertEquals(2_445_000, cpuid(0x4000_0003, 2)[0]);
    }

    @Test
    void standardLeavesGetTheHypervisorBitAndThisVcpusApicId() {
        int[] one = cpuid(1, 0);
        assertEquals(2, one[1] >>> 24, "initial APIC id");
        assertEquals(0x0800, one[1] & 0xFFFF, "the rest of EBX kept");
        assertNotEquals(0, one[2] & XenCpuid.ECX_HYPERVISOR);
        assertEquals(2, cpuid(0xB, 0)[3]);
        assertEquals(2, cpuid(0xB, 1)[3]);
        assertEquals(0x201, cpuid(0xB, 1)[2], "sub-leaves matched by index");
        assertArrayEquals(new int[] {0xD, 0x756e_6547, 0x6c65_746e, 0x4965_6e69}, cpuid(0, 0), "leaf 0 passes through");
    }

    @Test
    void hypercallPageHasAStubPerNumberAndUd2ForIret() {
        GuestRegion page = GuestRegion.of(Arena.ofAuto().allocate(4096, 4096), 0, 4096);
        HypercallPage.write(page);
        for (int n = 0; n < 128; n++) {
            int at = n * 32;
            if (n == Hypercall.IRET) {
                assertEquals((byte) 0x0F, page.getByte(at));
                assertEquals((byte) 0x0B, page.getByte(at + 1));
                continue;
            }
            assertEquals((byte) 0xB8, page.getByte(at));
            assertEquals(n, page.getByte(at + 1) & 0xFF);
            assertEquals((byte) 0xE7, page.getByte(at + 5));
            assertEquals((byte) HypercallPage.PORT, page.getByte(at + 6));
            assertEquals((byte) 0xC3, page.getByte(at + 7));
            for (int i = 8; i < 32; i++) assertEquals((byte) 0xCC, page.getByte(at + i));
        }
    }

    @Test
    void hypercallMsrRules() {
        GuestMemory ram = new GuestMemory(Arena.ofAuto().allocate(1 << 20, 4096));
        GuestDomain guest = new GuestDomain(DomainConfig.of(1));
        XenMsrs msrs = new XenMsrs(ram, guest);
        assertEquals(XenMsrs.DONE, msrs.write(0x4000_0000, 0x3000, false));
        assertEquals((byte) 0xB8, ram.segment().get(ValueLayout.JAVA_BYTE, 0x3000));
        assertEquals(GuestWidth.BITS_32, guest.shared().width(), "latched from a 32-bit writer");
        assertEquals(XenMsrs.DONE, msrs.write(0x4000_0000, 0x4000, true));
        assertEquals(GuestWidth.BITS_64, guest.shared().width());
        assertEquals(XenMsrs.GP, msrs.write(0x4000_0000, 0x4001, true), "page index 1: only one page");
        assertEquals(XenMsrs.GP, msrs.write(0x4000_0000, 1L << 40, true), "frame outside RAM");
        assertEquals(XenMsrs.GP, msrs.read(0x4000_0000), "the hypercall MSR is write-only");
        assertEquals(XenMsrs.GP, msrs.write(0x4000_0200, 0x3000, true), "the Viridian-shifted MSR is not ours");
        assertEquals(XenMsrs.GP, msrs.read(0xC001_0000L));
    }
}
