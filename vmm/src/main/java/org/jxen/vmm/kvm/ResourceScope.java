package org.jxen.vmm.kvm;

import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;

/**
 * What a domain has opened, in the order it opened it, closed in the reverse order: by the builder when a step fails
 * half-way (the failure goes on, with any close that failed too as a suppressed exception), and by the domain that
 * owns it afterwards. The cleanup is the list, so a new resource is released by pushing it where it is opened, never
 * by another rollback branch (Firecracker's builder gets the same from Rust's drop order).
 *
 * <p>Not thread-safe: one thread builds, one thread closes.
 */
final class ResourceScope implements AutoCloseable {
    private static final Logger LOG = System.getLogger(ResourceScope.class.getName());
    /** How one resource is released; may throw (the scope goes on with the rest and reports it). */
    @FunctionalInterface
    interface Release {
        void release() throws Exception;
    }

    /** {@code stops}: false from it means threads may still use what is older, which must then stay open. */
    private record Entry(String name, Release release, BooleanSupplier stops) {}

    private final Deque<Entry> opened = new ArrayDeque<>();
    /** Told the name of each resource as it is released (tests: the order). */
    private final Consumer<String> released;
    private boolean closed;

    ResourceScope() {
        this(name -> {});
    }

    ResourceScope(Consumer<String> released) {
        this.released = released;
    }

    /** Pushes {@code resource}, to be released by {@code release}; returns it (so a step reads as one line). */
    <T> T push(String name, T resource, Release release) {
        if (closed) throw new IllegalStateException("the scope is closed: " + name + " would never be released");
        opened.push(new Entry(name, release, null));
        return resource;
    }

    /**
     * Pushes the threads that use what was pushed before: {@code stop} stops them and says whether all ended. If one
     * would not (it reported itself), older threads are still stopped but nothing older is released: a leak, never a
     * thread touching unmapped memory.
     */
    void pushThreads(String name, BooleanSupplier stop) {
        if (closed) throw new IllegalStateException("the scope is closed: " + name + " would never be stopped");
        opened.push(new Entry(name, null, stop));
    }

    /** Pushes an AutoCloseable, released by its close(). */
    <T extends AutoCloseable> T push(String name, T resource) {
        return push(name, resource, resource::close);
    }

    /** The names of what is open, oldest first. */
    List<String> names() {
        List<String> names = new ArrayList<>();
        opened.descendingIterator().forEachRemaining(e -> names.add(e.name()));
        return names;
    }

    /**
     * After a failed step: releases everything in reverse order and returns {@code failure} (each release that threw
     * added to it as suppressed), for the caller to rethrow: {@code throw scope.unwind(e)}.
     */
    <E extends Throwable> E unwind(E failure) {
        if (closed) return failure;
        for (Throwable t : releaseAll()) failure.addSuppressed(t);
        return failure;
    }

    /**
     * Releases everything in reverse order. A release that throws does not stop the others: the first failure is
     * thrown at the end as an IllegalStateException, the rest suppressed in it. Idempotent.
     */
    @Override
    public void close() {
        List<Throwable> failures = releaseAll();
        if (failures.isEmpty()) return;
        IllegalStateException e = new IllegalStateException("releasing the domain's resources failed", failures.getFirst());
        for (Throwable t : failures.subList(1, failures.size())) e.addSuppressed(t);
        throw e;
    }

    private List<Throwable> releaseAll() {
        closed = true;
        List<Throwable> failures = new ArrayList<>();
        List<String> kept = new ArrayList<>();
        while (!opened.isEmpty()) {
            Entry e = opened.pop();
            if (e.stops() != null) { // threads are stopped even when others did not stop: they only ask to end
                boolean stopped;
                try {
                    stopped = e.stops().getAsBoolean();
                } catch (RuntimeException t) {
                    failures.add(t);
                    stopped = false;
                }
                released.accept(e.name());
                if (!stopped) kept.add(e.name() + " (did not stop)");
            } else if (!kept.isEmpty()) {
                kept.add(e.name()); // a thread that did not stop may still use it
            } else {
                try {
                    e.release().release();
                } catch (Exception t) {
                    failures.add(t);
                }
                released.accept(e.name());
            }
        }
        if (!kept.isEmpty()) LOG.log(Level.WARNING, "kept open, as threads may still use them: " + String.join(", ", kept));
        return failures;
    }
}
