package org.jxen.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

import org.jxen.bench.paired.BenchReport;
import org.jxen.bench.paired.PairedBenchmarks;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code jxen bench}: jxen against C references, side by side, in one process run. */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Measure jxen against C references doing the same work (same run, interleaved).")
final class BenchCommand implements Callable<Integer> {
    @Option(names = "--quick", description = "Fewer and shorter runs (about a minute).")
    boolean quick;

    @Option(names = "--json", paramLabel = "FILE", description = "Also write the results as JSON (bench-format.md).")
    Path json;

    @Option(names = "--report", paramLabel = "DIR", description = "Also write DIR/table.md, DIR/results.json, and per row its "
            + "latency distribution (ROW.hgrm, HdrHistogram) and a chart of jxen's and C's percentile curves (ROW.png).")
    Path reportDir;

    @Option(names = "--only", paramLabel = "PREFIX[,PREFIX...]", description = "Run only the rows whose name starts with one of the PREFIXes.")
    String only;

    @Override
    public Integer call() throws Exception {
        if (json != null && json.getParent() != null && !Files.isDirectory(json.getParent())) {
            throw new IllegalArgumentException("--json: no such directory: " + json.getParent());
        }
        PairedBenchmarks.Report report = PairedBenchmarks.run(quick, only, System.err);
        System.out.print(PairedBenchmarks.table(report));
        if (json != null) Files.writeString(json, PairedBenchmarks.json(report));
        if (reportDir != null) {
            BenchReport.write(report, reportDir);
            System.err.println("bench: report written to " + reportDir);
        }
        return 0;
    }
}
