package org.jxen.vmm.control;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.jxen.engine.abi.Errno;
import org.jxen.engine.evtchn.Binding;
import org.jxen.engine.evtchn.Channel;
import org.jxen.engine.evtchn.FifoAbi;
import org.jxen.engine.evtchn.PortManager;

/**
 * The control protocol, one JSON object per line each way, in the spirit of QEMU's QMP:
 * {@code {"execute": "xen-event-list"}}, {@code {"execute": "xen-event-inject", "arguments": {"port": 5}}},
 * {@code {"execute": "query-counters"}}. Success: {@code {"return": ...}}; failure:
 * {@code {"error": {"class": "...", "desc": "..."}}}. Every request gets exactly one reply.
 */
public final class ControlCommands {
    private final ControlTarget target;

    public ControlCommands(ControlTarget target) {
        this.target = target;
    }

    /** The reply line (without newline) for one request line: {@code length} bytes of UTF-8 as the client sent them. */
    public String handle(byte[] line, int length) {
        Object request;
        try {
            request = Json.parseRequest(line, length);
        } catch (Json.ParseException e) {
            return error("GenericError", "invalid JSON: " + e.getMessage());
        }
        if (!(request instanceof Map<?, ?> m) || !(m.get("execute") instanceof String command)) {
            return error("GenericError", "expected an object with a string member \"execute\"");
        }
        Object args = m.get("arguments");
        if (args != null && !(args instanceof Map)) return error("GenericError", "\"arguments\" must be an object");
        Map<?, ?> arguments = args == null ? Map.of() : (Map<?, ?>) args;
        return switch (command) {
            case "xen-event-list" -> ok(list());
            case "xen-event-inject" -> inject(arguments);
            case "query-counters" -> ok(target.counters());
            case "migrate" -> migrate(arguments);
            case "migrate-resolve" -> resolve(arguments);
            case "query-migrate" -> status();
            default -> error("CommandNotFound", "the command " + command + " has not been found");
        };
    }

    private List<Object> list() {
        PortManager pm = target.ports();
        List<Object> out = new ArrayList<>();
        int valid = pm.validPorts();
        var abi = pm.guest().abi();
        for (int p = 1; p < valid; p++) {
            Channel ch = pm.channel(p);
            if (ch.isFree()) continue;
            Map<String, Object> e = new LinkedHashMap<>();
            e.put("port", p);
            e.put("vcpu", ch.vcpu());
            switch (ch.binding()) {
                case Binding.Unbound u -> {
                    e.put("type", "unbound");
                    e.put("remote-domain", u.remoteDomid());
                }
                case Binding.Interdomain i -> {
                    e.put("type", "interdomain");
                    e.put("remote-domain", i.remoteDomid());
                    e.put("target", i.remotePort());
                }
                case Binding.Virq v -> {
                    e.put("type", "virq");
                    e.put("target", v.virq());
                }
                case Binding.Pirq q -> {
                    e.put("type", "pirq");
                    e.put("target", q.pirq());
                }
                case Binding.Ipi i -> e.put("type", "ipi");
                default -> e.put("type", "closed");
            }
            e.put("pending", abi.isPending(p));
            e.put("masked", abi.isMasked(p));
            e.put("priority", ch.priority());
            out.add(e);
        }
        return out;
    }

    private String inject(Map<?, ?> arguments) {
        if (!(arguments.get("port") instanceof Long port)) return error("GenericError", "xen-event-inject needs an integer \"port\"");
        if (port <= 0 || port > Integer.MAX_VALUE) return error("GenericError", "port " + port + " is out of range");
        int rc = target.ports().raise(port.intValue());
        if (rc != 0) return error("GenericError", "port " + port + " is not bound (" + Errno.name(rc) + ")");
        return ok(Map.of());
    }

    /** {@code {"execute": "migrate", "arguments": {"uri": "tcp:HOST:PORT", "max-downtime": MS}}}: replies when the migration has ended. */
    private String migrate(Map<?, ?> arguments) {
        if (!(arguments.get("uri") instanceof String uri)) return error("GenericError", "migrate needs a string \"uri\" (tcp:HOST:PORT)");
        Object ms = arguments.get("max-downtime");
        if (ms != null && !(ms instanceof Long)) return error("GenericError", "\"max-downtime\" must be an integer (milliseconds)");
        try {
            return ok(target.migrate(uri, ms == null ? 300 : (Long) ms));
        } catch (Exception e) {
            return error("GenericError", String.valueOf(e.getMessage()));
        }
    }

    /** {@code {"execute": "migrate-resolve", "arguments": {"guest": "here"|"there"}}}: where a migration in doubt runs the guest. */
    private String resolve(Map<?, ?> arguments) {
        Object where = arguments.get("guest");
        if (!"here".equals(where) && !"there".equals(where)) return error("GenericError", "migrate-resolve needs \"guest\": \"here\" or \"there\"");
        try {
            return ok(target.resolveMigration(where.equals("here")));
        } catch (Exception e) {
            return error("GenericError", String.valueOf(e.getMessage()));
        }
    }

    /** {@code {"execute": "query-migrate"}}: the migration's status and figures; answered while a {@code migrate} runs. */
    private String status() {
        try {
            return ok(target.migrationStatus());
        } catch (Exception e) {
            return error("GenericError", String.valueOf(e.getMessage()));
        }
    }

    /** An abi name for counters. */
    public static String abiName(PortManager pm) {
        return pm.guest().abi() instanceof FifoAbi ? "fifo" : "2-level";
    }

    static String ok(Object value) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("return", value);
        return Json.write(m);
    }

    static String error(String cls, String desc) {
        Map<String, Object> inner = new LinkedHashMap<>();
        inner.put("class", cls);
        inner.put("desc", desc);
        return Json.write(Map.of("error", inner));
    }
}
