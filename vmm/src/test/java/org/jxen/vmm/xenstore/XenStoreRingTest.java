package org.jxen.vmm.xenstore;

import static org.junit.jupiter.api.Assertions.*;
import static org.jxen.vmm.xenstore.XsWire.*;

import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicBoolean;

import org.junit.jupiter.api.Test;
import org.jxen.engine.abi.DomId;
import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.evtchn.DomainConfig;
import org.jxen.engine.memory.GuestRegion;
import org.jxen.engine.testing.EventFixture;
import org.jxen.vmm.backend.XenEvtchnHandle;
import java.util.Arrays;
import java.util.concurrent.Semaphore;

/** The XenStore backend through its ring in guest RAM and a real event channel (eventfd to the backend thread). */
class XenStoreRingTest {
    private static final long RING_GFN = 8;

    private record Setup(EventFixture f, XenEvtchnHandle xce, XenStoreBackend backend, GuestXsClient guest, XenStore store)
            implements AutoCloseable {
        @Override
        public void close() {
            backend.close();
            xce.close();
            f.close();
        }
    }

    private static Setup setup() {
        EventFixture f = new EventFixture(GuestWidth.BITS_64, DomainConfig.of(1), 256 * 1024).withFastPath();
        XenStore store = new XenStore(XenStore.Quota.DEFAULT);
        store.populateDomain(1, "guest", 0x9, 0);
        int guestPort = f.ports.allocUnbound(DomId.DOMID_SELF, DomId.DOM0); // HVM_PARAM_STORE_EVTCHN
        XenEvtchnHandle xce = new XenEvtchnHandle(f.ports, f.backendSignals);
        int bport = xce.bindInterdomain(1, guestPort);
        GuestRegion ring = f.ram.page(RING_GFN).orElseThrow(); // HVM_PARAM_STORE_PFN
        GuestXsClient guest = new GuestXsClient(f, ring, guestPort);
        XenStoreBackend backend = new XenStoreBackend(ring, xce, bport, store, 1);
        return new Setup(f, xce, backend, guest, store);
    }

    @Test
    void readWriteListRemoveWatchAndConflictingTransaction() throws Exception {
        try (Setup s = setup()) {
            GuestXsClient g = s.guest();
            assertEquals("OK\0", g.call(WRITE, 0, "data/x\0hello").text());
            assertEquals("hello", g.call(READ, 0, "data/x\0").text());
            assertEquals("x\0", g.call(DIRECTORY, 0, "data\0").text());
            assertEquals("OK\0", g.call(WATCH, 0, "data\0w\0").text());
            GuestXsClient.Message initial = g.take();
            assertEquals(WATCH_EVENT, initial.type());
            assertEquals("data\0w\0", initial.text(), "the initial watch event");
            s.store().hostWrite("/local/domain/1/data/y", "from dom0"); // a backend's write, on another thread
            GuestXsClient.Message ev = g.take();
            assertEquals("data/y\0w\0", ev.text(), "a watch event pushed by the backend thread");
            assertEquals("OK\0", g.call(RM, 0, "data/x\0").text());
            assertEquals("ENOENT\0", g.call(READ, 0, "data/x\0").text());
            int tx = Integer.parseInt(g.call(TRANSACTION_START, 0, "\0").text().replace("\0", ""));
            assertEquals("from dom0", g.call(READ, tx, "data/y\0").text());
            s.store().hostWrite("/local/domain/1/data/y", "changed");
            g.call(WRITE, tx, "data/y\0mine");
            GuestXsClient.Message end = g.call(TRANSACTION_END, tx, "T\0");
            assertEquals(ERROR, end.type());
            assertEquals("EAGAIN\0", end.text(), "a conflicting transaction ends with EAGAIN");
        }
    }

    /**
     * A backend thread changes a node the guest watches (as blkback switching its XenbusState does) while the guest's
     * requests are being handled: the watch event is queued under the store's lock while the ring's thread, handling a
     * request, waits for that lock. Both must go on; they once deadlocked, which stalled Debian's blkfront for good in
     * its second disk's transaction_start.
     */
    @Test
    void hostWritesToWatchedNodesDuringGuestRequestsDoNotDeadlock() throws Exception {
        int writes = Integer.getInteger("jxen.xs.hostwrites", 5_000);
        Setup s = setup();
        Thread host = null;
        try {
            GuestXsClient g = s.guest();
            s.store().hostWrite("/local/domain/1/data/state", "0");
            assertEquals("OK\0", g.call(WATCH, 0, "data\0w\0").text());
            AtomicBoolean hostDone = new AtomicBoolean();
            host = Thread.ofPlatform().name("host-backend").daemon().start(() -> {
                for (int i = 1; i <= writes; i++) {
                    s.store().hostWrite("/local/domain/1/data/state", Integer.toString(i));
                    if (i % 16 == 0) Thread.yield(); // let the guest drain the watch events
                }
                hostDone.set(true);
            });
            int calls = 0;
            while (!hostDone.get()) {
                GuestXsClient.Message m = g.call(READ, 0, "data/state\0"); // no reply: the ring's thread is stuck
                assertEquals(READ, m.type(), m.text());
                calls++;
            }
            host.join(120_000);
            assertFalse(host.isAlive(), "the host's writer never finished: it and the ring's thread wait for each other");
            assertEquals(Integer.toString(writes), g.call(READ, 0, "data/state\0").text());
            System.out.println("xenstore: " + writes + " host writes to a watched node during " + calls + " guest requests");
        } finally {
            // Closing a deadlocked backend would wait for the store's lock forever: a failed run leaves it to the JVM.
            if (host == null || !host.isAlive()) s.close();
        }
    }

    @Test
    void hundredThousandMessagesNoneLost() throws Exception {
        int total = Integer.getInteger("jxen.xs.messages", 100_000);
        try (Setup s = setup()) {
            GuestXsClient g = s.guest();
            SplittableRandom rnd = new SplittableRandom(1);
            ArrayDeque<int[]> outstanding = new ArrayDeque<>(); // {reqId, value} of sent requests
            int sent = 0, received = 0;
            long t0 = System.nanoTime();
            while (received < total) {
                boolean put = false;
                while (sent < total && outstanding.size() < 24) {
                    int value = rnd.nextInt(1_000_000);
                    String path = "data/k" + (sent % 50);
                    byte[] payload = (path + "\0" + value).getBytes(StandardCharsets.UTF_8);
                    if (g.space() < HEADER_SIZE + payload.length) break;
                    g.put(WRITE, sent, 0, payload);
                    outstanding.add(new int[] {sent, value});
                    sent++;
                    put = true;
                }
                if (put) g.notifyBackend();
                GuestXsClient.Message m = g.take();
                int[] expect = outstanding.poll();
                assertNotNull(expect, "a reply nobody asked for");
                assertEquals(expect[0], m.reqId(), "replies come back in order, none lost");
                assertEquals(WRITE, m.type(), m.text());
                received++;
            }
            double secs = (System.nanoTime() - t0) / 1e9;
            System.out.printf("xenstore ring: %,d requests in %.2f s (%.0f requests/s)%n", total, secs, total / secs);
            assertEquals(total, s.backend().requests());
        }
    }

    /**
     * Linux notifies the backend only when it finds the ring drained, header and payload written separately, several
     * requests in flight: a backend that does not look again after publishing req_cons loses a request for good (what
     * stalled Debian's kernel on one vCPU in its first XenStore watch).
     */
    @Test
    void requestsWrittenWhileTheBackendReadsAreNotLost() throws Exception {
        int total = Integer.getInteger("jxen.xs.linuxstyle", 50_000);
        try (Setup s = setup()) {
            GuestXsClient g = s.guest();
            Semaphore window = new Semaphore(16); // requests in flight
            Thread writer = Thread.ofPlatform().start(() -> {
                for (int i = 0; i < total; i++) {
                    byte[] m = XsConnection.message(WRITE, i, 0, ("data/k" + (i % 7) + "\0" + i).getBytes(StandardCharsets.UTF_8));
                    window.acquireUninterruptibly();
                    while (g.space() < m.length) Thread.onSpinWait();
                    g.putLinuxStyle(Arrays.copyOfRange(m, 0, HEADER_SIZE));
                    g.putLinuxStyle(Arrays.copyOfRange(m, HEADER_SIZE, m.length));
                }
            });
            for (int received = 0; received < total; received++) {
                GuestXsClient.Message r = g.take();
                assertEquals(received, r.reqId(), "replies in order, none lost");
                window.release();
            }
            writer.join();
            assertEquals(total, s.backend().requests());
        }
    }

    @Test
    void garbageFromTheGuestNeverStopsTheBackend() throws Exception {
        try (Setup s = setup()) {
            GuestXsClient g = s.guest();
            GuestRegion ring = s.f().ram.page(RING_GFN).orElseThrow();
            // A header claiming a payload over XENSTORE_PAYLOAD_MAX: an E2BIG reply, input reset.
            byte[] bad = XsConnection.message(READ, 77, 0, new byte[0]);
            bad[12] = (byte) 0xFF;
            bad[13] = (byte) 0xFF;
            g.putRaw(bad);
            g.notifyBackend();
            GuestXsClient.Message m = g.take();
            assertEquals(ERROR, m.type());
            assertEquals(77, m.reqId());
            assertEquals("E2BIG\0", m.text());
            // A producer index claiming more than a ring: the ring is reset.
            ring.putIntRelease(REQ_PROD, ring.getIntVolatile(REQ_CONS) + 5 * RING_SIZE);
            g.notifyBackend();
            long deadline = System.nanoTime() + 60_000_000_000L;
            while (ring.getIntVolatile(REQ_PROD) != ring.getIntVolatile(REQ_CONS) && System.nanoTime() < deadline) Thread.sleep(1);
            assertEquals(ring.getIntVolatile(REQ_PROD), ring.getIntVolatile(REQ_CONS), "reset: everything claimed is dropped");
            // Still serving (the client's own index re-synchronised with the ring).
            GuestXsClient g2 = new GuestXsClientResync(s.f(), ring, g).client();
            assertEquals("OK\0", g2.call(WRITE, 0, "data/after\0ok").text());
            assertEquals("ok", g2.call(READ, 0, "data/after\0").text());
        }
    }

    /** A fresh client whose producer index starts where the ring is now (after a guest-side reset). */
    private record GuestXsClientResync(EventFixture f, GuestRegion ring, GuestXsClient old) {
        GuestXsClient client() {
            return old.resyncedTo(ring.getIntVolatile(REQ_PROD));
        }
    }
}
