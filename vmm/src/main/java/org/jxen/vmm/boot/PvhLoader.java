package org.jxen.vmm.boot;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

import org.jxen.engine.memory.GuestMemory;

/**
 * Loads an ELF image for the PVH boot ABI: every PT_LOAD segment copied to its physical address with its BSS zeroed,
 * the start info written, and the state vCPU 0 starts in (32-bit protected mode, paging off, flat segments, EIP at
 * the PHYS32_ENTRY note, EBX at the start info). An image without the note can still boot if it is an EM_386 ELF32
 * file (its e_entry, same state); a 64-bit image needs the note, since its e_entry is a long-mode virtual address.
 */
public final class PvhLoader {
    /** Where vCPU 0 starts: the PVH entry state's two variable registers. */
    public record Boot(long entryEip, long startInfoEbx) {}

    private PvhLoader() {}

    /** An image with no initrd and no ACPI tables (guests that bring their vCPUs up with VCPUOP_initialise). */
    public static Boot load(byte[] file, GuestMemory ram, GuestLayout layout, String cmdline) throws ImageException {
        return load(file, null, ram, layout, cmdline, null);
    }

    /**
     * Loads {@code file} (a PVH ELF image; a bzImage is unpacked first, see {@link KernelImage}), the initrd if given
     * (at the top of RAM below 1 GiB, page-aligned, as module 0), and ACPI tables for vCPUs with {@code apicIds} if
     * given, and writes the start info.
     */
    public static Boot load(byte[] file, byte[] initrd, GuestMemory ram, GuestLayout layout, String cmdline, int[] apicIds) throws ImageException {
        return load(MemorySegment.ofArray(KernelImage.elfOf(file)), initrd, ram, layout, cmdline, apicIds);
    }

    /** As above, from an ELF image already unpacked ({@link KernelCache#open}: a mapped file, no copy on the heap). */
    public static Boot load(MemorySegment elf, byte[] initrd, GuestMemory ram, GuestLayout layout, String cmdline, int[] apicIds) throws ImageException {
        ElfImage image = ElfImage.parse(elf);
        long entry;
        if (image.pvhEntry().isPresent()) entry = image.pvhEntry().getAsLong();
        else if (image.elfClass() == ElfImage.CLASS_32 && image.machine() == ElfImage.EM_386) entry = image.entry();
        else throw new ImageException("64-bit image without a XEN_ELFNOTE_PHYS32_ENTRY note: not a PVH kernel");
        long imageEnd = 0;
        for (ElfImage.Segment s : image.segments()) {
            if (!ram.contains(s.physAddr(), s.memSize()))
                throw new ImageException(String.format("segment at 0x%x (0x%x bytes) does not fit in %d MiB of RAM",
                        s.physAddr(), s.memSize(), ram.size() >> 20));
            if (layout.overlapsReserved(s.physAddr(), s.end()))
                throw new ImageException(String.format("segment at 0x%x-0x%x overlaps jxen's boot pages", s.physAddr(), s.end()));
            imageEnd = Math.max(imageEnd, s.end());
        }
        if (!image.segments().stream().anyMatch(s -> entry >= s.physAddr() && entry < s.end()))
            throw new ImageException(String.format("entry point 0x%x is not inside any loaded segment", entry));
        for (ElfImage.Segment s : image.segments()) {
            MemorySegment.copy(elf, s.fileOffset(), ram.segment(), s.physAddr(), s.fileSize());
            ram.segment().asSlice(s.physAddr() + s.fileSize(), s.memSize() - s.fileSize()).fill((byte) 0);
        }
        List<StartInfo.Module> modules = new ArrayList<>();
        if (initrd != null) {
            long top = Math.min(layout.ramEnd(), INITRD_CEILING);
            long at = (top - initrd.length) & ~(GuestMemory.PAGE_SIZE - 1);
            if (at < Math.max(imageEnd, GuestLayout.BIOS_WINDOW_END))
                throw new ImageException(String.format("the initrd (%d KiB) does not fit between the kernel and the top of %d MiB of RAM",
                        initrd.length >> 10, ram.size() >> 20));
            MemorySegment.copy(MemorySegment.ofArray(initrd), 0, ram.segment(), at, initrd.length);
            modules.add(new StartInfo.Module(at, initrd.length));
        }
        long rsdp = apicIds == null ? 0 : AcpiTables.write(ram, layout.acpiGpa(), apicIds);
        long startInfo = StartInfo.write(ram, layout.startInfoGpa(), cmdline, layout.memoryMap(), rsdp, modules);
        return new Boot(entry, startInfo);
    }

    /** Modules stay below 1 GiB (what Linux's PVH entry can reach before it maps more). */
    static final long INITRD_CEILING = 1L << 30;
}
