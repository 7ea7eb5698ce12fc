package org.jxen.vmm.boot;

import java.io.IOException;
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

    /** The ELF image of {@code file}'s bytes: the file itself if it is one, else its unpacked payload (see {@link KernelImage}). */
    public byte[] elfOf(byte[] file) throws ImageException {
        if (KernelImage.isElf(file)) return file;
        String key = HexFormat.of().formatHex(sha256(file));
        Entry remembered = last;
        last = null;
        if (remembered != null && remembered.key.equals(key)) return remembered.elf;
        long declared = declaredSize(file);
        byte[] elf = read(key, declared);
        if (elf == null) {
            elf = KernelImage.elfOf(file);
            write(key, elf);
        }
        last = new Entry(key, elf);
        return elf;
    }

    /** The unpacked size a bzImage's payload ends with, or -1 if the header does not lead to it (unpacking will say why). */
    private static long declaredSize(byte[] file) {
        if (file.length < PAYLOAD_LENGTH_AT + 4) return -1;
        ByteBuffer b = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN);
        int setupSects = Byte.toUnsignedInt(file[SETUP_SECTS_AT]);
        if (setupSects == 0) setupSects = 4;
        long end = (setupSects + 1L) * 512 + Integer.toUnsignedLong(b.getInt(PAYLOAD_OFFSET_AT)) + Integer.toUnsignedLong(b.getInt(PAYLOAD_LENGTH_AT));
        if (end < 4 || end > file.length) return -1;
        return Integer.toUnsignedLong(b.getInt((int) end - 4));
    }

    private byte[] read(String key, long declared) {
        if (directory == null || declared <= 0) return null;
        Path entry = directory.resolve(key + ".elf");
        try {
            if (!Files.isRegularFile(entry) || Files.size(entry) != declared) return null;
            byte[] elf = Files.readAllBytes(entry);
            return elf.length == declared && KernelImage.isElf(elf) ? elf : null;
        } catch (IOException e) {
            return null;
        }
    }

    private void write(String key, byte[] elf) {
        if (directory == null) return;
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
        } catch (IOException | SecurityException e) {
            LOG.log(Level.INFO, "the unpacked kernel is not cached in " + directory + ": " + e.getMessage());
            if (partial != null) {
                try {
                    Files.deleteIfExists(partial);
                } catch (IOException ignored) {
                    // the temporary stays: the cache's own directory, never read as an entry
                }
            }
        }
    }

    private static byte[] sha256(byte[] file) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(file);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK has no SHA-256", e);
        }
    }
}
