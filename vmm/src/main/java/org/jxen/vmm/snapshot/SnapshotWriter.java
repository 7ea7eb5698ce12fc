package org.jxen.vmm.snapshot;

import java.io.ByteArrayOutputStream;
import java.io.Closeable;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.zip.CRC32C;

/**
 * Writes a container (see {@link SnapshotFormat}) to any stream: a file, a socket. Small sections go through a
 * {@link SectionCodec} (serialised, measured, framed); a large one ({@link RamSections}) is streamed through
 * {@link #open} with its length given first, its checksum computed on the way. {@link #finish} writes the end section.
 * Not thread-safe: one writer, one section at a time.
 */
public final class SnapshotWriter implements Closeable {
    private final DataOutputStream out;
    private final CRC32C crc = new CRC32C();
    private SectionOut open;
    private boolean finished;

    /** Writes the container's header to {@code out} (buffer it: sections are written in small pieces). */
    public SnapshotWriter(OutputStream out) throws IOException {
        this.out = new DataOutputStream(out);
        this.out.write(SnapshotFormat.MAGIC);
        this.out.writeShort(SnapshotFormat.CONTAINER);
    }

    /** Writes {@code state} as the section tagged with the codec's kind. */
    public <T> void write(SectionCodec<T> codec, T state) throws IOException {
        write(codec.kind(), codec, state);
    }

    /** Writes {@code state} as section {@code index} of the codec's kind ("vcpu/1"). */
    public <T> void write(SectionCodec<T> codec, int index, T state) throws IOException {
        write(SnapshotFormat.tag(codec.kind(), index), codec, state);
    }

    private <T> void write(String tag, SectionCodec<T> codec, T state) throws IOException {
        ByteArrayOutputStream payload = new ByteArrayOutputStream();
        codec.write(state, new DataOutputStream(payload));
        if (payload.size() > codec.maxLength())
            throw new IOException("section " + tag + " is " + payload.size() + " bytes, more than a reader accepts (" + codec.maxLength() + ")");
        try (OutputStream o = open(tag, codec.version(), payload.size())) {
            payload.writeTo(o);
        }
    }

    /**
     * Starts a section of {@code length} payload bytes, to be written to the stream returned; its close writes the
     * checksum (and fails if fewer bytes were written; more are refused as they come).
     */
    public OutputStream open(String tag, int version, long length) throws IOException {
        if (finished) throw new IllegalStateException("the container is finished");
        if (open != null) throw new IllegalStateException("section " + open.tag + " is still open");
        if (!SnapshotFormat.validTag(tag)) throw new IllegalArgumentException("section tag " + tag);
        if (version < 1 || version > 0xFFFF || length < 0) throw new IllegalArgumentException("section " + tag + ": version " + version + ", length " + length);
        byte[] name = tag.getBytes(StandardCharsets.US_ASCII);
        ByteBuffer header = ByteBuffer.allocate(1 + name.length + 2 + 8).put((byte) name.length).put(name).putShort((short) version).putLong(length);
        crc.reset();
        crc.update(header.array());
        out.write(header.array());
        open = new SectionOut(tag, length);
        return open;
    }

    /** Writes the end section and flushes: the container is complete. */
    public void finish() throws IOException {
        open(SnapshotFormat.END, 1, 0).close();
        out.flush();
        finished = true;
    }

    /** Closes the stream underneath (a container not {@link #finish finished} stays incomplete: a reader refuses it). */
    @Override
    public void close() throws IOException {
        out.close();
    }

    /** The payload of the open section: counted against its announced length, checksummed as it passes. */
    private final class SectionOut extends OutputStream {
        private final String tag;
        private long left;
        private boolean closed;

        SectionOut(String tag, long length) {
            this.tag = tag;
            this.left = length;
        }

        @Override
        public void write(int b) throws IOException {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            if (closed) throw new IOException("section " + tag + " is closed");
            if (len > left) throw new IOException("section " + tag + ": more than the bytes announced");
            crc.update(b, off, len);
            out.write(b, off, len);
            left -= len;
        }

        @Override
        public void close() throws IOException {
            if (closed) return;
            closed = true;
            open = null;
            if (left != 0) throw new IOException("section " + tag + ": " + left + " bytes short of its announced length");
            out.writeInt((int) crc.getValue());
        }
    }
}
