package org.jxen.vmm.kvm;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.GZIPOutputStream;

import org.junit.jupiter.api.Test;
import org.jxen.vmm.backend.XenEvtchnHandle;

/**
 * Makes the format-1 save fixture (run once, on the code that still writes format 1, with JXEN_MAKE_FIXTURE=DIR in the environment):
 * pvh-resume-32.elf with 4 MiB of RAM and 2 vCPUs, saved when it is ready, a dom0 backend bound to its port.
 */
class LegacySaveFixtureMaker {
    @Test
    void make() throws Exception {
        String dir = System.getenv("JXEN_MAKE_FIXTURE");
        assumeTrue(dir != null, "only on request");
        ByteArrayOutputStream console = new ByteArrayOutputStream();
        RunConfig config = new RunConfig(Path.of(System.getProperty("jxen.guests", "target/guests"), "pvh-resume-32.elf"), 4L << 20, 2, "",
                Duration.ofSeconds(600), console, new ByteArrayInputStream(new byte[0])).withAccel(RunConfig.Accel.USER);
        Path raw = Path.of(dir, "pvh-resume-format1.jxensave");
        try (XenDomain d = XenDomain.create(config)) {
            var run = CompletableFuture.supplyAsync(() -> {
                try {
                    return d.run();
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
            });
            Matcher m = Pattern.compile("ready to save, host port (\\d+)\n").matcher("");
            while (!(m = m.reset(console.toString())).find()) {
                assertFalse(run.isDone(), console.toString());
                Thread.sleep(5);
            }
            var handle = new XenEvtchnHandle(d.platform().ports(), d.platform().signals());
            int backendPort = handle.bindInterdomain(1, Integer.parseInt(m.group(1)));
            d.requestStop("fixture: save now");
            assertEquals(RunOutcome.STOPPED, run.get(600, TimeUnit.SECONDS).status());
            d.save(raw);
            handle.close();
            Files.writeString(Path.of(dir, "pvh-resume-format1.txt"), "backend port " + backendPort + "\n" + console);
        }
        try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(Path.of(dir, "pvh-resume-format1.jxensave.gz")))) {
            Files.copy(raw, out);
        }
        Files.delete(raw);
    }
}
