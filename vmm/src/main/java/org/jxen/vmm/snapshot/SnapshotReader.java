package org.jxen.vmm.snapshot;

import java.io.ByteArrayInputStream;
import java.io.Closeable;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.zip.CRC32C;

/**
 * Reads a container (see {@link SnapshotFormat}) from any stream, treating it as untrusted: each section's tag,
 * version and length are checked before its payload is read, its length against the codec's limit and against what
 * is left of a stream of known size, its checksum before a codec parses it (streamed sections: at their last byte).
 * Every damage ends in one {@link SnapshotException} naming the section. The caller decides what a tag means: it
 * asks {@link #next} for each header, then reads the section with {@link #read} or {@link #open}, or refuses it
 * ({@link #unknown}).
 */
public final class SnapshotReader implements Closeable {
    private final Counting counted;
    private final DataInputStream in;
    /** The stream's size after the header, or -1 if unknown (a socket): lengths are then checked against limits only. */
    private final long size;
    private final String source;
    private final CRC32C crc = new CRC32C();
    /** The header returned by {@link #next} and not read yet; the last section read (for messages). */
    private SectionHeader pending;
    private String last;
    private boolean ended;

    /**
     * A reader of the sections that follow a container's header, already read (see {@link #readFormat}).
     *
     * @param size   the bytes after the header, or -1 if unknown
     * @param source what the user calls the stream, for messages ("save file", "migration stream")
     */
    public SnapshotReader(InputStream in, long size, String source) {
        this.counted = new Counting(in);
        this.in = new DataInputStream(counted);
        this.size = size;
        this.source = source;
    }

    /** Opens a container: checks its header, then reads sections (format 1 is refused: only a save file has it). */
    public static SnapshotReader open(InputStream in, long size, String source) throws SnapshotException {
        int format = readFormat(in, source);
        if (format != SnapshotFormat.CONTAINER) throw new SnapshotException(null, "the " + source + " is in save format " + format + ", not a section container");
        return new SnapshotReader(in, size < 0 ? -1 : size - SnapshotFormat.MAGIC.length - 2, source);
    }

    /** Reads a save's magic and format version (1: the legacy save file, 2: the container); one line if it is neither. */
    public static int readFormat(InputStream in, String source) throws SnapshotException {
        DataInputStream d = new DataInputStream(in);
        try {
            byte[] magic = new byte[SnapshotFormat.MAGIC.length];
            d.readFully(magic);
            if (!Arrays.equals(magic, SnapshotFormat.MAGIC)) throw new SnapshotException(null, "not a jxen " + source);
            int format = d.readUnsignedShort();
            if (format != SnapshotFormat.LEGACY && format != SnapshotFormat.CONTAINER)
                throw new SnapshotException(null, "save format version " + format + " (this jxen reads " + SnapshotFormat.LEGACY + " and "
                        + SnapshotFormat.CONTAINER + ")");
            return format;
        } catch (SnapshotException e) {
            throw e;
        } catch (IOException e) {
            throw endsEarly(source, e);
        }
    }

    private static SnapshotException endsEarly(String source, IOException e) {
        return new SnapshotException(null, e instanceof EOFException ? "the " + source + " ends early" : "the " + source + " cannot be read: " + e.getMessage());
    }

    /**
     * The next section's header, checked (well-formed tag, plausible length); null at the end section. The previous
     * section must have been read.
     */
    public SectionHeader next() throws SnapshotException {
        if (pending != null) throw new IllegalStateException("section " + pending.tag() + " was not read");
        if (ended) return null;
        String after = last == null ? "" : ", after section " + last;
        String tag;
        int version;
        long length;
        try {
            int tagLength = in.readUnsignedByte();
            if (tagLength < 1 || tagLength > SnapshotFormat.MAX_TAG) throw new SnapshotException(null, "the " + source + " has a damaged section header" + after);
            byte[] name = new byte[tagLength];
            in.readFully(name);
            tag = new String(name, StandardCharsets.US_ASCII);
            if (!SnapshotFormat.validTag(tag)) throw new SnapshotException(null, "the " + source + " has a damaged section header" + after);
            version = in.readUnsignedShort();
            length = in.readLong();
            crc.reset();
            crc.update(ByteBuffer.allocate(1 + tagLength + 2 + 8).put((byte) tagLength).put(name).putShort((short) version).putLong(length).array());
        } catch (SnapshotException e) {
            throw e;
        } catch (EOFException e) {
            throw new SnapshotException(null, "the " + source + " ends early" + after);
        } catch (IOException e) {
            throw endsEarly(source, e);
        }
        if (length < 0) throw new SnapshotException(tag, "section " + tag + " claims a length of " + length + " bytes");
        long left = size < 0 ? Long.MAX_VALUE : size - counted.count;
        if (length > left - 4)
            throw new SnapshotException(tag, "section " + tag + " claims " + length + " bytes, but the " + source + " has only " + Math.max(0, left - 4) + " left");
        SectionHeader h = new SectionHeader(tag, version, length);
        if (tag.equals(SnapshotFormat.END)) {
            if (version != 1 || length != 0) throw new SnapshotException(tag, "the " + source + "'s end section is damaged");
            checkCrc(h);
            ended = true;
            last = tag;
            return null;
        }
        pending = h;
        return h;
    }

    /** Bytes of a stream of known size that follow the end section (0 for a well-formed save file); -1 if unknown. */
    public long trailing() {
        return size < 0 ? -1 : size - counted.count;
    }

    /** The exception for a section this jxen does not know. */
    public SnapshotException unknown(SectionHeader h) {
        pending = null;
        return new SnapshotException(h.tag(), "section " + h.tag() + " is unknown to this jxen (a save from a newer one?)");
    }

    /** The exception for a section that is well-formed but does not belong where it is ({@code why}: "appears twice"). */
    public SnapshotException misplaced(SectionHeader h, String why) {
        pending = null;
        return new SnapshotException(h.tag(), "section " + h.tag() + " " + why);
    }

    /** Reads section {@code h} with {@code codec}: version and length checked, payload read and checksummed, then parsed. */
    public <T> T read(SectionCodec<T> codec, SectionHeader h) throws SnapshotException {
        take(h, codec.kind());
        check(h, codec.oldestVersion(), codec.version(), codec.maxLength());
        byte[] payload;
        try {
            payload = in.readNBytes((int) h.length()); // grows as bytes arrive: a cut stream allocates no more than it had
        } catch (IOException e) {
            throw new SnapshotException(h.tag(), "the " + source + " cannot be read in section " + h.tag() + ": " + e.getMessage());
        }
        if (payload.length != h.length()) throw new SnapshotException(h.tag(), "the " + source + " ends inside section " + h.tag());
        crc.update(payload);
        checkCrc(h);
        ByteArrayInputStream bytes = new ByteArrayInputStream(payload);
        T value;
        try {
            value = codec.read(h.version(), new DataInputStream(bytes));
        } catch (EOFException e) {
            throw new SnapshotException(h.tag(), "section " + h.tag() + " ends inside its data");
        } catch (IOException e) {
            throw new SnapshotException(h.tag(), "section " + h.tag() + ": " + (e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage()));
        } catch (RuntimeException e) {
            throw new SnapshotException(h.tag(), "section " + h.tag() + " is damaged (" + e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + e.getMessage()) + ")");
        }
        if (bytes.available() != 0) throw new SnapshotException(h.tag(), "section " + h.tag() + " has " + bytes.available() + " bytes after its data");
        last = h.tag();
        return value;
    }

    /**
     * Opens section {@code h} of kind {@code kind} for streaming (RAM): version and length checked first; the stream
     * gives exactly the payload, and its last byte is not returned before the checksum matched. Read it to the end.
     */
    public InputStream open(SectionHeader h, String kind, int oldestVersion, int version, long maxLength) throws SnapshotException {
        take(h, kind);
        check(h, oldestVersion, version, maxLength);
        return new SectionIn(h);
    }

    private void take(SectionHeader h, String kind) {
        if (h != pending) throw new IllegalStateException("section " + h.tag() + " is not the one to read");
        if (!h.kind().equals(kind)) throw new IllegalArgumentException("section " + h.tag() + " read as " + kind);
        pending = null;
    }

    private void check(SectionHeader h, int oldest, int newest, long maxLength) throws SnapshotException {
        if (h.version() < oldest || h.version() > newest)
            throw new SnapshotException(h.tag(), "section " + h.tag() + " is version " + h.version() + "; this jxen reads "
                    + (oldest == newest ? "version " + newest : "versions " + oldest + " to " + newest));
        if (h.length() > maxLength)
            throw new SnapshotException(h.tag(), "section " + h.tag() + " claims " + h.length() + " bytes, more than the " + maxLength + " it may have");
    }

    private void checkCrc(SectionHeader h) throws SnapshotException {
        int stored;
        try {
            stored = in.readInt();
        } catch (IOException e) {
            throw new SnapshotException(h.tag(), "the " + source + " ends inside section " + h.tag());
        }
        if (stored != (int) crc.getValue()) throw new SnapshotException(h.tag(), "section " + h.tag() + " is damaged (its checksum does not match)");
    }

    @Override
    public void close() throws IOException {
        in.close();
    }

    /** Counts the bytes read, for the check of each length against what is left. */
    private static final class Counting extends FilterInputStream {
        long count;

        Counting(InputStream in) {
            super(in);
        }

        @Override
        public int read() throws IOException {
            int b = super.read();
            if (b >= 0) count++;
            return b;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            int n = super.read(b, off, len);
            if (n > 0) count += n;
            return n;
        }

        @Override
        public long skip(long n) {
            return 0; // every byte passes through the checksum
        }
    }

    /** A streamed section's payload: exactly its length, the checksum checked when the last byte has been read. */
    private final class SectionIn extends InputStream {
        private final SectionHeader h;
        private long left;
        private boolean verified;

        SectionIn(SectionHeader h) {
            this.h = h;
            this.left = h.length();
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            return read(one, 0, 1) < 0 ? -1 : one[0] & 0xFF;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            if (left == 0) {
                if (!verified) checkEnd(); // an empty section: its checksum is read at the first read
                return -1;
            }
            int n;
            try {
                n = in.read(b, off, (int) Math.min(len, left));
            } catch (IOException e) {
                throw new SnapshotException(h.tag(), "the " + source + " cannot be read in section " + h.tag() + ": " + e.getMessage());
            }
            if (n < 0) throw new SnapshotException(h.tag(), "the " + source + " ends inside section " + h.tag());
            crc.update(b, off, n);
            left -= n;
            if (left == 0) checkEnd();
            return n;
        }

        private void checkEnd() throws SnapshotException {
            checkCrc(h);
            verified = true;
            last = h.tag();
        }
    }
}
