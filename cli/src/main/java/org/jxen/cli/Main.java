package org.jxen.cli;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;

/** The {@code jxen} command. Host-side misuse gets one clear line on standard error, never a stack trace. */
@Command(name = "jxen", mixinStandardHelpOptions = true, version = "jxen 0.1.0",
        description = "Xen event channels and Xen HVM/PVH guest support on KVM, in Java.",
        subcommands = {RunCommand.class, DemoCommand.class, BenchCommand.class, EventsCommand.class, MigrateCommand.class})
public final class Main implements Runnable {
    private static final System.Logger LOG = System.getLogger(Main.class.getName());

    @Override
    public void run() {
        new CommandLine(this).usage(System.out);
    }

    // Inherited: `jxen --log debug run ...` and `jxen run ... --log debug` both work.
    @Option(names = "--log", scope = ScopeType.INHERIT, paramLabel = "LEVEL",
            description = "Log records from LEVEL up, one line each on standard error: ERROR, WARNING (default), INFO, DEBUG, TRACE, ALL or OFF.")
    void log(System.Logger.Level level) throws IOException {
        LogSetup.level(level);
    }

    @Option(names = "--log-file", scope = ScopeType.INHERIT, paramLabel = "FILE", description = "Append the log to FILE instead of standard error.")
    void logFile(Path file) throws IOException {
        LogSetup.file(file);
    }

    public static void main(String[] args) {
        System.exit(execute(args));
    }

    /** Runs the CLI and returns the exit status (tests call this instead of {@link #main}). */
    public static int execute(String... args) {
        try {
            LogSetup.reset();
        } catch (IOException e) {
            throw new UncheckedIOException(e); // standard error only: nothing to open
        }
        CommandLine cl = new CommandLine(new Main());
        cl.setCaseInsensitiveEnumValuesAllowed(true);
        cl.setParameterExceptionHandler((ex, a) -> {
            ex.getCommandLine().getErr().println("jxen: " + ex.getMessage() + " (see --help)");
            return 2;
        });
        cl.setExecutionExceptionHandler((ex, commandLine, parseResult) -> {
            commandLine.getErr().println("jxen: " + oneLine(ex));
            LOG.log(System.Logger.Level.DEBUG, "the command failed", ex); // the user's line above; the trace for --log debug
            return 1;
        });
        return cl.execute(args);
    }

    static String oneLine(Throwable t) {
        String m = t.getMessage();
        return m == null || m.isBlank() ? t.getClass().getSimpleName() : m.lines().findFirst().orElse(m);
    }
}
