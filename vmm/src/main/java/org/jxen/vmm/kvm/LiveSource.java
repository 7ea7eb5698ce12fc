package org.jxen.vmm.kvm;

import java.io.Closeable;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

import org.jxen.engine.memory.GuestMemory;
import org.jxen.sys.kvm.DirtyLog;
import org.jxen.sys.kvm.KvmVm;
import org.jxen.vmm.backend.ThreadStop;
import org.jxen.vmm.snapshot.SnapshotWriter;

/**
 * A running domain as its live migration sees it (org.jxen.vmm.migrate drives it; {@link XenDomain#liveSource} makes
 * it): guest RAM and KVM's dirty log of it while the guest runs, the domain section first, then at the switch-over the
 * stop of every vCPU and the capture of the domain's state, as a save makes it. Until {@link #stopGuest} nothing here
 * changes the guest: a migration that fails before it leaves the domain running as if none had been tried.
 * {@link XenDomain#close} waits for {@link #finish} (at most {@link ThreadStop#JOIN_MILLIS}, then it closes the
 * migration's link, so a stuck peer cannot hold the domain).
 */
public final class LiveSource {
    private final KvmVm vm;
    private final MemorySegment ramMapping;
    private final GuestMemory ram;
    private final DomainStop stop;
    private final List<VcpuThread> vcpus;
    private final Supplier<SaveFile> capture;
    private final BooleanSupplier unpause;
    private String stopReason;
    private boolean held, captured;
    private volatile boolean inDoubt;
    private final LongSupplier systemTime;
    private final long memoryBytes;
    private final int vcpuCount;
    private final CountDownLatch done = new CountDownLatch(1);
    private volatile Closeable link;

    LiveSource(KvmVm vm, MemorySegment ramMapping, GuestMemory ram, DomainStop stop, List<VcpuThread> vcpus, Supplier<SaveFile> capture,
            BooleanSupplier unpause, LongSupplier systemTime, long memoryBytes, int vcpuCount) {
        this.unpause = unpause;
        this.vm = vm;
        this.ramMapping = ramMapping;
        this.ram = ram;
        this.stop = stop;
        this.vcpus = vcpus;
        this.capture = capture;
        this.systemTime = systemTime;
        this.memoryBytes = memoryBytes;
        this.vcpuCount = vcpuCount;
    }

    /** Guest RAM (the engine's and the backends' view: what the migration reads and sends). */
    public GuestMemory ram() {
        return ram;
    }

    /** The link the migration writes to: closed by {@link XenDomain#close} if the migration does not end in time. */
    public void link(Closeable c) {
        link = c;
    }

    /** Turns KVM's dirty log on for guest RAM (memory slot 0): every page the guest writes from now on is logged. */
    public DirtyLog startDirtyLog() {
        return DirtyLog.start(vm, 0, 0, ramMapping);
    }

    /** Writes the {@code domain} section (RAM size, vCPUs, the system time now: replaced by {@code clock} at the stop). */
    public void writeDomain(SnapshotWriter w) throws IOException {
        w.write(SaveFile.DOMAIN, new SaveFile.Domain(memoryBytes, vcpuCount, systemTime.getAsLong()));
    }

    /** Whether the guest still runs (nothing else stopped the domain: a poweroff, a signal, a close). */
    public boolean running() {
        return !stop.requested();
    }

    /**
     * The switch-over: holds every vCPU out of the guest (the exit in flight completed) without ending the run, so that
     * {@link #resume} can undo it until {@link #commit}. False, with nothing changed, if the domain had already stopped
     * for another reason. IOException if a vCPU thread does not stop (the others are released: the guest runs on).
     */
    public boolean stopGuest(String reason) throws IOException {
        if (stop.requested()) return false;
        stopReason = reason;
        held = true;
        for (VcpuThread t : vcpus) {
            if (!t.hold()) {
                resume();
                throw new IOException("vCPU " + t.vcpu() + " did not stop");
            }
        }
        if (stop.requested()) { // stopped meanwhile (a signal, a poweroff): that outcome stands
            resume();
            return false;
        }
        return true;
    }

    /**
     * The destination confirmed: the source's run ends with status 0 ("the guest migrated to ..."); its vCPU threads
     * end. From here the guest runs only at the destination.
     */
    public void commit() {
        stop.request(new RunOutcome(RunOutcome.POWEROFF, stopReason));
        releaseAll();
    }

    /**
     * The stream failed before the destination confirmed: the backends and timers run again if the state was
     * captured, then the vCPUs; the guest goes on as if no migration had been tried (it saw a pause). False if a
     * backend's thread could not be started again (reported by the caller; the vCPUs run anyway).
     */
    public boolean resume() {
        boolean ok = !captured || unpause.getAsBoolean();
        captured = false;
        releaseAll();
        return ok;
    }

    private void releaseAll() {
        if (!held) return;
        held = false;
        for (VcpuThread t : vcpus) t.release();
    }

    /**
     * The commit was sent but the destination never said it runs the guest: the guest stays held as captured (vCPUs
     * out of the guest, backends paused, the images' locks given up) until {@link #resolve}. Nothing here can tell
     * whether the destination has it; the operator can.
     */
    public synchronized void holdInDoubt() {
        inDoubt = true;
    }

    /** Whether a migration's outcome waits for {@link #resolve}. */
    public boolean inDoubt() {
        return inDoubt;
    }

    /**
     * The operator's word on a migration in doubt: {@code here} resumes the guest at this source (the destination does
     * not run it), otherwise this run ends as after a completed migration (it does). False if {@code here} and a
     * backend's thread could not be started again (the vCPUs run anyway). IllegalStateException if nothing is in doubt.
     */
    public synchronized boolean resolve(boolean here) {
        if (!inDoubt) throw new IllegalStateException("no migration is in doubt");
        inDoubt = false;
        if (here) return resume();
        stopReason = stopReason + " (resolved by the operator)";
        commit();
        return true;
    }

    /**
     * After {@link #stopGuest}: pauses the backends, captures the domain's state and writes it: {@code clock} (the system
     * time now), then the state sections a save has (engine, platform, devices, interrupt controllers, vCPUs).
     */
    public void writeState(SnapshotWriter w) throws IOException {
        SaveFile state;
        try {
            captured = true; // the backends' pause comes first in the capture: undone by resume() even if it fails
            state = capture.get();
        } catch (IllegalStateException e) {
            throw new IOException(e.getMessage());
        }
        w.write(SaveFile.CLOCK, state.systemTimeNs());
        state.writeState(w);
    }

    /** The migration has ended (sent, failed or given up); the domain may close. */
    public void finish() {
        done.countDown();
    }

    boolean finished() {
        return done.getCount() == 0;
    }

    /** Waits for {@link #finish}; past the limit the link is closed (the migration's writes then fail) and it waits again. */
    void awaitFinished() {
        try {
            if (done.await(ThreadStop.JOIN_MILLIS, TimeUnit.MILLISECONDS)) return;
            Closeable c = link;
            if (c != null) c.close();
            done.await(ThreadStop.JOIN_MILLIS, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (IOException e) {
            // closing a socket that already failed: the migration ends anyway
        }
    }
}
