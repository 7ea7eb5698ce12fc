package org.jxen.vmm.snapshot;

import java.nio.charset.StandardCharsets;
import java.util.regex.Pattern;

/**
 * The container's constants (layout in docs/save-format.md): a header of magic and format version, then sections,
 * each {@code u8 tag length, tag, u16 version, i64 length, payload, u32 CRC32C} (the checksum covers the section's
 * header and payload), ending with the section {@value #END}. Big-endian.
 */
public final class SnapshotFormat {
    private SnapshotFormat() {}

    /** The first bytes of every jxen save, in both formats. */
    public static final byte[] MAGIC = "JXENSAVE".getBytes(StandardCharsets.US_ASCII);
    /** Format 1: one record written field after field (read only, for saves made before the container). */
    public static final int LEGACY = 1;
    /** Format 2: the section container. */
    public static final int CONTAINER = 2;
    /** The tag of the empty section that closes a container: a stream cut at a section boundary is still noticed. */
    public static final String END = "end";
    /** The longest tag; a tag is a kind (lower-case letters, digits, '-'), optionally '/' and an index below 65536. */
    static final int MAX_TAG = 40;
    private static final Pattern TAG = Pattern.compile("[a-z][a-z0-9-]{0,31}(/(0|[1-9][0-9]{0,4}))?");

    /** Whether {@code tag} is a well-formed section tag. */
    public static boolean validTag(String tag) {
        if (tag.length() > MAX_TAG || !TAG.matcher(tag).matches()) return false;
        int slash = tag.indexOf('/');
        return slash < 0 || Integer.parseInt(tag.substring(slash + 1)) < 65536;
    }

    /** The tag of section {@code index} of a kind ("vcpu", 1 → "vcpu/1"). */
    public static String tag(String kind, int index) {
        return kind + "/" + index;
    }
}
