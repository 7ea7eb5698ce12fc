package org.jxen.sys;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.api.Test;

/**
 * A TAP jxen creates is multi-queue, so a second process (a live migration's destination on the same host) attaches
 * beside the first instead of being refused with EBUSY. Needs CAP_NET_ADMIN (skipped without it).
 */
class TapDeviceTest {
    @Test
    void aTapJxenCreatesTakesASecondDescriptor() {
        TapDevice first;
        try {
            first = TapDevice.open("jxtaptest0");
        } catch (SyscallException e) {
            assumeTrue(false, "cannot create a TAP here (" + e.getMessage() + "): needs CAP_NET_ADMIN and /dev/net/tun");
            return;
        }
        try (first; TapDevice second = TapDevice.open("jxtaptest0")) {
            assertEquals(first.name(), second.name());
        }
    }
}
