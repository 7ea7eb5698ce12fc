package org.jxen.vmm.boot;

import java.lang.foreign.MemorySegment;

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

    public static Boot load(byte[] file, GuestMemory ram, GuestLayout layout, String cmdline) throws ImageException {
        ElfImage image = ElfImage.parse(file);
        long entry;
        if (image.pvhEntry().isPresent()) entry = image.pvhEntry().getAsLong();
        else if (image.elfClass() == ElfImage.CLASS_32 && image.machine() == ElfImage.EM_386) entry = image.entry();
        else throw new ImageException("64-bit image without a XEN_ELFNOTE_PHYS32_ENTRY note: not a PVH kernel");
        for (ElfImage.Segment s : image.segments()) {
            if (!ram.contains(s.physAddr(), s.memSize()))
                throw new ImageException(String.format("segment at 0x%x (0x%x bytes) does not fit in %d MiB of RAM",
                        s.physAddr(), s.memSize(), ram.size() >> 20));
            if (layout.overlapsReserved(s.physAddr(), s.end()))
                throw new ImageException(String.format("segment at 0x%x-0x%x overlaps jxen's boot pages", s.physAddr(), s.end()));
        }
        if (!image.segments().stream().anyMatch(s -> entry >= s.physAddr() && entry < s.end()))
            throw new ImageException(String.format("entry point 0x%x is not inside any loaded segment", entry));
        MemorySegment src = MemorySegment.ofArray(file);
        for (ElfImage.Segment s : image.segments()) {
            MemorySegment.copy(src, s.fileOffset(), ram.segment(), s.physAddr(), s.fileSize());
            ram.segment().asSlice(s.physAddr() + s.fileSize(), s.memSize() - s.fileSize()).fill((byte) 0);
        }
        long startInfo = StartInfo.write(ram, layout.startInfoGpa(), cmdline, layout.memoryMap());
        return new Boot(entry, startInfo);
    }
}
