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

    @Option(names = "--to", paramLabel = "tcp:HOST:PORT", description = "Where the destination listens (jxen run --incoming).")
    String to;

    @Option(names = "--resolve", paramLabel = "here|there",
            description = "Instead of migrating: settle a migration left in doubt (the commit sent, the destination's answer lost; the guest held here)."
                    + " 'here' resumes the guest at this source (the destination does not run it), 'there' ends this source's run (it does).")
    String resolve;

    @Option(names = "--max-downtime", defaultValue = "300", paramLabel = "MS",
            description = "The pause the guest may see at the switch-over (default ${DEFAULT-VALUE} ms, as QEMU's downtime-limit).")
    long maxDowntime;

    @Override
    public Integer call() throws Exception {
        if ((to == null) == (resolve == null)) throw new IllegalArgumentException("give either --to tcp:HOST:PORT or --resolve here|there");
        if (!Files.exists(socket)) throw new IllegalArgumentException("no control socket at " + socket);
        if (resolve != null) return resolve();
        MigrationAddress.parse(to); // a bad address is reported here, not by the source
        ConvergencePolicy.withMaxDowntime(maxDowntime);
        Map<String, Object> args = new LinkedHashMap<>();
        args.put("uri", to);
        args.put("max-downtime", maxDowntime);
        String reply = ControlClient.call(socket, Json.write(Map.of("execute", "migrate", "arguments", args)));
        Map<?, ?> ret = (Map<?, ?>) replied(reply);
        System.out.printf("migrated to %s: %s rounds, %s bytes (%s pages) in %s ms, downtime %s ms (expected %s ms)%n", to, ret.get("rounds"),
                ret.get("bytes-sent"), ret.get("pages-sent"), ret.get("total-ms"), ret.get("downtime-ms"), ret.get("expected-downtime-ms"));
        return 0;
    }

    private int resolve() throws Exception {
        if (!resolve.equals("here") && !resolve.equals("there")) throw new IllegalArgumentException("--resolve must be here or there, not " + resolve);
        String reply = ControlClient.call(socket, Json.write(Map.of("execute", "migrate-resolve", "arguments", Map.of("guest", resolve))));
        replied(reply);
        System.out.println(resolve.equals("here") ? "the guest resumes at the source" : "the source's run ends; the guest runs at the destination");
        return 0;
    }

    /** The reply's {@code return}; the error's description, as an exception, if it failed. */
    private static Object replied(String reply) throws Json.ParseException {
        if (!(Json.parse(reply) instanceof Map<?, ?> m)) throw new IllegalStateException("unreadable reply: " + reply);
        if (m.get("error") instanceof Map<?, ?> err) throw new IllegalStateException(String.valueOf(err.get("desc")));
        return m.get("return");
    }
}
