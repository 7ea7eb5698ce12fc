package org.jxen.vmm.backend;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

/** The process's open descriptor count, from /proc/self/fd. */
public final class OpenFds {
    private OpenFds() {}

    /** What each open descriptor refers to ("anon_inode:[eventfd]", a path, "socket:[…]"), by number. */
    public static Map<String, String> targets() {
        Map<String, String> m = new TreeMap<>();
        try (Stream<Path> s = Files.list(Path.of("/proc/self/fd"))) {
            for (Path fd : s.toList()) {
                try {
                    m.put(fd.getFileName().toString(), Files.readSymbolicLink(fd).toString());
                } catch (IOException gone) {
                    // closed since the listing (the listing's own descriptor among them)
                }
            }
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        return m;
    }

    /** The descriptors in {@code after} that were not open, to the same target, in {@code before}. */
    public static Map<String, String> added(Map<String, String> before, Map<String, String> after) {
        Map<String, String> m = new TreeMap<>(after);
        m.entrySet().removeIf(e -> e.getValue().equals(before.get(e.getKey())));
        return m;
    }

    public static long count() {
        try (Stream<Path> s = Files.list(Path.of("/proc/self/fd"))) {
            return s.count();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }
}
