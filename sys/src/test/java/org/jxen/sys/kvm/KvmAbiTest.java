package org.jxen.sys.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import org.junit.jupiter.api.Test;

/**
 * Every constant in {@link KvmAbi} equals what the system's {@code <linux/kvm.h>} says, and every fact the header
 * check prints has a constant: the check program is built from {@code src/test/c/kvm_abi.c} with gcc by the build.
 */
class KvmAbiTest {
    @Test
    void everyConstantMatchesTheSystemHeader() throws IOException, InterruptedException, IllegalAccessException {
        Path checker = Path.of(System.getProperty("jxen.kvm.abi", "target/native-test/kvm_abi"));
        Process p = new ProcessBuilder(checker.toString()).redirectErrorStream(true).start();
        List<String> lines = new String(p.getInputStream().readAllBytes()).lines().toList();
        assertEquals(0, p.waitFor(), "kvm_abi exit status");
        assertTrue(lines.size() > 100, "the check printed " + lines.size() + " facts");
        Set<String> checked = new HashSet<>();
        for (String line : lines) {
            String[] nv = line.split(" ");
            String name = nv[0].toUpperCase();
            long expected = Long.parseLong(nv[1]);
            Field f;
            try {
                f = KvmAbi.class.getField(name);
            } catch (NoSuchFieldException e) {
                throw new AssertionError("KvmAbi has no " + name + " (header: " + expected + ")");
            }
            long actual = f.getType() == long.class ? f.getLong(null) : f.getInt(null);
            assertEquals(expected, actual, name);
            checked.add(name);
        }
        for (Field f : KvmAbi.class.getFields())
            if (Modifier.isStatic(f.getModifiers())) assertTrue(checked.contains(f.getName()), f.getName() + " is not checked against the header");
        System.out.println("KVM ABI: " + checked.size() + " facts match the system header");
    }
}
