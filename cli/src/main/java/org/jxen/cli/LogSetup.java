package org.jxen.cli;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.format.DateTimeFormatter;
import java.util.logging.Formatter;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogManager;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.logging.StreamHandler;

/**
 * Where the library's log goes when jxen runs as a command. The library logs through {@link System.Logger} only: it is
 * the JDK's own facade, so jxen needs no logging dependency and an application embedding jxen routes the records to
 * its own framework by installing a {@code System.LoggerFinder} (SLF4J and Log4j ship one). With none installed, the
 * JDK backs {@code System.Logger} with java.util.logging, which this class configures: one line per record (time,
 * level, logger, message; a stack trace after it when there is one) on standard error or in {@code --log-file}.
 * Standard output stays the guest's console, and the hypervisor console's {@code (d1)} lines are guest output, not
 * records.
 *
 * <p>The default level, {@link System.Logger.Level#WARNING}, prints what jxen always printed (a KVM that refuses part of what it
 * offered, a backend's I/O error, a bug caught and survived); {@code --log debug} adds the stack trace of a failed
 * command.
 */
final class LogSetup {
    static final System.Logger.Level DEFAULT = System.Logger.Level.WARNING;
    private static final DateTimeFormatter TIME = DateTimeFormatter.ISO_INSTANT;

    private static System.Logger.Level level = DEFAULT;
    private static Path file;

    private LogSetup() {}

    /** Routes records to standard error at {@link #DEFAULT}, dropping what an earlier run in this JVM set. */
    static synchronized void reset() throws IOException {
        level = DEFAULT;
        file = null;
        apply();
    }

    static synchronized void level(System.Logger.Level l) throws IOException {
        level = l;
        apply();
    }

    /** Appends records to {@code f} instead of standard error. */
    static synchronized void file(Path f) throws IOException {
        file = f;
        apply();
    }

    static synchronized System.Logger.Level level() {
        return level;
    }

    private static void apply() throws IOException {
        LogManager.getLogManager().reset(); // closes the previous handler, and with it a previous --log-file
        Logger root = Logger.getLogger("");
        root.setLevel(julLevel(level));
        Handler h = file == null ? new Records(System.err, false)
                : new Records(Files.newOutputStream(file, StandardOpenOption.CREATE, StandardOpenOption.APPEND), true);
        h.setLevel(Level.ALL);
        root.addHandler(h);
    }

    /** Writes each record as it happens (not when the JVM ends); closes only a stream it opened. */
    private static final class Records extends StreamHandler {
        private final boolean owned;

        Records(OutputStream out, boolean owned) {
            super(out, new OneLine());
            this.owned = owned;
        }

        @Override
        public synchronized void publish(LogRecord record) {
            super.publish(record);
            flush();
        }

        @Override
        public synchronized void close() {
            if (owned) super.close();
            else flush(); // never close standard error
        }
    }

    /** How the JDK maps System.Logger's levels onto java.util.logging's ({@code sun.util.logging.PlatformLogger}). */
    static Level julLevel(System.Logger.Level l) {
        return switch (l) {
            case ALL -> Level.ALL;
            case TRACE -> Level.FINER;
            case DEBUG -> Level.FINE;
            case INFO -> Level.INFO;
            case WARNING -> Level.WARNING;
            case ERROR -> Level.SEVERE;
            case OFF -> Level.OFF;
        };
    }

    /** The System.Logger name of a java.util.logging level, so the log says what {@code --log} takes. */
    static String levelName(Level l) {
        int v = l.intValue();
        if (v >= Level.SEVERE.intValue()) return "ERROR";
        if (v >= Level.WARNING.intValue()) return "WARNING";
        if (v >= Level.INFO.intValue()) return "INFO";
        if (v >= Level.FINE.intValue()) return "DEBUG";
        return "TRACE";
    }

    /** {@code 2026-12-07T07:45:01.123Z WARNING org.jxen.vmm.accel.KvmTimerKeeper: message}, then the stack trace if any. */
    static final class OneLine extends Formatter {
        @Override
        public String format(LogRecord r) {
            StringBuilder b = new StringBuilder();
            b.append(TIME.format(r.getInstant())).append(' ').append(levelName(r.getLevel())).append(' ')
                    .append(r.getLoggerName()).append(": ").append(formatMessage(r)).append(System.lineSeparator());
            if (r.getThrown() != null) {
                StringWriter trace = new StringWriter();
                r.getThrown().printStackTrace(new PrintWriter(trace));
                b.append(trace);
            }
            return b.toString();
        }
    }
}
