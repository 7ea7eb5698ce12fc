package org.jxen.vmm.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.jxen.sys.kvm.Kvm;

/**
 * Runs the KVM guest tests ({@link #KVM_TESTS}: the C guests, and Debian's Linux, which needs KVM's Xen support) inside
 * the KVM-in-TCG VM of {@code tools/kvm-vm}: a real KVM (kvm_amd on an emulated SVM CPU, Debian 6.12 with
 * KVM_CAP_XEN_HVM), the same JDK and classes over 9p. Skipped, with the reason, when the VM is not prepared.
 */
@Tag("kvm")
class KvmInVmTest {
    static final List<String> KVM_TESTS = List.of(XenDomainTest.class.getName(), LinuxGuestTest.class.getName(), GrubGuestTest.class.getName(),
            "org.jxen.vmm.migrate.LiveMigrationTest#aGuestUsingKvmsXenStateMovesInKvmMode", // kvm mode only: its user-mode cases run on the host
            "org.jxen.vmm.migrate.LiveMigrationTest#aGuestUsingKvmsXenStateResumesAtTheSourceWhenTheDestinationDies",
            "org.jxen.vmm.migrate.LiveMigrationTest#aDamagedStreamFromAKvmModeSourceEndsTheDestinationAndTheSourceTicksOn");

    @Test
    void kvmGuestTestsPassInsideAVmWithKvm() throws Exception {
        // With /dev/kvm the KVM tests also run directly (XenDomainTest); the VM adds a standard KVM (kvm_amd, and with
        // Debian 6.12 KVM's Xen support) beside whatever this host's is, e.g. a nested PVM one.
        Path run = Path.of(System.getProperty("jxen.kvm.vm.run", "../tools/kvm-vm/run.sh"));
        Path vm = Path.of(System.getenv().getOrDefault("JXEN_KVM_VM", "/var/tmp/jxen-kvm-vm"), "kernel", "vmlinuz");
        assumeTrue(Files.exists(vm), "no KVM VM prepared at " + vm.getParent().getParent()
                + " (tools/kvm-vm/prepare.sh, which .ci/setup runs as root)" + (Kvm.present()
                        ? ": the KVM guest tests ran on this host's /dev/kvm only"
                        : " and no /dev/kvm: the KVM guest tests are skipped"));
        // Outside the VM init's chroot, where passt (--net user) can make its user namespace, with a runtime directory
        // for its socket (switch-root.sh says why).
        Path switchRoot = Path.of("../tools/kvm-vm/switch-root.sh").toAbsolutePath().normalize();
        List<String> cmd = new ArrayList<>(List.of(run.toString(), "/bin/sh", switchRoot.toString(),
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow", "-XX:+UseSerialGC", "-Xshare:auto",
                "-cp", System.getProperty("java.class.path"),
                "-Djxen.guests=" + System.getProperty("jxen.guests"),
                "-Djxen.linux.guest=" + System.getProperty("jxen.linux.guest", "/var/tmp/jxen-linux-guest"),
                "-Djxen.linux.timeout=" + System.getProperty("jxen.linux.timeout", "1500"), InVmLauncher.class.getName()));
        String only = System.getProperty("jxen.kvm.tests", ""); // e.g. XenDomainTest#someTest, for a quicker look
        cmd.addAll(only.isBlank() ? KVM_TESTS : List.of(only.split(",")));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().put("JXEN_KVM_VM_TIMEOUT", "3600"); // under TCG: the guest tests ~5 min, each Linux boot a few more
        long t0 = System.nanoTime();
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes());
        int status = p.waitFor();
        System.out.println(out);
        System.out.printf("KVM VM run: status %d after %.0f s%n", status, (System.nanoTime() - t0) / 1e9);
        Matcher m = Pattern.compile("in-vm: (\\d+) tests, (\\d+) succeeded, (\\d+) failed, (\\d+) skipped").matcher(out);
        assertTrue(m.find(), "no test summary from inside the VM:\n" + out);
        assertEquals(0, Integer.parseInt(m.group(3)), () -> "failures inside the VM:\n"
                + out.lines().filter(l -> l.startsWith("in-vm failed: ") || l.startsWith("in-vm detail: ")).collect(Collectors.joining("\n"))
                + "\n(the whole output is above the summary)");
        // Every test must have run inside the VM except the two about something the VM has (aborted there): a missing
        // /dev/kvm, and a KVM without Xen support (the VM's Debian 6.12 KVM has it).
        if (only.isBlank()) assertEquals(Integer.parseInt(m.group(1)) - 2, Integer.parseInt(m.group(2)), "KVM tests skipped inside the VM:\n" + out);
        assertEquals(0, status, out);
    }
}
