package org.jxen.vmm.control;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.jxen.engine.evtchn.PortManager;

/** The control socket's {@code migrate}: arguments checked, the target's figures or its failure as the reply. */
class MigrateCommandTest {
    private static String handle(ControlCommands c, String request) {
        byte[] b = request.getBytes(StandardCharsets.UTF_8);
        return c.handle(b, b.length);
    }

    private static ControlTarget target(boolean canMigrate) {
        return new ControlTarget() {
            @Override
            public PortManager ports() {
                throw new UnsupportedOperationException();
            }

            @Override
            public Map<String, Object> counters() {
                return Map.of();
            }

            @Override
            public Map<String, Object> migrate(String uri, long maxDowntimeMillis) throws Exception {
                if (!canMigrate) return ControlTarget.super.migrate(uri, maxDowntimeMillis);
                if (uri.equals("tcp:127.0.0.1:1")) throw new IOException("cannot reach tcp:127.0.0.1:1: Connection refused; the guest keeps running");
                return Map.of("uri", uri, "downtime-target", maxDowntimeMillis);
            }

            @Override
            public Map<String, Object> resolveMigration(boolean here) throws Exception {
                if (!canMigrate) return ControlTarget.super.resolveMigration(here);
                if (!here) throw new IllegalStateException("no migration is in doubt");
                return Map.of("guest", "here");
            }

            @Override
            public Map<String, Object> migrationStatus() {
                if (!canMigrate) return ControlTarget.super.migrationStatus();
                return Map.of("status", "active", "rounds", 3L);
            }
        };
    }

    @Test
    void repliesWithTheFiguresOrTheFailure() {
        ControlCommands c = new ControlCommands(target(true));
        String ok = handle(c, "{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"tcp:10.0.0.2:4444\", \"max-downtime\": 120}}");
        assertTrue(ok.contains("\"return\"") && ok.contains("tcp:10.0.0.2:4444") && ok.contains("120"), ok);
        assertTrue(handle(c, "{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"tcp:h:1\"}}").contains("300"), "the default target");
        String refused = handle(c, "{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"tcp:127.0.0.1:1\"}}");
        assertTrue(refused.contains("\"error\"") && refused.contains("the guest keeps running"), refused);
        assertTrue(handle(c, "{\"execute\": \"migrate\"}").contains("needs a string \\\"uri\\\""));
        assertTrue(handle(c, "{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"tcp:h:1\", \"max-downtime\": \"fast\"}}").contains("must be an integer"));
    }

    @Test
    void aTargetThatCannotMigrateSaysSo() throws Json.ParseException {
        String reply = handle(new ControlCommands(target(false)), "{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"tcp:h:1\"}}");
        assertEquals(Map.of("error", Map.of("class", "GenericError", "desc", "this jxen cannot migrate its domain")), Json.parse(reply));
    }

    @Test
    void resolvingAMigrationInDoubtTakesHereOrThereOnly() throws Json.ParseException {
        ControlCommands c = new ControlCommands(target(true));
        assertEquals(Map.of("return", Map.of("guest", "here")), Json.parse(handle(c, "{\"execute\": \"migrate-resolve\", \"arguments\": {\"guest\": \"here\"}}")));
        String nothing = handle(c, "{\"execute\": \"migrate-resolve\", \"arguments\": {\"guest\": \"there\"}}");
        assertTrue(nothing.contains("\"error\"") && nothing.contains("no migration is in doubt"), nothing);
        assertTrue(handle(c, "{\"execute\": \"migrate-resolve\", \"arguments\": {\"guest\": \"elsewhere\"}}").contains("migrate-resolve needs"));
        assertTrue(handle(c, "{\"execute\": \"migrate-resolve\"}").contains("migrate-resolve needs"));
        assertTrue(handle(new ControlCommands(target(false)), "{\"execute\": \"migrate-resolve\", \"arguments\": {\"guest\": \"here\"}}")
                .contains("this jxen cannot migrate its domain"));
    }

    @Test
    void queryMigrateAnswersTheStatus() throws Json.ParseException {
        assertEquals(Map.of("return", Map.of("status", "active", "rounds", 3L)), Json.parse(handle(new ControlCommands(target(true)), "{\"execute\": \"query-migrate\"}")));
        assertTrue(handle(new ControlCommands(target(false)), "{\"execute\": \"query-migrate\"}").contains("this jxen cannot migrate its domain"));
    }
}
