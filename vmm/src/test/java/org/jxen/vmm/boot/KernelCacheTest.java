package org.jxen.vmm.boot;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Unpacked kernels kept by the SHA-256 of their bzImage: reused, never trusted beyond their declared size. */
class KernelCacheTest {
    private static byte[] elf() throws Exception {
        return PvhLoaderTest.guest("pvh-hello-64.elf");
    }

    private static byte[] bzImage(byte[] elf) throws Exception {
        return KernelImageTest.bzImage(KernelImageTest.compress("zstd", elf), elf.length, 0x20F);
    }

    private static List<Path> entries(Path dir) throws Exception {
        try (Stream<Path> s = Files.list(dir)) {
            return s.toList();
        }
    }

    @Test
    void anUnpackedKernelIsWrittenOnceAndReadBackByTheNextRun(@TempDir Path dir) throws Exception {
        byte[] elf = elf(), image = bzImage(elf);
        assertArrayEquals(elf, new KernelCache(dir).elfOf(image));
        List<Path> written = entries(dir);
        assertEquals(1, written.size(), "one entry, no temporary left: " + written);
        assertTrue(written.getFirst().getFileName().toString().endsWith(".elf"));
        assertArrayEquals(elf, Files.readAllBytes(written.getFirst()));

        // Another process (a new cache over the same directory) reads the entry instead of unpacking: mark the entry to tell.
        byte[] marked = elf.clone();
        marked[marked.length - 1] ^= 0x55;
        Files.write(written.getFirst(), marked);
        assertArrayEquals(marked, new KernelCache(dir).elfOf(image), "taken from the cache");
        assertArrayEquals(elf, new KernelCache(null).elfOf(image), "unpacked without one");
    }

    @Test
    void theRunsSecondCallTakesTheFirstCallsKernelAndNoCopyOutlivesIt(@TempDir Path dir) throws Exception {
        byte[] image = bzImage(elf());
        KernelCache cache = new KernelCache(null); // in memory only
        byte[] checked = cache.elfOf(image);
        assertSame(checked, cache.elfOf(image), "the domain's call gets the checking call's kernel");
        assertNotSame(checked, cache.elfOf(image), "and the cache then holds none: the third call unpacks again");
    }

    @Test
    void aDamagedOrForeignEntryIsUnpackedAgainAndReplaced(@TempDir Path dir) throws Exception {
        byte[] elf = elf(), image = bzImage(elf);
        new KernelCache(dir).elfOf(image);
        Path entry = entries(dir).getFirst();
        Files.write(entry, new byte[elf.length]); // right size, not an ELF
        assertArrayEquals(elf, new KernelCache(dir).elfOf(image));
        assertArrayEquals(elf, Files.readAllBytes(entry), "replaced");
        Files.write(entry, new byte[] {0x7F, 'E', 'L', 'F'}); // an ELF cut short
        assertArrayEquals(elf, new KernelCache(dir).elfOf(image));
        assertArrayEquals(elf, Files.readAllBytes(entry));
    }

    @Test
    void aCacheThatCannotBeWrittenCostsOnlySpeed(@TempDir Path dir) throws Exception {
        byte[] elf = elf();
        Path notADirectory = Files.writeString(dir.resolve("file"), "x");
        assertArrayEquals(elf, new KernelCache(notADirectory.resolve("kernels")).elfOf(bzImage(elf)));
    }

    @Test
    void openMapsTheKernelOrItsEntryAndItsCloseUnmapsIt(@TempDir Path dir) throws Exception {
        byte[] elf = elf();
        Path elfFile = Files.write(dir.resolve("vmlinux"), elf), bzFile = Files.write(dir.resolve("vmlinuz"), bzImage(elf));
        Path cacheDir = dir.resolve("cache");
        KernelCache cache = new KernelCache(cacheDir);
        KernelCache.Kernel k = cache.open(elfFile);
        assertArrayEquals(elf, k.elf().toArray(ValueLayout.JAVA_BYTE), "an ELF file is mapped as it is");
        assertTrue(k.elf().isMapped());
        k.close();
        assertThrows(IllegalStateException.class, () -> k.elf().get(ValueLayout.JAVA_BYTE, 0), "a late access throws");
        assertFalse(Files.exists(cacheDir), "nothing cached for an ELF file");

        try (KernelCache.Kernel first = cache.open(bzFile); KernelCache.Kernel second = new KernelCache(cacheDir).open(bzFile)) {
            assertArrayEquals(elf, first.elf().toArray(ValueLayout.JAVA_BYTE));
            assertTrue(first.elf().isMapped(), "the entry just written, mapped");
            assertArrayEquals(elf, second.elf().toArray(ValueLayout.JAVA_BYTE));
        }
        try (KernelCache.Kernel heap = new KernelCache(null).open(bzFile)) {
            assertArrayEquals(elf, heap.elf().toArray(ValueLayout.JAVA_BYTE), "without a cache: unpacked onto the heap");
        }
        Files.write(bzFile, new byte[] {1, 2, 3});
        assertThrows(ImageException.class, () -> cache.open(bzFile), "neither ELF nor bzImage");
    }

    @Test
    void openWithoutACacheUnpacksForTheCheckAndTheBuildOnceAndKeepsNoCopy(@TempDir Path dir) throws Exception {
        Path bzFile = Files.write(dir.resolve("vmlinuz"), bzImage(elf()));
        KernelCache cache = new KernelCache(null);
        Object checked, built, third;
        try (KernelCache.Kernel k = cache.open(bzFile)) {
            checked = k.elf().heapBase().orElseThrow();
        }
        try (KernelCache.Kernel k = cache.open(bzFile)) {
            built = k.elf().heapBase().orElseThrow();
        }
        try (KernelCache.Kernel k = cache.open(bzFile)) {
            third = k.elf().heapBase().orElseThrow();
        }
        assertSame(checked, built, "the build's call gets the check's kernel");
        assertNotSame(built, third, "and none is kept after it: the third call unpacks again");
    }

    @Test
    void openOnAMissWritesTheEntryAndKeepsNoCopyOnTheHeap(@TempDir Path dir) throws Exception {
        byte[] elf = elf();
        Path bzFile = Files.write(dir.resolve("vmlinuz"), bzImage(elf));
        Path cacheDir = dir.resolve("cache");
        KernelCache cache = new KernelCache(cacheDir);
        try (KernelCache.Kernel k = cache.open(bzFile)) {
            assertTrue(k.elf().isMapped(), "the entry just written, mapped");
        }
        Path entry = entries(cacheDir).getFirst();
        byte[] marked = elf.clone();
        marked[marked.length - 1] ^= 0x55;
        Files.write(entry, marked);
        try (KernelCache.Kernel k = cache.open(bzFile)) {
            assertArrayEquals(marked, k.elf().toArray(ValueLayout.JAVA_BYTE), "the entry is read, no copy remembered from the miss");
        }
    }

    @Test
    void anElfIsTakenAsItIsAndNothingIsCached(@TempDir Path dir) throws Exception {
        byte[] elf = elf();
        assertSame(elf, new KernelCache(dir).elfOf(elf));
        assertEquals(List.of(), entries(dir));
    }

    @Test
    void whatCannotBeUnpackedIsRefusedAndNotCached(@TempDir Path dir) throws Exception {
        byte[] image = bzImage(elf());
        image[(5 * 512) + 0x100] = 0; // the zstd magic broken
        assertThrows(ImageException.class, () -> new KernelCache(dir).elfOf(image));
        assertFalse(Files.list(dir).findAny().isPresent());
    }
}
