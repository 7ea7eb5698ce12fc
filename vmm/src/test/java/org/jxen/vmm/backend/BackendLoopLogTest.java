package org.jxen.vmm.backend;

import static org.junit.jupiter.api.Assertions.*;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

import org.junit.jupiter.api.Test;
import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.testing.EventFixture;

/**
 * A bug in a backend's service pass is logged through System.Logger with its stack trace, and the loop goes on
 * serving. The records are taken from java.util.logging, which backs System.Logger when no LoggerFinder is installed
 * (as in these tests and in the jxen command).
 */
class BackendLoopLogTest {
    @Test
    void aBugInTheServicePassIsLoggedWithItsStackTraceAndTheLoopServesOn() throws Exception {
        Logger julLogger = Logger.getLogger(BackendLoop.class.getName()); // held: java.util.logging keeps loggers weakly
        List<LogRecord> records = new CopyOnWriteArrayList<>();
        Handler capture = new Handler() {
            @Override
            public void publish(LogRecord r) {
                records.add(r);
            }

            @Override
            public void flush() {}

            @Override
            public void close() {}
        };
        julLogger.addHandler(capture);
        RuntimeException bug = new IllegalStateException("a backend bug");
        AtomicInteger passes = new AtomicInteger();
        CountDownLatch servedAfterTheBug = new CountDownLatch(1);
        Runnable service = () -> {
            if (passes.incrementAndGet() == 2) throw bug;
            if (passes.get() > 2) servedAfterTheBug.countDown();
        };
        try (var f = EventFixture.of(GuestWidth.BITS_64); var xce = new XenEvtchnHandle(f.ports, f.backendSignals);
                var loop = new BackendLoop("log-test-backend", xce, service)) {
            loop.wake(); // the second pass throws
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (records.isEmpty() && System.nanoTime() < deadline) Thread.sleep(5);
            loop.wake(); // and the loop still answers
            assertTrue(servedAfterTheBug.await(60, TimeUnit.SECONDS), "the loop served after the bug");
        } finally {
            julLogger.removeHandler(capture);
        }
        assertEquals(1, records.size(), "one record: " + records);
        LogRecord r = records.getFirst();
        assertEquals(Level.SEVERE, r.getLevel(), "System.Logger's ERROR");
        assertTrue(r.getMessage().contains("log-test-backend"), r.getMessage());
        assertSame(bug, r.getThrown(), "the exception itself, so its stack trace is in the log");
        assertTrue(r.getThrown().getStackTrace().length > 0);
    }
}
