package org.jxen.vmm.boot;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;
import java.nio.file.StandardOpenOption;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;

/**
 * Unpacked kernels kept on disk, keyed by the SHA-256 of the bzImage: unpacking Debian's zstd bzImage in Java is most
 * of the time a {@code jxen run --kernel} spends before the guest starts (seconds on hardware, most of a minute under
 * emulation), and a user boots the same kernel again and again. The last kernel unpacked is also kept in memory for the
 * next call only, so a run that checks its image before building the domain unpacks it once, and no copy outlives the
 * load (the guest's RAM holds it then). An entry is trusted only as far as the file
 * it came from: it must be an ELF image of exactly the size the bzImage declares, else it is unpacked again and
 * replaced. A cache that cannot be written costs speed only: one line at INFO, and the run goes on.
 *
 * <p>{@link #open} maps the kernel's file, or its cache entry, instead of reading it onto the heap: the JVM keeps a heap
 * it grew for a 60 MiB kernel, and the NIO read of one would leave a direct buffer of that size cached on the thread,
 * all of it resident for the life of the domain though the kernel is in guest RAM after the load.
 */
public final class KernelCache {
    private static final Logger LOG = System.getLogger(KernelCache.class.getName());
    /** Where the size of the unpacked kernel sits in a bzImage's payload, see {@link KernelImage}. */
    private static final int SETUP_SECTS_AT = 0x1F1, PAYLOAD_OFFSET_AT = 0x248, PAYLOAD_LENGTH_AT = 0x24C;

    /** The cache every {@code jxen run} uses: {@link #standardDirectory()}, or none if that is "off". */
    private static final KernelCache SHARED = new KernelCache(standardDirectory());

    private final Path directory;
    private volatile Entry last;

    private record Entry(String key, byte[] elf) {}

    /** A cache in {@code directory}; null: in memory only. */
    public KernelCache(Path directory) {
        this.directory = directory;
    }

    /** The process's cache. */
    public static KernelCache shared() {
        return SHARED;
    }

    /**
     * {@code $JXEN_KERNEL_CACHE} ("off": none), else {@code $XDG_CACHE_HOME/jxen/kernels}, else
     * {@code ~/.cache/jxen/kernels}.
     */
    static Path standardDirectory() {
        String explicit = System.getenv("JXEN_KERNEL_CACHE");
        if (explicit != null && !explicit.isEmpty()) return explicit.equals("off") ? null : Path.of(explicit);
        String xdg = System.getenv("XDG_CACHE_HOME");
        Path base = xdg != null && !xdg.isEmpty() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache");
        return base.resolve("jxen").resolve("kernels");
    }

    /** An ELF image, mapped (or on the heap, where no cache entry could be written); its close unmaps it. */
    public static final class Kernel implements AutoCloseable {
        private final Arena arena;
        private final MemorySegment elf;

        private Kernel(Arena arena, MemorySegment elf) {
            this.arena = arena;
            this.elf = elf;
        }

        /** The ELF file's bytes; an access after {@link #close} throws. */
        public MemorySegment elf() {
            return elf;
        }

        /** Unmaps it; a second close does nothing. */
        @Override
        public synchronized void close() {
            if (arena.scope().isAlive()) arena.close();
        }
    }

    /**
     * The ELF image of the kernel in {@code image}: the file itself if it is one, else the cache's entry for it, unpacked
     * and written first if there is none. Mapped read-only, owned by the returned {@link Kernel}.
     */
    public Kernel open(Path image) throws IOException, ImageException {
        Arena arena = Arena.ofShared();
        try {
            MemorySegment file = map(image, arena);
            if (file.byteSize() > KernelImage.MAX_KERNEL) throw new ImageException("a kernel file of " + file.byteSize() + " bytes");
            if (file.byteSize() >= 4 && file.get(ValueLayout.JAVA_INT_UNALIGNED, 0) == ELF_MAGIC) return new Kernel(arena, file);
            Found found = find(file);
            return new Kernel(arena, found.entry() != null ? map(found.entry(), arena) : MemorySegment.ofArray(found.elf()));
        } catch (IOException | ImageException | RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    /** "\x7FELF" read as a little-endian int. */
    private static final int ELF_MAGIC = 0x464C_457F;

    private static MemorySegment map(Path file, Arena arena) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            return ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
        }
    }

    /** Whether the cache's {@code entry} holds an ELF image of the {@code declared} size. */
    private static boolean valid(Path entry, long declared) {
        try {
            if (declared <= 0 || !Files.isRegularFile(entry) || Files.size(entry) != declared) return false;
            try (FileChannel ch = FileChannel.open(entry, StandardOpenOption.READ)) {
                ByteBuffer head = ByteBuffer.allocate(4);
                return ch.read(head, 0) == 4 && KernelImage.isElf(head.array());
            }
        } catch (IOException e) {
            return false;
        }
    }

    /** The ELF image of {@code file}'s bytes: the file itself if it is one, else its unpacked payload (see {@link KernelImage}). */
    public byte[] elfOf(byte[] file) throws ImageException {
        if (KernelImage.isElf(file)) return file;
        Found found = find(MemorySegment.ofArray(file));
        if (found.elf() != null) return found.elf();
        try {
            return Files.readAllBytes(found.entry());
        } catch (IOException e) {
            return KernelImage.elfOf(file); // gone since find checked it
        }
    }

    /**
     * Where the ELF image of a bzImage's bytes is: {@code entry}, the cache's file holding it (to map or read), and/or
     * {@code elf}, a heap copy in hand.
     */
    private record Found(Path entry, byte[] elf) {}

    /**
     * The cache's entry for {@code file} if it holds a valid one; else the copy the previous call remembered; else
     * {@code file} unpacked now and written as the entry. A copy that could not be written is remembered for the next
     * call only (the check before the build, then the build), so none outlives the load.
     */
    private Found find(MemorySegment file) throws ImageException {
        String key = HexFormat.of().formatHex(sha256(file));
        Path entry = directory == null ? null : directory.resolve(key + ".elf");
        if (entry != null && valid(entry, declaredSize(file))) return new Found(entry, null);
        Entry remembered = last;
        last = null;
        if (remembered != null && remembered.key.equals(key)) return new Found(null, remembered.elf);
        byte[] elf = KernelImage.elfOf(file.toArray(ValueLayout.JAVA_BYTE));
        if (write(key, elf)) return new Found(entry, elf);
        last = new Entry(key, elf);
        return new Found(null, elf);
    }

    /** The unpacked size a bzImage's payload ends with, or -1 if the header does not lead to it (unpacking will say why). */
    private static long declaredSize(MemorySegment file) {
        byte[] header = file.asSlice(0, Math.min(file.byteSize(), PAYLOAD_LENGTH_AT + 4)).toArray(ValueLayout.JAVA_BYTE);
        if (header.length < PAYLOAD_LENGTH_AT + 4) return -1;
        ByteBuffer b = ByteBuffer.wrap(header).order(ByteOrder.LITTLE_ENDIAN);
        int setupSects = Byte.toUnsignedInt(header[SETUP_SECTS_AT]);
        if (setupSects == 0) setupSects = 4;
        long end = (setupSects + 1L) * 512 + Integer.toUnsignedLong(b.getInt(PAYLOAD_OFFSET_AT)) + Integer.toUnsignedLong(b.getInt(PAYLOAD_LENGTH_AT));
        if (end < 4 || end > file.byteSize()) return -1;
        return Integer.toUnsignedLong(file.get(ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), end - 4));
    }

    /** Stores {@code elf} as {@code key}'s entry; false (after one line at INFO) where it could not be. */
    private boolean write(String key, byte[] elf) {
        if (directory == null) return false;
        Path entry = directory.resolve(key + ".elf");
        Path partial = null;
        try {
            Files.createDirectories(directory);
            partial = Files.createTempFile(directory, key, ".partial");
            Files.write(partial, elf);
            try {
                Files.move(partial, entry, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(partial, entry, StandardCopyOption.REPLACE_EXISTING);
            }
            return true;
        } catch (IOException | SecurityException e) {
            LOG.log(Level.INFO, "the unpacked kernel is not cached in " + directory + ": " + e.getMessage());
            if (partial != null) {
                try {
                    Files.deleteIfExists(partial);
                } catch (IOException ignored) {
                    // the temporary stays: the cache's own directory, never read as an entry
                }
            }
            return false;
        }
    }

    private static byte[] sha256(MemorySegment file) {
        try {
            MessageDigest d = MessageDigest.getInstance("SHA-256");
            d.update(file.asByteBuffer());
            return d.digest();
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK has no SHA-256", e);
        }
    }
}
