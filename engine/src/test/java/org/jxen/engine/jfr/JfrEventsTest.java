package org.jxen.engine.jfr;

import static org.junit.jupiter.api.Assertions.*;

import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.jxen.engine.abi.DomId;
import org.jxen.engine.abi.EvtchnOp;
import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.abi.Hypercall;
import org.jxen.engine.hypercall.HypercallArgs;
import org.jxen.engine.hypercall.HypercallDispatcher;
import org.jxen.engine.testing.EventFixture;

import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;

/** A JFR recording (as {@code jcmd JFR.start} makes one) sees hypercalls, sends, deliveries and route changes. */
class JfrEventsTest {
    @TempDir
    Path dir;

    @Test
    void recordingShowsJxenEvents() throws Exception {
        Path file = dir.resolve("jxen.jfr");
        try (Recording rec = new Recording(); var f = EventFixture.of(GuestWidth.BITS_64).withFastPath()) {
            for (String name : List.of("jxen.Hypercall", "jxen.EventSend", "jxen.Delivery", "jxen.RouteChange")) rec.enable(name);
            rec.start();
            HypercallDispatcher d = HypercallDispatcher.withEventChannels(f.op, true);
            int ipi = f.ports.bindIpi(1); // a route change
            f.ram.segment().set(ValueLayout.JAVA_INT, EventFixture.ARG_GPA, ipi);
            d.dispatch(HypercallArgs.from64(Hypercall.EVENT_CHANNEL_OP, EvtchnOp.SEND, EventFixture.ARG_GPA, 0, 0, 0), f.vmem, false);
            f.ports.backendAllocUnbound(DomId.DOMID_SELF);
            int toBackend = f.ports.bindInterdomain(DomId.DOM0, 1); // raises the local port: an upcall
            f.ports.send(toBackend); // notifies the backend: a backend delivery
            rec.stop();
            rec.dump(file);
        }
        Map<String, List<RecordedEvent>> byType = RecordingFile.readAllEvents(file).stream()
                .collect(Collectors.groupingBy(e -> e.getEventType().getName()));
        RecordedEvent call = byType.get("jxen.Hypercall").getFirst();
        assertEquals(Hypercall.EVENT_CHANNEL_OP, call.getInt("number"));
        assertEquals(EvtchnOp.SEND, call.getLong("arg1"));
        assertEquals(0, call.getLong("result"));
        RecordedEvent send = byType.get("jxen.EventSend").getFirst();
        assertTrue(send.getBoolean("fastPath"), "an IPI send takes the fast path");
        assertTrue(byType.get("jxen.Delivery").stream().anyMatch(e -> "upcall".equals(e.getString("target"))));
        assertTrue(byType.get("jxen.Delivery").stream().anyMatch(e -> "backend".equals(e.getString("target"))));
        assertTrue(byType.get("jxen.RouteChange").stream().anyMatch(e -> "assign".equals(e.getString("operation"))));
    }
}
