package org.jxen.vmm.boot;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Arrays;
import java.util.Random;

import org.junit.jupiter.api.Test;

import io.airlift.compress.zstd.ZstdCompressor;

/**
 * jxen's zstd decoder against frames another implementation wrote (aircompressor's compressor): data of every
 * compressibility and size, multi-block frames, literals raw, RLE and Huffman-coded, all three sequence table modes.
 * Debian's kernel (a 128 MiB window) is {@link KernelImageTest#debiansKernelUnpacksToAPvhElf}.
 */
class ZstdTest {
    private static byte[] zstd(byte[] data) {
        ZstdCompressor z = new ZstdCompressor();
        byte[] buf = new byte[z.maxCompressedLength(data.length)];
        return Arrays.copyOf(buf, z.compress(data, 0, data.length, buf, 0, buf.length));
    }

    @Test
    void decodesWhatAnotherEncoderWrote() throws Exception {
        long seed = Long.getLong("jxen.zstd.seed", System.nanoTime());
        Random rnd = new Random(seed);
        int[] sizes = {0, 1, 7, 100, 4096, 65_536, 131_072, 131_073, 400_000, 1 << 20};
        for (int size : sizes) {
            for (int kind = 0; kind < 5; kind++) {
                byte[] data = new byte[size];
                switch (kind) {
                    case 0 -> rnd.nextBytes(data); // incompressible: raw blocks and literals
                    case 1 -> Arrays.fill(data, (byte) 'x'); // RLE
                    case 2 -> { // text-like: Huffman literals, short matches
                        String words = "the event channel is the guest's interrupt system; ports, upcalls, masks and pending bits ";
                        for (int i = 0; i < size; i++) data[i] = (byte) words.charAt((i * 7 + rnd.nextInt(3)) % words.length());
                    }
                    case 3 -> { // long repeats at several distances: repeat offsets
                        for (int i = 0; i < size; i++) data[i] = (byte) (i < 64 ? rnd.nextInt(256) : data[i - (i % 3 == 0 ? 64 : 63)] ^ (rnd.nextInt(50) == 0 ? 1 : 0));
                    }
                    default -> { // small alphabet: skewed literal statistics
                        for (int i = 0; i < size; i++) data[i] = (byte) (rnd.nextGaussian() * 3);
                    }
                }
                byte[] frame = zstd(data);
                byte[] back = Zstd.decompress(frame, size);
                assertArrayEquals(data, back, "seed " + seed + " size " + size + " kind " + kind);
            }
        }
    }

    @Test
    void aWrongSizeOrATruncatedFrameIsAZstdException() {
        byte[] data = "abcabcabcabcabcabc and something else entirely".repeat(100).getBytes();
        byte[] frame = zstd(data);
        assertThrows(Zstd.ZstdException.class, () -> Zstd.decompress(frame, data.length - 1));
        assertThrows(Zstd.ZstdException.class, () -> Zstd.decompress(frame, data.length + 1));
        for (int cut = 0; cut < frame.length; cut += 7) {
            byte[] c = Arrays.copyOf(frame, cut);
            if (cut > 0) assertThrows(Zstd.ZstdException.class, () -> Zstd.decompress(c, data.length), "cut at " + cut);
        }
    }
}
