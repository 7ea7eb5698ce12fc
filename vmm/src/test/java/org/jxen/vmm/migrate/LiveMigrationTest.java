package org.jxen.vmm.migrate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.InetAddress;
import java.net.NetworkInterface;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;
import org.jxen.engine.memory.GuestMemory;
import org.jxen.sys.kvm.Kvm;
import org.jxen.sys.kvm.KvmAbi;
import org.jxen.vmm.backend.HostNetwork;
import org.jxen.vmm.kvm.RunConfig;
import org.jxen.vmm.kvm.RunOutcome;
import org.jxen.vmm.kvm.XenDomain;

/**
 * Live migration between two domains in one JVM over a loopback socket, on this host's /dev/kvm, user mode:
 * pvh-migrate-64 keeps rewriting its working set (checking each round what the previous one wrote) while it is
 * migrated; the destination's RAM equals the stopped source's page for page, including a page the host (as jxen's
 * backends do) wrote behind KVM's dirty log after round 1; the guest goes on at the destination and ends with PASS.
 * A cut, bit-flipped or wrong-version stream ends the destination with one line and leaves the source's guest
 * running to its own end.
 */
@Tag("kvm")
class LiveMigrationTest {
    private static final String NO_KVM = "no /dev/kvm on this machine: the KVM guest tests are skipped";
    /** Limits on waits, never measures (see XenDomainTest). */
    private static final int RUN_LIMIT_SECONDS = 1200;
    private static final long WAIT_NANOS = 600_000_000_000L;
    private static final long RAM = 32L << 20;

    private static RunConfig config(ByteArrayOutputStream console, int vcpus) {
        return new RunConfig(Path.of(System.getProperty("jxen.guests", "target/guests"), "pvh-migrate-64.elf"), RAM, vcpus, "",
                Duration.ofSeconds(RUN_LIMIT_SECONDS), console, new ByteArrayInputStream(new byte[0]));
    }

    /** A started source: its run, and the guest's mailbox and ballast addresses. */
    private record Source(XenDomain domain, CompletableFuture<RunOutcome> run, ByteArrayOutputStream console, long mailbox) {
        long rounds() {
            return domain.ram().segment().get(ValueLayout.JAVA_LONG, mailbox + 8);
        }
    }

    private static Source start(int vcpus) throws Exception {
        ByteArrayOutputStream console = new ByteArrayOutputStream();
        XenDomain d = XenDomain.create(config(console, vcpus));
        CompletableFuture<RunOutcome> run = runAsync(d);
        long mailbox = Long.decode(awaitLine(console, "mailbox at (0x\\p{XDigit}+)\n", run).group(1));
        long ballast = Long.decode(awaitLine(console, "ballast at (0x\\p{XDigit}+)\n", run).group(1));
        long ballastBytes = Long.decode(awaitLine(console, "ballast bytes (0x\\p{XDigit}+)\n", run).group(1));
        // Data the guest never touches, written by the host: round 1 has ~12 MiB to send, so a cut is noticed during it.
        byte[] noise = new byte[(int) ballastBytes];
        new Random(35).nextBytes(noise);
        MemorySegment.copy(noise, 0, d.ram().segment(), ValueLayout.JAVA_BYTE, ballast, noise.length);
        Source s = new Source(d, run, console, mailbox);
        awaitRounds(s, 3);
        return s;
    }

    /**
     * With 2 vCPUs the second waits, parked in KVM for a SIPI, and moves in that state. With a 1 ms target, which the
     * digest pass alone exceeds, the rounds' bound ends the pre-copy: 3 rounds, then the last one.
     */
    @ParameterizedTest(name = "{0} vCPU(s), max downtime {1} ms, at most {2} rounds")
    @CsvSource({"1, 300, 30", "2, 300, 30", "1, 1, 3"})
    void aGuestDirtyingMemoryMovesAndGoesOnAtTheDestination(int vcpus, long maxDowntime, int maxRounds) throws Exception {
        assumeTrue(Kvm.present(), NO_KVM);
        Source src = start(vcpus);
        ByteArrayOutputStream after = new ByteArrayOutputStream();
        List<MigrationProgress> progress = new CopyOnWriteArrayList<>();
        long behindTheLog = 0x1F00000L; // a page nothing uses, written by the host after round 1 (KVM does not log it)
        try (IncomingMigration incoming = IncomingMigration.listen(MigrationAddress.parse("tcp:0"))) {
            CompletableFuture<XenDomain> destination = async("destination",
                    () -> incoming.accept(Duration.ofSeconds(RUN_LIMIT_SECONDS), after, new ByteArrayInputStream(new byte[0]), after, RunConfig.Accel.USER));
            MigrationProgress done = MigrationSource.migrate(src.domain().liveSource(), new MigrationAddress("", incoming.port()),
                    new ConvergencePolicy(maxDowntime, maxRounds), p -> {
                        if (progress.isEmpty()) src.domain().ram().segment().set(ValueLayout.JAVA_LONG, behindTheLog, 0x0123_4567_89AB_CDEFL);
                        progress.add(p);
                        System.out.println(p.line());
                    });
            RunOutcome o = src.run().get(RUN_LIMIT_SECONDS, TimeUnit.SECONDS);
            assertEquals(RunOutcome.POWEROFF, o.status(), o.reason());
            assertTrue(o.reason().contains("migrated to tcp:"), o.reason());
            assertEquals("completed", done.phase());
            assertTrue(done.round() >= 2 && done.downtimeMillis() >= 0, done.line());
            if (maxDowntime == 1) assertTrue(done.round() == maxRounds + 1 && done.expectedDowntimeMillis() > 1, "bounded by the rounds: " + done.line());
            try (XenDomain dst = destination.get(RUN_LIMIT_SECONDS, TimeUnit.SECONDS)) {
                long atSwitch = src.rounds();
                assertSameRam(src.domain().ram(), dst.ram());
                assertEquals(0x0123_4567_89AB_CDEFL, dst.ram().segment().get(ValueLayout.JAVA_LONG, behindTheLog), "the host's write behind the dirty log");
                src.domain().close();
                CompletableFuture<RunOutcome> run = runAsync(dst);
                long deadline = System.nanoTime() + WAIT_NANOS;
                while (dst.ram().segment().get(ValueLayout.JAVA_LONG, src.mailbox() + 8) < atSwitch + 3 && !run.isDone() && System.nanoTime() < deadline)
                    Thread.sleep(5);
                dst.ram().segment().set(ValueLayout.JAVA_LONG, src.mailbox(), 1L); // go: finish
                RunOutcome end = run.get(RUN_LIMIT_SECONDS, TimeUnit.SECONDS);
                String out = after.toString();
                System.out.println("after the migration:\n" + out.strip());
                assertEquals(RunOutcome.POWEROFF, end.status(), end.reason() + "; console:\n" + out);
                assertTrue(out.contains("PASS migrate guest") && !out.contains("FAIL"), out);
                long rounds = Long.decode(out.replaceAll("(?s).*rounds (0x\\p{XDigit}+).*", "$1"));
                assertTrue(rounds > atSwitch, "the guest went on at the destination: " + rounds + " rounds, " + atSwitch + " at the switch-over");
            }
        } finally {
            src.domain().close();
        }
    }

    /**
     * kvm mode (KVM_CAP_XEN_HVM: inside tools/kvm-vm, KvmInVmTest runs it there): pvh-migrate-live calls Xen by VMCALL,
     * ticks on a 1 ms singleshot timer that KVM's Xen timer holds (2-level), keeps a runstate area per vCPU that KVM
     * writes, and with 2 vCPUs sends an IPI round trip each tick that KVM delivers from its port table. What KVM held
     * must be read back at the stop and given to KVM again at the destination: the guest checks its clock, runstate
     * areas and IPIs each tick and must keep ticking there. The gap the guest's clock saw and the gap in its ticks as
     * the host saw them are printed (the figures in docs/migration.md).
     */
    @ParameterizedTest(name = "kvm mode, {0} events, {1} vCPU(s)")
    @CsvSource({"2l, 1", "2l, 2", "fifo, 1", "fifo, 2"})
    void aGuestUsingKvmsXenStateMovesInKvmMode(String events, int vcpus) throws Exception {
        boolean fifo = events.equals("fifo");
        try (LiveGuest src = LiveGuest.start(fifo, vcpus)) {
            var before = src.domain().platform().offload().figures();
            assertTrue(before.runstatesHandedToKvm() >= vcpus, "KVM writes the runstate areas: " + before);
            if (!fifo) assertTrue(before.timersHandedToKvm() >= 1, "KVM holds the 2-level guest's timer: " + before);
            ByteArrayOutputStream after = new ByteArrayOutputStream();
            try (IncomingMigration incoming = IncomingMigration.listen(MigrationAddress.parse("tcp:0"))) {
                CompletableFuture<XenDomain> destination = async("destination",
                        () -> incoming.accept(Duration.ofSeconds(RUN_LIMIT_SECONDS), after, new ByteArrayInputStream(new byte[0]), after, RunConfig.Accel.KVM));
                Thread watcher = Thread.ofPlatform().name("tick-watch").start(src.ticks()::follow);
                MigrationProgress done;
                RunOutcome o;
                try {
                    done = MigrationSource.migrate(src.domain().liveSource(), new MigrationAddress("", incoming.port()), ConvergencePolicy.withMaxDowntime(300),
                            p -> System.out.println(p.line()));
                    o = src.run().get(RUN_LIMIT_SECONDS, TimeUnit.SECONDS);
                } finally {
                    watcher.interrupt();
                    watcher.join();
                }
                assertTrue(o.reason().contains("migrated to tcp:"), o.reason());
                try (XenDomain dst = destination.get(RUN_LIMIT_SECONDS, TimeUnit.SECONDS)) {
                    CompletableFuture<RunOutcome> resumed = runAsync(dst);
                    TickWatch there = new TickWatch(dst.ram().segment(), src.mailbox() + 8);
                    long firstTickThere = there.awaitChange(resumed, src.ticks().ticks, after);
                    there.await(resumed, src.ticks().ticks + 200, after);
                    var kept = dst.platform().offload().figures();
                    finishLiveGuest(dst, src.mailbox(), resumed, after, "after the migration:\n");
                    assertTrue(kept.runstatesHandedToKvm() >= vcpus, "the runstate areas went to KVM again: " + kept);
                    if (!fifo) assertTrue(kept.timersHandedToKvm() >= 1, "the timer went to KVM again: " + kept);
                    System.out.printf("kvm mode, %s, %d vCPU(s): %s; the guest's ticks stopped for %d ms as the host saw them (downtime target 300 ms)%n",
                            events, vcpus, done.line(), (firstTickThere - src.ticks().lastChange) / 1_000_000);
                }
            }
        }
    }

    /**
     * pvh-migrate-live in kvm mode, started and seen ticking (50 ticks): its domain (closed with this), its run, its
     * mailbox's address and the host's watch of its tick counter.
     */
    private record LiveGuest(XenDomain domain, CompletableFuture<RunOutcome> run, long mailbox, TickWatch ticks, ByteArrayOutputStream console)
            implements AutoCloseable {
        static LiveGuest start(boolean fifo, int vcpus) throws Exception {
            assumeTrue(Kvm.present(), NO_KVM);
            assumeTrue(kvmHasXenSupport(), "this KVM has no Xen support (KVM_CAP_XEN_HVM): kvm mode runs in tools/kvm-vm (Debian 6.12)");
            loopbackUp();
            ByteArrayOutputStream console = new ByteArrayOutputStream();
            XenDomain d = XenDomain.create(liveGuest(fifo, vcpus, console));
            try {
                assertEquals(RunConfig.Accel.KVM, d.accel());
                CompletableFuture<RunOutcome> run = runAsync(d);
                long mailbox = Long.parseLong(awaitLine(console, "mailbox at (\\d+)\n", run).group(1));
                TickWatch ticks = new TickWatch(d.ram().segment(), mailbox + 8);
                ticks.await(run, 50, console);
                return new LiveGuest(d, run, mailbox, ticks, console);
            } catch (Throwable t) {
                d.close();
                throw t;
            }
        }

        @Override
        public void close() {
            domain.close();
        }
    }

    private static RunConfig liveGuest(boolean fifo, int vcpus, ByteArrayOutputStream console) {
        return new RunConfig(Path.of(System.getProperty("jxen.guests", "target/guests"), fifo ? "pvh-migrate-live-fifo-32.elf" : "pvh-migrate-live-32.elf"),
                RAM, vcpus, "", Duration.ofSeconds(RUN_LIMIT_SECONDS), console, new ByteArrayInputStream(new byte[0]), console, RunConfig.Accel.KVM, null)
                .withEventChannels(fifo ? RunConfig.EventChannels.FIFO : RunConfig.EventChannels.TWO_LEVEL);
    }

    /** Tells the pvh-migrate-live guest in {@code d} to finish (mailbox.go) and checks that it passed and powered off. */
    private static void finishLiveGuest(XenDomain d, long mailbox, Future<RunOutcome> run, ByteArrayOutputStream console, String heading) throws Exception {
        d.ram().segment().set(ValueLayout.JAVA_LONG, mailbox, 1L);
        RunOutcome o = run.get(RUN_LIMIT_SECONDS, TimeUnit.SECONDS);
        String out = console.toString();
        System.out.println(heading + out.strip());
        assertEquals(RunOutcome.POWEROFF, o.status(), o.reason() + "; console:\n" + out);
        assertTrue(out.contains("PASS migrate-live guest") && !out.contains("FAIL"), out);
    }

    /**
     * kvm mode, the destination dying before it confirms: the source resumes with what KVM held given back (2-level: the
     * timer is KVM's; FIFO: jxen's timer thread, paused by the capture, must fire again) and the guest keeps ticking,
     * its IPIs and runstate areas intact.
     */
    @ParameterizedTest(name = "kvm mode, {0} events, 2 vCPUs")
    @ValueSource(strings = {"2l", "fifo"})
    void aGuestUsingKvmsXenStateResumesAtTheSourceWhenTheDestinationDies(String events) throws Exception {
        try (LiveGuest src = LiveGuest.start(events.equals("fifo"), 2);
                ServerSocket doomed = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            CompletableFuture<Long> destination = async("doomed destination", () -> dieAt(doomed, "before confirming"));
            MigrationSource.MigrationFailed failed = assertThrows(MigrationSource.MigrationFailed.class,
                    () -> MigrationSource.migrate(src.domain().liveSource(), new MigrationAddress("", doomed.getLocalPort()), ConvergencePolicy.withMaxDowntime(300),
                            p -> System.out.println(p.line())));
            destination.get(RUN_LIMIT_SECONDS, TimeUnit.SECONDS);
            System.out.println("source: " + failed.getMessage());
            assertTrue(failed.guestKeepsRunning() && failed.getMessage().contains("the guest resumed here"), failed.getMessage());
            src.ticks().sample();
            src.ticks().await(src.run(), src.ticks().ticks + 200, src.console());
            finishLiveGuest(src.domain(), src.mailbox(), src.run(), src.console(), "");
        }
    }

    /** The guest's tick counter in its mailbox, sampled by the host: when it last moved. */
    private static final class TickWatch {
        private final MemorySegment ram;
        private final long at;
        volatile long ticks, lastChange = System.nanoTime();

        TickWatch(MemorySegment ram, long at) {
            this.ram = ram;
            this.at = at;
        }

        private boolean sample() {
            long t = ram.get(ValueLayout.JAVA_LONG, at);
            if (t == ticks) return false;
            ticks = t;
            lastChange = System.nanoTime();
            return true;
        }

        /** Samples every 0.2 ms until interrupted (the source's guest stops at the switch-over). */
        void follow() {
            while (!Thread.currentThread().isInterrupted()) {
                sample();
                LockSupport.parkNanos(200_000);
            }
        }

        void await(Future<RunOutcome> run, long atLeast, ByteArrayOutputStream console) throws Exception {
            long deadline = System.nanoTime() + WAIT_NANOS;
            while (ram.get(ValueLayout.JAVA_LONG, at) < atLeast) {
                if (run.isDone()) fail("the guest stopped: " + run.get() + "; console:\n" + console);
                if (System.nanoTime() > deadline) fail("the guest made no progress; console:\n" + console);
                Thread.sleep(1);
            }
            sample();
        }

        /** The host's time of the first tick past {@code from}. */
        long awaitChange(Future<RunOutcome> run, long from, ByteArrayOutputStream console) throws Exception {
            ticks = from;
            long deadline = System.nanoTime() + WAIT_NANOS;
            while (!sample()) {
                if (run.isDone()) fail("the guest stopped: " + run.get() + "; console:\n" + console);
                if (System.nanoTime() > deadline) fail("the guest made no progress; console:\n" + console);
                LockSupport.parkNanos(200_000);
            }
            return lastChange;
        }
    }

    /** The emulated VM's init leaves the loopback interface down: the migration's stream needs it (root there). */
    private static void loopbackUp() throws Exception {
        NetworkInterface lo = NetworkInterface.getByName("lo"); // Linux's; Java lists it only while it has its address (up)
        if (lo != null && lo.isUp()) return;
        assertTrue(HostNetwork.ip("link", "set", "lo", "up"), "ip link set lo up");
    }

    /** Whether this host's KVM has Xen support (KVM_CAP_XEN_HVM with INTERCEPT_HCALL): jxen's kvm mode. */
    private static boolean kvmHasXenSupport() throws Exception {
        try (Kvm kvm = Kvm.open()) {
            return (kvm.checkExtension(KvmAbi.KVM_CAP_XEN_HVM) & KvmAbi.KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL) != 0;
        }
    }

    /** What a proxy between source and destination does to the stream: cut after {@code cutAt} bytes or flip byte {@code flipAt}. */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"cut", "flipped", "version"})
    void aDamagedStreamEndsTheDestinationInOneLineAndTheSourceRunsOn(String damage) throws Exception {
        assumeTrue(Kvm.present(), NO_KVM);
        Source src = start(1);
        try {
            migrateThroughDamage(src.domain(), damage, RunConfig.Accel.USER);
            runsOnToItsEnd(src);
        } finally {
            src.domain().close();
        }
    }

    /**
     * kvm mode: a damaged stream (a page flipped, the stream cut, both in round 1) from a source whose timers,
     * runstate areas and IPIs KVM holds and whose RAM KVM's dirty log tracks. The destination (kvm mode too) ends in one
     * line; the source's writes fail, its dirty log is turned off, and its guest ticks on with KVM's state intact. (The
     * kvm-mode resume after the switch-over is the dying destination's case above.)
     */
    @ParameterizedTest(name = "kvm mode, {0} events, stream {1}")
    @CsvSource({"2l, flipped", "fifo, cut"})
    void aDamagedStreamFromAKvmModeSourceEndsTheDestinationAndTheSourceTicksOn(String events, String damage) throws Exception {
        try (LiveGuest src = LiveGuest.start(events.equals("fifo"), 2)) {
            migrateThroughDamage(src.domain(), damage, RunConfig.Accel.KVM);
            src.ticks().sample();
            src.ticks().await(src.run(), src.ticks().ticks + 200, src.console());
            finishLiveGuest(src.domain(), src.mailbox(), src.run(), src.console(), "");
        }
    }

    /**
     * Migrates {@code source} to a destination built with {@code accel} through a relay that does {@code damage} to the
     * stream: the migration must fail with the source's guest kept running, the destination end with one IOException
     * line and no domain.
     */
    private static void migrateThroughDamage(XenDomain source, String damage, RunConfig.Accel accel) throws Exception {
        try (IncomingMigration incoming = IncomingMigration.listen(MigrationAddress.parse("tcp:0"));
                ServerSocket proxy = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            CompletableFuture<String> destination = async("destination", () -> {
                try (XenDomain d = incoming.accept(Duration.ofSeconds(RUN_LIMIT_SECONDS), new ByteArrayOutputStream(), new ByteArrayInputStream(new byte[0]),
                        new ByteArrayOutputStream(), accel)) {
                    return "built a domain from a damaged stream";
                } catch (IOException e) {
                    return "IOException: " + e.getMessage();
                } catch (Exception e) {
                    return e.toString();
                }
            });
            CompletableFuture<Object> relay = async("relay", () -> {
                relay(proxy, incoming.port(), damage);
                return null;
            });
            MigrationSource.MigrationFailed failed = assertThrows(MigrationSource.MigrationFailed.class,
                    () -> MigrationSource.migrate(source.liveSource(), new MigrationAddress("", proxy.getLocalPort()), ConvergencePolicy.withMaxDowntime(300),
                            p -> System.out.println(p.line())));
            System.out.println("source: " + failed.getMessage());
            assertTrue(failed.guestKeepsRunning(), failed.getMessage());
            String line = destination.get(RUN_LIMIT_SECONDS, TimeUnit.SECONDS);
            System.out.println("destination (" + damage + "): " + line);
            assertTrue(line.startsWith("IOException: ") && !line.contains("\n"), line);
            relay.get(RUN_LIMIT_SECONDS, TimeUnit.SECONDS);
        }
    }

    /**
     * The destination dies at each phase: during round 1, while the source sends the state after its switch-over (the
     * vCPUs held, the backends paused), and with the whole stream received but before it confirms. The source's guest
     * must run on in each case, resumed where it was held, and end as it would have.
     */
    @ParameterizedTest(name = "the destination dies {0}")
    @ValueSource(strings = {"in round 1", "after the switch-over", "before confirming"})
    void aDestinationDyingBeforeItConfirmsLeavesTheGuestRunningAtTheSource(String phase) throws Exception {
        assumeTrue(Kvm.present(), NO_KVM);
        Source src = start(1);
        try (ServerSocket doomed = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            CompletableFuture<Long> destination = async("doomed destination", () -> dieAt(doomed, phase));
            MigrationSource.MigrationFailed failed = assertThrows(MigrationSource.MigrationFailed.class,
                    () -> MigrationSource.migrate(src.domain().liveSource(), new MigrationAddress("", doomed.getLocalPort()), ConvergencePolicy.withMaxDowntime(300),
                            p -> System.out.println(p.line())));
            long received = destination.get(RUN_LIMIT_SECONDS, TimeUnit.SECONDS);
            System.out.println("source (destination dead " + phase + " after " + received + " bytes): " + failed.getMessage());
            assertTrue(failed.guestKeepsRunning(), failed.getMessage());
            assertEquals(!phase.equals("in round 1"), failed.getMessage().contains("after the switch-over"), failed.getMessage());
            assertTrue(failed.getMessage().contains("the guest resumed here") || phase.equals("in round 1"), failed.getMessage());
            RunOutcome o = runsOnToItsEnd(src);
            assertFalse(o.reason().contains("migrated"), o.reason());
        } finally {
            src.domain().close();
        }
    }

    /**
     * The window a confirmation cannot close: the destination confirms, takes the commit and vanishes before it says it
     * runs the guest. The source cannot know whether the guest runs there, so it holds it, stopped, until told: the
     * guest makes no progress meanwhile, then goes on here ({@code here}) or the source's run ends as migrated
     * ({@code there}). A second migration is refused while the first is in doubt.
     */
    @ParameterizedTest(name = "resolved: the guest runs {0}")
    @ValueSource(strings = {"here", "there"})
    void aDestinationLostAfterTheCommitLeavesTheGuestHeldUntilTheOperatorResolvesIt(String where) throws Exception {
        assumeTrue(Kvm.present(), NO_KVM);
        Source src = start(1);
        try (ServerSocket vanishing = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            CompletableFuture<Integer> destination = async("vanishing destination", () -> vanishAfterTheCommit(vanishing));
            MigrationSource.MigrationFailed failed = assertThrows(MigrationSource.MigrationFailed.class,
                    () -> MigrationSource.migrate(src.domain().liveSource(), new MigrationAddress("", vanishing.getLocalPort()), ConvergencePolicy.withMaxDowntime(300),
                            p -> System.out.println(p.line())));
            assertEquals(MigrationSource.COMMIT, destination.get(RUN_LIMIT_SECONDS, TimeUnit.SECONDS), "the destination read the commit");
            System.out.println("source (destination lost after the commit): " + failed.getMessage());
            assertTrue(failed.inDoubt() && !failed.guestKeepsRunning() && failed.getMessage().contains("--resolve here"), failed.getMessage());
            long held = src.rounds();
            Thread.sleep(300); // a lower bound only: a held guest cannot move however long this takes
            assertEquals(held, src.rounds(), "the guest is held while the migration is in doubt");
            assertFalse(src.run().isDone(), "the source's run waits for the operator");
            IllegalStateException again = assertThrows(IllegalStateException.class, () -> src.domain().liveSource());
            assertTrue(again.getMessage().contains("in doubt"), again.getMessage());
            assertTrue(src.domain().resolveMigration(where.equals("here")), "the backends restarted");
            assertThrows(IllegalStateException.class, () -> src.domain().resolveMigration(true), "resolved once");
            if (where.equals("here")) {
                awaitRounds(src, held + 3);
                src.domain().ram().segment().set(ValueLayout.JAVA_LONG, src.mailbox(), 1L);
            }
            RunOutcome o = src.run().get(RUN_LIMIT_SECONDS, TimeUnit.SECONDS);
            assertEquals(RunOutcome.POWEROFF, o.status(), o.reason() + "; console:\n" + src.console());
            assertEquals(where.equals("there"), o.reason().contains("migrated to") && o.reason().contains("resolved by the operator"), o.reason());
            if (where.equals("here")) assertTrue(src.console().toString().contains("PASS migrate guest"), src.console().toString());
        } finally {
            src.domain().close();
        }
    }

    /**
     * A destination that reads the whole stream, confirms, reads the source's next byte and vanishes (a reset) without
     * saying it runs the guest. Returns the byte it read after confirming.
     */
    private static int vanishAfterTheCommit(ServerSocket server) throws IOException {
        try (Socket s = server.accept()) {
            InputStream in = s.getInputStream();
            readUntil(s, in, "before confirming");
            s.getOutputStream().write(MigrationSource.CONFIRM);
            s.getOutputStream().flush();
            s.setSoTimeout(0);
            int commit = in.read();
            s.setSoLinger(true, 0);
            return commit;
        }
    }

    /**
     * A destination that reads the stream and dies (a reset, as a killed process's socket) at {@code phase}: after 200 kB
     * (round 1), at the {@code clock} section (written once the source's vCPUs are held), or once the stream has gone
     * quiet after it (the source waits for the confirmation). Returns the bytes it read.
     */
    private static long dieAt(ServerSocket server, String phase) throws IOException {
        try (Socket s = server.accept()) {
            long at = readUntil(s, s.getInputStream(), phase);
            s.setSoLinger(true, 0); // a reset, as the kernel sends for a killed process's unread data
            return at;
        }
    }

    /**
     * Reads the source's stream up to {@code phase}: 200 kB (round 1), the {@code clock} section (written once the
     * source's vCPUs are held), or the stream gone quiet after it (the source waits for the confirmation); or its end.
     * Returns the bytes read.
     */
    private static long readUntil(Socket s, InputStream in, String phase) throws IOException {
        byte[] buf = new byte[1 << 16];
        String window = "";
        long at = 0;
        boolean stateSeen = false;
        while (true) {
            if (phase.equals("in round 1") && at >= 200_000) return at;
            if (phase.equals("after the switch-over") && stateSeen) return at;
            if (stateSeen) s.setSoTimeout(3_000); // the last round is on its way: quiet from here means it is all sent
            int n;
            try {
                n = in.read(buf);
            } catch (SocketTimeoutException quiet) {
                return at;
            }
            if (n < 0) return at;
            at += n;
            String chunk = window + new String(buf, 0, n, StandardCharsets.ISO_8859_1);
            if (chunk.contains("clock")) stateSeen = true;
            window = chunk.substring(Math.max(0, chunk.length() - "clock".length()));
        }
    }

    /** Accepts the source, forwards its stream to the destination with {@code damage} done, then closes both ends. */
    private static void relay(ServerSocket proxy, int destinationPort, String damage) {
        try (Socket from = proxy.accept(); Socket to = new Socket(InetAddress.getLoopbackAddress(), destinationPort)) {
            InputStream in = from.getInputStream();
            OutputStream out = to.getOutputStream();
            byte[] buf = new byte[1 << 16];
            long at = 0;
            long cutAt = damage.equals("cut") ? 200_000 : Long.MAX_VALUE;
            long flipAt = switch (damage) {
                case "flipped" -> 100_000; // inside the first ram section's pages
                case "version" -> 9; // the container's format (u16 after the 8-byte magic)
                default -> -1;
            };
            for (int n; (n = in.read(buf)) > 0 && at < cutAt; at += n) {
                if (flipAt >= at && flipAt < at + n) buf[(int) (flipAt - at)] ^= 0x40;
                out.write(buf, 0, (int) Math.min(n, cutAt - at));
            }
        } catch (IOException e) {
            // the destination gave up first: closing both ends is all that is left
        }
    }

    private static void assertSameRam(GuestMemory a, GuestMemory b) {
        assertEquals(a.frames(), b.frames());
        List<Long> differ = new ArrayList<>();
        for (long gfn = 0; gfn < a.frames(); gfn++) {
            long off = gfn << GuestMemory.PAGE_SHIFT;
            if (a.segment().asSlice(off, GuestMemory.PAGE_SIZE).mismatch(b.segment().asSlice(off, GuestMemory.PAGE_SIZE)) >= 0) differ.add(gfn);
        }
        assertEquals(List.of(), differ, "frames whose contents differ between the stopped source and the destination");
    }

    /** The source's guest runs on, unharmed: it makes rounds, finishes when told and powers off with its PASS line. */
    private static RunOutcome runsOnToItsEnd(Source src) throws Exception {
        long before = src.rounds();
        assertFalse(src.run().isDone(), "the source's guest still runs");
        awaitRounds(src, before + 3);
        src.domain().ram().segment().set(ValueLayout.JAVA_LONG, src.mailbox(), 1L);
        RunOutcome o = src.run().get(RUN_LIMIT_SECONDS, TimeUnit.SECONDS);
        assertEquals(RunOutcome.POWEROFF, o.status(), o.reason() + "; console:\n" + src.console());
        assertTrue(src.console().toString().contains("PASS migrate guest"), src.console().toString());
        return o;
    }

    private static void awaitRounds(Source s, long rounds) throws Exception {
        long deadline = System.nanoTime() + WAIT_NANOS;
        while (s.rounds() < rounds) {
            if (s.run().isDone()) fail("the guest stopped: " + s.run().get() + "; console:\n" + s.console());
            if (System.nanoTime() > deadline) fail("the guest made no progress; console:\n" + s.console());
            Thread.sleep(5);
        }
    }

    private static CompletableFuture<RunOutcome> runAsync(XenDomain d) {
        return async("test-run", d::run);
    }

    /** {@code work} on a thread of its own (the common pool may have a single worker on a small machine). */
    private static <T> CompletableFuture<T> async(String name, Callable<T> work) {
        CompletableFuture<T> f = new CompletableFuture<>();
        Thread.ofPlatform().name(name).start(() -> {
            try {
                f.complete(work.call());
            } catch (Throwable t) {
                f.completeExceptionally(t);
            }
        });
        return f;
    }

    private static Matcher awaitLine(ByteArrayOutputStream console, String regex, Future<RunOutcome> run) throws Exception {
        Pattern p = Pattern.compile(regex);
        long deadline = System.nanoTime() + WAIT_NANOS;
        while (System.nanoTime() < deadline) {
            Matcher m = p.matcher(console.toString());
            if (m.find()) return m;
            if (run.isDone()) fail("the guest stopped first: " + run.get() + "; console:\n" + console);
            Thread.sleep(5);
        }
        throw new AssertionError("no line /" + regex + "/ on the console:\n" + console);
    }
}
