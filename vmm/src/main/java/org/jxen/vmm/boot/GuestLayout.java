package org.jxen.vmm.boot;

import java.util.List;

import org.jxen.engine.memory.GuestMemory;
import org.jxen.engine.platform.E820Entry;

/**
 * Where jxen puts what it gives a guest at boot, and the memory map that tells the guest: the PVH start info page
 * (hvm_start_info, command line, module list, memory map) low in RAM, the ACPI tables in the legacy BIOS window
 * (reserved, as on a PC: below 1 MiB the rest is RAM, which a Linux guest needs for its real-mode trampoline), and the
 * special pages (PV console and XenStore rings) at the top of RAM, marked reserved so the guest never uses them as
 * RAM (as Xen's toolstack keeps them out of the e820).
 */
public record GuestLayout(long ramSize, long startInfoGpa, long acpiGpa, long consoleGfn, long storeGfn, List<E820Entry> memoryMap) {
    /** The start-info page: below the 1 MiB where kernels load, above the real-mode IVT and BDA. */
    public static final long START_INFO_GPA = 0x6000;
    /** The legacy BIOS window [640 KiB, 1 MiB): reserved; the ACPI tables' page is in it. */
    public static final long BIOS_WINDOW_START = 0xA0000, BIOS_WINDOW_END = 0x100000, ACPI_GPA = 0xE0000;
    /** Special pages at the top of RAM: console ring, XenStore ring. */
    public static final int SPECIAL_PAGES = 2;
    /** The least RAM a guest can have: the boot page, the special pages and 1 MiB to load an image at. */
    public static final long MIN_RAM = 2L << 20;

    public static GuestLayout standard(long ramSize) {
        if (ramSize < MIN_RAM || ramSize % GuestMemory.PAGE_SIZE != 0)
            throw new IllegalArgumentException("guest RAM must be a multiple of 4 KiB and at least 2 MiB");
        long special = ramSize - SPECIAL_PAGES * GuestMemory.PAGE_SIZE;
        List<E820Entry> map = List.of(
                new E820Entry(0, BIOS_WINDOW_START, E820Entry.RAM),
                new E820Entry(BIOS_WINDOW_START, BIOS_WINDOW_END - BIOS_WINDOW_START, E820Entry.RESERVED),
                new E820Entry(BIOS_WINDOW_END, special - BIOS_WINDOW_END, E820Entry.RAM),
                new E820Entry(special, SPECIAL_PAGES * GuestMemory.PAGE_SIZE, E820Entry.RESERVED));
        long firstSpecialGfn = special >>> GuestMemory.PAGE_SHIFT;
        return new GuestLayout(ramSize, START_INFO_GPA, ACPI_GPA, firstSpecialGfn, firstSpecialGfn + 1, map);
    }

    /** The end of usable RAM: where the special pages begin. */
    public long ramEnd() {
        return consoleGfn << GuestMemory.PAGE_SHIFT;
    }

    /** Whether {@code [start, end)} overlaps something jxen placed (an image must not load over it). */
    public boolean overlapsReserved(long start, long end) {
        return overlaps(start, end, startInfoGpa, startInfoGpa + GuestMemory.PAGE_SIZE) || overlaps(start, end, BIOS_WINDOW_START, BIOS_WINDOW_END)
                || overlaps(start, end, ramEnd(), ramSize);
    }

    private static boolean overlaps(long s1, long e1, long s2, long e2) {
        return s1 < e2 && s2 < e1;
    }
}
