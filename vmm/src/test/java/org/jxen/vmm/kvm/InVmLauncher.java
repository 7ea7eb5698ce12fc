package org.jxen.vmm.kvm;

import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectMethod;

import java.io.PrintWriter;
import java.lang.reflect.Method;
import java.util.List;

import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;
import org.junit.platform.launcher.listeners.TestExecutionSummary;

/** Runs the named test classes with the JUnit Platform inside the KVM VM; prints a summary; exit 0 if none failed. */
public final class InVmLauncher {
    private static final int DETAIL_LINES = 150;

    private InVmLauncher() {}

    public static void main(String[] classes) {
        LauncherDiscoveryRequestBuilder request = LauncherDiscoveryRequestBuilder.request();
        for (String c : classes) {
            try {
                int hash = c.indexOf('#'); // Class#method: that test only (a parameterized one: every invocation)
                if (hash < 0) request.selectors(selectClass(Class.forName(c)));
                else {
                    Class<?> k = Class.forName(c.substring(0, hash));
                    String name = c.substring(hash + 1);
                    boolean found = false;
                    for (Method m : k.getDeclaredMethods()) {
                        if (!m.getName().equals(name)) continue;
                        request.selectors(selectMethod(k, m));
                        found = true;
                    }
                    if (!found) {
                        System.out.println("in-vm: no test method " + c);
                        System.exit(2);
                    }
                }
            } catch (ClassNotFoundException e) {
                System.out.println("in-vm: no test class " + c);
                System.exit(2);
            }
        }
        LauncherDiscoveryRequest built = request.build();
        Launcher launcher = LauncherFactory.create();
        SummaryGeneratingListener listener = new SummaryGeneratingListener();
        launcher.execute(built, listener);
        TestExecutionSummary summary = listener.getSummary();
        PrintWriter out = new PrintWriter(System.out, true);
        summary.printFailuresTo(out, 20);
        // One line per failure and the start of its message (a Linux guest's failure carries its console's tail), for
        // the host side to put first in its report: the full output can be long, and a CI report shows only its end.
        for (TestExecutionSummary.Failure f : summary.getFailures()) {
            List<String> message = String.valueOf(f.getException()).lines().limit(DETAIL_LINES + 1).toList();
            out.printf("in-vm failed: %s (%s): %s%n", f.getTestIdentifier().getLegacyReportingName(), f.getTestIdentifier().getDisplayName(),
                    message.isEmpty() ? "" : message.getFirst());
            for (String line : message.subList(Math.min(1, message.size()), message.size())) out.println("in-vm detail: " + line);
        }
        out.printf("in-vm: %d tests, %d succeeded, %d failed, %d skipped%n", summary.getTestsFoundCount(),
                summary.getTestsSucceededCount(), summary.getTotalFailureCount(), summary.getTestsSkippedCount());
        System.exit(summary.getTotalFailureCount() == 0 ? 0 : 1);
    }
}
