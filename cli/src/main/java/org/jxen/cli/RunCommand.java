package org.jxen.cli;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import org.jxen.sys.Terminal;
import org.jxen.sys.kvm.KvmUnavailableException;
import org.jxen.vmm.backend.block.DiskSpec;
import org.jxen.vmm.backend.net.NetSpec;
import org.jxen.vmm.boot.ElfImage;
import org.jxen.vmm.boot.ImageException;
import org.jxen.vmm.boot.KernelCache;
import org.jxen.vmm.kvm.GrubConsoleWatch;
import org.jxen.vmm.kvm.RunConfig;
import org.jxen.vmm.kvm.RunOutcome;
import org.jxen.vmm.control.ControlServer;
import org.jxen.vmm.control.ControlTarget;
import org.jxen.vmm.migrate.IncomingMigration;
import org.jxen.vmm.migrate.MigrationAddress;
import org.jxen.vmm.migrate.MigrationProgress;
import org.jxen.vmm.migrate.MigrationSource;
import org.jxen.vmm.migrate.MigrationStatus;
import org.jxen.engine.evtchn.PortManager;
import org.jxen.vmm.kvm.XenDomain;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * Runs a Xen PVH guest image on /dev/kvm. The guest's console (debug ports, console_io, the PV console ring) goes to
 * standard output; the exit status says how the guest ended (0 poweroff, 3 crash, 4 reboot, 2 a guest fault, 1 a
 * jxen or KVM failure, 124 the time limit, 130 stopped by SIGINT/SIGTERM), with a one-line reason on standard error
 * unless it powered off. With --save-on-exit, a guest still running when the run ends (time limit or signal) is saved
 * (status 0 at the time limit; after a signal the JVM still exits 130/143, once the file is written); --restore
 * resumes one.
 */
@Command(name = "run", mixinStandardHelpOptions = true, description = "Run a Xen PVH guest (a PVH ELF image or a bzImage, with an initrd; or a --disk image booted by PVH GRUB) on KVM, or resume a saved one.")
final class RunCommand implements Callable<Integer> {
    /** Where Debian's package grub-xen-host installs its PVH GRUB (every module built in; it searches for /boot/grub/grub.cfg). */
    static final Path DEFAULT_BOOTLOADER = Path.of("/usr/lib/grub-xen/grub-i386-xen_pvh.bin");

    /** No kernel was given: the --disk is booted by the PVH GRUB (--bootloader). */
    private boolean bootingDisk;

    @Parameters(paramLabel = "IMAGE", arity = "0..1", description = "The guest kernel (as --kernel).")
    Path image;

    @Option(names = "--kernel", paramLabel = "FILE", description = "The guest kernel: a PVH ELF image (XEN_ELFNOTE_PHYS32_ENTRY) or a bzImage "
            + "(gzip, xz, zstd or lz4 payload), e.g. a distribution's /boot/vmlinuz (not with --restore).")
    Path kernel;

    @Option(names = "--initrd", paramLabel = "FILE", description = "An initrd/initramfs for the kernel (module 0 of the PVH start info).")
    Path initrd;

    @Option(names = "--disk", paramLabel = "FILE[,ro][,format=raw]",
            description = "A raw disk image as the guest's next PV disk (xvda, xvdb, ...; Linux's xen-blkfront); ro makes it read-only. Repeatable.")
    List<String> disks = new ArrayList<>();

    @Option(names = "--net", paramLabel = "tap=NAME|user[,hostfwd=tcp::HOSTPORT-:GUESTPORT][,mac=MAC]",
            description = "A PV NIC (Linux's xen-netfront) joined to the host TAP interface NAME: an existing one (ip tuntap add NAME mode tap user $USER; no root needed then) or, with CAP_NET_ADMIN, a new one that lasts the run; or 'user': user-mode networking through passt (Debian package passt), started and stopped by jxen, as QEMU's -nic user (DHCP gives 10.0.2.15, the host is 10.0.2.2; hostfwd= repeatable). MAC generated in 00:16:3e unless given. Repeatable.")
    List<String> nets = new ArrayList<>();

    @Option(names = "--bootloader", paramLabel = "FILE",
            description = "With --disk and no kernel, the PVH bootloader that boots the first disk the Xen way, reading the image's own "
                    + "/boot/grub/grub.cfg (default: Debian's PVH GRUB, " + "/usr/lib/grub-xen/grub-i386-xen_pvh.bin from the package grub-xen-host; "
                    + "or an image made by grub-mkimage -O i386-xen_pvh).")
    Path bootloader;

    @Option(names = "--on-reboot", defaultValue = "restart", paramLabel = "restart|exit",
            description = "What a guest's reboot does: restart = a new domain with the same kernel, disks and NICs, as Xen's on_reboot "
                    + "default (default ${DEFAULT-VALUE}); exit = jxen ends with status 4.")
    String onReboot;

    @Option(names = "--save-on-exit", paramLabel = "FILE", description = "If the guest is still running when the run ends (--timeout, SIGINT, SIGTERM), save it to FILE.")
    Path saveFile;

    @Option(names = "--socket", paramLabel = "PATH", description = "Serve the control socket here (jxen events list|inject|counters --socket PATH).")
    Path socket;

    @Option(names = "--restore", paramLabel = "FILE", description = "Resume the guest saved in FILE (its RAM size and vCPU count come from the file).")
    Path restoreFile;

    @Option(names = "--incoming", paramLabel = "tcp:[ADDR:]PORT",
            description = "Wait for a live migration (jxen migrate --to) on PORT (loopback unless ADDR is given) and resume its guest; "
                    + "its disks and NICs are opened again at the source's paths (shared storage). The stream is not encrypted: tunnel it.")
    String incoming;

    @Option(names = "--memory", defaultValue = "64", paramLabel = "MiB", description = "Guest RAM in MiB (default ${DEFAULT-VALUE}).")
    long memoryMiB;

    @Option(names = "--vcpus", defaultValue = "1", description = "vCPUs (1-32, default ${DEFAULT-VALUE}).")
    int vcpus;

    @Option(names = "--cmdline", defaultValue = "", description = "The kernel command line (start info).")
    String cmdline;

    @Option(names = "--accel", defaultValue = "auto", paramLabel = "auto|kvm|user",
            description = "How hypercalls reach jxen: kvm = also by VMCALL/VMMCALL through KVM's Xen support "
                    + "(KVM_CAP_XEN_HVM; what current Linux guests need), user = only through jxen's hypercall page (any KVM), "
                    + "auto (default) = kvm where the host's KVM offers it, else user. The choice is reported on standard error.")
    String accel;

    @Option(names = "--evtchn", defaultValue = "auto", paramLabel = "auto|fifo|2l",
            description = "The event-channel ABIs a new guest is offered: fifo = FIFO and 2-level (Linux picks FIFO), 2l = 2-level only "
                    + "(EVTCHNOP_init_control answers -ENOSYS), auto (default) = 2-level where KVM delivers 2-level events in the kernel "
                    + "(kvm mode), both elsewhere.")
    String evtchn;

    @Option(names = "--pit", description = "Give the guest a PIT: KVM's in-kernel i8254 (ports 0x40-0x43, and 0x61 for channel 2's gate), as a Xen HVM "
            + "guest has. Linux on a CPU whose CPUID gives no TSC frequency (AMD) calibrates against it at boot; without it (the default: Xen's PVH "
            + "platform has no PIT) that calibration reads all-ones for 100,000 port exits before it gives up. Saved and restored with the guest.")
    boolean pit;

    @Option(names = "--shutdown-timeout", defaultValue = "30", paramLabel = "SECONDS",
            description = "On SIGINT/SIGTERM the guest is asked to power off (XenStore control/shutdown) and destroyed if it has not after this long "
                    + "(default ${DEFAULT-VALUE}); with --save-on-exit it is saved instead.")
    long shutdownTimeoutSeconds;

    @Option(names = "--timeout", defaultValue = "60", paramLabel = "SECONDS", description = "Stop the guest after this long (default ${DEFAULT-VALUE}).")
    long timeoutSeconds;

    @Override
    public Integer call() throws Exception {
        if (image != null && kernel != null) throw new IllegalArgumentException("give the kernel once: IMAGE or --kernel FILE");
        if (kernel != null) image = kernel;
        if (bootloader != null && (image != null || restoreFile != null || incoming != null))
            throw new IllegalArgumentException("--bootloader boots a --disk in place of a kernel: not with IMAGE, --kernel or --restore");
        if (!onReboot.equals("restart") && !onReboot.equals("exit")) throw new IllegalArgumentException("--on-reboot must be restart or exit, not " + onReboot);
        if (image == null && restoreFile == null && incoming == null && !disks.isEmpty()) {
            // No kernel: boot the disk as Xen boots a PVH domU with pvgrub2 (kernel = the PVH GRUB, the image's grub.cfg does the rest).
            if (initrd != null) throw new IllegalArgumentException("--initrd is for a kernel; GRUB loads the initrd its grub.cfg names");
            image = bootloader != null ? bootloader : DEFAULT_BOOTLOADER;
            if (!Files.isReadable(image))
                throw new IllegalArgumentException(image + ": no PVH GRUB to boot the disk with (Debian's package grub-xen-host installs it; "
                        + (bootloader != null ? "check --bootloader FILE)" : "or name one with --bootloader FILE)"));
            bootingDisk = true;
        }
        int sources = (image == null ? 0 : 1) + (restoreFile == null ? 0 : 1) + (incoming == null ? 0 : 1);
        if (sources != 1)
            throw new IllegalArgumentException("give an IMAGE (or --kernel FILE, or a --disk to boot with GRUB), --restore FILE or --incoming tcp:[ADDR:]PORT (one of them)");
        if ((!disks.isEmpty() || !nets.isEmpty()) && (restoreFile != null || incoming != null))
            throw new IllegalArgumentException("--disk and --net are for a new guest; a restored or migrated guest gets the devices it was saved with, at the same paths");
        if (pit && (restoreFile != null || incoming != null))
            throw new IllegalArgumentException("--pit is for a new guest; a restored or migrated guest has a PIT if it was saved with one");
        if (initrd != null && incoming != null) throw new IllegalArgumentException("--initrd is for a new guest, not with --incoming");
        if (initrd != null && restoreFile != null) throw new IllegalArgumentException("--initrd is for a new guest, not with --restore");
        if (initrd != null && !Files.isReadable(initrd)) throw new IllegalArgumentException(initrd + ": no such readable file");
        if (saveFile != null && (saveFile.getParent() != null && !Files.isDirectory(saveFile.getParent())))
            throw new IllegalArgumentException(saveFile + ": its directory does not exist");
        // On a terminal the console is interactive: raw mode (keys go to the guest as typed), Ctrl-] quits.
        Terminal terminal = Terminal.raw(0);
        try {
            return run(terminal);
        } finally {
            if (terminal != null) terminal.close();
        }
    }

    private Integer run(Terminal terminal) throws Exception {
        ConsoleEscape input = new ConsoleEscape(System.in);
        ConsoleHandoff handoff = new ConsoleHandoff(input);
        long deadline = System.nanoTime() + Duration.ofSeconds(timeoutSeconds).toNanos();
        // The domain running now: a reboot replaces it (--on-reboot restart), so the signal hook and Ctrl-] ask this.
        AtomicReference<XenDomain> current = new AtomicReference<>();
        input.onEscape(() -> {
            XenDomain d = current.get();
            if (d != null) d.requestStop("quit from the console (Ctrl-])");
        });
        CountDownLatch finished = new CountDownLatch(1);
        AtomicInteger exitStatus = new AtomicInteger(RunOutcome.JXEN_ERROR);
        Thread onSignal = new Thread(() -> {
            XenDomain domain = current.get();
            if (domain == null) return;
            if (saveFile == null) {
                // As xl shutdown: ask the guest to power off (XenStore control/shutdown); destroy it if it will not.
                System.err.println("jxen: asking the guest to power off (control/shutdown); it has " + shutdownTimeoutSeconds + " s");
                domain.requestGuestShutdown("poweroff");
                try {
                    if (finished.await(shutdownTimeoutSeconds, TimeUnit.SECONDS)) {
                        // The JVM is exiting for the signal; its status is the guest's shutdown reason, as the run's.
                        System.out.flush();
                        System.err.flush();
                        Runtime.getRuntime().halt(exitStatus.get());
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                current.get().requestStop("the guest did not power off within " + shutdownTimeoutSeconds + " s (--shutdown-timeout): destroyed");
            } else {
                domain.requestStop("stopped by a signal");
            }
            try {
                finished.await(60, TimeUnit.SECONDS); // let the run end (and the save finish) before the JVM exits
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        Runtime.getRuntime().addShutdownHook(onSignal);
        try {
            if (terminal != null) System.err.println("jxen: the guest's console is on this terminal; Ctrl-] quits\r");
            while (true) {
                long left = deadline - System.nanoTime();
                if (left < 1_000_000_000L) {
                    System.err.println("jxen: guest still running after " + timeoutSeconds + " s (--timeout)");
                    return RunOutcome.TIMEOUT;
                }
                consoleInput = handoff.next();
                GrubConsoleWatch grub = bootingDisk ? new GrubConsoleWatch(terminal != null) : null;
                // The first domain has the whole --timeout (its message names it); one a reboot starts, what is left of it.
                boolean first = current.get() == null;
                XenDomain domain = build(first || restoreFile != null || incoming != null ? Duration.ofSeconds(timeoutSeconds) : Duration.ofNanos(left), grub);
                current.set(domain);
                RunOutcome outcome;
                try {
                    outcome = runOnce(domain, grub);
                } finally {
                    domain.close();
                }
                if (outcome.status() == RunOutcome.REBOOT && onReboot.equals("restart") && restoreFile == null && incoming == null) {
                    // Xen's on_reboot = "restart": the domain is destroyed and built again from its configuration.
                    System.err.println("jxen: the guest rebooted: starting it again (--on-reboot exit leaves instead)\r");
                    continue;
                }
                if (saveFile != null && outcome.guestAlive()) return 0; // saved by runOnce
                if (outcome.status() != RunOutcome.POWEROFF) System.err.println("jxen: " + outcome.reason());
                if (saveFile != null) System.err.println("jxen: the guest is no longer running; nothing saved");
                exitStatus.set(outcome.status());
                return outcome.status();
            }
        } finally {
            finished.countDown();
            try {
                Runtime.getRuntime().removeShutdownHook(onSignal);
            } catch (IllegalStateException shuttingDown) {
                // the hook is running: it returns now that the run has finished
            }
        }
    }

    /** Builds the domain (a new one, or the restored one); a host without KVM is one line. */
    private XenDomain build(Duration timeout, GrubConsoleWatch grub) throws Exception {
        try {
            return incoming != null ? receive() : restoreFile != null ? restore() : create(timeout, grub);
        } catch (KvmUnavailableException e) {
            throw new IllegalStateException("cannot use KVM: " + e.getMessage() + " (jxen run needs /dev/kvm)");
        }
    }

    /**
     * Runs one domain to its end; a guest still alive at the end is saved when --save-on-exit asks. A GRUB that stopped
     * before starting a kernel (halted, or at its prompt with nobody to type) gets GRUB's own messages in the reason.
     */
    private RunOutcome runOnce(XenDomain domain, GrubConsoleWatch grub) throws InterruptedException {
        System.err.println("jxen: acceleration " + domain.acceleration().describe() + "; event channels offered: "
                + (domain.platform().fifoOffered() ? "FIFO and 2-level" : "2-level (--evtchn fifo offers FIFO too)"));
        MigrationsUnderWay migrating = new MigrationsUnderWay(0);
        // Close order: the control socket (its clients touch the ports) before the save and before the domain.
        ControlServer control = null;
        try {
            if (socket != null) {
                try {
                    control = new ControlServer(socket, migratable(domain, domain.platform().controlTarget(), migrating));
                } catch (IOException e) {
                    throw new IllegalArgumentException(socket + ": cannot serve the control socket: " + e.getMessage());
                }
            }
            RunOutcome outcome = domain.run();
            System.out.flush();
            migrating.await(); // a migration that stopped the guest replies before the control socket closes
            if (control != null) {
                control.close();
                control = null;
            }
            if (saveFile != null && outcome.guestAlive()) {
                try {
                    domain.save(saveFile);
                } catch (IOException e) {
                    throw new IllegalStateException("saving to " + saveFile + " failed: " + e.getMessage());
                }
                System.err.println("jxen: " + outcome.reason() + "; saved to " + saveFile);
                return outcome;
            }
            return grub != null ? grub.explain(outcome, domain) : outcome;
        } finally {
            if (control != null) control.close();
        }
    }

    /** Counts the migrations under way, so the run's end waits for theirs. */
    private static final class MigrationsUnderWay {
        private int running;

        MigrationsUnderWay(int running) {
            this.running = running;
        }

        synchronized void begin() {
            running++;
        }

        synchronized void end() {
            running--;
            notifyAll();
        }

        synchronized void await() throws InterruptedException {
            while (running > 0) wait();
        }
    }

    /** The control socket's target, with {@code migrate}: progress on this terminal's stderr, the figures in the reply. */
    private static ControlTarget migratable(XenDomain domain, ControlTarget base, MigrationsUnderWay migrating) {
        MigrationStatus status = new MigrationStatus();
        return new ControlTarget() {
            @Override
            public PortManager ports() {
                return base.ports();
            }

            @Override
            public Map<String, Object> counters() {
                return base.counters();
            }

            @Override
            public Map<String, Object> migrate(String uri, long maxDowntimeMillis) throws Exception {
                migrating.begin();
                try {
                    System.err.println("jxen: migrating the guest to " + uri + " (max downtime " + maxDowntimeMillis + " ms)");
                    status.started(uri);
                    MigrationProgress done = MigrationSource.migrate(domain, uri, maxDowntimeMillis, p -> {
                        status.progressed(p);
                        System.err.println("jxen: " + p.line());
                    });
                    status.completed(done);
                    return done.toMap();
                } catch (MigrationSource.MigrationFailed e) {
                    status.failed(e);
                    System.err.println("jxen: migration " + (e.inDoubt() ? "in doubt: " : "failed: ") + e.getMessage());
                    throw e;
                } finally {
                    migrating.end();
                }
            }

            @Override
            public Map<String, Object> resolveMigration(boolean here) {
                boolean backendsUp = domain.resolveMigration(here);
                status.resolved(here);
                System.err.println("jxen: migration resolved by the operator: " + (here ? "the guest resumes here" : "the guest runs at the destination; this run ends")
                        + (backendsUp ? "" : " (a backend did not restart)"));
                return Map.of("guest", here ? "here" : "there", "backends-restarted", backendsUp);
            }

            @Override
            public Map<String, Object> migrationStatus() {
                return status.toMap();
            }
        };
    }

    private XenDomain receive() throws Exception {
        if (timeoutSeconds <= 0) throw new IllegalArgumentException("--timeout must be positive");
        MigrationAddress at = MigrationAddress.parse(incoming);
        try (IncomingMigration listener = IncomingMigration.listen(at)) {
            System.err.println("jxen: waiting for a migration on " + new MigrationAddress(at.host(), listener.port()));
            XenDomain d = listener.accept(Duration.ofSeconds(timeoutSeconds), System.out, consoleInput, System.err, accelChoice());
            System.err.println("jxen: the migrated guest resumes");
            return d;
        } catch (IOException e) {
            throw new IllegalArgumentException("incoming migration: " + e.getMessage());
        }
    }

    /** Standard input as the guest console reads it (with the escape key taken out). */
    private InputStream consoleInput = System.in;

    private RunConfig.EventChannels eventChannelsChoice() {
        return switch (evtchn) {
            case "auto" -> RunConfig.EventChannels.AUTO;
            case "fifo" -> RunConfig.EventChannels.FIFO;
            case "2l" -> RunConfig.EventChannels.TWO_LEVEL;
            default -> throw new IllegalArgumentException("--evtchn must be auto, fifo or 2l, not " + evtchn);
        };
    }

    private RunConfig.Accel accelChoice() {
        return switch (accel) {
            case "auto" -> RunConfig.Accel.AUTO;
            case "kvm" -> RunConfig.Accel.KVM;
            case "user" -> RunConfig.Accel.USER;
            default -> throw new IllegalArgumentException("--accel must be auto, kvm or user, not " + accel);
        };
    }

    private XenDomain create(Duration timeout, GrubConsoleWatch grub) throws Exception {
        if (!Files.isReadable(image)) throw new IllegalArgumentException(image + ": no such readable file");
        try {
            try (KernelCache.Kernel k = KernelCache.shared().open(image)) {
                ElfImage.parse(k.elf()); // a bad image is reported before KVM is needed (unpacked once: the domain maps the cache's entry)
            }
        } catch (ImageException e) {
            throw new IllegalArgumentException(image + ": " + e.getMessage());
        }
        RunConfig config = new RunConfig(image, memoryMiB << 20, vcpus, cmdline, timeout, System.out, consoleInput, System.err, accelChoice(), initrd,
                disks.stream().map(DiskSpec::parse).toList(), nets.stream().map(NetSpec::parse).toList(), eventChannelsChoice(), pit);
        try {
            if (grub == null) return XenDomain.create(config);
            XenDomain domain = XenDomain.create(grub.watching(config));
            grub.attach(domain);
            return domain;
        } catch (ImageException e) {
            throw new IllegalArgumentException(image + ": " + e.getMessage());
        }
    }

    private XenDomain restore() throws Exception {
        if (!Files.isReadable(restoreFile)) throw new IllegalArgumentException(restoreFile + ": no such readable file");
        if (timeoutSeconds <= 0) throw new IllegalArgumentException("--timeout must be positive");
        try {
            return XenDomain.restore(restoreFile, Duration.ofSeconds(timeoutSeconds), System.out, consoleInput, System.err, accelChoice());
        } catch (IOException e) {
            throw new IllegalArgumentException(restoreFile + ": " + e.getMessage());
        }
    }
}
