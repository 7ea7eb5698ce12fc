package org.jxen.vmm.boot;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;

import org.jxen.engine.memory.GuestMemory;
import org.junit.jupiter.api.Test;

/** The tables as an ACPI parser walks them: RSDP → XSDT → FADT (→ DSDT) and MADT, every checksum zero. */
class AcpiTablesTest {
    private final GuestMemory ram = new GuestMemory(Arena.ofAuto().allocate(2L << 20, 4096));
    private final MemorySegment m = ram.segment();

    @Test
    void rsdpLeadsToAHardwareReducedFadtAndAMadtWithEveryVcpu() {
        int[] apicIds = {0, 1, 2, 5};
        long rsdp = AcpiTables.write(ram, GuestLayout.ACPI_GPA, apicIds);
        assertEquals("RSD PTR ", ascii(rsdp, 8));
        assertEquals(0, sum(rsdp, 20), "RSDP v1 checksum");
        assertEquals(0, sum(rsdp, 36), "RSDP extended checksum");
        assertEquals(2, m.get(ValueLayout.JAVA_BYTE, rsdp + 15), "revision 2: use the XSDT");
        long xsdt = m.get(ValueLayout.JAVA_LONG_UNALIGNED, rsdp + 24);
        assertTable(xsdt, "XSDT");
        int entries = (length(xsdt) - 36) / 8;
        assertEquals(2, entries);
        long fadt = m.get(ValueLayout.JAVA_LONG_UNALIGNED, xsdt + 36), madt = m.get(ValueLayout.JAVA_LONG_UNALIGNED, xsdt + 44);
        assertTable(fadt, "FACP");
        assertEquals(276, length(fadt));
        assertEquals(1 << 20, m.get(ValueLayout.JAVA_INT_UNALIGNED, fadt + 112) & (1 << 20), "HW_REDUCED_ACPI");
        assertEquals((1 << 2) | (1 << 5), m.get(ValueLayout.JAVA_SHORT_UNALIGNED, fadt + 109), "no VGA, no CMOS RTC");
        long dsdt = m.get(ValueLayout.JAVA_LONG_UNALIGNED, fadt + 140);
        assertTable(dsdt, "DSDT");
        assertEquals("\\_S5_", ascii(dsdt + 37, 5), "the DSDT names \\_S5");
        assertEquals(AcpiTables.SLEEP_CONTROL_PORT, m.get(ValueLayout.JAVA_LONG_UNALIGNED, fadt + 244 + 4), "SLEEP_CONTROL_REG");
        assertEquals(1, m.get(ValueLayout.JAVA_BYTE, fadt + 244), "in I/O space");
        assertEquals(AcpiTables.SLEEP_STATUS_PORT, m.get(ValueLayout.JAVA_LONG_UNALIGNED, fadt + 256 + 4), "SLEEP_STATUS_REG");
        assertEquals(AcpiTables.RESET_PORT, m.get(ValueLayout.JAVA_LONG_UNALIGNED, fadt + 116 + 4), "RESET_REG");
        assertEquals(1 << 10, m.get(ValueLayout.JAVA_INT_UNALIGNED, fadt + 112) & (1 << 10), "RESET_REG_SUP");
        assertTable(madt, "APIC");
        assertEquals(0xFEE0_0000, m.get(ValueLayout.JAVA_INT_UNALIGNED, madt + 36));
        assertEquals(44 + 8 * apicIds.length, length(madt));
        for (int i = 0; i < apicIds.length; i++) {
            long e = madt + 44 + 8L * i;
            assertEquals(0, m.get(ValueLayout.JAVA_BYTE, e), "a Processor Local APIC entry");
            assertEquals(8, m.get(ValueLayout.JAVA_BYTE, e + 1));
            assertEquals(i, m.get(ValueLayout.JAVA_BYTE, e + 2), "ACPI UID = Xen vCPU id");
            assertEquals(apicIds[i], m.get(ValueLayout.JAVA_BYTE, e + 3));
            assertEquals(1, m.get(ValueLayout.JAVA_INT_UNALIGNED, e + 4), "enabled");
        }
    }

    @Test
    void tooManyVcpusForThePageAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> AcpiTables.write(ram, GuestLayout.ACPI_GPA, new int[AcpiTables.MAX_VCPUS + 1]));
        AcpiTables.write(ram, GuestLayout.ACPI_GPA, new int[AcpiTables.MAX_VCPUS]);
    }

    private void assertTable(long at, String signature) {
        assertEquals(signature, ascii(at, 4));
        assertEquals(0, sum(at, length(at)), signature + " checksum");
    }

    private int length(long at) {
        return m.get(ValueLayout.JAVA_INT_UNALIGNED, at + 4);
    }

    private int sum(long at, int length) {
        int s = 0;
        for (int i = 0; i < length; i++) s += m.get(ValueLayout.JAVA_BYTE, at + i);
        return s & 0xFF;
    }

    private String ascii(long at, int n) {
        byte[] b = new byte[n];
        MemorySegment.copy(m, ValueLayout.JAVA_BYTE, at, b, 0, n);
        return new String(b, StandardCharsets.US_ASCII);
    }
}
