package org.jxen.bench.paired;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/** The benchmark guests built into the jar ({@code bench/src/main/guest}), extracted to files KVM VMMs can load. */
final class BenchGuests {
    private BenchGuests() {}

    /** {@code name} ("bench-xen.elf", "bench-bare.elf") as a temporary file deleted at exit. */
    static Path extract(String name) {
        try (InputStream in = BenchGuests.class.getResourceAsStream("/native/" + name)) {
            if (in == null) throw new IllegalStateException(name + " is not built (run the Maven build)");
            Path tmp = Files.createTempFile("jxen-" + name, "");
            tmp.toFile().deleteOnExit();
            Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
            return tmp;
        } catch (IOException e) {
            throw new IllegalStateException("cannot extract " + name + ": " + e.getMessage(), e);
        }
    }
}
