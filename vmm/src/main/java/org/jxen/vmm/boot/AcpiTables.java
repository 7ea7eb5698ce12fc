package org.jxen.vmm.boot;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;

import org.jxen.engine.memory.GuestMemory;

/**
 * The ACPI tables a PVH domU gets, after Xen's toolstack (tools/libacpi, built by libxl for PVH): an RSDP (ACPI 2.0,
 * its address in {@code hvm_start_info.rsdp_paddr}), an XSDT, a hardware-reduced FADT that says there is no VGA and
 * no CMOS RTC and has sleep control/status and reset registers (jxen's, see {@link #SLEEP_CONTROL_PORT}), a DSDT with
 * only {@code \_S5}, and a MADT with one enabled local APIC per vCPU and no IOAPIC. Linux needs the MADT to
 * know its CPUs: without one it disables SMP and never sets up its per-CPU clock event, so the Xen timer is never
 * armed ({@code arch/x86/kernel/apic/apic.c: __apic_intr_mode_select}, {@code smpboot.c: native_smp_prepare_cpus}).
 * Field offsets follow the ACPI 6.0 specification, chapter 5.2.
 */
public final class AcpiTables {
    static final int RSDP_SIZE = 36, HEADER_SIZE = 36, FADT_SIZE = 276, MADT_LAPIC_SIZE = 8;
    /** FADT flags: HW_REDUCED_ACPI; IAPC_BOOT_ARCH: VGA not present, CMOS RTC not present. */
    static final int FADT_HW_REDUCED_ACPI = 1 << 20, BOOT_ARCH_NO_VGA = 1 << 2, BOOT_ARCH_NO_CMOS_RTC = 1 << 5;
    static final long LAPIC_ADDRESS = 0xFEE0_0000L;
    /**
     * The hardware-reduced sleep control, sleep status and reset registers (one byte each, I/O space): how the guest
     * powers off (S5: SLP_TYP 5 with SLP_EN) and resets. A PVH domU has no other way: Linux's Xen HVM/PVH code has no
     * power-off hypercall path, it goes through ACPI ({@code arch/x86/kernel/reboot.c: native_machine_power_off}).
     */
    public static final int SLEEP_CONTROL_PORT = 0xB004, SLEEP_STATUS_PORT = 0xB005, RESET_PORT = 0xB006;
    public static final int RESET_VALUE = 1, SLEEP_TYPE_S5 = 5;
    static final int FADT_RESET_REG_SUP = 1 << 10;
    /** The DSDT's only object: {@code Name (\_S5, Package (4) {5, 5, 0, 0})}, S5's sleep type for the sleep control register. */
    private static final byte[] DSDT_S5 = {0x08, 0x5C, 0x5F, 0x53, 0x35, 0x5F, 0x12, 0x08, 0x04, 0x0A, SLEEP_TYPE_S5, 0x0A, SLEEP_TYPE_S5, 0x00, 0x00};
    /** Where each table goes in the page. */
    static final int RSDP_AT = 0, XSDT_AT = 0x40, FADT_AT = 0x80, DSDT_AT = 0x200, MADT_AT = 0x240;
    /** The most vCPUs whose MADT fits the page. */
    public static final int MAX_VCPUS = (int) ((GuestMemory.PAGE_SIZE - MADT_AT - HEADER_SIZE - 8) / MADT_LAPIC_SIZE);

    private AcpiTables() {}

    /**
     * Writes the tables into the page at {@code gpa} for {@code vcpus} vCPUs whose APIC ids {@code apicIds} gives;
     * returns the RSDP's address.
     */
    public static long write(GuestMemory ram, long gpa, int[] apicIds) {
        if (apicIds.length < 1 || apicIds.length > MAX_VCPUS) throw new IllegalArgumentException("ACPI tables for " + apicIds.length + " vCPUs");
        MemorySegment page = ram.region(gpa, GuestMemory.PAGE_SIZE).orElseThrow(() -> new IllegalArgumentException("ACPI page outside RAM")).asSegment();
        page.fill((byte) 0);

        int madtLength = HEADER_SIZE + 8 + apicIds.length * MADT_LAPIC_SIZE;
        header(page, MADT_AT, "APIC", madtLength, 4);
        page.set(ValueLayout.JAVA_INT_UNALIGNED, MADT_AT + 36, (int) LAPIC_ADDRESS);
        page.set(ValueLayout.JAVA_INT_UNALIGNED, MADT_AT + 40, 0); // no PCAT_COMPAT: there is no 8259 for the guest
        for (int i = 0; i < apicIds.length; i++) {
            int e = MADT_AT + HEADER_SIZE + 8 + i * MADT_LAPIC_SIZE;
            page.set(ValueLayout.JAVA_BYTE, e, (byte) 0); // Processor Local APIC
            page.set(ValueLayout.JAVA_BYTE, e + 1, (byte) MADT_LAPIC_SIZE);
            page.set(ValueLayout.JAVA_BYTE, e + 2, (byte) i); // ACPI processor UID: Linux takes it as the Xen vCPU id
            page.set(ValueLayout.JAVA_BYTE, e + 3, (byte) apicIds[i]);
            page.set(ValueLayout.JAVA_INT_UNALIGNED, e + 4, 1); // enabled
        }
        checksum(page, MADT_AT, madtLength, 9);

        header(page, DSDT_AT, "DSDT", HEADER_SIZE + DSDT_S5.length, 2);
        MemorySegment.copy(MemorySegment.ofArray(DSDT_S5), 0, page, DSDT_AT + HEADER_SIZE, DSDT_S5.length);
        checksum(page, DSDT_AT, HEADER_SIZE + DSDT_S5.length, 9);

        header(page, FADT_AT, "FACP", FADT_SIZE, 6);
        page.set(ValueLayout.JAVA_SHORT_UNALIGNED, FADT_AT + 109, (short) (BOOT_ARCH_NO_VGA | BOOT_ARCH_NO_CMOS_RTC));
        page.set(ValueLayout.JAVA_INT_UNALIGNED, FADT_AT + 112, FADT_HW_REDUCED_ACPI | FADT_RESET_REG_SUP);
        ioRegister(page, FADT_AT + 116, RESET_PORT); // RESET_REG
        page.set(ValueLayout.JAVA_BYTE, FADT_AT + 128, (byte) RESET_VALUE);
        ioRegister(page, FADT_AT + 244, SLEEP_CONTROL_PORT); // SLEEP_CONTROL_REG
        ioRegister(page, FADT_AT + 256, SLEEP_STATUS_PORT); // SLEEP_STATUS_REG
        page.set(ValueLayout.JAVA_LONG_UNALIGNED, FADT_AT + 140, gpa + DSDT_AT); // X_DSDT
        checksum(page, FADT_AT, FADT_SIZE, 9);

        int xsdtLength = HEADER_SIZE + 2 * 8;
        header(page, XSDT_AT, "XSDT", xsdtLength, 1);
        page.set(ValueLayout.JAVA_LONG_UNALIGNED, XSDT_AT + HEADER_SIZE, gpa + FADT_AT);
        page.set(ValueLayout.JAVA_LONG_UNALIGNED, XSDT_AT + HEADER_SIZE + 8, gpa + MADT_AT);
        checksum(page, XSDT_AT, xsdtLength, 9);

        ascii(page, RSDP_AT, "RSD PTR ");
        ascii(page, RSDP_AT + 9, "JXEN  ");
        page.set(ValueLayout.JAVA_BYTE, RSDP_AT + 15, (byte) 2); // ACPI 2.0+: the XSDT is used
        page.set(ValueLayout.JAVA_INT_UNALIGNED, RSDP_AT + 20, RSDP_SIZE);
        page.set(ValueLayout.JAVA_LONG_UNALIGNED, RSDP_AT + 24, gpa + XSDT_AT);
        checksum(page, RSDP_AT, 20, 8); // the ACPI 1.0 part
        checksum(page, RSDP_AT, RSDP_SIZE, 32); // the whole structure
        return gpa + RSDP_AT;
    }

    /** A system description table header: signature, length, revision, OEM and creator ids (checksum after the body). */
    private static void header(MemorySegment page, int at, String signature, int length, int revision) {
        ascii(page, at, signature);
        page.set(ValueLayout.JAVA_INT_UNALIGNED, at + 4, length);
        page.set(ValueLayout.JAVA_BYTE, at + 8, (byte) revision);
        ascii(page, at + 10, "JXEN  ");
        ascii(page, at + 16, "JXENPVH ");
        page.set(ValueLayout.JAVA_INT_UNALIGNED, at + 24, 1);
        ascii(page, at + 28, "JXEN");
        page.set(ValueLayout.JAVA_INT_UNALIGNED, at + 32, 1);
    }

    /** A Generic Address Structure for a one-byte register at I/O port {@code port}. */
    private static void ioRegister(MemorySegment page, int at, int port) {
        page.set(ValueLayout.JAVA_BYTE, at, (byte) 1); // SystemIO
        page.set(ValueLayout.JAVA_BYTE, at + 1, (byte) 8); // bit width
        page.set(ValueLayout.JAVA_BYTE, at + 2, (byte) 0); // bit offset
        page.set(ValueLayout.JAVA_BYTE, at + 3, (byte) 1); // byte access
        page.set(ValueLayout.JAVA_LONG_UNALIGNED, at + 4, port);
    }

    /** Sets the byte at {@code at + field} so that the {@code length} bytes from {@code at} sum to zero. */
    private static void checksum(MemorySegment page, int at, int length, int field) {
        page.set(ValueLayout.JAVA_BYTE, at + field, (byte) 0);
        int sum = 0;
        for (int i = 0; i < length; i++) sum += page.get(ValueLayout.JAVA_BYTE, at + i);
        page.set(ValueLayout.JAVA_BYTE, at + field, (byte) -sum);
    }

    private static void ascii(MemorySegment page, int at, String s) {
        byte[] b = s.getBytes(StandardCharsets.US_ASCII);
        MemorySegment.copy(MemorySegment.ofArray(b), 0, page, at, b.length);
    }
}
