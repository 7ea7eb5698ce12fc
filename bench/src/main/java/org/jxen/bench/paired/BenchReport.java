package org.jxen.bench.paired;

import java.awt.BasicStroke;
import java.awt.Color;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.text.DecimalFormat;
import java.text.DecimalFormatSymbols;
import java.text.FieldPosition;
import java.text.NumberFormat;
import java.text.ParsePosition;
import java.util.Locale;

import org.HdrHistogram.Histogram;
import org.HdrHistogram.HistogramIterationValue;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.LogAxis;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.axis.NumberTickUnit;
import org.jfree.chart.axis.ValueAxis;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.chart.title.TextTitle;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

/**
 * {@code jxen bench --report DIR}: the run written out for a reader who wants distributions, not only medians:
 * {@code table.md} (the printed table), {@code results.json} (bench-format.md), and per row {@code ROW.hgrm} (HdrHistogram's
 * percentile distribution of jxen's and C's values, in ns) and {@code ROW.png} (both percentile curves on one chart:
 * latency against percentile on HdrHistogram's usual 1/(1-p) axis, so the tail is as readable as the median).
 */
public final class BenchReport {
    private static final int WIDTH = 900, HEIGHT = 560;

    private BenchReport() {}

    /** Writes the report into {@code dir} (created if missing); IOException if it cannot be written. */
    public static void write(PairedBenchmarks.Report report, Path dir) throws IOException {
        System.setProperty("java.awt.headless", "true"); // charts are drawn off-screen: no display needed
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("table.md"), PairedBenchmarks.table(report));
        Files.writeString(dir.resolve("results.json"), PairedBenchmarks.json(report));
        for (PairedBenchmarks.Result r : report.results()) {
            if (r.jxenPicos() == null) continue;
            Files.writeString(dir.resolve(r.op() + ".hgrm"), distribution(r));
            ChartUtils.saveChartAsPNG(dir.resolve(r.op() + ".png").toFile(), chart(r, report.machine()), WIDTH, HEIGHT);
        }
    }

    /** HdrHistogram's percentile distribution of each side, values in ns. */
    static String distribution(PairedBenchmarks.Result r) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8)) {
            out.println("# " + r.op() + ": jxen, values in ns");
            r.jxenPicos().outputPercentileDistribution(out, 5, 1000.0);
            if (r.cPicos() != null) {
                out.println();
                out.println("# " + r.op() + ": C reference, values in ns");
                r.cPicos().outputPercentileDistribution(out, 5, 1000.0);
            }
        }
        return bytes.toString(StandardCharsets.UTF_8);
    }

    static JFreeChart chart(PairedBenchmarks.Result r, String machine) {
        double scale = micros(r) ? 1e6 : 1e3; // one unit for both curves
        XYSeriesCollection data = new XYSeriesCollection();
        data.addSeries(curve("jxen", r.jxenPicos(), scale));
        if (r.cPicos() != null) data.addSeries(curve("C reference", r.cPicos(), scale));
        LogAxis percentile = new LogAxis("percentile (axis: 1 / (1 - p))");
        percentile.setBase(10);
        percentile.setSmallestValue(1);
        percentile.setTickUnit(new NumberTickUnit(1)); // one tick per decade: 0%, 90%, 99%, 99.9%...
        percentile.setNumberFormatOverride(new PercentileFormat());
        ValueAxis latency = latencyAxis(r);
        XYLineAndShapeRenderer lines = new XYLineAndShapeRenderer(true, false);
        lines.setSeriesPaint(0, new Color(0xC0392B));
        lines.setSeriesPaint(1, new Color(0x2471A3));
        lines.setSeriesStroke(0, new BasicStroke(2f));
        lines.setSeriesStroke(1, new BasicStroke(2f));
        XYPlot plot = new XYPlot(data, percentile, latency, lines);
        plot.setBackgroundPaint(Color.WHITE);
        plot.setDomainGridlinePaint(Color.LIGHT_GRAY);
        plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
        JFreeChart chart = new JFreeChart(r.op() + ": jxen vs C, " + r.runs() + " runs", JFreeChart.DEFAULT_TITLE_FONT, plot, true);
        chart.setBackgroundPaint(Color.WHITE);
        chart.addSubtitle(new TextTitle(String.format(Locale.ROOT, "median %s (C %s), p99 %s (C %s); %s", ns(r.jxenMedianNs()),
                ns(r.cMedianNs()), ns(r.jxenP99Ns()), ns(r.cP99Ns()), machine)));
        return chart;
    }

    /**
     * The histogram's percentile curve: x = 1/(1-p), y = the value at p divided by {@code scale} (picoseconds per
     * unit). The maximum, at p = 100%, has no place on that axis: the .hgrm file gives it.
     */
    static XYSeries curve(String name, Histogram picos, double scale) {
        XYSeries s = new XYSeries(name, true, true);
        for (HistogramIterationValue v : picos.percentiles(5)) {
            double p = v.getPercentileLevelIteratedTo() / 100.0;
            if (p >= 1.0) break;
            s.add(1 / (1 - p), v.getValueIteratedTo() / scale);
        }
        return s;
    }

    /** Labels a 1/(1-p) axis value with its percentile: 10 is "90%", 1000 is "99.9%". */
    private static final class PercentileFormat extends NumberFormat {
        @Override
        public StringBuffer format(double x, StringBuffer to, FieldPosition pos) {
            double p = 100 * (1 - 1 / x);
            int decimals = Math.max(0, (int) Math.round(Math.log10(x)) - 2);
            return to.append(String.format(Locale.ROOT, "%." + decimals + "f%%", p));
        }

        @Override
        public StringBuffer format(long x, StringBuffer to, FieldPosition pos) {
            return format((double) x, to, pos);
        }

        @Override
        public Number parse(String source, ParsePosition pos) {
            return null; // labels only
        }
    }

    /**
     * Linear from zero, or logarithmic when the tail reaches more than 20 times the median (under emulation it often
     * does), so that the median stays readable beside it.
     */
    private static ValueAxis latencyAxis(PairedBenchmarks.Result r) {
        Histogram h = r.jxenPicos();
        if (h.getValueAtPercentile(99.9) > 20 * h.getValueAtPercentile(50)) {
            LogAxis log = new LogAxis(unitLabel(r) + " (log scale)");
            log.setBase(10);
            log.setTickUnit(new NumberTickUnit(1)); // one tick per decade: 10, 100, 1,000...
            log.setNumberFormatOverride(new DecimalFormat("#,##0.###", DecimalFormatSymbols.getInstance(Locale.ROOT)));
            return log;
        }
        NumberAxis linear = new NumberAxis(unitLabel(r));
        linear.setAutoRangeIncludesZero(true);
        return linear;
    }

    /** Rows whose median is 10 µs or more are drawn in µs. */
    private static boolean micros(PairedBenchmarks.Result r) {
        return r.jxenPicos().getValueAtPercentile(50) >= 10_000_000;
    }

    private static String unitLabel(PairedBenchmarks.Result r) {
        return micros(r) ? "µs per operation" : "ns per operation";
    }

    private static String ns(Double v) {
        if (v == null) return "-";
        return v >= 1000 ? String.format(Locale.ROOT, "%.1f µs", v / 1000) : String.format(Locale.ROOT, "%.1f ns", v);
    }
}
