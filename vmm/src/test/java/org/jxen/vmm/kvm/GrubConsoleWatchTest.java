package org.jxen.vmm.kvm;

import static org.junit.jupiter.api.Assertions.*;

import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import org.junit.jupiter.api.Test;

/** What {@link GrubConsoleWatch} reads off GRUB's console, byte streams as Debian's PVH GRUB 2.06 wrote them under jxen. */
class GrubConsoleWatchTest {
    /** GRUB's console with no grub.cfg on the disk: colours, a progress line ended by cursor moves, two errors, the prompt. */
    private static final String NO_CFG = "\u001b[30m\u001b[47mWelcome to GRUB!\n\r\n\r\u001b[37m\u001b[40m\u001b[3;39H      [ grub.cfg  232B  100%  1.87KiB/s ]"
            + "\u001b[3;1Herror: no such device: /boot/grub/grub.cfg.\n\rerror: no such device: /grub/grub.cfg.\n\r\u001b[H\u001b[J\u001b[1;1H"
            + "\u001b[2;24HGNU GRUB  version 2.06-13+deb12u2\n\r\n\r\u001b[?25h   Minimal BASH-like line editing is supported. For the first word, TAB   \n\r"
            + "\n\r\n\rgrub> ";

    @Test
    void theMessagesAndThePromptAreReadAlongWhileEveryBytePassesThrough() throws Exception {
        GrubConsoleWatch watch = new GrubConsoleWatch(false);
        ByteArrayOutputStream passed = new ByteArrayOutputStream();
        OutputStream out = watch.readAlong(passed);
        byte[] bytes = NO_CFG.getBytes(StandardCharsets.ISO_8859_1);
        // In the odd pieces a console ring drains in.
        for (int i = 0; i < bytes.length; i += 7) {
            assertFalse(watch.promptSeen(), "not before the prompt's last byte");
            out.write(bytes, i, Math.min(7, bytes.length - i));
        }
        assertArrayEquals(bytes, passed.toByteArray(), "the console passes unchanged");
        assertTrue(watch.promptSeen());
        assertEquals("error: no such device: /boot/grub/grub.cfg. error: no such device: /grub/grub.cfg.", watch.messages());
    }

    @Test
    void theEarlyHaltOnTheDebugPortIsAMessageToo() throws Exception {
        GrubConsoleWatch watch = new GrubConsoleWatch(false);
        OutputStream out = watch.readAlong(OutputStream.nullOutputStream());
        out.write("(d1) Memory_op hypercall failed!\n(d1) System halted!\n".getBytes(StandardCharsets.US_ASCII));
        assertEquals("(d1) Memory_op hypercall failed! (d1) System halted!", watch.messages());
        assertFalse(watch.promptSeen());
    }

    @Test
    void anErrorWithoutItsLineEndIsQuotedAndOnlyTheLatestFourAreKept() throws Exception {
        GrubConsoleWatch watch = new GrubConsoleWatch(false);
        OutputStream out = watch.readAlong(OutputStream.nullOutputStream());
        for (int i = 1; i <= 5; i++) out.write(("error: number " + i + ".\r\n").getBytes(StandardCharsets.US_ASCII));
        out.write("error: number 5.\r\n".getBytes(StandardCharsets.US_ASCII)); // a repeat is kept once
        out.write("Press any key to continue...\r\nerror: still being written".getBytes(StandardCharsets.US_ASCII));
        assertEquals("error: number 3. error: number 4. error: number 5. error: still being written", watch.messages());
    }

    @Test
    void aPromptInsideALineIsNotGrubs() throws Exception {
        GrubConsoleWatch watch = new GrubConsoleWatch(false);
        watch.readAlong(OutputStream.nullOutputStream()).write("echo grub> \n".getBytes(StandardCharsets.US_ASCII));
        assertFalse(watch.promptSeen());
        assertEquals("", watch.messages());
    }

    /**
     * The watched config is the user's in all else: `--evtchn fifo` with `--disk` once booted 2-level only (the choice was
     * dropped), and `--pit` would have been dropped the same way.
     */
    @Test
    void theWatchedConfigKeepsEverythingButTheConsoles() {
        RunConfig config = new RunConfig(Path.of("grub.bin"), 256L << 20, 2, "", Duration.ofSeconds(5), OutputStream.nullOutputStream(),
                InputStream.nullInputStream(), OutputStream.nullOutputStream(), RunConfig.Accel.KVM, null, List.of(), List.of(),
                RunConfig.EventChannels.FIFO, true);
        RunConfig watched = new GrubConsoleWatch(false).watching(config);
        assertEquals(RunConfig.EventChannels.FIFO, watched.eventChannels());
        assertTrue(watched.pit(), "--pit kept");
        assertEquals(RunConfig.Accel.KVM, watched.accel());
        assertEquals(2, watched.vcpus());
        assertEquals(256L << 20, watched.memoryBytes());
    }
}
