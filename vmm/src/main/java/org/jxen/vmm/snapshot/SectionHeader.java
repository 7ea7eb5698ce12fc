package org.jxen.vmm.snapshot;

/**
 * The framing of one section as read: its tag ({@code kind} or {@code kind/index}), the version of its payload's
 * format, and the payload's length in bytes (checked against the reader's limits before it is returned).
 */
public record SectionHeader(String tag, int version, long length) {
    /** The tag without its index: "vcpu" for "vcpu/1". */
    public String kind() {
        int slash = tag.indexOf('/');
        return slash < 0 ? tag : tag.substring(0, slash);
    }

    /** The tag's index: 1 for "vcpu/1"; -1 for a tag without one. */
    public int index() {
        int slash = tag.indexOf('/');
        return slash < 0 ? -1 : Integer.parseInt(tag.substring(slash + 1));
    }
}
