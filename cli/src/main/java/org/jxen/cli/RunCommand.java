package org.jxen.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;

import org.jxen.sys.kvm.KvmUnavailableException;
import org.jxen.vmm.boot.ImageException;
import org.jxen.vmm.kvm.RunConfig;
import org.jxen.vmm.kvm.RunOutcome;
import org.jxen.vmm.kvm.XenDomain;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * Runs a Xen PVH guest image on /dev/kvm. The guest's console (debug ports, console_io, the PV console ring) goes to
 * standard output; the exit status says how the guest ended (0 poweroff, 3 crash, 4 reboot, 2 a guest fault, 1 a
 * jxen or KVM failure, 124 the time limit), with a one-line reason on standard error unless it powered off.
 */
@Command(name = "run", mixinStandardHelpOptions = true, description = "Run a Xen PVH guest (an ELF image) on KVM.")
final class RunCommand implements Callable<Integer> {
    @Parameters(paramLabel = "IMAGE", description = "The guest kernel: an ELF file with a XEN_ELFNOTE_PHYS32_ENTRY note.")
    Path image;

    @Option(names = "--memory", defaultValue = "64", paramLabel = "MiB", description = "Guest RAM in MiB (default ${DEFAULT-VALUE}).")
    long memoryMiB;

    @Option(names = "--vcpus", defaultValue = "1", description = "vCPUs (1-32, default ${DEFAULT-VALUE}).")
    int vcpus;

    @Option(names = "--cmdline", defaultValue = "", description = "The kernel command line (start info).")
    String cmdline;

    @Option(names = "--timeout", defaultValue = "60", paramLabel = "SECONDS", description = "Stop the guest after this long (default ${DEFAULT-VALUE}).")
    long timeoutSeconds;

    @Override
    public Integer call() throws Exception {
        if (!Files.isReadable(image)) throw new IllegalArgumentException(image + ": no such readable file");
        try {
            org.jxen.vmm.boot.ElfImage.parse(Files.readAllBytes(image)); // a bad image is reported before KVM is needed
        } catch (ImageException e) {
            throw new IllegalArgumentException(image + ": " + e.getMessage());
        }
        RunConfig config = new RunConfig(image, memoryMiB << 20, vcpus, cmdline, Duration.ofSeconds(timeoutSeconds),
                System.out, System.in);
        try (XenDomain domain = XenDomain.create(config)) {
            RunOutcome outcome = domain.run();
            System.out.flush();
            if (outcome.status() != RunOutcome.POWEROFF) System.err.println("jxen: " + outcome.reason());
            return outcome.status();
        } catch (KvmUnavailableException e) {
            throw new IllegalStateException("cannot use KVM: " + e.getMessage() + " (jxen run needs /dev/kvm)");
        } catch (ImageException e) {
            throw new IllegalArgumentException(image + ": " + e.getMessage());
        }
    }
}
