package org.jxen.cli;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.logging.Level;
import java.util.logging.Logger;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code --log LEVEL} and {@code --log-file FILE}: parsed before or after the subcommand, one line per record. */
class LogOptionTest {
    @TempDir
    Path dir;

    @AfterEach
    void backToTheDefault() throws Exception {
        LogSetup.reset();
    }

    private static Level rootLevel() {
        return Logger.getLogger("").getLevel();
    }

    @Test
    void withoutTheOptionOnlyWarningsAndErrorsAreLogged() {
        assertEquals(1, Main.execute("events", "list", "--socket", dir.resolve("none").toString()), "no socket there");
        assertEquals(System.Logger.Level.WARNING, LogSetup.level());
        assertEquals(Level.WARNING, rootLevel());
    }

    @Test
    void theLevelIsTakenBeforeOrAfterTheSubcommandInAnyCase() {
        Main.execute("--log", "debug", "events", "list", "--socket", dir.resolve("none").toString());
        assertEquals(System.Logger.Level.DEBUG, LogSetup.level());
        assertEquals(Level.FINE, rootLevel());
        Main.execute("events", "list", "--socket", dir.resolve("none").toString(), "--log", "ERROR");
        assertEquals(System.Logger.Level.ERROR, LogSetup.level());
        assertEquals(Level.SEVERE, rootLevel());
    }

    @Test
    void anUnknownLevelIsMisuse() {
        assertEquals(2, Main.execute("--log", "loud", "events", "list", "--socket", dir.resolve("none").toString()));
    }

    @Test
    void aFailedCommandsStackTraceGoesToTheLogFileAtDebug() throws Exception {
        Path log = dir.resolve("jxen.log");
        assertEquals(1, Main.execute("--log", "debug", "--log-file", log.toString(), "events", "list", "--socket", dir.resolve("none").toString()));
        System.getLogger("org.jxen.test").log(System.Logger.Level.TRACE, "below the level: not written");
        List<String> lines = Files.readAllLines(log);
        assertTrue(lines.getFirst().matches("\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d(\\.\\d+)?Z DEBUG org\\.jxen\\.cli\\.Main: the command failed"),
                lines.getFirst());
        assertTrue(lines.get(1).startsWith("java.lang.IllegalArgumentException: no control socket at "), lines.get(1));
        assertTrue(lines.get(2).trim().startsWith("at org.jxen.cli.EventsCommand"), "the stack trace follows: " + lines.get(2));
        assertTrue(lines.stream().noneMatch(l -> l.contains("not written")), String.join("\n", lines));
    }
}
