package org.jxen.vmm.boot;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.List;

import org.jxen.engine.memory.GuestMemory;
import org.jxen.engine.platform.E820Entry;

/**
 * The PVH boot ABI's {@code struct hvm_start_info}, version 1 ({@code public/arch-x86/hvm/start_info.h}), written into
 * one guest page with the command line, the memory map ({@code struct hvm_memmap_table_entry}) and the module list
 * ({@code struct hvm_modlist_entry}: the initrd) after it; the ACPI RSDP's address if there are tables.
 */
public final class StartInfo {
    public static final int MAGIC = 0x336e_c578;
    public static final int VERSION = 1;
    /** sizeof(struct hvm_start_info) for version 1. */
    public static final int SIZE = 56;
    /** Field offsets (start_info.h). */
    public static final int MAGIC_OFF = 0, VERSION_OFF = 4, FLAGS_OFF = 8, NR_MODULES_OFF = 12, MODLIST_OFF = 16,
            CMDLINE_OFF = 24, RSDP_OFF = 32, MEMMAP_OFF = 40, MEMMAP_ENTRIES_OFF = 48;
    /** sizeof(struct hvm_memmap_table_entry): addr, size, type, reserved. */
    public static final int MEMMAP_ENTRY_SIZE = 24;
    /** sizeof(struct hvm_modlist_entry): paddr, size, cmdline_paddr, reserved. */
    public static final int MODLIST_ENTRY_SIZE = 32;
    /** Where in the page the command line, the memory map and the module list go. */
    static final int CMDLINE_AT = 0x100, MEMMAP_AT = 0x900, MODLIST_AT = 0xF00;
    /** The longest command line, its NUL included. */
    public static final int MAX_CMDLINE = MEMMAP_AT - CMDLINE_AT;

    private StartInfo() {}

    /** A module for the guest (the initrd): where it was loaded in guest RAM and its size in bytes. */
    public record Module(long paddr, long size) {}

    /** Writes the start info at {@code gpa} (a page of RAM); returns {@code gpa}, what EBX carries to the entry point. */
    public static long write(GuestMemory ram, long gpa, String cmdline, List<E820Entry> memoryMap) throws ImageException {
        return write(ram, gpa, cmdline, memoryMap, 0, List.of());
    }

    /** As above, with the RSDP's address (0: no ACPI tables) and the modules (at most one page's worth). */
    public static long write(GuestMemory ram, long gpa, String cmdline, List<E820Entry> memoryMap, long rsdp, List<Module> modules) throws ImageException {
        byte[] cmd = cmdline.getBytes(StandardCharsets.UTF_8);
        if (cmd.length + 1 > MAX_CMDLINE) throw new ImageException("command line longer than " + (MAX_CMDLINE - 1) + " bytes");
        if (MEMMAP_AT + (long) memoryMap.size() * MEMMAP_ENTRY_SIZE > MODLIST_AT
                || MODLIST_AT + (long) modules.size() * MODLIST_ENTRY_SIZE > GuestMemory.PAGE_SIZE)
            throw new IllegalArgumentException("memory map does not fit the start info page");
        MemorySegment page = ram.region(gpa, GuestMemory.PAGE_SIZE).orElseThrow(() -> new IllegalArgumentException("start info outside RAM")).asSegment();
        page.fill((byte) 0);
        page.set(ValueLayout.JAVA_INT_UNALIGNED, MAGIC_OFF, MAGIC);
        page.set(ValueLayout.JAVA_INT_UNALIGNED, VERSION_OFF, VERSION);
        page.set(ValueLayout.JAVA_INT_UNALIGNED, FLAGS_OFF, 0); // a domU: no SIF_PRIVILEGED, no SIF_INITDOMAIN
        page.set(ValueLayout.JAVA_INT_UNALIGNED, NR_MODULES_OFF, modules.size());
        if (!modules.isEmpty()) page.set(ValueLayout.JAVA_LONG_UNALIGNED, MODLIST_OFF, gpa + MODLIST_AT);
        for (int i = 0; i < modules.size(); i++) {
            long at = MODLIST_AT + (long) i * MODLIST_ENTRY_SIZE;
            page.set(ValueLayout.JAVA_LONG_UNALIGNED, at, modules.get(i).paddr());
            page.set(ValueLayout.JAVA_LONG_UNALIGNED, at + 8, modules.get(i).size());
        }
        page.set(ValueLayout.JAVA_LONG_UNALIGNED, RSDP_OFF, rsdp);
        page.set(ValueLayout.JAVA_LONG_UNALIGNED, CMDLINE_OFF, gpa + CMDLINE_AT);
        MemorySegment.copy(MemorySegment.ofArray(cmd), 0, page, CMDLINE_AT, cmd.length);
        page.set(ValueLayout.JAVA_LONG_UNALIGNED, MEMMAP_OFF, gpa + MEMMAP_AT);
        page.set(ValueLayout.JAVA_INT_UNALIGNED, MEMMAP_ENTRIES_OFF, memoryMap.size());
        for (int i = 0; i < memoryMap.size(); i++) {
            E820Entry e = memoryMap.get(i);
            long at = MEMMAP_AT + (long) i * MEMMAP_ENTRY_SIZE;
            page.set(ValueLayout.JAVA_LONG_UNALIGNED, at, e.addr());
            page.set(ValueLayout.JAVA_LONG_UNALIGNED, at + 8, e.size());
            page.set(ValueLayout.JAVA_INT_UNALIGNED, at + 16, e.type()); // XEN_HVM_MEMMAP_TYPE_* are the e820 types
        }
        return gpa;
    }
}
