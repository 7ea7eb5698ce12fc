package org.jxen.vmm.boot;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.zip.GZIPInputStream;

import org.tukaani.xz.XZInputStream;

import io.airlift.compress.MalformedInputException;
import io.airlift.compress.lz4.Lz4Decompressor;

/**
 * What distributions ship as a kernel, down to the ELF the PVH loader reads: an ELF file as it is, or an x86 bzImage
 * ({@code Documentation/arch/x86/boot.rst}: "HdrS" at 0x202, protocol 2.08+ for payload_offset/payload_length) whose
 * payload is the compressed vmlinux. gzip (java.util.zip), xz (XZ for Java), lz4 (aircompressor's pure-Java decoder)
 * and zstd ({@link Zstd}: aircompressor's decoder refuses the kernel's 128 MiB window) are unpacked. The kernel build appends the uncompressed size as 4 little-endian bytes to every payload
 * ({@code arch/x86/boot/compressed/Makefile: size_append}); gzip carries it as its own trailer, the others do not know
 * it and get the payload without it.
 */
public final class KernelImage {
    /** The decompressed kernel may be at most this big: a bzImage says it, a hostile one must not make jxen allocate more. */
    static final int MAX_KERNEL = 1 << 30;
    private static final int HEADER_MAGIC_AT = 0x202, SETUP_SECTS_AT = 0x1F1, VERSION_AT = 0x206, PAYLOAD_OFFSET_AT = 0x248,
            PAYLOAD_LENGTH_AT = 0x24C;
    private static final int HDRS = 0x5372_6448; // "HdrS"

    private KernelImage() {}

    /** {@code file} if it is an ELF image, the decompressed payload if it is a bzImage; ImageException otherwise. */
    public static byte[] elfOf(byte[] file) throws ImageException {
        if (isElf(file, 0)) return file;
        ByteBuffer b = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN);
        if (file.length < PAYLOAD_LENGTH_AT + 4 || b.getInt(HEADER_MAGIC_AT) != HDRS)
            throw new ImageException("neither an ELF image nor a bzImage (no \"HdrS\" boot header)");
        int version = Short.toUnsignedInt(b.getShort(VERSION_AT));
        if (version < 0x208) throw new ImageException(String.format("bzImage boot protocol %d.%02d: before 2.08 the payload cannot be found", version >> 8, version & 0xFF));
        int setupSects = Byte.toUnsignedInt(file[SETUP_SECTS_AT]);
        if (setupSects == 0) setupSects = 4;
        long start = (setupSects + 1L) * 512 + Integer.toUnsignedLong(b.getInt(PAYLOAD_OFFSET_AT));
        long length = Integer.toUnsignedLong(b.getInt(PAYLOAD_LENGTH_AT));
        if (length < 8 || start + length > file.length) throw new ImageException("bzImage payload lies outside the file");
        byte[] payload = Arrays.copyOfRange(file, (int) start, (int) (start + length));
        long size = Integer.toUnsignedLong(ByteBuffer.wrap(payload, payload.length - 4, 4).order(ByteOrder.LITTLE_ENDIAN).getInt());
        if (size == 0 || size > MAX_KERNEL) throw new ImageException("bzImage payload claims " + size + " bytes uncompressed");
        byte[] elf = decompress(payload, (int) size);
        if (!isElf(elf, 0)) throw new ImageException("the bzImage payload is not an ELF vmlinux");
        return elf;
    }

    private static byte[] decompress(byte[] payload, int size) throws ImageException {
        byte[] body = Arrays.copyOf(payload, payload.length - 4); // without the appended size
        try {
            if (starts(payload, 0x1F, 0x8B)) return exactly(new GZIPInputStream(new ByteArrayInputStream(payload)), size, "gzip");
            if (starts(payload, 0xFD, '7', 'z', 'X', 'Z', 0)) return exactly(new XZInputStream(new ByteArrayInputStream(body)), size, "xz");
            if (starts(payload, 0x28, 0xB5, 0x2F, 0xFD)) return Zstd.decompress(body, size);
            if (starts(payload, 0x02, 0x21, 0x4C, 0x18)) return lz4Legacy(body, size);
        } catch (IOException | MalformedInputException | Zstd.ZstdException e) {
            throw new ImageException("bzImage payload does not decompress: " + e.getMessage());
        } catch (RuntimeException e) {
            // aircompressor's decoders index past their tables on some corrupt inputs (found by KernelImageTest's
            // corruption test): a damaged file, reported as such.
            throw new ImageException("bzImage payload does not decompress (" + e.getClass().getSimpleName() + ")");
        }
        throw new ImageException(String.format("bzImage payload compressed with an unsupported method (magic %02x %02x): jxen unpacks gzip, xz, zstd and lz4",
                payload[0] & 0xFF, payload[1] & 0xFF));
    }

    /**
     * The lz4 "legacy" frame the kernel's build writes ({@code lz4 -l}): the magic, then blocks of a 4-byte compressed
     * length and a raw LZ4 block of at most 8 MiB.
     */
    private static byte[] lz4Legacy(byte[] body, int size) throws ImageException {
        final int blockMax = 8 << 20;
        ByteBuffer in = ByteBuffer.wrap(body).order(ByteOrder.LITTLE_ENDIAN);
        in.position(4);
        byte[] out = new byte[size];
        int done = 0;
        Lz4Decompressor lz4 = new Lz4Decompressor();
        while (in.remaining() >= 4 && done < size) {
            int chunk = in.getInt();
            if (chunk == 0x184C2102) continue; // another legacy frame follows
            if (chunk <= 0 || chunk > in.remaining()) throw new ImageException("lz4 payload: a block runs past the end");
            done += lz4.decompress(body, in.position(), chunk, out, done, Math.min(blockMax, size - done));
            in.position(in.position() + chunk);
        }
        if (done != size) throw new ImageException("lz4 payload: " + done + " bytes, the kernel said " + size);
        return out;
    }

    private static byte[] exactly(InputStream in, int size, String what) throws IOException, ImageException {
        try (in) {
            byte[] out = in.readNBytes(size);
            if (out.length != size) throw new ImageException(what + " payload: " + out.length + " bytes, the kernel said " + size);
            return out;
        }
    }

    private static boolean starts(byte[] b, int... magic) {
        if (b.length < magic.length) return false;
        for (int i = 0; i < magic.length; i++) if ((b[i] & 0xFF) != magic[i]) return false;
        return true;
    }

    /** Whether {@code b} begins with the ELF magic. */
    static boolean isElf(byte[] b) {
        return isElf(b, 0);
    }

    private static boolean isElf(byte[] b, int at) {
        return b.length >= at + 4 && b[at] == 0x7F && b[at + 1] == 'E' && b[at + 2] == 'L' && b[at + 3] == 'F';
    }
}
