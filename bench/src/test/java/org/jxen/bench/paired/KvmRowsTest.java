package org.jxen.bench.paired;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.jxen.sys.kvm.Kvm;

/**
 * The KVM rows of {@code jxen bench} run end to end: both 64-bit benchmark guests start on two vCPUs, answer every
 * command (a hypercall, a raise, a backend's wake and notify, IPIs both ways; in kvm mode also VMCALL sends and
 * KVM_EXIT_XEN calls), and each side's timing comes back. On this host's /dev/kvm (a nested PVM one included: the
 * guests take interrupts with iretq only) and, where the VM of tools/kvm-vm is prepared, inside it too, on a standard
 * KVM with KVM's Xen support, so that kvm mode's rows run as well.
 */
@Tag("kvm")
class KvmRowsTest {
    private static final List<String> USER_MODE_ROWS = List.of("hypercall-rtt", "hypercall-exit", "raise-to-upcall", "send-to-backend", "ipi-pingpong", "notify-to-upcall",
            "upcall-handler");
    private static final Pattern ROW = Pattern.compile("^kvm-row: (\\S+) (\\d+) (\\d+)$", Pattern.MULTILINE);
    private static final Pattern SKIPPED = Pattern.compile("^kvm-row-skipped: (\\S+): (.*)$", Pattern.MULTILINE);

    @Test
    void everyKvmRowRunsOnThisHostsKvm() throws Exception {
        assumeTrue(Kvm.present(), "no /dev/kvm here: the KVM rows run inside tools/kvm-vm (everyKvmRowRunsInsideTheVm)");
        check(run(List.of()), false);
    }

    @Test
    void everyKvmRowRunsInsideTheVm() throws Exception {
        Path vm = Path.of(System.getenv().getOrDefault("JXEN_KVM_VM", "/var/tmp/jxen-kvm-vm"), "kernel", "vmlinuz");
        assumeTrue(Files.exists(vm), "no KVM VM prepared at " + vm.getParent().getParent() + " (tools/kvm-vm/prepare.sh, which .ci/setup runs)");
        // The VM's Debian 6.12 KVM has Xen support: kvm mode's rows run there too.
        check(run(List.of(Path.of(System.getProperty("jxen.kvm.vm.run", "../tools/kvm-vm/run.sh")).toString())), true);
    }

    private static String run(List<String> prefix) throws Exception {
        List<String> cmd = new ArrayList<>(prefix);
        cmd.addAll(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "--enable-native-access=ALL-UNNAMED",
                "-cp", System.getProperty("java.class.path"), KvmRowsCheck.class.getName()));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().put("JXEN_KVM_VM_TIMEOUT", "1800");
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes());
        int status = p.waitFor();
        System.out.println(out);
        assertEquals(0, status, out);
        assertTrue(out.contains("kvm-rows: done"), out);
        return out;
    }

    private static void check(String out, boolean kvmModeExpected) {
        Map<String, long[]> rows = new TreeMap<>();
        for (Matcher m = ROW.matcher(out); m.find(); ) rows.put(m.group(1), new long[] {Long.parseLong(m.group(2)), Long.parseLong(m.group(3))});
        Map<String, String> skipped = new TreeMap<>();
        for (Matcher m = SKIPPED.matcher(out); m.find(); ) skipped.put(m.group(1), m.group(2));
        List<String> expected = new ArrayList<>(USER_MODE_ROWS);
        boolean kvmMode = !skipped.containsKey("hypercall-rtt-kvm");
        assertTrue(kvmMode || !kvmModeExpected, "kvm mode's rows were skipped: " + skipped);
        if (kvmMode) {
            for (String r : USER_MODE_ROWS) expected.add(r + "-kvm");
            expected.addAll(List.of("send-by-vmcall-kvm", "hypercall-by-vmcall-kvm"));
        }
        for (String name : expected) {
            long[] medians = rows.get(name);
            assertTrue(medians != null, name + " did not run: " + out);
            assertTrue(medians[0] > 0 && medians[1] > 0, name + ": a side measured nothing: " + out);
        }
    }
}
