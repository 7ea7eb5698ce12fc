package org.jxen.vmm.boot;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Random;
import java.util.zip.GZIPOutputStream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.tukaani.xz.LZMA2Options;
import org.tukaani.xz.X86Options;
import org.tukaani.xz.FilterOptions;
import org.tukaani.xz.XZOutputStream;

import io.airlift.compress.lz4.Lz4Compressor;
import io.airlift.compress.zstd.ZstdCompressor;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import org.jxen.engine.memory.GuestMemory;

/**
 * bzImages built here the way the kernel's build lays them out (setup sectors, "HdrS" header, payload_offset/length,
 * the payload with its size appended), one per compression a distribution uses, unpack to the ELF they carry.
 */
class KernelImageTest {
    @Test
    void anElfImageIsTakenAsItIs() throws Exception {
        byte[] elf = PvhLoaderTest.guest("pvh-hello-64.elf");
        assertSame(elf, KernelImage.elfOf(elf));
    }

    @ParameterizedTest
    @ValueSource(strings = {"gzip", "xz", "zstd", "lz4"})
    void aBzImageUnpacksToItsElf(String method) throws Exception {
        byte[] elf = PvhLoaderTest.guest("pvh-hello-64.elf");
        byte[] image = bzImage(compress(method, elf), elf.length, 0x20F);
        assertArrayEquals(elf, KernelImage.elfOf(image));
        // and the loader boots it like the ELF
        var ram = new GuestMemory(Arena.ofAuto().allocate(4L << 20, 4096));
        PvhLoader.load(image, ram, GuestLayout.standard(4L << 20), "");
    }

    /** The kernel jxen's users have: Debian's 6.12 bzImage (zstd, 128 MiB window), where tools/linux-guest prepared it. */
    @Test
    void debiansKernelUnpacksToAPvhElf() throws Exception {
        Path vmlinuz = Path.of(System.getProperty("jxen.linux.guest", "/var/tmp/jxen-linux-guest"), "vmlinuz");
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isReadable(vmlinuz),
                "no Debian kernel at " + vmlinuz + " (tools/linux-guest/prepare.sh, run by .ci/setup)");
        byte[] elf = KernelImage.elfOf(Files.readAllBytes(vmlinuz));
        ElfImage image = ElfImage.parse(elf);
        assertTrue(image.pvhEntry().isPresent(), "the PVH entry note");
        assertTrue(elf.length > 16 << 20, elf.length + " bytes");
    }

    @Test
    void whatCannotBeUnpackedIsRefusedWithAReason() throws Exception {
        byte[] elf = PvhLoaderTest.guest("pvh-hello-64.elf");
        byte[] gz = compress("gzip", elf);
        assertReason("boot protocol 2.07", bzImage(gz, elf.length, 0x207));
        byte[] outside = bzImage(gz, elf.length, 0x20F);
        ByteBuffer.wrap(outside).order(ByteOrder.LITTLE_ENDIAN).putInt(0x24C, 1 << 30);
        assertReason("payload lies outside the file", outside);
        assertReason("unsupported method", bzImage(pad(new byte[] {'B', 'Z', 'h', '9', 1, 2, 3, 4}, elf.length), elf.length, 0x20F));
        assertReason("does not decompress", bzImage(pad(new byte[] {0x28, (byte) 0xB5, 0x2F, (byte) 0xFD, 9, 9, 9, 9, 9, 9}, elf.length), elf.length, 0x20F));
        assertReason("claims 0 bytes", bzImage(pad(new byte[] {0x28, (byte) 0xB5, 0x2F, (byte) 0xFD, 9, 9, 9, 9}, 0), 0, 0x20F));
        assertReason("not an ELF vmlinux", bzImage(compress("gzip", new byte[4096]), 4096, 0x20F));
    }

    @Test
    void corruptedPayloadsNeverEscapeAsAnythingButAnImageException() throws Exception {
        byte[] elf = PvhLoaderTest.guest("pvh-hello-64.elf");
        long seed = Long.getLong("jxen.loader.seed", System.nanoTime());
        Random rnd = new Random(seed);
        for (String method : new String[] {"gzip", "xz", "zstd", "lz4"}) {
            byte[] good = bzImage(compress(method, elf), elf.length, 0x20F);
            for (int i = 0; i < 2_000; i++) {
                byte[] bad = good.clone();
                for (int f = 1 + rnd.nextInt(4); f > 0; f--) bad[0x600 + rnd.nextInt(bad.length - 0x600)] = (byte) rnd.nextInt();
                try {
                    KernelImage.elfOf(bad);
                } catch (ImageException expected) {
                    assertTrue(!expected.getMessage().contains("\n"));
                } catch (RuntimeException e) {
                    throw new AssertionError("seed " + seed + " " + method + " case " + i + ": " + e, e);
                }
            }
        }
    }

    private static void assertReason(String expected, byte[] file) {
        ImageException e = assertThrows(ImageException.class, () -> KernelImage.elfOf(file));
        assertTrue(e.getMessage().contains(expected), () -> "\"" + e.getMessage() + "\" should say \"" + expected + "\"");
    }

    private static byte[] pad(byte[] b, int size) {
        return appendSize(b, size);
    }

    /** The payload as the build makes it: compressed data, then the uncompressed size (gzip's own trailer holds it). */
    static byte[] compress(String method, byte[] data) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        switch (method) {
            case "gzip" -> {
                try (OutputStream gz = new GZIPOutputStream(out)) {
                    gz.write(data);
                }
                return out.toByteArray();
            }
            case "xz" -> {
                // The kernel's xz: BCJ x86 then LZMA2, CRC32 check.
                try (OutputStream xz = new XZOutputStream(out, new FilterOptions[] {new X86Options(), new LZMA2Options()}, org.tukaani.xz.XZ.CHECK_CRC32)) {
                    xz.write(data);
                }
            }
            case "zstd" -> {
                ZstdCompressor z = new ZstdCompressor();
                byte[] buf = new byte[z.maxCompressedLength(data.length)];
                out.write(buf, 0, z.compress(data, 0, data.length, buf, 0, buf.length));
            }
            case "lz4" -> {
                // lz4 -l: the legacy magic, then blocks of at most 8 MiB, each a length and a raw block.
                Lz4Compressor l = new Lz4Compressor();
                out.write(new byte[] {0x02, 0x21, 0x4C, 0x18});
                byte[] buf = new byte[l.maxCompressedLength(data.length)];
                int n = l.compress(data, 0, data.length, buf, 0, buf.length);
                out.write(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(n).array());
                out.write(buf, 0, n);
            }
            default -> throw new IllegalArgumentException(method);
        }
        return appendSize(out.toByteArray(), data.length);
    }

    private static byte[] appendSize(byte[] b, int size) {
        byte[] c = Arrays.copyOf(b, b.length + 4);
        ByteBuffer.wrap(c).order(ByteOrder.LITTLE_ENDIAN).putInt(b.length, size);
        return c;
    }

    /** Four setup sectors after the boot sector, the header, the payload 0x100 bytes into the protected-mode part. */
    static byte[] bzImage(byte[] payload, int size, int protocol) {
        int setupSects = 4, payloadOffset = 0x100;
        int start = (setupSects + 1) * 512 + payloadOffset;
        byte[] image = new byte[start + payload.length + 64];
        ByteBuffer b = ByteBuffer.wrap(image).order(ByteOrder.LITTLE_ENDIAN);
        image[0x1F1] = (byte) setupSects;
        b.putInt(0x202, 0x5372_6448);
        b.putShort(0x206, (short) protocol);
        b.putInt(0x248, payloadOffset);
        b.putInt(0x24C, payload.length);
        System.arraycopy(payload, 0, image, start, payload.length);
        return image;
    }
}
