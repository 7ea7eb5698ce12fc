package org.jxen.bench.paired;

import static org.jxen.bench.paired.GuestCommands.*;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.memory.GuestRegion;
import org.jxen.engine.pvclock.TscScale;
import org.jxen.vmm.backend.XenEvtchnHandle;
import org.jxen.vmm.kvm.RunConfig;
import org.jxen.vmm.kvm.RunOutcome;
import org.jxen.vmm.kvm.XenDomain;

/**
 * jxen's side of the KVM rows: {@code bench-xen.elf} running under {@link XenDomain} with two vCPUs, driven through
 * its mailbox. The doorbell and the raise are {@code PortManager.raise} of the guest's ports (a device model raising
 * an event); the backend is a {@link XenEvtchnHandle} bound to the guest's dom0 channel, on its own thread, answering
 * each wake with a notify; the notify row is that handle's notify from the bench thread (kvm mode: an irqfd write). Timestamps: System.nanoTime at the guest's PORT_STAMP exit and at the backend's wake.
 */
final class JxenKvmSide implements AutoCloseable {
    private final XenDomain domain;
    private final Thread runner;
    private final Semaphore hello = new Semaphore(0), armed = new Semaphore(0), stamped = new Semaphore(0), done = new Semaphore(0);
    private volatile int mailboxGpa;
    private volatile long stampNs;
    private final GuestRegion mbox;
    private final XenEvtchnHandle backend;
    private final int backendPort;
    private final Thread backendThread;
    private volatile boolean stopping;
    private volatile RunOutcome outcome;
    private volatile long[] backendSamples;
    private volatile int backendIndex;
    private final TscScale tsc;
    /** The guest's console (it prints only when a check fails): quoted when the guest stops answering. */
    private final ByteArrayOutputStream console = new ByteArrayOutputStream() {
        @Override
        public synchronized void write(int b) {
            if (count < 64 * 1024) super.write(b);
        }

        @Override
        public synchronized void write(byte[] b, int off, int len) {
            super.write(b, off, Math.min(len, Math.max(0, 64 * 1024 - count)));
        }
    };

    /** {@code accel}: user mode (jxen's hypercall page and deliveries) or kvm mode (KVM's Xen support, its routes). */
    JxenKvmSide(Path guest, RunConfig.Accel accel) throws Exception {
        RunConfig config = new RunConfig(guest, 16L << 20, 2, "", Duration.ofDays(1), console, new ByteArrayInputStream(new byte[0]))
                .withAccel(accel);
        domain = XenDomain.create(config);
        try {
            var io = domain.platform().ioPorts();
            io.register(PORT_HELLO, (v, value) -> {
                mailboxGpa = value;
                hello.release();
            });
            io.register(PORT_STAMP, (v, value) -> {
                stampNs = System.nanoTime();
                stamped.release();
            });
            io.register(PORT_ARMED, (v, value) -> armed.release());
            io.register(PORT_DONE, (v, value) -> done.release());
            runner = Thread.ofPlatform().name("jxen-bench-domain").daemon().start(() -> {
                try {
                    outcome = domain.run();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            if (!hello.tryAcquire(300, TimeUnit.SECONDS)) throw new IllegalStateException("bench-xen did not start");
            mbox = domain.ram().region(Integer.toUnsignedLong(mailboxGpa), MBOX_SIZE)
                    .orElseThrow(() -> new IllegalStateException("bench-xen's mailbox is outside its RAM"));
            backend = new XenEvtchnHandle(domain.platform().ports(), domain.platform().signals());
            backendPort = backend.bindInterdomain(domain.platform().guest().domid(), mbox.getIntVolatile(ARG + 4L * ARG_BACKEND));
            if (backendPort < 0) throw new IllegalStateException("bind_interdomain: " + backendPort);
            tsc = TscScale.forKhz(domain.tscKhz()); // the guest's TSC to ns as its pvclock converts it
            backendThread = Thread.ofPlatform().name("jxen-bench-backend").daemon().start(this::backendLoop);
        } catch (Exception | Error e) {
            domain.close();
            throw e;
        }
    }

    private void backendLoop() {
        while (!stopping) {
            int port = backend.awaitPending(200);
            if (port < 0) continue;
            long t = System.nanoTime();
            long[] s = backendSamples;
            if (s != null && backendIndex < s.length) s[backendIndex] = t - stampNs;
            backendIndex++;
            backend.unmask(port);
            backend.notify(backendPort);
        }
    }

    /** One batch of {@code cmd}: {@code iters} samples in ns. {@code settleNanos}: the halted guest's wait before a raise. */
    void run(int cmd, int iters, long[] samples, long settleNanos) throws Exception {
        backendSamples = cmd == CMD_BACKEND ? samples : null;
        backendIndex = 0;
        mbox.putIntVolatile(CMD, cmd);
        mbox.putIntVolatile(ITERS, iters);
        mbox.putIntVolatile(SEQ, mbox.getIntVolatile(SEQ) + 1);
        if (domain.platform().ports().raise(mbox.getIntVolatile(ARG + 4L * ARG_DOORBELL)) != 0) throw new IllegalStateException("doorbell");
        if (cmd == CMD_RAISE || cmd == CMD_NOTIFY) {
            int port = mbox.getIntVolatile(ARG + 4L * ARG_RAISE);
            for (int i = 0; i < iters; i++) {
                await(armed);
                LockSupport.parkNanos(settleNanos);
                long t0 = System.nanoTime();
                if (cmd == CMD_RAISE) domain.platform().ports().raise(port);
                else backend.notify(backendPort); // kvm mode: an irqfd write; user mode: the engine's raise
                await(stamped);
                samples[i] = stampNs - t0;
            }
        }
        await(done);
        stamped.drainPermits();
        armed.drainPermits();
        if (guestTimed(cmd)) {
            for (int i = 0; i < iters; i++) samples[i] = tsc.toNanos(mbox.getLongVolatile(SAMPLES + 8L * i));
        }
    }

    private void await(Semaphore s) throws InterruptedException {
        if (!s.tryAcquire(60, TimeUnit.SECONDS))
            throw new IllegalStateException("the benchmark guest stopped answering (" + stopAndDiagnose() + "); its console: " + console.toString().strip());
    }

    /** Stops the domain and reports the mailbox's words, the ping-pong ports' and the vCPUs' state (a guest that stopped answering). */
    private String stopAndDiagnose() {
        StringBuilder sb = new StringBuilder(outcome == null ? "running" : "run ended: " + outcome.reason()).append("; mailbox");
        for (long o = 0; o < ARG + 32; o += 4) sb.append(' ').append(mbox.getIntVolatile(o));
        var g = domain.platform().guest();
        for (int k = 4; k <= 5; k++) {
            int port = mbox.getIntVolatile(ARG + 4L * k);
            sb.append("; port ").append(port).append(" pending ").append(g.abi().isPending(port)).append(" masked ").append(g.abi().isMasked(port));
        }
        for (int v = 0; v < 2; v++) {
            var vi = g.shared().vcpuInfo(v);
            long sel = g.shared().width() == GuestWidth.BITS_64 ? vi.getLongVolatile(8) : vi.getIntVolatile(4);
            sb.append("; vCPU ").append(v).append(" upcall_pending ").append(vi.getByte(0)).append(" sel ").append(Long.toHexString(sel));
        }
        domain.requestStop("the benchmark guest stopped answering");
        try {
            runner.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return sb.append("; ").append(domain.describeVcpus().replace('\n', ';')).toString();
    }

    @Override
    public void close() {
        stopping = true;
        domain.requestStop("benchmark done");
        try {
            runner.join(5000);
            backendThread.join(2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        backend.close();
        domain.close();
    }
}
