package org.jxen.vmm.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.jxen.sys.kvm.Kvm;
import org.jxen.sys.kvm.KvmAbi;

/**
 * Debian's own 6.12 kernel, unmodified, as a Xen PVH domU on jxen's kvm mode, with the busybox initramfs of
 * {@code tools/linux-guest} (prepared by .ci/setup, which fetches the kernel package): what the guest reports of Xen
 * on its console, and that its {@code poweroff} ends the run with status 0. It needs KVM's Xen support, so it runs
 * inside {@code tools/kvm-vm} ({@link KvmInVmTest}); elsewhere it is skipped with the reason.
 */
class LinuxGuestTest {
    private static final Path GUEST = Path.of(System.getProperty("jxen.linux.guest", "/var/tmp/jxen-linux-guest"));

    @BeforeEach
    void needsKvmWithXenSupportAndThePreparedGuest() throws Exception {
        assumeTrue(Kvm.present(), "no /dev/kvm: the Linux guest runs inside tools/kvm-vm (KvmInVmTest)");
        try (Kvm kvm = Kvm.open()) {
            assumeTrue((kvm.checkExtension(KvmAbi.KVM_CAP_XEN_HVM) & KvmAbi.KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL) != 0,
                    "this KVM has no Xen support (KVM_CAP_XEN_HVM), which Linux's VMCALL/VMMCALL hypercalls need: the Linux guest runs inside tools/kvm-vm");
        }
        assumeTrue(Files.isReadable(GUEST.resolve("vmlinuz")) && Files.isReadable(GUEST.resolve("initrd.gz")),
                "no Linux guest prepared at " + GUEST + " (tools/linux-guest/prepare.sh, run by .ci/setup)");
    }

    @ParameterizedTest(name = "kvm mode, {0} vCPUs, cmdline \"{1}\": {2}")
    @CsvSource(delimiter = '|', value = {
            "2 | console=hvc0                   | Using FIFO-based ABI | 0-1",
            "1 | console=hvc0 xen.fifo_events=0 | Using 2-level ABI    | 0"})
    void debiansKernelBootsToItsInitAndPowersOff(int vcpus, String cmdline, String abi, String online) throws Exception {
        ByteArrayOutputStream console = new ByteArrayOutputStream(), hypervisor = new ByteArrayOutputStream();
        RunConfig config = new RunConfig(GUEST.resolve("vmlinuz"), 256L << 20, vcpus, cmdline, Duration.ofSeconds(1500), console,
                new ByteArrayInputStream(new byte[0]), hypervisor, RunConfig.Accel.KVM, GUEST.resolve("initrd.gz"));
        RunOutcome o;
        long bugs;
        try (XenDomain d = XenDomain.create(config)) {
            o = d.run();
            bugs = d.platform().hypercallBugs();
        }
        String out = console.toString(StandardCharsets.UTF_8);
        System.out.println(out);
        System.out.println(hypervisor.toString(StandardCharsets.UTF_8));
        assertEquals(RunOutcome.POWEROFF, o.status(), o.reason() + "\n" + tail(out));
        assertEquals(0, bugs, "jxen bugs in hypercalls");
        assertTrue(out.contains("Hypervisor detected: Xen HVM"), tail(out));
        assertTrue(out.contains("Booting kernel on Xen PVH"), tail(out));
        assertTrue(out.contains("guest: hypervisor xen"), tail(out));
        assertTrue(out.contains("guest: cpus online " + online + "\n"), tail(out));
        assertTrue(out.contains("guest: console hvc0"), tail(out));
        assertTrue(out.contains("guest: evtchn " + abi), tail(out));
        assertTrue(out.contains("guest: powering off"), tail(out));
    }

    private static String tail(String s) {
        return s.length() < 4000 ? s : s.substring(s.length() - 4000);
    }
}
