package org.jxen.cli;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code jxen run --disk IMAGE} without a kernel (PVH GRUB boots the disk): the misuse that ends before any VM, in one line. */
class DiskBootOptionsTest {
    @TempDir
    Path dir;

    private record Result(int status, String stderr) {}

    private static Result run(String... args) {
        PrintStream saved = System.err;
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            return new Result(Main.execute(args), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setErr(saved);
        }
    }

    private Path image() throws Exception {
        Path img = dir.resolve("disk.img");
        Files.write(img, new byte[1 << 20]);
        return img;
    }

    @Test
    void aMissingBootloaderIsOneLineNamingThePackage() throws Exception {
        Path missing = dir.resolve("no-grub.bin");
        Result r = run("run", "--disk", image().toString(), "--bootloader", missing.toString());
        assertEquals(1, r.status());
        assertEquals(1, r.stderr().lines().count(), r.stderr());
        assertTrue(r.stderr().startsWith("jxen: " + missing + ": no PVH GRUB"), r.stderr());
        assertTrue(r.stderr().contains("grub-xen-host"), r.stderr());
    }

    @Test
    void theDefaultBootloaderIsDebiansPvhGrub() throws Exception {
        assumeFalse(Files.exists(RunCommand.DEFAULT_BOOTLOADER), "grub-xen-host is installed here: the default exists");
        Result r = run("run", "--disk", image().toString());
        assertEquals(1, r.status());
        assertEquals("jxen: /usr/lib/grub-xen/grub-i386-xen_pvh.bin: no PVH GRUB to boot the disk with (Debian's package grub-xen-host "
                + "installs it; or name one with --bootloader FILE)\n", r.stderr());
    }

    @Test
    void aBootloaderIsNotAKernelsCompanion() throws Exception {
        Result r = run("run", "--kernel", image().toString(), "--disk", image().toString(), "--bootloader", image().toString());
        assertEquals(1, r.status());
        assertTrue(r.stderr().contains("--bootloader boots a --disk in place of a kernel"), r.stderr());
        Result initrd = run("run", "--disk", image().toString(), "--bootloader", image().toString(), "--initrd", image().toString());
        assertEquals(1, initrd.status());
        assertTrue(initrd.stderr().contains("GRUB loads the initrd its grub.cfg names"), initrd.stderr());
    }

    @Test
    void onRebootIsRestartOrExit() throws Exception {
        Result r = run("run", "--disk", image().toString(), "--on-reboot", "pause");
        assertEquals(1, r.status());
        assertEquals("jxen: --on-reboot must be restart or exit, not pause\n", r.stderr());
    }

    @Test
    void withNeitherKernelNorDiskTheMessageNamesAllThreeWays() {
        Result r = run("run");
        assertEquals(1, r.status());
        assertTrue(r.stderr().contains("or a --disk to boot with GRUB"), r.stderr());
    }
}
