package org.jxen.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.jxen.sys.kvm.Kvm;
import org.jxen.sys.kvm.KvmAbi;

/**
 * A smoke of the peer harness (tools/peer, docs/peer.md): one boot of the same Linux guest under jxen and one under
 * QEMU's Xen emulation, so the harness does not rot. No figure is compared (the harness's figures rank the two VMMs;
 * the emulated VM's are not for asserting). It runs where KVM has Xen support: here, or else inside tools/kvm-vm;
 * skipped, with the reason, where neither is, or where tools/peer/prepare.sh could not prepare QEMU.
 */
@Tag("kvm")
class PeerSmokeTest {
    private static final Path PEER = Path.of(System.getenv().getOrDefault("JXEN_PEER", "/var/tmp/jxen-peer"));
    private static final Path TOOLS = Path.of(System.getProperty("jxen.tools", "../tools")).toAbsolutePath().normalize();

    @Test
    void oneBootUnderEachVmmIsMeasuredAndReported(@TempDir Path out) throws Exception {
        assumeTrue(Files.isExecutable(PEER.resolve("bin/qemu-system-x86_64")) && Files.isReadable(PEER.resolve("initrd.gz")),
                "QEMU with Xen emulation is not prepared at " + PEER + " (tools/peer/prepare.sh, which .ci/setup runs as root; it"
                        + " needs Debian's bookworm-backports or trixie reachable)");
        List<String> cmd = new ArrayList<>();
        if (!kvmHasXenSupport()) {
            Path vm = Path.of(System.getenv().getOrDefault("JXEN_KVM_VM", "/var/tmp/jxen-kvm-vm"), "kernel", "vmlinuz");
            assumeTrue(Files.exists(vm), "no KVM with Xen support here and no KVM VM prepared at " + vm.getParent().getParent()
                    + " (tools/kvm-vm/prepare.sh)");
            cmd.add(TOOLS.resolve("kvm-vm/run.sh").toString());
        }
        // The harness's own command, with this build's classes for jxen (the jar is packaged after the tests).
        cmd.addAll(List.of("env", "JXEN_CP=" + System.getProperty("java.class.path"), "JXEN_JAVA_HOME=" + System.getProperty("java.home"),
                TOOLS.resolve("peer/run.sh").toString(), "--boots", "1", "--secs", "1", "--timeout", "900", "--out", out.toString()));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().put("JXEN_KVM_VM_TIMEOUT", "3600");
        Process p = pb.start();
        String output = new String(p.getInputStream().readAllBytes());
        int status = p.waitFor();
        System.out.println(output);
        assumeTrue(status != 125 || !output.contains("peer: not prepared"), "the peer harness says: not prepared\n" + output);
        assertEquals(0, status, output);
        // One record per VMM, each boot either finished or classified; the report has every row for both columns.
        List<String> records = Files.readAllLines(out.resolve("results.jsonl"));
        assertEquals(2, records.size(), output);
        for (String vmm : List.of("jxen", "qemu")) {
            String record = records.stream().filter(r -> r.contains("\"vmm\":\"" + vmm + "\"")).findFirst()
                    .orElseThrow(() -> new AssertionError("no " + vmm + " record:\n" + output));
            Matcher outcome = Pattern.compile("\"outcome\":\"(ok|failed)\"").matcher(record);
            assertTrue(outcome.find(), record);
            if (outcome.group(1).equals("ok")) {
                for (String key : List.of("\"init_wall_s\"", "\"init_uptime_s\"", "\"memory_init\"", "\"memory_done\"", "\"seq-read\"",
                        "\"seq-write\"", "\"rand-read-qd1\"", "\"rand-read-qd32\"", "\"rand-write-qd1\"", "\"rand-write-qd32\"", "\"pingpong_us\""))
                    assertTrue(record.contains(key), vmm + " finished without " + key + ": " + record);
                assertTrue(record.contains("\"exits_init\":{") && record.contains("\"exits_done\":{"), vmm + " without its exit counts: " + record);
            } else {
                assertTrue(record.contains("\"signature\""), vmm + " failed unclassified: " + record);
            }
        }
        String table = Files.readString(out.resolve("results.md"));
        assertTrue(table.contains("| process start → guest init, wall (s) |") && table.contains("| boots that did not finish |"), table);
        assertTrue(Files.readString(out.resolve("results.json")).contains("\"rows\""), "no JSON summary");
    }

    private static boolean kvmHasXenSupport() {
        if (!Kvm.present()) return false;
        try (Kvm kvm = Kvm.open()) {
            return (kvm.checkExtension(KvmAbi.KVM_CAP_XEN_HVM) & KvmAbi.KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL) != 0;
        } catch (Exception e) { // KvmUnavailableException, or a refused ioctl: no Xen support here either way
            return false;
        }
    }
}
