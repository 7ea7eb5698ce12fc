package org.jxen.bench.paired;

import java.io.IOException;
import java.io.PrintStream;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Supplier;

import org.HdrHistogram.Histogram;
import org.jxen.sys.kvm.Kvm;
import org.jxen.sys.kvm.KvmAbi;
import org.jxen.sys.kvm.KvmUnavailableException;
import org.jxen.vmm.control.Json;
import org.jxen.vmm.kvm.RunConfig;

/**
 * {@code jxen bench}: every row runs jxen and its C reference in this one process, interleaved (jxen batch, C batch,
 * jxen batch, ...), after a warm-up of both; medians and 99th percentiles come from HdrHistogram over the batch
 * averages (throughput rows) or over every operation (latency rows). The format is {@code shared/design/bench-format.md}.
 */
public final class PairedBenchmarks {
    /** One measured row. C fields are null where there is no C side. */
    public record Result(String op, double jxenMedianNs, double jxenP99Ns, Double cMedianNs, Double cP99Ns, Double ratio,
            Double target, int runs, Histogram jxenPicos, Histogram cPicos) {
        /**
         * @param jxenPicos every value measured for jxen, in picoseconds (per operation, or per batch average for a
         *        throughput row); {@code cPicos} the same for C, null without a C side
         */
        public Result {}

        boolean missesTarget() {
            return target != null && ratio != null && ratio > target;
        }
    }

    /** A row that could not run here, and why. */
    public record Skipped(String op, String reason) {}

    public record Report(String machine, String jdk, String date, List<Result> results, List<Skipped> skipped) {}

    private PairedBenchmarks() {}

    /** How long each row runs: warm-up and measured batches of each side, and the batch size. */
    public record Pace(int warmups, int runs, boolean quickBatches, long maxBatch) {
        public static final Pace FULL = new Pace(5, 20, false, Long.MAX_VALUE);
        public static final Pace QUICK = new Pace(2, 5, true, Long.MAX_VALUE);
        /** For tests: one short batch of each side, enough to show a row runs end to end; its figures mean nothing. */
        public static final Pace SMOKE = new Pace(1, 1, true, 20);

        long batch(PairedOp op) {
            return Math.min(op.batch(quickBatches), maxBatch);
        }
    }

    /** Runs every row; progress lines go to {@code progress}. */
    public static Report run(boolean quick, PrintStream progress) {
        return run(quick, null, progress);
    }

    /** Runs the rows whose name starts with one of {@code only}'s comma-separated prefixes (all rows when null). */
    public static Report run(boolean quick, String only, PrintStream progress) {
        return run(quick ? Pace.QUICK : Pace.FULL, only, progress);
    }

    /** {@link #run(boolean, String, PrintStream)} at {@code pace}. */
    public static Report run(Pace pace, String only, PrintStream progress) {
        CReferences c = CReferences.load();
        List<Supplier<PairedOp>> ops = List.of(
                () -> new SendOp("send-2l", 1.3, false, 1, c),
                () -> new SendOp("send-fifo", null, true, 1, c),
                () -> new SendOp("send-2l-4096", 1.3, false, 4095, c),
                () -> new SendOp("send-fifo-64", null, true, 64, c),
                () -> new SendOp("send-fifo-131072", null, true, 131071, c),
                () -> new SendThreadsOp(1, false, c),
                () -> new SendThreadsOp(2, false, c),
                () -> new SendThreadsOp(4, false, c),
                () -> new SendThreadsOp(1, true, c),
                () -> new SendThreadsOp(2, true, c),
                () -> new SendThreadsOp(4, true, c),
                () -> new EventFdWakeOp(c),
                StatusScanOp::new);
        List<String> names = new ArrayList<>(List.of("send-2l", "send-fifo", "send-2l-4096", "send-fifo-64", "send-fifo-131072",
                "send-threads-2l-1", "send-threads-2l-2", "send-threads-2l-4",
                "send-threads-fifo-1", "send-threads-fifo-2", "send-threads-fifo-4", "eventfd-wake", "status-scan-4096"));
        List<Supplier<PairedOp>> all = new ArrayList<>(ops);
        List<Skipped> skipped = new ArrayList<>();
        record KvmRow(String name, int cmd, Double target, boolean kvmModeOnly) {
            KvmRow(String name, int cmd, Double target) {
                this(name, cmd, target, false);
            }
        }
        List<KvmRow> kvmRows = List.of(new KvmRow("hypercall-rtt", GuestCommands.CMD_RTT, 1.10),
                // hypercall-rtt's exit with the bare guest's own instructions (an unknown EVTCHNOP: nothing to read):
                // the VMMs' exit handling alone, without the guest's struct and jxen's read of it.
                new KvmRow("hypercall-exit", GuestCommands.CMD_CALL_ONLY, null),
                new KvmRow("raise-to-upcall", GuestCommands.CMD_RAISE, 1.10), new KvmRow("send-to-backend", GuestCommands.CMD_BACKEND, 1.15),
                new KvmRow("ipi-pingpong", GuestCommands.CMD_PINGPONG, null), new KvmRow("notify-to-upcall", GuestCommands.CMD_NOTIFY, null),
                // The guest's own share of an event (its handler's body, no exit): what the rows above cost the guest.
                new KvmRow("upcall-handler", GuestCommands.CMD_HANDLER, null),
                // Linux's own way in (VMCALL/VMMCALL, no hypercall page), which only KVM's Xen support passes on: a send KVM
                // delivers itself, and a call it leaves to jxen (KVM_EXIT_XEN). The C VMM's figure is its bare exit.
                new KvmRow("send-by-vmcall", GuestCommands.CMD_SEND_DIRECT, null, true),
                new KvmRow("hypercall-by-vmcall", GuestCommands.CMD_EXIT_DIRECT, null, true));
        boolean kvm = Files.isReadable(Path.of("/dev/kvm")) && Files.isWritable(Path.of("/dev/kvm"));
        boolean xen = kvm && kvmHasXenSupport();
        for (KvmRow row : kvmRows) {
            // Each row in both modes, beside the same C VMM: user mode, then kvm mode ("-kvm").
            for (RunConfig.Accel accel : row.kvmModeOnly() ? List.of(RunConfig.Accel.KVM) : List.of(RunConfig.Accel.USER, RunConfig.Accel.KVM)) {
                String name = accel == RunConfig.Accel.KVM ? row.name() + "-kvm" : row.name();
                String missing = !kvm ? "no usable /dev/kvm here (tools/kvm-vm/run.sh ./jxen bench)"
                        : accel == RunConfig.Accel.KVM && !xen ? "this KVM has no Xen support (KVM_CAP_XEN_HVM): kvm mode runs in tools/kvm-vm" : null;
                if (missing != null) {
                    if (selected(only, name)) skipped.add(new Skipped(name, missing));
                    continue;
                }
                names.add(name);
                all.add(() -> {
                    try {
                        return new KvmRowOp(name, row.cmd(), accel == RunConfig.Accel.KVM ? null : row.target(), c, accel);
                    } catch (Exception e) {
                        throw new IllegalStateException(name + ": " + e.getMessage(), e);
                    }
                });
            }
        }
        String busy = System.getenv("KVMREF_BUSY_NS");
        if (busy != null && !busy.isBlank() && !busy.strip().equals("0")) progress.println("bench: KVMREF_BUSY_NS=" + busy + ": the C VMM's vCPU thread spins that long at each stamp (an ablation, not the reference)");
        List<Result> results = new ArrayList<>();
        for (int i = 0; i < all.size(); i++) {
            if (!selected(only, names.get(i))) continue;
            try (PairedOp op = all.get(i).get()) {
                progress.println("bench: " + op.name() + "...");
                results.add(measure(op, pace));
            }
        }
        return new Report(machine(), System.getProperty("java.vm.name") + " " + Runtime.version(),
                OffsetDateTime.now(ZoneOffset.UTC).withNano(0).toString(), results, skipped);
    }

    /** Whether this host's KVM has the Xen support kvm mode needs (KVM_CAP_XEN_HVM with INTERCEPT_HCALL). */
    private static boolean kvmHasXenSupport() {
        try (Kvm k = Kvm.open()) {
            return (k.checkExtension(KvmAbi.KVM_CAP_XEN_HVM) & KvmAbi.KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL) != 0;
        } catch (KvmUnavailableException | RuntimeException e) {
            return false;
        }
    }

    private static boolean selected(String only, String name) {
        if (only == null) return true;
        for (String prefix : only.split(",")) if (!prefix.isBlank() && name.startsWith(prefix.strip())) return true;
        return false;
    }

    private static Result measure(PairedOp op, Pace pace) {
        int warmups = pace.warmups();
        int runs = pace.runs();
        long batch = pace.batch(op);
        long[] samples = new long[(int) (op.latency() ? batch : 1)];
        for (int i = 0; i < warmups; i++) {
            op.runJxen(batch, samples);
            if (op.hasC()) op.runC(batch, samples);
        }
        Histogram jxen = new Histogram(3), cHist = new Histogram(3);
        for (int r = 0; r < runs; r++) {
            record(jxen, op, batch, samples, op.runJxen(batch, samples));
            if (op.hasC()) record(cHist, op, batch, samples, op.runC(batch, samples));
        }
        double jm = value(jxen, 50), jp = value(jxen, 99);
        if (!op.hasC()) return new Result(op.name(), jm, jp, null, null, null, op.target(), runs, jxen, null);
        double cm = value(cHist, 50), cp = value(cHist, 99);
        return new Result(op.name(), jm, jp, cm, cp, jm / cm, op.target(), runs, jxen, cHist);
    }

    /** Values are recorded in picoseconds so that few-nanosecond averages keep their decimals. */
    private static void record(Histogram h, PairedOp op, long batch, long[] samples, long batchNanos) {
        if (op.latency()) {
            for (long s : samples) h.recordValue(Math.max(1, s * 1000));
        } else {
            h.recordValue(Math.max(1, batchNanos * 1000 / batch));
        }
    }

    private static double value(Histogram h, double percentile) {
        return h.getValueAtPercentile(percentile) / 1000.0;
    }

    static String machine() {
        String cpu = "unknown CPU";
        try {
            cpu = Files.readAllLines(Path.of("/proc/cpuinfo")).stream().filter(l -> l.startsWith("model name"))
                    .map(l -> l.substring(l.indexOf(':') + 1).trim()).findFirst().orElse(cpu);
        } catch (IOException ignored) {
            // keep "unknown CPU"
        }
        return cpu + ", " + Runtime.getRuntime().availableProcessors() + " cores, Linux " + System.getProperty("os.version");
    }

    /** The table printed by {@code jxen bench}. */
    public static String table(Report report) {
        StringBuilder sb = new StringBuilder();
        sb.append("machine: ").append(report.machine()).append("\njdk: ").append(report.jdk()).append("\ndate: ")
                .append(report.date()).append("\n\n");
        sb.append(String.format(Locale.ROOT, "| %-24s | %12s | %12s | %12s | %12s | %7s | %7s | %-9s |%n", "operation",
                "jxen median", "jxen p99", "C median", "C p99", "ratio", "target", "verdict"));
        sb.append("|").append("-".repeat(26)).append("|").append("-".repeat(14)).append("|").append("-".repeat(14))
                .append("|").append("-".repeat(14)).append("|").append("-".repeat(14)).append("|").append("-".repeat(9))
                .append("|").append("-".repeat(9)).append("|").append("-".repeat(11)).append("|\n");
        for (Result r : report.results()) {
            sb.append(String.format(Locale.ROOT, "| %-24s | %12s | %12s | %12s | %12s | %7s | %7s | %-9s |%n", r.op(),
                    ns(r.jxenMedianNs()), ns(r.jxenP99Ns()), ns(r.cMedianNs()), ns(r.cP99Ns()),
                    r.ratio() == null ? "-" : String.format(Locale.ROOT, "%.2f", r.ratio()),
                    r.target() == null ? "-" : String.format(Locale.ROOT, "%.2f", r.target()),
                    r.target() == null || r.ratio() == null ? "-" : r.missesTarget() ? "MISSED" : "met"));
        }
        for (Skipped s : report.skipped()) {
            sb.append(String.format(Locale.ROOT, "| %-24s | %-71s |%n", s.op(), "not run: " + s.reason()));
        }
        report.results().stream().filter(r -> r.op().equals("send-2l")).findFirst().ifPresent(r -> sb.append(
                String.format(Locale.ROOT, "%nsend-2l throughput on one thread, each send with the guest's undo: %.1f M sends/s (target >= 20)%n",
                        1000 / r.jxenMedianNs())));
        Result f64 = find(report, "send-fifo-64"), fBig = find(report, "send-fifo-131072"), l2 = find(report, "send-2l"),
                fifo = find(report, "send-fifo");
        if (f64 != null && fBig != null) {
            sb.append(String.format(Locale.ROOT, "FIFO send at 131,071 ports / at 64 ports: %.2f (target <= 1.2)%n",
                    fBig.jxenMedianNs() / f64.jxenMedianNs()));
        }
        if (l2 != null && fifo != null) {
            sb.append(String.format(Locale.ROOT, "FIFO send / 2-level send (jxen): %.2f (target <= 1.5)%n",
                    fifo.jxenMedianNs() / l2.jxenMedianNs()));
        }
        return sb.toString();
    }

    private static Result find(Report report, String op) {
        return report.results().stream().filter(r -> r.op().equals(op)).findFirst().orElse(null);
    }

    private static String ns(Double v) {
        if (v == null) return "-";
        return v >= 1000 ? String.format(Locale.ROOT, "%.1f us", v / 1000) : String.format(Locale.ROOT, "%.1f ns", v);
    }

    /** The report as bench-format.md's JSON: medians and percentiles to 2 decimals, ratios and targets to 3. */
    public static String json(Report report) {
        List<Object> results = new ArrayList<>();
        for (Result r : report.results()) {
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("op", r.op());
            row.put("jxen_median_ns", decimals(r.jxenMedianNs(), 2));
            row.put("jxen_p99_ns", decimals(r.jxenP99Ns(), 2));
            row.put("c_median_ns", decimals(r.cMedianNs(), 3));
            row.put("c_p99_ns", decimals(r.cP99Ns(), 3));
            row.put("ratio", decimals(r.ratio(), 3));
            row.put("target", decimals(r.target(), 3));
            row.put("runs", r.runs());
            results.add(row);
        }
        List<Object> skipped = new ArrayList<>();
        for (Skipped s : report.skipped()) {
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("op", s.op());
            row.put("reason", s.reason());
            skipped.add(row);
        }
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("machine", report.machine());
        doc.put("jdk", report.jdk());
        doc.put("date", report.date());
        doc.put("results", results);
        doc.put("skipped", skipped);
        return Json.write(doc) + "\n";
    }

    /** {@code v} rounded half-up to {@code places} decimals, as {@code %.Nf} prints it; null (JSON null) for none or a non-finite value. */
    private static BigDecimal decimals(Double v, int places) {
        if (v == null || !Double.isFinite(v)) return null;
        return BigDecimal.valueOf(v).setScale(places, RoundingMode.HALF_UP);
    }
}
