package org.jxen.sys;

import static org.junit.jupiter.api.Assertions.*;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An image's lock as {@link BlockFile#open} takes it: open file description locks belong to each open, not to the
 * process, so two opens in this one JVM behave as two jxen processes would.
 */
class BlockFileLockTest {
    @TempDir
    Path dir;

    private Path image() throws Exception {
        Path img = dir.resolve("disk.img");
        Files.write(img, new byte[4096]);
        return img;
    }

    private static int refusal(Path img, boolean readOnly) {
        SyscallException e = assertThrows(SyscallException.class, () -> BlockFile.open(img, readOnly).close());
        assertTrue(e.getMessage().startsWith(img + ": F_OFD_SETLK failed"), e.getMessage());
        return e.errno();
    }

    @Test
    void aReadWriteImageCannotBeOpenedAgainEitherWay() throws Exception {
        Path img = image();
        try (BlockFile first = BlockFile.open(img, false)) {
            assertEquals(Errno.EAGAIN, refusal(img, false));
            assertEquals(Errno.EAGAIN, refusal(img, true));
            assertEquals(0, first.write(Arena.ofAuto().allocate(512), 0), "the holder goes on");
        }
    }

    /** A live migration's hand-over on one host: the source unlocks, the destination opens; the source cannot lock it back until it closes. */
    @Test
    void anUnlockedImageCanBeOpenedElsewhereAndLockedBackOnlyOnceThatOneCloses() throws Exception {
        Path img = image();
        try (BlockFile source = BlockFile.open(img, false)) {
            source.unlock();
            BlockFile destination = BlockFile.open(img, false);
            assertEquals(Errno.EAGAIN, assertThrows(SyscallException.class, source::relock).errno());
            destination.close();
            source.relock();
            assertEquals(Errno.EAGAIN, refusal(img, false));
        }
    }

    @Test
    void readOnlyOpensShareAnImageAndKeepWritersOut() throws Exception {
        Path img = image();
        try (BlockFile a = BlockFile.open(img, true); BlockFile b = BlockFile.open(img, true)) {
            assertEquals(4096, a.size());
            assertEquals(4096, b.size());
            assertEquals(Errno.EAGAIN, refusal(img, false));
        }
    }

    @Test
    void theLockGoesWithTheClose() throws Exception {
        Path img = image();
        BlockFile.open(img, false).close();
        try (BlockFile again = BlockFile.open(img, false)) {
            assertFalse(again.readOnly());
        }
        BlockFile ro = BlockFile.open(img, true);
        ro.close();
        BlockFile.open(img, false).close();
    }

    @Test
    void aRefusedOpenLeavesNoDescriptorBehind() throws Exception {
        Path img = image();
        long before;
        try (var fds = Files.list(Path.of("/proc/self/fd"))) {
            before = fds.count();
        }
        try (BlockFile holder = BlockFile.open(img, false)) {
            for (int i = 0; i < 50; i++) refusal(img, false);
        }
        try (var fds = Files.list(Path.of("/proc/self/fd"))) {
            assertEquals(before, fds.count());
        }
    }
}
