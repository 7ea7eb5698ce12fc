package org.jxen.bench.paired;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.HdrHistogram.Histogram;
import org.jfree.data.xy.XYSeries;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.jxen.vmm.control.Json;

/** {@code jxen bench --report}: the files a reader gets, from a report with known distributions. */
class BenchReportTest {
    /** 1..1000 ns, one value each (in picoseconds, as the bench records them), shifted by {@code offsetNs}. */
    private static Histogram uniform(int offsetNs) {
        Histogram h = new Histogram(3);
        for (int ns = 1; ns <= 1000; ns++) h.recordValue((ns + offsetNs) * 1000L);
        return h;
    }

    private static PairedBenchmarks.Report report() {
        Histogram jxen = uniform(100), c = uniform(0);
        var withC = new PairedBenchmarks.Result("send-2l", 600, 1090, 500.0, 990.0, 1.2, 1.3, 20, jxen, c);
        var jxenOnly = new PairedBenchmarks.Result("status-scan-4096", 600, 1090, null, null, null, null, 20, uniform(100), null);
        return new PairedBenchmarks.Report("test machine", "test jdk", "2026-12-06T00:00:00Z", List.of(withC, jxenOnly),
                List.of(new PairedBenchmarks.Skipped("hypercall-rtt", "no /dev/kvm")));
    }

    @Test
    void writesTheTableTheJsonAndPerRowTheDistributionAndAChart(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("report");
        BenchReport.write(report(), out);
        String table = Files.readString(out.resolve("table.md"));
        assertTrue(table.contains("| send-2l") && table.contains("not run: no /dev/kvm"), table);
        assertTrue(Files.readString(out.resolve("results.json")).contains("\"op\": \"send-2l\""));
        String hgrm = Files.readString(out.resolve("send-2l.hgrm"));
        assertTrue(hgrm.contains("# send-2l: jxen") && hgrm.contains("# send-2l: C reference"), hgrm);
        Matcher max = Pattern.compile("#\\[Max\\s+=\\s+([0-9.]+)").matcher(hgrm);
        assertTrue(max.find(), hgrm);
        assertEquals(1100, Double.parseDouble(max.group(1)), 1.0, "jxen's maximum, in ns");
        assertFalse(Files.readString(out.resolve("status-scan-4096.hgrm")).contains("C reference"), "no C side, no C curve");
        for (String png : List.of("send-2l.png", "status-scan-4096.png")) {
            byte[] b = Files.readAllBytes(out.resolve(png));
            assertTrue(b.length > 1000 && b[1] == 'P' && b[2] == 'N' && b[3] == 'G', png + " is a PNG");
        }
    }

    /** bench-format.md's JSON, digit for digit as jxen has always written it, and readable JSON. */
    @Test
    void theJsonIsBenchFormatMd() throws Exception {
        String json = PairedBenchmarks.json(report());
        assertEquals("{\"machine\": \"test machine\", \"jdk\": \"test jdk\", \"date\": \"2026-12-06T00:00:00Z\", \"results\": ["
                + "{\"op\": \"send-2l\", \"jxen_median_ns\": 600.00, \"jxen_p99_ns\": 1090.00, \"c_median_ns\": 500.000, "
                + "\"c_p99_ns\": 990.000, \"ratio\": 1.200, \"target\": 1.300, \"runs\": 20}, "
                + "{\"op\": \"status-scan-4096\", \"jxen_median_ns\": 600.00, \"jxen_p99_ns\": 1090.00, \"c_median_ns\": null, "
                + "\"c_p99_ns\": null, \"ratio\": null, \"target\": null, \"runs\": 20}], "
                + "\"skipped\": [{\"op\": \"hypercall-rtt\", \"reason\": \"no /dev/kvm\"}]}\n", json);
        Map<?, ?> parsed = (Map<?, ?>) Json.parse(json);
        Map<?, ?> first = (Map<?, ?>) ((List<?>) parsed.get("results")).getFirst();
        assertEquals(1.2, first.get("ratio"));
        assertEquals(20L, first.get("runs"));
        var odd = new PairedBenchmarks.Result("q\"uote\n", 0.125, 1e7 / 3, 0.0, 0.0, Double.POSITIVE_INFINITY, null, 1, uniform(0), null);
        String written = PairedBenchmarks.json(new PairedBenchmarks.Report("m", "j", "d", List.of(odd), List.of()));
        Map<?, ?> row = (Map<?, ?>) ((List<?>) ((Map<?, ?>) Json.parse(written)).get("results")).getFirst();
        assertEquals("q\"uote\n", row.get("op"));
        assertEquals(0.13, row.get("jxen_median_ns"), "half-up, as %.2f");
        assertEquals(3333333.33, row.get("jxen_p99_ns"));
        assertNull(row.get("ratio"), "a non-finite ratio is null, still JSON");
        assertTrue(row.containsKey("ratio"));
    }

    @Test
    void theCurveIsTheDistributionOnAOneOverOneMinusPAxis() {
        XYSeries s = BenchReport.curve("jxen", uniform(0), 1e3);
        // x = 1/(1-p): at the median x = 2 and the value ~500 ns; between the 98th and 99.5th percentiles (x 50..200)
        // the values are 980..995 ns.
        double atMedian = Double.NaN;
        int nearP99 = 0;
        for (int i = 0; i < s.getItemCount(); i++) {
            double x = s.getX(i).doubleValue(), y = s.getY(i).doubleValue();
            if (Math.abs(x - 2) < 1e-6) atMedian = y;
            if (x >= 50 && x <= 200) {
                nearP99++;
                assertEquals(988, y, 9, "at x " + x);
            }
            if (i > 0) assertTrue(y >= s.getY(i - 1).doubleValue(), "a percentile curve never falls");
        }
        assertEquals(500, atMedian, 1);
        assertTrue(nearP99 > 0, "points near the 99th percentile");
    }
}
