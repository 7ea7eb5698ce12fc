package org.jxen.vmm.kvm;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;

/** The builder's cleanup: reverse order, the first failure kept, threads that will not stop keep what they use. */
class ResourceScopeTest {
    @Test
    void aFailureUnwindsInReverseOrderAndKeepsTheOriginalError() {
        List<String> closed = new ArrayList<>();
        ResourceScope scope = new ResourceScope(closed::add);
        scope.push("a", new Object(), () -> {});
        scope.push("b", new Object(), () -> {
            throw new IOException("b would not close");
        });
        scope.push("c", new Object(), () -> {});
        IOException original = new IOException("step failed");
        assertSame(original, scope.unwind(original));
        assertEquals(List.of("c", "b", "a"), closed);
        assertEquals(1, original.getSuppressed().length);
        assertEquals("b would not close", original.getSuppressed()[0].getMessage());
        assertThrows(IllegalStateException.class, () -> scope.push("d", new Object(), () -> {}), "nothing is pushed after the end");
        scope.close(); // idempotent: nothing released twice
        assertEquals(3, closed.size());
    }

    @Test
    void threadsThatDoNotStopKeepOlderResourcesOpenButOlderThreadsStillStop() {
        List<String> closed = new ArrayList<>();
        ResourceScope scope = new ResourceScope(closed::add);
        scope.push("RAM", new Object(), () -> {});
        scope.pushThreads("platform threads", () -> true);
        scope.push("vCPU fd", new Object(), () -> {});
        scope.pushThreads("vCPU threads", () -> false);
        scope.push("newer file", new Object(), () -> {});
        scope.close();
        assertEquals(List.of("newer file", "vCPU threads", "platform threads"), closed,
                "what a stuck vCPU thread may use stays open; the platform's threads are still asked to stop");
    }

    @Test
    void closeReportsEveryFailedRelease() {
        ResourceScope scope = new ResourceScope();
        scope.push("x", new Object(), () -> {
            throw new IllegalStateException("x");
        });
        scope.push("y", new Object(), () -> {
            throw new IllegalStateException("y");
        });
        IllegalStateException e = assertThrows(IllegalStateException.class, scope::close);
        assertEquals("y", e.getCause().getMessage(), "the newest is released first");
        assertEquals("x", e.getSuppressed()[0].getMessage());
        assertEquals(List.of(), scope.names());
    }
}
