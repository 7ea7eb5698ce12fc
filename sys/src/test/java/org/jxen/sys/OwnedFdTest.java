package org.jxen.sys;

import static org.junit.jupiter.api.Assertions.*;

import java.lang.foreign.Arena;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What a call after the close does, through the classes that own their descriptor with {@link OwnedFd}. */
class OwnedFdTest {
    @TempDir
    Path dir;

    @Test
    void aStreamUsedAfterItsCloseThrowsNamingTheSocket() throws Exception {
        Path path = dir.resolve("s");
        try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            server.bind(UnixDomainSocketAddress.of(path));
            UnixStream stream = UnixStream.connect(path);
            assertTrue(stream.fd() >= 0);
            stream.close();
            stream.close(); // a second close does nothing
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> stream.read(Arena.ofAuto().allocate(16)));
            assertTrue(e.getMessage().contains("UNIX socket to " + path) && e.getMessage().contains("is closed"), e.getMessage());
            assertThrows(IllegalStateException.class, () -> stream.send(Arena.ofAuto().allocate(16)));
            assertThrows(IllegalStateException.class, () -> stream.awaitWritable(0));
            assertThrows(IllegalStateException.class, stream::fd);
        }
    }

    @Test
    void anImageKeepsAnsweringIoWithEbadfButItsLockCallsThrow() throws Exception {
        Path img = dir.resolve("disk.img");
        Files.write(img, new byte[4096]);
        BlockFile file = BlockFile.open(img, false);
        file.close();
        file.close();
        assertEquals(-Errno.EBADF, file.read(Arena.ofAuto().allocate(512), 0), "a request after the close is an I/O error for that request");
        assertEquals(-Errno.EBADF, file.flush());
        IllegalStateException e = assertThrows(IllegalStateException.class, file::unlock);
        assertTrue(e.getMessage().contains("image " + img), e.getMessage());
    }
}
