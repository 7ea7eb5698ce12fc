package org.jxen.vmm.backend.block;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Path;

import org.junit.jupiter.api.Test;

class DiskSpecTest {
    @Test
    void parsesWhatTheOptionTakes() {
        assertEquals(new DiskSpec(Path.of("a.img"), false), DiskSpec.parse("a.img"));
        assertEquals(new DiskSpec(Path.of("a.img"), true), DiskSpec.parse("a.img,ro"));
        assertEquals(new DiskSpec(Path.of("/x/a.img"), true), DiskSpec.parse("/x/a.img,format=raw,ro"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> DiskSpec.parse("a.img,format=qcow2")).getMessage().contains("only format=raw"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> DiskSpec.parse("a.img,fast")).getMessage().contains("unknown option"));
        assertThrows(IllegalArgumentException.class, () -> DiskSpec.parse(",ro"));
    }

    @Test
    void namesAndIdsFollowTheVbdInterface() {
        assertEquals("xvda", DiskSpec.deviceName(0));
        assertEquals("xvdb", DiskSpec.deviceName(1));
        assertEquals(51712, DiskSpec.deviceId(0));
        assertEquals(51728, DiskSpec.deviceId(1));
        assertThrows(IllegalArgumentException.class, () -> DiskSpec.deviceId(16));
    }
}
