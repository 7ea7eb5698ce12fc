package org.jxen.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;

import org.jxen.engine.fastpath.ReaderSlots;
import org.jxen.engine.memory.GuestRegion;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The building blocks of a send, measured alone: one atomic bit operation on guest memory (shared and global arena),
 * a volatile bit read, and a reader slot's enter/exit (the grace-period bookkeeping). Used to explain SendBenchmark.
 *
 * <p>Run: {@code java --enable-native-access=ALL-UNNAMED -cp cli/target/jxen.jar org.openjdk.jmh.Main PrimitivesBenchmark}
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
public class PrimitivesBenchmark {
    private GuestRegion shared;
    private GuestRegion global;
    private ReaderSlots.Slot slot;

    @Setup
    public void setup() {
        MemorySegment s = Arena.ofShared().allocate(4096, 4096);
        MemorySegment g = Arena.global().allocate(4096, 4096);
        shared = GuestRegion.of(s, 0, 4096);
        global = GuestRegion.of(g, 0, 4096);
        slot = ReaderSlots.global().current();
    }

    @Benchmark
    public boolean testAndSetBitShared() {
        return shared.testAndSetBit(2048, 77);
    }

    @Benchmark
    public boolean testAndSetBitGlobal() {
        return global.testAndSetBit(2048, 77);
    }

    @Benchmark
    public boolean testBitGlobal() {
        return global.testBit(2048, 77);
    }

    @Benchmark
    public void slotEnterExit() {
        slot.enter();
        slot.exit();
    }
}
