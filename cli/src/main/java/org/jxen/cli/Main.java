package org.jxen.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code jxen} command. Host-side misuse gets one clear line on standard error, never a stack trace. */
@Command(name = "jxen", mixinStandardHelpOptions = true, version = "jxen 0.1.0",
        description = "Xen event channels and Xen HVM/PVH guest support on KVM, in Java.",
        subcommands = {RunCommand.class, DemoCommand.class, BenchCommand.class, EventsCommand.class})
public final class Main implements Runnable {
    @Override
    public void run() {
        new CommandLine(this).usage(System.out);
    }

    public static void main(String[] args) {
        System.exit(execute(args));
    }

    /** Runs the CLI and returns the exit status (tests call this instead of {@link #main}). */
    public static int execute(String... args) {
        CommandLine cl = new CommandLine(new Main());
        cl.setParameterExceptionHandler((ex, a) -> {
            ex.getCommandLine().getErr().println("jxen: " + ex.getMessage() + " (see --help)");
            return 2;
        });
        cl.setExecutionExceptionHandler((ex, commandLine, parseResult) -> {
            commandLine.getErr().println("jxen: " + oneLine(ex));
            return 1;
        });
        return cl.execute(args);
    }

    static String oneLine(Throwable t) {
        String m = t.getMessage();
        return m == null || m.isBlank() ? t.getClass().getSimpleName() : m.lines().findFirst().orElse(m);
    }
}
