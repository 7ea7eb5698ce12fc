package org.jxen.vmm.snapshot;

import java.io.IOException;

/**
 * A snapshot (a save file, a migration stream) that cannot be read: one line for the user, naming the section at fault
 * where there is one. Every damage a reader can meet ends in this exception, never in another type or an allocation
 * driven by a damaged length.
 */
public final class SnapshotException extends IOException {
    private final String section;

    /** @param section the tag of the section at fault, or null for the container itself (its header, its end) */
    public SnapshotException(String section, String message) {
        super(message.replace('\n', ' '));
        this.section = section;
    }

    /** The tag of the section at fault ("vcpu/1"), or null when the container itself is. */
    public String section() {
        return section;
    }
}
