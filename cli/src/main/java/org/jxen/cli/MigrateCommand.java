package org.jxen.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;

import org.jxen.vmm.control.ControlClient;
import org.jxen.vmm.control.Json;
import org.jxen.vmm.migrate.ConvergencePolicy;
import org.jxen.vmm.migrate.MigrationAddress;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code jxen migrate --socket CONTROL --to tcp:HOST:PORT [--max-downtime MS]}: asks a running jxen, through its control
 * socket, to live-migrate its guest to a {@code jxen run --incoming} there; prints the figures when it has ended.
 */
@Command(name = "migrate", mixinStandardHelpOptions = true,
        description = "Live-migrate the guest of a running jxen (its --socket) to a jxen run --incoming tcp:HOST:PORT. The stream is not encrypted: tunnel it.")
final class MigrateCommand implements Callable<Integer> {
    @Option(names = "--socket", required = true, paramLabel = "PATH", description = "The source's control socket (jxen run ... --socket PATH).")
    Path socket;

    @Option(names = "--to", required = true, paramLabel = "tcp:HOST:PORT", description = "Where the destination listens (jxen run --incoming).")
    String to;

    @Option(names = "--max-downtime", defaultValue = "300", paramLabel = "MS",
            description = "The pause the guest may see at the switch-over (default ${DEFAULT-VALUE} ms, as QEMU's downtime-limit).")
    long maxDowntime;

    @Override
    public Integer call() throws Exception {
        MigrationAddress.parse(to); // a bad address is reported here, not by the source
        ConvergencePolicy.withMaxDowntime(maxDowntime);
        if (!Files.exists(socket)) throw new IllegalArgumentException("no control socket at " + socket);
        Map<String, Object> args = new LinkedHashMap<>();
        args.put("uri", to);
        args.put("max-downtime", maxDowntime);
        String reply = ControlClient.call(socket, Json.write(Map.of("execute", "migrate", "arguments", args)));
        if (!(Json.parse(reply) instanceof Map<?, ?> m)) throw new IllegalStateException("unreadable reply: " + reply);
        if (m.get("error") instanceof Map<?, ?> err) throw new IllegalStateException(String.valueOf(err.get("desc")));
        Map<?, ?> ret = (Map<?, ?>) m.get("return");
        System.out.printf("migrated to %s: %s rounds, %s bytes (%s pages) in %s ms, downtime %s ms (expected %s ms)%n", to, ret.get("rounds"),
                ret.get("bytes-sent"), ret.get("pages-sent"), ret.get("total-ms"), ret.get("downtime-ms"), ret.get("expected-downtime-ms"));
        return 0;
    }
}
