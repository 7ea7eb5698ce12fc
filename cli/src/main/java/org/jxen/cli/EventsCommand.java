package org.jxen.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

import org.jxen.vmm.control.ControlClient;
import org.jxen.vmm.control.Json;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code jxen events list|inject|counters --socket PATH}: a running jxen's event channels, through its control socket. */
@Command(name = "events", mixinStandardHelpOptions = true,
        description = "Inspect or inject event channels of a running jxen through its control socket.",
        subcommands = {EventsCommand.ListPorts.class, EventsCommand.Inject.class, EventsCommand.Counters.class})
final class EventsCommand {
    abstract static class Base implements Callable<Integer> {
        @Option(names = "--socket", required = true, paramLabel = "PATH", description = "The control socket (jxen ... --socket PATH).")
        Path socket;

        Map<?, ?> call(String request) throws IOException {
            if (!Files.exists(socket)) throw new IllegalArgumentException("no control socket at " + socket);
            String reply = ControlClient.call(socket, request);
            Object parsed;
            try {
                parsed = Json.parse(reply);
            } catch (Json.ParseException e) {
                throw new IOException("unreadable reply: " + e.getMessage());
            }
            if (!(parsed instanceof Map<?, ?> m)) throw new IOException("unreadable reply");
            if (m.get("error") instanceof Map<?, ?> err) throw new IllegalStateException(String.valueOf(err.get("desc")));
            return m;
        }
    }

    @Command(name = "list", mixinStandardHelpOptions = true, description = "List bound ports.")
    static final class ListPorts extends Base {
        @Override
        public Integer call() throws Exception {
            Object ret = call("{\"execute\": \"xen-event-list\"}").get("return");
            System.out.printf("%-7s %-12s %-5s %-8s %-8s %-8s %-7s %-8s%n", "port", "type", "vcpu", "remote", "target", "pending",
                    "masked", "priority");
            for (Object o : (List<?>) ret) {
                Map<?, ?> p = (Map<?, ?>) o;
                System.out.printf("%-7s %-12s %-5s %-8s %-8s %-8s %-7s %-8s%n", p.get("port"), p.get("type"), p.get("vcpu"),
                        p.containsKey("remote-domain") ? p.get("remote-domain") : "-", p.containsKey("target") ? p.get("target") : "-",
                        p.get("pending"), p.get("masked"), p.get("priority"));
            }
            return 0;
        }
    }

    @Command(name = "inject", mixinStandardHelpOptions = true, description = "Raise a bound port in the guest.")
    static final class Inject extends Base {
        @Parameters(paramLabel = "PORT", description = "The guest port to raise.")
        long port;

        @Override
        public Integer call() throws Exception {
            call("{\"execute\": \"xen-event-inject\", \"arguments\": {\"port\": " + port + "}}");
            System.out.println("raised port " + port);
            return 0;
        }
    }

    @Command(name = "counters", mixinStandardHelpOptions = true, description = "Show counters.")
    static final class Counters extends Base {
        @Override
        public Integer call() throws Exception {
            Map<?, ?> ret = (Map<?, ?>) call("{\"execute\": \"query-counters\"}").get("return");
            for (var e : ret.entrySet()) System.out.println(e.getKey() + ": " + e.getValue());
            return 0;
        }
    }

}
