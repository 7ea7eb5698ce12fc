package org.jxen.vmm.kvm;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.jxen.sys.kvm.Kvm;
import org.jxen.vmm.backend.OpenFds;
import org.jxen.vmm.backend.block.DiskSpec;

/**
 * A build that fails half-way, at each of the builder's steps, at boot and at restore: the original error comes out
 * (nothing added to it), what was opened is released newest first, and the process's descriptors, mappings and
 * threads come back to where they were. The failure is injected by the builder's hook after the step.
 */
@Tag("kvm")
class DomainBuilderTest {
    private static final String NO_KVM = "no /dev/kvm on this machine: the builder is tested on a KVM";
    private static final int ROUNDS = 5;

    private static RunConfig config(Path disk) {
        return new RunConfig(Path.of(System.getProperty("jxen.guests", "target/guests"), "pvh-xen-32.elf"), 16L << 20, 2, "",
                Duration.ofSeconds(60), new ByteArrayOutputStream(), new ByteArrayInputStream(new byte[0]))
                .withDevices(List.of(new DiskSpec(disk, false)), List.of());
    }

    /** One build that fails after {@code step}: checks the error and the order of the releases. */
    private static void failAfter(String step, Build build) throws Exception {
        List<String> openAtFailure = new ArrayList<>(), released = new ArrayList<>();
        IOException injected = new IOException("injected after " + step);
        DomainBuilder.Hook hook = (done, scope) -> {
            if (!done.equals(step)) return;
            openAtFailure.addAll(scope.names());
            throw injected;
        };
        IOException e = assertThrows(IOException.class, () -> build.run(hook, new ResourceScope(released::add)).close());
        assertSame(injected, e, "the original error: " + e);
        assertEquals(0, e.getSuppressed().length, "every release succeeded");
        assertFalse(openAtFailure.isEmpty(), step + ": something was open");
        assertEquals(openAtFailure.reversed(), released, step + ": released newest first");
    }

    @FunctionalInterface
    private interface Build {
        XenDomain run(DomainBuilder.Hook hook, ResourceScope scope) throws Exception;
    }

    @Test
    void aBootThatFailsAtAnyStepReleasesEverythingInReverseOrder(@TempDir Path dir) throws Exception {
        assumeTrue(Kvm.present(), NO_KVM);
        Path disk = Files.write(dir.resolve("disk.img"), new byte[1 << 20]);
        RunConfig config = config(disk);
        Build boot = (hook, scope) -> new DomainBuilder(config, hook, scope).boot();
        boot.run(DomainBuilder.Hook.NONE, new ResourceScope()).close(); // warm-up: classes, JIT, the JVM's own threads
        assertNothingLeaks(() -> {
            for (String step : DomainBuilder.STEPS) failAfter(step, boot);
        });
        List<String> released = new ArrayList<>();
        ResourceScope scope = new ResourceScope(released::add);
        try (XenDomain d = new DomainBuilder(config, DomainBuilder.Hook.NONE, scope).boot()) {
            assertNotNull(d.platform());
        }
        assertEquals(List.of("the vCPU threads", "the platform's threads", "vCPU 1", "vCPU 0", "VM", "guest RAM", "disk " + disk, "/dev/kvm"),
                released, "a domain closes what its builder opened, newest first");
    }

    @Test
    void aRestoreThatFailsAtAnyStepReleasesEverythingInReverseOrder(@TempDir Path dir) throws Exception {
        assumeTrue(Kvm.present(), NO_KVM);
        Path disk = Files.write(dir.resolve("disk.img"), new byte[1 << 20]);
        Path save = dir.resolve("domain.jxensave");
        try (XenDomain d = XenDomain.create(config(disk))) { // saved before it ran: the state KVM and the loader gave it
            d.requestStop("test: save");
            d.save(save);
        }
        Build restore = (hook, scope) -> {
            try (SaveFile.Reader reader = new SaveFile.Reader(save)) {
                RunConfig config = new RunConfig(null, reader.saved.memoryBytes(), reader.saved.vcpus(), "", Duration.ofSeconds(60),
                        new ByteArrayOutputStream(), new ByteArrayInputStream(new byte[0]));
                return new DomainBuilder(config, hook, scope).restore(reader);
            }
        };
        restore.run(DomainBuilder.Hook.NONE, new ResourceScope()).close();
        assertNothingLeaks(() -> {
            for (String step : DomainBuilder.STEPS) failAfter(step, restore);
        });
        Files.delete(disk); // the saved disk is gone: the restore says which, and leaves nothing open
        IOException e = assertThrows(IOException.class, () -> restore.run(DomainBuilder.Hook.NONE, new ResourceScope()).close());
        assertTrue(e.getMessage().contains("the saved domain's disk " + disk), e.getMessage());
    }

    @FunctionalInterface
    private interface Rounds {
        void run() throws Exception;
    }

    /** Runs {@code rounds} ROUNDS times; afterwards no descriptor, mapping or thread may be left of them. */
    private static void assertNothingLeaks(Rounds rounds) throws Exception {
        long fds = OpenFds.count(), maps = mappings();
        Set<Thread> threads = new HashSet<>(Thread.getAllStackTraces().keySet());
        for (int i = 0; i < ROUNDS; i++) rounds.run();
        long fdsAfter = OpenFds.count(), mapsAfter = mappings();
        List<String> left = Thread.getAllStackTraces().keySet().stream().filter(t -> !threads.contains(t) && t.isAlive())
                .map(Thread::getName).filter(n -> !n.startsWith("ForkJoinPool") && !n.equals("Attach Listener")).toList();
        System.out.printf("failed builds: %d; fds %d -> %d, mappings %d -> %d, threads left %s%n",
                ROUNDS * DomainBuilder.STEPS.size(), fds, fdsAfter, maps, mapsAfter, left);
        // Each build opens ~10 descriptors, RAM and two kvm_run mappings, and the platform's threads: a leak shows as dozens.
        assertTrue(fdsAfter <= fds + 2, "descriptors leaked: " + fds + " -> " + fdsAfter);
        assertTrue(mapsAfter <= maps + 16, "mappings leaked: " + maps + " -> " + mapsAfter);
        assertEquals(List.of(), left, "threads left running");
    }

    private static long mappings() throws IOException {
        return Files.readAllLines(Path.of("/proc/self/maps")).size();
    }
}
