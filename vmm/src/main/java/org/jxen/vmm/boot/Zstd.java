package org.jxen.vmm.boot;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;

/**
 * A Zstandard decoder (RFC 8878) for whole frames into a buffer of known size: what a kernel's zstd payload needs.
 * Pure Java because the maintained pure-Java decoders refuse windows above 8 MiB, and the kernel's build
 * ({@code zstd -22 --ultra}) writes a 128 MiB window; with the whole output in memory any window is fine, since every
 * offset is checked against what has been decoded. Every length, offset and table is checked against the input and
 * the output: a corrupt payload is a {@link ZstdException}, never an index out of bounds or a write past the output.
 */
final class Zstd {
    /** A malformed frame: the reason, for one line. */
    static final class ZstdException extends Exception {
        ZstdException(String message) {
            super(message);
        }
    }

    private static final int MAGIC = 0xFD2F_B528;
    private static final VarHandle LE_LONG = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
    private static final int MAX_BLOCK = 128 << 10;

    private static final int[] LL_BASE = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18, 20, 22, 24, 28, 32, 40, 48, 64,
            128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536};
    private static final int[] LL_BITS = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 3, 3, 4, 6, 7, 8, 9, 10, 11,
            12, 13, 14, 15, 16};
    private static final int[] ML_BASE = {3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27,
            28, 29, 30, 31, 32, 33, 34, 35, 37, 39, 41, 43, 47, 51, 59, 67, 83, 99, 131, 259, 515, 1027, 2051, 4099, 8195, 16387,
            32771, 65539};
    private static final int[] ML_BITS = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 1, 1, 1, 1, 2, 2, 3, 3, 4, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    /** The predefined distributions (RFC 8878 3.1.1.3.2.2). */
    private static final short[] LL_DEFAULT = {4, 3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 2, 1, 1, 1,
            1, 1, -1, -1, -1, -1};
    private static final short[] ML_DEFAULT = {1, 4, 3, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
            1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, -1, -1, -1, -1, -1, -1, -1};
    private static final short[] OF_DEFAULT = {1, 1, 1, 1, 1, 1, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, -1, -1, -1, -1, -1};
    private static final Fse LL_PREDEFINED = Fse.build(LL_DEFAULT, 6), ML_PREDEFINED = Fse.build(ML_DEFAULT, 6),
            OF_PREDEFINED = Fse.build(OF_DEFAULT, 5);

    private final byte[] in;
    private final byte[] out;
    private int inPos, outPos;
    private int frameStart;
    // State carried from block to block within a frame.
    private Huffman huffman;
    private Fse llTable, ofTable, mlTable;
    private final int[] rep = new int[3];
    private byte[] literals = new byte[MAX_BLOCK];

    private Zstd(byte[] in, byte[] out) {
        this.in = in;
        this.out = out;
    }

    /** Decodes every frame of {@code in} into a new array of {@code size} bytes, which they must fill exactly. */
    static byte[] decompress(byte[] in, int size) throws ZstdException {
        Zstd z = new Zstd(in, new byte[size]);
        try {
            while (z.inPos < in.length) z.frame();
        } catch (IndexOutOfBoundsException | NegativeArraySizeException e) {
            throw new ZstdException("malformed frame (" + e.getClass().getSimpleName() + ")"); // a check this code missed
        }
        if (z.outPos != size) throw new ZstdException("frames hold " + z.outPos + " bytes, not " + size);
        return z.out;
    }

    private int u8() throws ZstdException {
        need(1);
        return in[inPos++] & 0xFF;
    }

    private long uLe(int bytes) throws ZstdException {
        need(bytes);
        long v = 0;
        for (int i = 0; i < bytes; i++) v |= (long) (in[inPos + i] & 0xFF) << (8 * i);
        inPos += bytes;
        return v;
    }

    private void need(int bytes) throws ZstdException {
        if (bytes < 0 || inPos + bytes > in.length) throw new ZstdException("input ends inside a frame");
    }

    private void frame() throws ZstdException {
        int magic = (int) uLe(4);
        if ((magic & 0xFFFF_FFF0) == 0x184D_2A50) { // a skippable frame
            long n = uLe(4);
            if (n > in.length - inPos) throw new ZstdException("skippable frame runs past the input");
            inPos += (int) n;
            return;
        }
        if (magic != MAGIC) throw new ZstdException(String.format("not a zstd frame (magic %08x)", magic));
        int fhd = u8();
        int fcsFlag = fhd >>> 6, dictFlag = fhd & 3;
        boolean single = (fhd & 0x20) != 0, checksum = (fhd & 4) != 0;
        if ((fhd & 8) != 0) throw new ZstdException("reserved frame header bit set");
        if (!single) u8(); // window descriptor: the whole output is in memory, any window fits
        if (dictFlag != 0) {
            long dict = uLe(dictFlag == 3 ? 4 : dictFlag);
            if (dict != 0) throw new ZstdException("frame needs dictionary " + dict);
        }
        int fcsBytes = switch (fcsFlag) {
            case 0 -> single ? 1 : 0;
            case 1 -> 2;
            case 2 -> 4;
            default -> 8;
        };
        long contentSize = fcsBytes == 0 ? -1 : uLe(fcsBytes) + (fcsBytes == 2 ? 256 : 0);
        frameStart = outPos;
        huffman = null;
        llTable = ofTable = mlTable = null;
        rep[0] = 1;
        rep[1] = 4;
        rep[2] = 8;
        boolean last;
        do {
            int header = (int) uLe(3);
            last = (header & 1) != 0;
            int type = (header >>> 1) & 3, size = header >>> 3;
            switch (type) {
                case 0 -> {
                    need(size);
                    room(size);
                    System.arraycopy(in, inPos, out, outPos, size);
                    inPos += size;
                    outPos += size;
                }
                case 1 -> {
                    room(size);
                    byte b = (byte) u8();
                    for (int i = 0; i < size; i++) out[outPos++] = b;
                }
                case 2 -> {
                    if (size > MAX_BLOCK) throw new ZstdException("compressed block of " + size + " bytes");
                    need(size);
                    int end = inPos + size;
                    compressedBlock(end);
                    inPos = end;
                }
                default -> throw new ZstdException("reserved block type");
            }
        } while (!last);
        if (contentSize >= 0 && outPos - frameStart != contentSize)
            throw new ZstdException("frame holds " + (outPos - frameStart) + " bytes, its header says " + contentSize);
        if (checksum) {
            int expected = (int) uLe(4);
            int actual = (int) XxHash64.hash(out, frameStart, outPos - frameStart);
            if (expected != actual) throw new ZstdException("content checksum mismatch");
        }
    }

    private void room(long n) throws ZstdException {
        if (n < 0 || outPos + n > out.length) throw new ZstdException("frames hold more than the " + out.length + " bytes expected");
    }

    // ---- compressed blocks: literals, then sequences (RFC 8878 3.1.1.3) ----

    private void compressedBlock(int end) throws ZstdException {
        int nLiterals = literalsSection(end);
        // Sequences section header.
        if (inPos >= end) throw new ZstdException("block ends before its sequences");
        int b0 = in[inPos++] & 0xFF;
        int nSeq;
        if (b0 < 128) nSeq = b0;
        else if (b0 < 255) {
            if (inPos >= end) throw new ZstdException("block ends in its sequence count");
            nSeq = ((b0 - 128) << 8) + (in[inPos++] & 0xFF);
        } else {
            if (inPos + 2 > end) throw new ZstdException("block ends in its sequence count");
            nSeq = (in[inPos] & 0xFF) + ((in[inPos + 1] & 0xFF) << 8) + 0x7F00;
            inPos += 2;
        }
        if (nSeq == 0) {
            if (inPos != end) throw new ZstdException("bytes after a block without sequences");
            room(nLiterals);
            System.arraycopy(literals, 0, out, outPos, nLiterals);
            outPos += nLiterals;
            return;
        }
        if (inPos >= end) throw new ZstdException("block ends before its compression modes");
        int modes = in[inPos++] & 0xFF;
        if ((modes & 3) != 0) throw new ZstdException("reserved bits in the compression modes");
        llTable = table(modes >>> 6, llTable, LL_PREDEFINED, 35, 9, end, "literal lengths");
        ofTable = table((modes >>> 4) & 3, ofTable, OF_PREDEFINED, 31, 8, end, "offsets");
        mlTable = table((modes >>> 2) & 3, mlTable, ML_PREDEFINED, 52, 9, end, "match lengths");
        sequences(nSeq, nLiterals, end);
    }

    private Fse table(int mode, Fse previous, Fse predefined, int maxSymbol, int maxLog, int end, String what) throws ZstdException {
        return switch (mode) {
            case 0 -> predefined;
            case 1 -> {
                if (inPos >= end) throw new ZstdException("block ends in the " + what + " table");
                int s = in[inPos++] & 0xFF;
                if (s > maxSymbol) throw new ZstdException(what + ": RLE symbol " + s);
                yield Fse.rle(s);
            }
            case 2 -> {
                ForwardBits bits = new ForwardBits(in, inPos, end);
                short[] norm = new short[maxSymbol + 1];
                int log = Fse.readCounts(bits, norm, maxSymbol, maxLog);
                inPos = bits.bytePosition();
                yield Fse.build(norm, log);
            }
            default -> {
                if (previous == null) throw new ZstdException(what + ": repeat mode without a previous table");
                yield previous;
            }
        };
    }

    private void sequences(int nSeq, int nLiterals, int end) throws ZstdException {
        BackwardBits bits = new BackwardBits(in, inPos, end);
        int llState = (int) bits.read(llTable.log), ofState = (int) bits.read(ofTable.log), mlState = (int) bits.read(mlTable.log);
        int lit = 0;
        for (int i = 0; i < nSeq; i++) {
            int ofCode = ofTable.symbol[ofState], mlCode = mlTable.symbol[mlState], llCode = llTable.symbol[llState];
            if (ofCode > 31 || mlCode >= ML_BASE.length || llCode >= LL_BASE.length) throw new ZstdException("sequence code out of range");
            long offsetValue = (1L << ofCode) + bits.read(ofCode);
            int matchLength = ML_BASE[mlCode] + (int) bits.read(ML_BITS[mlCode]);
            int literalLength = LL_BASE[llCode] + (int) bits.read(LL_BITS[llCode]);
            long offset;
            if (offsetValue > 3) {
                offset = offsetValue - 3;
                rep[2] = rep[1];
                rep[1] = rep[0];
                rep[0] = (int) Math.min(offset, Integer.MAX_VALUE);
            } else {
                int idx = (int) offsetValue + (literalLength == 0 ? 1 : 0);
                switch (idx) {
                    case 1 -> offset = rep[0];
                    case 2 -> {
                        offset = rep[1];
                        rep[1] = rep[0];
                        rep[0] = (int) offset;
                    }
                    case 3 -> {
                        offset = rep[2];
                        rep[2] = rep[1];
                        rep[1] = rep[0];
                        rep[0] = (int) offset;
                    }
                    default -> {
                        offset = rep[0] - 1L;
                        if (offset == 0) throw new ZstdException("repeat offset 0");
                        rep[2] = rep[1];
                        rep[1] = rep[0];
                        rep[0] = (int) offset;
                    }
                }
            }
            if (i < nSeq - 1) { // literal lengths, match lengths, then offsets
                llState = llTable.next(llState, bits);
                mlState = mlTable.next(mlState, bits);
                ofState = ofTable.next(ofState, bits);
            }
            if (literalLength > nLiterals - lit) throw new ZstdException("sequence takes more literals than the block has");
            room((long) literalLength + matchLength);
            System.arraycopy(literals, lit, out, outPos, literalLength);
            lit += literalLength;
            outPos += literalLength;
            if (offset > outPos - frameStart) throw new ZstdException("match offset " + offset + " before the frame's start");
            int from = outPos - (int) offset;
            if (offset >= matchLength) System.arraycopy(out, from, out, outPos, matchLength);
            else for (int k = 0; k < matchLength; k++) out[outPos + k] = out[from + k]; // overlapping: byte by byte
            outPos += matchLength;
        }
        if (!bits.exhausted()) throw new ZstdException("sequence bitstream not fully consumed");
        int rest = nLiterals - lit;
        room(rest);
        System.arraycopy(literals, lit, out, outPos, rest);
        outPos += rest;
    }

    /** Decodes the literals section into {@link #literals}; returns their number. */
    private int literalsSection(int end) throws ZstdException {
        if (inPos >= end) throw new ZstdException("block ends before its literals");
        int b0 = in[inPos] & 0xFF;
        int type = b0 & 3, sizeFormat = (b0 >>> 2) & 3;
        if (type == 0 || type == 1) { // raw, RLE
            int regenerated, headerBytes;
            switch (sizeFormat) {
                case 0, 2 -> {
                    regenerated = b0 >>> 3;
                    headerBytes = 1;
                }
                case 1 -> {
                    regenerated = (b0 >>> 4) + (byteAt(inPos + 1, end) << 4);
                    headerBytes = 2;
                }
                default -> {
                    regenerated = (b0 >>> 4) + (byteAt(inPos + 1, end) << 4) + (byteAt(inPos + 2, end) << 12);
                    headerBytes = 3;
                }
            }
            if (regenerated > MAX_BLOCK) throw new ZstdException(regenerated + " literals in one block");
            inPos += headerBytes;
            if (type == 0) {
                if (inPos + regenerated > end) throw new ZstdException("raw literals run past the block");
                System.arraycopy(in, inPos, literals, 0, regenerated);
                inPos += regenerated;
            } else {
                byte b = (byte) byteAt(inPos, end);
                inPos++;
                for (int i = 0; i < regenerated; i++) literals[i] = b;
            }
            return regenerated;
        }
        // Huffman-compressed (type 2, with a tree) or treeless (type 3, the previous tree).
        int headerBytes = sizeFormat <= 1 ? 3 : sizeFormat == 2 ? 4 : 5;
        int fieldBits = sizeFormat <= 1 ? 10 : sizeFormat == 2 ? 14 : 18;
        boolean fourStreams = sizeFormat != 0;
        long h = 0;
        for (int i = 0; i < headerBytes; i++) h |= (long) byteAt(inPos + i, end) << (8 * i);
        int regenerated = (int) ((h >>> 4) & ((1 << fieldBits) - 1));
        int compressed = (int) ((h >>> (4 + fieldBits)) & ((1 << fieldBits) - 1));
        if (regenerated > MAX_BLOCK) throw new ZstdException(regenerated + " literals in one block");
        inPos += headerBytes;
        if (compressed > end - inPos) throw new ZstdException("compressed literals run past the block");
        int streamsEnd = inPos + compressed;
        if (type == 2) {
            huffman = Huffman.read(in, inPos, streamsEnd);
            inPos += huffman.descriptionBytes;
        } else if (huffman == null) {
            throw new ZstdException("treeless literals without a previous Huffman table");
        }
        if (!fourStreams) {
            huffman.decode(in, inPos, streamsEnd, literals, 0, regenerated);
        } else {
            if (streamsEnd - inPos < 6) throw new ZstdException("literals jump table runs past the block");
            int s1 = u16(inPos), s2 = u16(inPos + 2), s3 = u16(inPos + 4);
            int start = inPos + 6;
            long s4 = (long) streamsEnd - start - s1 - s2 - s3;
            if (s4 < 1) throw new ZstdException("literals streams larger than their section");
            int segment = (regenerated + 3) / 4;
            if (3L * segment > regenerated) throw new ZstdException("too few literals for four streams");
            huffman.decode(in, start, start + s1, literals, 0, segment);
            huffman.decode(in, start + s1, start + s1 + s2, literals, segment, segment);
            huffman.decode(in, start + s1 + s2, start + s1 + s2 + s3, literals, 2 * segment, segment);
            huffman.decode(in, start + s1 + s2 + s3, streamsEnd, literals, 3 * segment, regenerated - 3 * segment);
        }
        inPos = streamsEnd;
        return regenerated;
    }

    private int byteAt(int at, int end) throws ZstdException {
        if (at >= end) throw new ZstdException("block ends inside a literals header");
        return in[at] & 0xFF;
    }

    private int u16(int at) {
        return (in[at] & 0xFF) | (in[at + 1] & 0xFF) << 8;
    }

    static int highBit(int v) {
        return 31 - Integer.numberOfLeadingZeros(v);
    }

    /** Reads up to 8 little-endian bytes at {@code at} (fewer before {@code end}), zero above. */
    static long le64(byte[] b, int at, int end) {
        if (at + 8 <= end) return (long) LE_LONG.get(b, at);
        long v = 0;
        for (int i = 0; at + i < end && i < 8; i++) v |= (long) (b[at + i] & 0xFF) << (8 * i);
        return v;
    }

    /** A little-endian bitstream read from its first bit up (FSE table descriptions). */
    static final class ForwardBits {
        private final byte[] b;
        private final int start, end;
        private long bit;

        ForwardBits(byte[] b, int start, int end) {
            this.b = b;
            this.start = start;
            this.end = end;
        }

        int peek(int n) throws ZstdException {
            long byteAt = start + (bit >>> 3);
            if (byteAt >= end) throw new ZstdException("table description runs past its block");
            return (int) ((le64(b, (int) byteAt, end) >>> (bit & 7)) & ((1L << n) - 1));
        }

        void skip(int n) {
            bit += n;
        }

        int read(int n) throws ZstdException {
            int v = peek(n);
            bit += n;
            return v;
        }

        int bytePosition() throws ZstdException {
            long p = start + ((bit + 7) >>> 3);
            if (p > end) throw new ZstdException("table description runs past its block");
            return (int) p;
        }
    }

    /**
     * A bitstream read from its last bit down, as zstd writes Huffman streams and sequences: the highest set bit of
     * the last byte marks the end; bits are taken from just below the current position, most significant first.
     */
    static final class BackwardBits {
        private final byte[] b;
        private final int start, end;
        private long pos; // bits left above the stream's start; negative once read past it

        BackwardBits(byte[] b, int start, int end) throws ZstdException {
            this.b = b;
            this.start = start;
            this.end = end;
            if (end <= start) throw new ZstdException("empty bitstream");
            int last = b[end - 1] & 0xFF;
            if (last == 0) throw new ZstdException("bitstream without its end marker");
            pos = (long) (end - start - 1) * 8 + highBit(last);
        }

        /** The next {@code n} bits (at most 56), zeros where the stream has none left. */
        long peek(int n) {
            if (n == 0) return 0;
            long p = pos - n;
            if (p >= 0) return (le64(b, start + (int) (p >>> 3), end) >>> (p & 7)) & ((1L << n) - 1);
            if (pos <= 0) return 0;
            return (le64(b, start, end) & ((1L << pos) - 1)) << -p;
        }

        void consume(int n) {
            pos -= n;
        }

        long read(int n) {
            long v = peek(n);
            pos -= n;
            return v;
        }

        boolean overflowed() {
            return pos < 0;
        }

        boolean exhausted() {
            return pos == 0;
        }
    }

    /** An FSE decoding table (RFC 8878 4.1). */
    static final class Fse {
        final int log;
        final int[] symbol, bits, base;

        private Fse(int log) {
            this.log = log;
            int size = 1 << log;
            symbol = new int[size];
            bits = new int[size];
            base = new int[size];
        }

        static Fse rle(int s) {
            Fse t = new Fse(0);
            t.symbol[0] = s;
            return t;
        }

        int next(int state, BackwardBits in) {
            return base[state] + (int) in.read(bits[state]);
        }

        /** Reads a table description's normalized counts into {@code norm}; returns the accuracy log. */
        static int readCounts(ForwardBits in, short[] norm, int maxSymbol, int maxLog) throws ZstdException {
            int log = in.read(4) + 5;
            if (log > maxLog) throw new ZstdException("FSE accuracy log " + log + " above " + maxLog);
            int remaining = (1 << log) + 1, threshold = 1 << log, nbBits = log + 1, s = 0;
            while (remaining > 1) {
                if (s > maxSymbol) throw new ZstdException("FSE counts for too many symbols");
                int max = (2 * threshold - 1) - remaining;
                int low = in.peek(nbBits - 1);
                int count;
                if (low < max) {
                    count = low;
                    in.skip(nbBits - 1);
                } else {
                    count = in.peek(nbBits);
                    if (count >= threshold) count -= max;
                    in.skip(nbBits);
                }
                count--;
                remaining -= count < 0 ? -count : count;
                norm[s++] = (short) count;
                if (count == 0) {
                    int repeat;
                    do {
                        repeat = in.read(2);
                        for (int i = 0; i < repeat; i++) {
                            if (s > maxSymbol) throw new ZstdException("FSE zero counts past the last symbol");
                            norm[s++] = 0;
                        }
                    } while (repeat == 3);
                }
                while (remaining < threshold && nbBits > 1) {
                    nbBits--;
                    threshold >>= 1;
                }
            }
            if (remaining != 1) throw new ZstdException("FSE counts do not add up");
            for (int i = s; i < norm.length; i++) norm[i] = 0;
            return log;
        }

        static Fse build(short[] norm, int log) {
            Fse t = new Fse(log);
            int size = 1 << log, high = size - 1;
            int[] next = new int[norm.length];
            for (int s = 0; s < norm.length; s++) {
                if (norm[s] == -1) {
                    t.symbol[high--] = s;
                    next[s] = 1;
                } else {
                    next[s] = Math.max(norm[s], 0);
                }
            }
            int step = (size >>> 1) + (size >>> 3) + 3, mask = size - 1, pos = 0;
            for (int s = 0; s < norm.length; s++) {
                for (int i = 0; i < norm[s]; i++) {
                    t.symbol[pos] = s;
                    do pos = (pos + step) & mask; while (pos > high);
                }
            }
            for (int u = 0; u < size; u++) {
                int s = t.symbol[u];
                int n = next[s]++;
                int b = log - highBit(n);
                t.bits[u] = b;
                t.base[u] = (n << b) - size;
            }
            return t;
        }
    }

    /** A Huffman decoding table for literals (RFC 8878 4.2), one entry per {@code maxBits}-bit prefix. */
    static final class Huffman {
        final int maxBits;
        final byte[] symbol;
        final byte[] length;
        final int descriptionBytes;

        private Huffman(int maxBits, int descriptionBytes) {
            this.maxBits = maxBits;
            this.descriptionBytes = descriptionBytes;
            symbol = new byte[1 << maxBits];
            length = new byte[1 << maxBits];
        }

        static Huffman read(byte[] in, int at, int end) throws ZstdException {
            if (at >= end) throw new ZstdException("literals end before their Huffman tree");
            int header = in[at] & 0xFF;
            int[] weights = new int[256];
            int n, used;
            if (header < 128) { // FSE-compressed weights, two interleaved states
                used = 1 + header;
                if (at + used > end) throw new ZstdException("Huffman tree description runs past the literals");
                ForwardBits fb = new ForwardBits(in, at + 1, at + used);
                short[] norm = new short[256];
                int log = Fse.readCounts(fb, norm, 255, 6);
                Fse t = Fse.build(norm, log);
                BackwardBits bits = new BackwardBits(in, fb.bytePosition(), at + used);
                int s1 = (int) bits.read(log), s2 = (int) bits.read(log);
                n = 0;
                while (true) {
                    if (n >= 255) throw new ZstdException("too many Huffman weights");
                    weights[n++] = t.symbol[s1];
                    s1 = t.next(s1, bits);
                    if (bits.overflowed()) {
                        weights[n++] = t.symbol[s2];
                        break;
                    }
                    if (n >= 255) throw new ZstdException("too many Huffman weights");
                    weights[n++] = t.symbol[s2];
                    s2 = t.next(s2, bits);
                    if (bits.overflowed()) {
                        if (n >= 255) throw new ZstdException("too many Huffman weights");
                        weights[n++] = t.symbol[s1];
                        break;
                    }
                }
            } else { // four bits per weight
                n = header - 127;
                used = 1 + (n + 1) / 2;
                if (at + used > end) throw new ZstdException("Huffman tree description runs past the literals");
                for (int i = 0; i < n; i++) {
                    int b = in[at + 1 + i / 2] & 0xFF;
                    weights[i] = (i & 1) == 0 ? b >>> 4 : b & 15;
                }
            }
            long total = 0;
            for (int i = 0; i < n; i++) {
                if (weights[i] > 11) throw new ZstdException("Huffman weight " + weights[i]);
                if (weights[i] > 0) total += 1L << (weights[i] - 1);
            }
            if (total == 0) throw new ZstdException("Huffman tree without symbols");
            int maxBits = highBit((int) total) + 1;
            if (maxBits > 11) throw new ZstdException("Huffman codes longer than 11 bits");
            long rest = (1L << maxBits) - total;
            if (Long.bitCount(rest) != 1) throw new ZstdException("Huffman weights do not complete a tree");
            weights[n++] = highBit((int) rest) + 1; // the last symbol's weight is implied
            Huffman h = new Huffman(maxBits, used);
            int[] start = new int[maxBits + 2];
            int pos = 0;
            for (int w = 1; w <= maxBits; w++) {
                start[w] = pos;
                for (int s = 0; s < n; s++) if (weights[s] == w) pos += 1 << (w - 1);
            }
            for (int s = 0; s < n; s++) {
                int w = weights[s];
                if (w == 0) continue;
                int len = 1 << (w - 1);
                for (int i = 0; i < len; i++) {
                    h.symbol[start[w] + i] = (byte) s;
                    h.length[start[w] + i] = (byte) (maxBits + 1 - w);
                }
                start[w] += len;
            }
            return h;
        }

        /** Decodes {@code count} literals from the stream {@code [from, to)} into {@code dst} at {@code at}. */
        void decode(byte[] in, int from, int to, byte[] dst, int at, int count) throws ZstdException {
            BackwardBits bits = new BackwardBits(in, from, to);
            for (int i = 0; i < count; i++) {
                int idx = (int) bits.peek(maxBits);
                dst[at + i] = symbol[idx];
                bits.consume(length[idx]);
            }
            if (!bits.exhausted()) throw new ZstdException("Huffman stream not consumed exactly");
        }
    }

    /** XXH64 with seed 0 (the frame's content checksum is its low 32 bits). */
    static final class XxHash64 {
        private static final long P1 = 0x9E3779B185EBCA87L, P2 = 0xC2B2AE3D27D4EB4FL, P3 = 0x165667B19E3779F9L,
                P4 = 0x85EBCA77C2B2AE63L, P5 = 0x27D4EB2F165667C5L;

        static long hash(byte[] b, int off, int len) {
            int end = off + len, p = off;
            long h;
            if (len >= 32) {
                long v1 = P1 + P2, v2 = P2, v3 = 0, v4 = -P1;
                for (; p + 32 <= end; p += 32) {
                    v1 = round(v1, (long) LE_LONG.get(b, p));
                    v2 = round(v2, (long) LE_LONG.get(b, p + 8));
                    v3 = round(v3, (long) LE_LONG.get(b, p + 16));
                    v4 = round(v4, (long) LE_LONG.get(b, p + 24));
                }
                h = Long.rotateLeft(v1, 1) + Long.rotateLeft(v2, 7) + Long.rotateLeft(v3, 12) + Long.rotateLeft(v4, 18);
                h = merge(merge(merge(merge(h, v1), v2), v3), v4);
            } else {
                h = P5;
            }
            h += len;
            for (; p + 8 <= end; p += 8) h = Long.rotateLeft(h ^ round(0, (long) LE_LONG.get(b, p)), 27) * P1 + P4;
            if (p + 4 <= end) {
                long k = (b[p] & 0xFFL) | (b[p + 1] & 0xFFL) << 8 | (b[p + 2] & 0xFFL) << 16 | (b[p + 3] & 0xFFL) << 24;
                h = Long.rotateLeft(h ^ k * P1, 23) * P2 + P3;
                p += 4;
            }
            for (; p < end; p++) h = Long.rotateLeft(h ^ (b[p] & 0xFFL) * P5, 11) * P1;
            h ^= h >>> 33;
            h *= P2;
            h ^= h >>> 29;
            h *= P3;
            h ^= h >>> 32;
            return h;
        }

        private static long round(long acc, long input) {
            return Long.rotateLeft(acc + input * P2, 31) * P1;
        }

        private static long merge(long h, long v) {
            return (h ^ round(0, v)) * P1 + P4;
        }
    }
}
