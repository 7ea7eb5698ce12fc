package org.jxen.vmm.migrate;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.Socket;
import java.util.function.Consumer;
import java.util.function.LongPredicate;

import org.jxen.engine.memory.GuestMemory;
import org.jxen.sys.kvm.DirtyLog;
import org.jxen.sys.kvm.KvmException;
import org.jxen.vmm.kvm.LiveSource;
import org.jxen.vmm.kvm.XenDomain;
import org.jxen.vmm.snapshot.RamSections;
import org.jxen.vmm.snapshot.SnapshotWriter;

/**
 * The source of a pre-copy live migration: streams the running domain as a save container (docs/save-format.md, "Live
 * migration"): the {@code domain} section; RAM round 1 (every populated, non-zero page) while the guest runs, then
 * rounds of the pages KVM's dirty log names, until the expected downtime fits the {@link ConvergencePolicy}; then the
 * switch-over: the guest stops, {@code clock} and the state sections go out as a save writes them, then the last
 * pages, then {@code end}.
 *
 * <p><b>Pages jxen writes itself.</b> KVM logs only writes made through the guest's own mappings (and KVM's writes for
 * it); jxen writes guest RAM from many places: shared_info and vcpu_info (event bits, pvclock, wallclock), runstate
 * areas, FIFO control blocks and event arrays, grant frames, the console and XenStore rings, hypercall results copied
 * to any guest buffer, and the disk and NIC backends' rings and data pages (any page a guest grants, mapped for as
 * long as a ring lives, often since before the migration began). No list of them is complete, and tracking every store
 * would reach into the engine's hot paths and every backend. So the source keeps a digest of each page as it was sent
 * ({@link PageDigests}) and the last round, with every vCPU and backend stopped, re-reads all RAM and also sends each
 * page whose digest changed. That catches every writer, KVM's and jxen's, at the price of one read of RAM during the
 * downtime (measured in round 1 and counted in the expected downtime). QEMU instead marks every device write in its
 * own dirty bitmap (address_space_write, cpu_physical_memory_set_dirty_range); jxen's backends write through raw
 * segments, so the digest is the simpler correct answer here.
 *
 * <p>Before the switch-over nothing changes the guest: a stream that fails, a guest that stops for another reason,
 * ends the migration with the dirty log off and the domain running. At the switch-over the vCPUs are held and the
 * backends paused, undoably: the destination, once it has built the domain, answers {@link #CONFIRM}, and only then
 * does the source send {@link #COMMIT}; the destination runs the guest only after the commit, and says so with
 * {@link #RUNNING}, on which the source ends its run with status 0. A stream that fails before the confirmation resumes
 * the source (backends, timers, vCPUs), so at most one side ever runs the guest. A stream that fails after the commit
 * was sent and before {@code RUNNING} came back leaves the source <em>in doubt</em>: the destination may have the
 * guest or may have given up, and neither side can tell which, so the source holds the guest (as captured: vCPUs held,
 * backends paused) until the operator, who can see the destination, says where it runs ({@link
 * LiveSource#resolve}). Guessing would either lose the guest or run it twice on one disk. QEMU's precopy ends the
 * source at its last write with no confirmation and leaves it paused ("postmigrate") for the operator
 * (migration.c migration_completion); Xen's xl, whose destination reports its start-up back as this one's RUNNING,
 * leaves the source suspended on a failure between its "go" and that report, telling the operator to check both ends
 * (tools/xl/xl_migrate.c migrate_domain, failed_badly).
 */
public final class MigrationSource {
    /** A page record in a ram section: frame number and contents. */
    static final int PAGE_RECORD = RamSections.RECORD;
    /** The destination's answer once its domain is built from the stream (after {@code end}). */
    public static final int CONFIRM = 0x06;
    /** The source's last byte after {@link #CONFIRM}: the destination may run the guest. */
    public static final int COMMIT = 0x43;
    /** The destination's last byte, after {@link #COMMIT}: it has the guest; the source may end. */
    public static final int RUNNING = 0x52;

    private final LiveSource domain;
    private final GuestMemory ram;
    private final SnapshotWriter writer;
    private final ConvergencePolicy policy;
    private final Consumer<MigrationProgress> progress;
    private final String destination;
    private final PageDigests digests;
    private final byte[] records = new byte[RamSections.PAGES_PER_SECTION * PAGE_RECORD];
    private final long start = System.nanoTime();
    private long bytesSent, pagesSent, sendNanos, digestNanos, digestBytes;
    private int round;

    private MigrationSource(LiveSource domain, SnapshotWriter writer, ConvergencePolicy policy, Consumer<MigrationProgress> progress, String destination) {
        this.domain = domain;
        this.ram = domain.ram();
        this.writer = writer;
        this.policy = policy;
        this.progress = progress;
        this.destination = destination;
        this.digests = new PageDigests(ram.frames());
    }

    /**
     * Why a migration ended without the guest surely moving; {@link #guestKeepsRunning} says whether the source's guest
     * runs on, {@link #inDoubt} whether it is held at the source until the operator resolves where it runs.
     */
    public static final class MigrationFailed extends IOException {
        private final boolean guestKeepsRunning, inDoubt;

        MigrationFailed(String message, boolean guestKeepsRunning) {
            this(message, guestKeepsRunning, false);
        }

        MigrationFailed(String message, boolean guestKeepsRunning, boolean inDoubt) {
            super(message);
            this.guestKeepsRunning = guestKeepsRunning;
            this.inDoubt = inDoubt;
        }

        public boolean guestKeepsRunning() {
            return guestKeepsRunning;
        }

        public boolean inDoubt() {
            return inDoubt;
        }
    }

    /**
     * Migrates the domain over {@code link} (flushed, not closed), the destination's {@link #CONFIRM} read from
     * {@code confirmations}, reporting each round to {@code progress}; returns the final figures. {@link MigrationFailed} if it did not happen. Always {@link LiveSource#finish finishes} the source.
     */
    public static MigrationProgress migrate(LiveSource domain, OutputStream link, InputStream confirmations, String destination, ConvergencePolicy policy,
            Consumer<MigrationProgress> progress) throws MigrationFailed {
        try {
            SnapshotWriter w;
            try {
                w = new SnapshotWriter(link);
            } catch (IOException e) {
                throw new MigrationFailed("the stream to " + destination + " failed: " + e.getMessage() + "; the guest keeps running", true);
            }
            return new MigrationSource(domain, w, policy, progress, destination).run(link, confirmations);
        } finally {
            domain.finish();
        }
    }

    /**
     * Connects to {@code to} and migrates the domain there (see {@link #migrate(LiveSource, OutputStream, String,
     * ConvergencePolicy, Consumer)}); the connection is closed at the end.
     */
    public static MigrationProgress migrate(LiveSource domain, MigrationAddress to, ConvergencePolicy policy, Consumer<MigrationProgress> progress)
            throws MigrationFailed {
        Socket socket = new Socket();
        OutputStream link;
        InputStream confirmations;
        try {
            socket.setSendBufferSize(1 << 20);
            socket.connect(to.socketAddress(), CONNECT_MILLIS);
            socket.setSoTimeout((int) IncomingMigration.SILENCE.toMillis()); // the wait for the destination's confirmation
            link = new BufferedOutputStream(socket.getOutputStream(), 1 << 16);
            confirmations = socket.getInputStream();
        } catch (IOException e) {
            closeQuietly(socket);
            domain.finish();
            throw new MigrationFailed("cannot reach " + to + ": " + e.getMessage() + "; the guest keeps running", true);
        }
        domain.link(socket);
        try {
            return migrate(domain, link, confirmations, to.toString(), policy, progress);
        } finally {
            closeQuietly(socket);
        }
    }

    /** Migrates running {@code domain} to {@code uri} (tcp:HOST:PORT) with the downtime target {@code maxDowntimeMillis}. */
    public static MigrationProgress migrate(XenDomain domain, String uri, long maxDowntimeMillis, Consumer<MigrationProgress> progress)
            throws MigrationFailed {
        MigrationAddress to = MigrationAddress.parse(uri);
        ConvergencePolicy policy = ConvergencePolicy.withMaxDowntime(maxDowntimeMillis);
        LiveSource source;
        try {
            source = domain.liveSource();
        } catch (IllegalStateException e) {
            throw new MigrationFailed(e.getMessage(), !e.getMessage().contains("not running"));
        }
        return migrate(source, to, policy, progress);
    }

    private static final int CONNECT_MILLIS = 30_000;

    private static void closeQuietly(Socket s) {
        try {
            s.close();
        } catch (IOException e) {
            // the migration's outcome is already decided
        }
    }

    private MigrationProgress run(OutputStream link, InputStream confirmations) throws MigrationFailed {
        long[] pending;
        long dirtyRate;
        long stoppedAt;
        long expectedAtSwitch;
        try (DirtyLog log = domain.startDirtyLog()) {
            try {
                domain.writeDomain(writer);
                round = 1;
                sendAll();
                long lastFetch = System.nanoTime();
                report("pre-copy", 0, 0, expected(ram.frames()), -1);
                while (true) {
                    if (!domain.running()) throw new MigrationFailed("the guest stopped before the switch-over; nothing migrated", false);
                    pending = log.fetch();
                    long now = System.nanoTime();
                    long dirty = count(pending);
                    dirtyRate = dirty * 1_000_000_000L / Math.max(1, now - lastFetch);
                    lastFetch = now;
                    long expected = expected(dirty);
                    if (policy.switchOver(round, expected)) {
                        expectedAtSwitch = expected;
                        report("switch-over", dirty, dirtyRate, expected, -1);
                        break;
                    }
                    round++;
                    sendPages(pending, null);
                    report("pre-copy", dirty, dirtyRate, expected(dirty), -1);
                }
                link.flush();
                stoppedAt = System.nanoTime();
                if (!domain.stopGuest("the guest migrated to " + destination))
                    throw new MigrationFailed("the guest stopped before the switch-over; nothing migrated", false);
            } catch (MigrationFailed e) {
                throw e;
            } catch (IOException | KvmException | IllegalStateException e) {
                throw new MigrationFailed("the stream to " + destination + " failed before the switch-over (" + e.getMessage() + "); the guest keeps running",
                        domain.running());
            }
            // Switched over: the vCPUs are held; until the destination confirms, a failure resumes them here.
            try {
                domain.writeState(writer);
                long[] last = log.fetch(); // KVM's writes during the stop (pvclock, runstate in kvm mode) and the guest's last ones
                for (int w = 0; w < last.length; w++) last[w] |= pending[w];
                round++;
                sendPages(last, digests);
                writer.finish();
                link.flush();
                int answer = confirmations.read();
                if (answer != CONFIRM) throw new IOException(answer < 0 ? "the destination closed the stream without confirming" : "the destination answered " + answer);
                link.write(COMMIT);
                link.flush(); // a write that fails was not queued: the destination cannot have the commit
            } catch (IOException | RuntimeException e) {
                boolean resumed = domain.resume();
                throw new MigrationFailed("the stream to " + destination + " failed after the switch-over, before the destination confirmed ("
                        + e.getMessage() + "); the guest resumed here" + (resumed ? "" : ", but a backend did not restart"), true);
            }
            // The commit is on its way: from here only the destination's word, or the operator's, decides.
            String why;
            try {
                int answer = confirmations.read();
                if (answer == RUNNING) {
                    domain.commit();
                    long downtime = (System.nanoTime() - stoppedAt) / 1_000_000;
                    return report("completed", 0, dirtyRate, expectedAtSwitch, downtime);
                }
                why = answer < 0 ? "the stream ended" : "the destination answered " + answer;
            } catch (IOException e) {
                why = e.getMessage();
            }
            domain.holdInDoubt();
            throw new MigrationFailed("the stream to " + destination + " failed after the commit was sent, before the destination said it runs the guest ("
                    + why + "): the destination may be running it. The guest is held here, stopped; resolve it: `jxen migrate --socket ... --resolve here`"
                    + " resumes it here if the destination does not run it, `--resolve there` ends this run if it does", false, true);
        }
    }

    private long expected(long dirtyPages) {
        long link = bytesSent * 1_000_000_000L / Math.max(1, sendNanos);
        long digest = digestBytes * 1_000_000_000L / Math.max(1, digestNanos);
        return ConvergencePolicy.expectedDowntimeMillis(dirtyPages, link, ram.size(), digest);
    }

    private MigrationProgress report(String phase, long dirty, long dirtyRate, long expected, long downtime) {
        MigrationProgress p = new MigrationProgress(phase, round, bytesSent, pagesSent, dirty, dirtyRate, bytesSent * 1_000_000_000L / Math.max(1, sendNanos),
                expected, (System.nanoTime() - start) / 1_000_000, downtime);
        progress.accept(p);
        return p;
    }

    /** Round 1: every populated page that is not all zero (the destination's RAM starts zeroed); digests of all. */
    private void sendAll() throws IOException {
        MemorySegment seg = ram.segment();
        send(gfn -> ram.populated(gfn) && !RamSections.isZero(seg, gfn << GuestMemory.PAGE_SHIFT));
        // The digest rate, for the expected downtime: one timed pass over a sample of RAM.
        long d = System.nanoTime();
        long sample = Math.min(ram.frames(), 4096);
        for (long gfn = 0; gfn < sample; gfn++) digests.changed(seg, gfn);
        digestNanos += System.nanoTime() - d;
        digestBytes += sample * GuestMemory.PAGE_SIZE;
    }

    /**
     * Sends every page set in {@code dirty} (whatever its contents: a page that became zero must replace the old one)
     * and, if {@code changedToo} is given, every other page whose digest differs from what was sent.
     */
    private void sendPages(long[] dirty, PageDigests changedToo) throws IOException {
        MemorySegment seg = ram.segment();
        send(gfn -> (dirty[(int) (gfn >>> 6)] & 1L << (gfn & 63)) != 0 || (changedToo != null && changedToo.changed(seg, gfn)));
    }

    /** Sends the pages {@code chosen} picks, in frame order, in ram sections of up to {@link RamSections#PAGES_PER_SECTION}. */
    private void send(LongPredicate chosen) throws IOException {
        long t = System.nanoTime();
        int n = 0;
        for (long gfn = 0; gfn < ram.frames(); gfn++) {
            if (!chosen.test(gfn)) continue;
            copy(gfn, n++);
            if (n == RamSections.PAGES_PER_SECTION) {
                flushSection(n);
                n = 0;
            }
        }
        if (n > 0) flushSection(n);
        sendNanos += System.nanoTime() - t;
    }

    /** Copies frame {@code gfn} into record {@code i} and records its digest (of the bytes sent, torn or not). */
    private void copy(long gfn, int i) {
        int at = i * PAGE_RECORD;
        for (int b = 0; b < 8; b++) records[at + b] = (byte) (gfn >>> (56 - 8 * b));
        MemorySegment.copy(ram.segment(), ValueLayout.JAVA_BYTE, gfn << GuestMemory.PAGE_SHIFT, records, at + 8, (int) GuestMemory.PAGE_SIZE);
        digests.sent(gfn, records, at + 8);
    }

    private void flushSection(int n) throws IOException {
        try (OutputStream out = writer.open(RamSections.KIND, RamSections.VERSION, (long) n * PAGE_RECORD)) {
            out.write(records, 0, n * PAGE_RECORD);
        }
        bytesSent += (long) n * PAGE_RECORD;
        pagesSent += n;
    }

    private static long count(long[] bitmap) {
        long n = 0;
        for (long w : bitmap) n += Long.bitCount(w);
        return n;
    }
}
