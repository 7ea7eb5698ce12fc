package org.jxen.vmm.snapshot;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;

/**
 * How one component's state is a section: its kind (the tag, or the tag's prefix for one section per vCPU or device),
 * the version of the payload it writes, the oldest it still reads, the largest payload a reader accepts, and the
 * payload's writer and reader (Firecracker's {@code Persist}, one section of cloud-hypervisor's {@code Snapshot}).
 * The container frames, checks and checksums the payload; the codec sees only its own bytes, and what it reads is
 * already known to be what was written (a reader still checks every count it allocates by: a writer may have had a bug).
 */
public interface SectionCodec<T> {
    String kind();

    /** The payload version this jxen writes: the newest it reads. */
    int version();

    /** The oldest payload version this jxen still reads. */
    default int oldestVersion() {
        return 1;
    }

    /** The largest payload a reader accepts, checked before a byte of it is read. */
    int maxLength();

    void write(T state, DataOutputStream out) throws IOException;

    /** Reads a payload of {@code version} (between {@link #oldestVersion} and {@link #version}); IOException if it is damaged. */
    T read(int version, DataInputStream in) throws IOException;

    @FunctionalInterface
    interface Writer<T> {
        void write(T state, DataOutputStream out) throws IOException;
    }

    @FunctionalInterface
    interface Reader<T> {
        T read(int version, DataInputStream in) throws IOException;
    }

    /** A codec of the given parts. */
    static <T> SectionCodec<T> of(String kind, int version, int maxLength, Writer<T> writer, Reader<T> reader) {
        if (!SnapshotFormat.validTag(kind) || kind.contains("/")) throw new IllegalArgumentException("section kind " + kind);
        return new SectionCodec<>() {
            @Override
            public String kind() {
                return kind;
            }

            @Override
            public int version() {
                return version;
            }

            @Override
            public int maxLength() {
                return maxLength;
            }

            @Override
            public void write(T state, DataOutputStream out) throws IOException {
                writer.write(state, out);
            }

            @Override
            public T read(int v, DataInputStream in) throws IOException {
                return reader.read(v, in);
            }
        };
    }

    /**
     * A section whose payload is bytes another layer defines (a kernel struct, a backend's record), carried as they
     * are: between {@code minLength} and {@code maxLength} of them.
     */
    static SectionCodec<byte[]> bytes(String kind, int version, int minLength, int maxLength) {
        return of(kind, version, maxLength, (b, out) -> out.write(b), (v, in) -> {
            byte[] b = in.readAllBytes(); // the container has checked the length against maxLength already
            if (b.length < minLength) throw new IOException(b.length + " bytes, expected at least " + minLength);
            return b;
        });
    }
}
