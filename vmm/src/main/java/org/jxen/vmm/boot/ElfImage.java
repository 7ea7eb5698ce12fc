package org.jxen.vmm.boot;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;

/**
 * A guest kernel image: an ELF file of either class for x86 (EM_386 or EM_X86_64; a 64-bit kernel may ship as an
 * ELF32 file with machine x86-64), its PT_LOAD segments at their physical addresses, and the Xen ELF notes the PVH
 * boot ABI reads ({@code public/elfnote.h}). Every offset and size is checked against the file; a malformed image is
 * an {@link ImageException} with a one-line reason, never an exception from a buffer.
 */
public record ElfImage(int elfClass, int machine, long entry, List<Segment> segments, OptionalLong pvhEntry, String guestOs,
        boolean hypercallPageNote) {
    public static final int CLASS_32 = 1, CLASS_64 = 2;
    public static final int EM_386 = 3, EM_X86_64 = 62;
    private static final int PT_LOAD = 1, PT_NOTE = 4;
    /** XEN_ELFNOTE_PHYS32_ENTRY: the 32-bit physical entry point of the PVH boot ABI. */
    public static final int XEN_ELFNOTE_PHYS32_ENTRY = 18;
    /** XEN_ELFNOTE_HYPERCALL_PAGE (where the kernel wants the page) and XEN_ELFNOTE_GUEST_OS ("linux"). */
    public static final int XEN_ELFNOTE_HYPERCALL_PAGE = 2, XEN_ELFNOTE_GUEST_OS = 6;

    /** One PT_LOAD segment: {@code fileSize} bytes from the file, then zeros up to {@code memSize} (the BSS). */
    public record Segment(long physAddr, long fileOffset, long fileSize, long memSize) {
        public long end() {
            return physAddr + memSize;
        }
    }

    public static ElfImage parse(byte[] file) throws ImageException {
        return parse(MemorySegment.ofArray(file));
    }

    /** The headers and notes of the ELF image in {@code file} (a heap array or a mapped file; read, never kept). */
    public static ElfImage parse(MemorySegment file) throws ImageException {
        if (file.byteSize() > Integer.MAX_VALUE) throw new ImageException("ELF file of " + file.byteSize() + " bytes: too large");
        ByteBuffer b = file.asByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
        int length = b.capacity();
        if (length < 52 || b.get(0) != 0x7F || b.get(1) != 'E' || b.get(2) != 'L' || b.get(3) != 'F')
            throw new ImageException("not an ELF file");
        int elfClass = b.get(4);
        if (elfClass != CLASS_32 && elfClass != CLASS_64) throw new ImageException("unknown ELF class " + elfClass);
        if (b.get(5) != 1) throw new ImageException("not a little-endian ELF file");
        boolean is64 = elfClass == CLASS_64;
        if (is64 && length < 64) throw new ImageException("ELF header truncated");
        int machine = Short.toUnsignedInt(b.getShort(18));
        if (machine != EM_386 && machine != EM_X86_64)
            throw new ImageException("ELF machine " + machine + " is not x86 (EM_386 or EM_X86_64)");
        long entry = is64 ? b.getLong(24) : Integer.toUnsignedLong(b.getInt(24));
        long phoff = is64 ? b.getLong(32) : Integer.toUnsignedLong(b.getInt(28));
        int phentsize = Short.toUnsignedInt(b.getShort(is64 ? 54 : 42));
        int phnum = Short.toUnsignedInt(b.getShort(is64 ? 56 : 44));
        int minEntry = is64 ? 56 : 32;
        if (phnum == 0) throw new ImageException("ELF file has no program headers");
        if (phentsize < minEntry) throw new ImageException("ELF program header size " + phentsize + " too small");
        if (!fits(phoff, (long) phentsize * phnum, length)) throw new ImageException("ELF program headers beyond the end of the file");

        List<Segment> segments = new ArrayList<>();
        Notes notes = new Notes();
        for (int i = 0; i < phnum; i++) {
            int at = (int) (phoff + (long) i * phentsize);
            int type = b.getInt(at);
            long offset, paddr, filesz, memsz;
            if (is64) {
                offset = b.getLong(at + 8);
                paddr = b.getLong(at + 24);
                filesz = b.getLong(at + 32);
                memsz = b.getLong(at + 40);
            } else {
                offset = Integer.toUnsignedLong(b.getInt(at + 4));
                paddr = Integer.toUnsignedLong(b.getInt(at + 12));
                filesz = Integer.toUnsignedLong(b.getInt(at + 16));
                memsz = Integer.toUnsignedLong(b.getInt(at + 20));
            }
            if (type != PT_LOAD && type != PT_NOTE) continue;
            if (!fits(offset, filesz, length)) throw new ImageException("segment " + i + " extends beyond the end of the file");
            if (type == PT_LOAD) {
                if (memsz < filesz) throw new ImageException("segment " + i + " has memsz < filesz");
                if (paddr < 0 || memsz < 0 || paddr + memsz < paddr) throw new ImageException("segment " + i + " wraps the address space");
                if (memsz > 0) segments.add(new Segment(paddr, offset, filesz, memsz));
            } else {
                scanNotes(b, (int) offset, (int) filesz, i, notes);
            }
        }
        if (segments.isEmpty()) throw new ImageException("ELF file has no loadable segment");
        return new ElfImage(elfClass, machine, entry, List.copyOf(segments), notes.pvh, notes.guestOs, notes.hypercallPage);
    }

    /**
     * A Linux built after the XSA-466 fix (6.12, and the stable 6.1/6.6 since December 2024) has no hypercall page:
     * it calls Xen by VMCALL/VMMCALL, which reach jxen only through KVM's Xen support. Older Linux and jxen's own
     * guests use the page.
     */
    public boolean callsXenByVmcall() {
        return "linux".equals(guestOs) && !hypercallPageNote;
    }

    /** The Xen notes found so far. */
    private static final class Notes {
        OptionalLong pvh = OptionalLong.empty();
        String guestOs = "";
        boolean hypercallPage;
    }

    /** Scans one PT_NOTE segment for the Xen notes: PHYS32_ENTRY (its descriptor may be 1, 2, 4 or 8 bytes), GUEST_OS, HYPERCALL_PAGE. */
    private static void scanNotes(ByteBuffer b, int start, int size, int segment, Notes notes) throws ImageException {
        int at = start;
        int end = start + size;
        while (end - at >= 12) {
            long namesz = Integer.toUnsignedLong(b.getInt(at));
            long descsz = Integer.toUnsignedLong(b.getInt(at + 4));
            int type = b.getInt(at + 8);
            long nameAt = at + 12L;
            long descAt = nameAt + align4(namesz);
            long next = descAt + align4(descsz);
            if (next > end) throw new ImageException("ELF note in segment " + segment + " extends beyond its segment");
            boolean xen = namesz == 4 && b.get((int) nameAt) == 'X' && b.get((int) nameAt + 1) == 'e' && b.get((int) nameAt + 2) == 'n'
                    && b.get((int) nameAt + 3) == 0;
            if (xen && type == XEN_ELFNOTE_PHYS32_ENTRY) {
                long value = switch ((int) descsz) {
                    case 1 -> Byte.toUnsignedLong(b.get((int) descAt));
                    case 2 -> Short.toUnsignedLong(b.getShort((int) descAt));
                    case 4 -> Integer.toUnsignedLong(b.getInt((int) descAt));
                    case 8 -> b.getLong((int) descAt);
                    default -> throw new ImageException("Xen PHYS32_ENTRY note has a " + descsz + "-byte descriptor");
                };
                if (value > 0xFFFF_FFFFL || value < 0) throw new ImageException("PVH entry point 0x" + Long.toHexString(value) + " is above 4 GiB");
                notes.pvh = OptionalLong.of(value);
            }
            if (xen && type == XEN_ELFNOTE_HYPERCALL_PAGE) notes.hypercallPage = true;
            if (xen && type == XEN_ELFNOTE_GUEST_OS && descsz < 64) {
                StringBuilder os = new StringBuilder();
                for (int i = 0; i < descsz && b.get((int) descAt + i) != 0; i++) os.append((char) (b.get((int) descAt + i) & 0x7F));
                notes.guestOs = os.toString();
            }
            at = (int) next;
        }
    }

    private static long align4(long n) {
        return (n + 3) & ~3L;
    }

    private static boolean fits(long offset, long length, long total) {
        return offset >= 0 && length >= 0 && offset <= total && length <= total - offset;
    }

    /** The highest physical address any segment reaches. */
    public long end() {
        return segments.stream().mapToLong(Segment::end).max().orElse(0);
    }
}
