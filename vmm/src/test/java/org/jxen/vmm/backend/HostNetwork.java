package org.jxen.vmm.backend;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/** The host's network configuration for tests that join guests to TAP interfaces. */
public final class HostNetwork {
    private HostNetwork() {}

    /** Runs {@code ip ARGS...}; true if it succeeded (its output is printed if not); false without ip(8). */
    public static boolean ip(String... args) throws InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("ip"));
        cmd.addAll(List.of(args));
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes());
            boolean ok = p.waitFor() == 0;
            if (!ok) System.out.println(String.join(" ", cmd) + ": " + out.strip());
            return ok;
        } catch (IOException e) {
            return false; // no ip(8)
        }
    }
}
