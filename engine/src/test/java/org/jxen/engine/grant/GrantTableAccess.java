package org.jxen.engine.grant;

import java.lang.foreign.MemorySegment;

/** Test access to a grant table's frames from other packages. */
public final class GrantTableAccess {
    private GrantTableAccess() {}

    public static MemorySegment frame(GrantTable grants, int frame) {
        return grants.frameOf(frame * GrantTable.ENTRIES_PER_FRAME).asSegment();
    }
}
