package org.jxen.bench.paired;

/**
 * Runs every KVM row of {@code jxen bench} at {@link PairedBenchmarks.Pace#SMOKE} (one short batch of each side) and
 * prints one line per row: {@code kvm-row: NAME JXEN_NS C_NS} when both the benchmark guest under jxen and the one under
 * the C VMM answered, {@code kvm-row-skipped: NAME: REASON} when this host cannot run it. {@link KvmRowsTest} runs it on
 * this host's /dev/kvm or inside tools/kvm-vm. A guest that stops answering ends it with the row's exception.
 */
public final class KvmRowsCheck {
    static final String KVM_ROWS = "hypercall-rtt,hypercall-exit,raise-to-upcall,send-to-backend,ipi-pingpong,notify-to-upcall,upcall-handler,send-by-vmcall,hypercall-by-vmcall";

    private KvmRowsCheck() {}

    public static void main(String[] args) {
        PairedBenchmarks.Report report = PairedBenchmarks.run(PairedBenchmarks.Pace.SMOKE, KVM_ROWS, System.out);
        for (PairedBenchmarks.Result r : report.results()) {
            System.out.printf("kvm-row: %s %.0f %.0f%n", r.op(), r.jxenMedianNs(), r.cMedianNs());
        }
        for (PairedBenchmarks.Skipped s : report.skipped()) System.out.println("kvm-row-skipped: " + s.op() + ": " + s.reason());
        System.out.println("kvm-rows: done");
    }
}
