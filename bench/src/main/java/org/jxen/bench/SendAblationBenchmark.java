package org.jxen.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import org.jxen.engine.abi.FifoLayout;
import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.abi.SharedInfoLayout;
import org.jxen.engine.evtchn.TwoLevelAbi;
import org.jxen.engine.fastpath.FastPath;
import org.jxen.engine.memory.GuestBitmap;
import org.jxen.engine.memory.GuestBits;
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
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The send-2l and send-fifo rows taken apart (the guest's undo, then a send), to see which part of jxen's time is the
 * event protocol's guest-memory atomics as Java can issue them and which is jxen's own code around them:
 * <ul>
 *   <li>{@code undo*}: the guest's undo alone;</li>
 *   <li>{@code atomics*}: the undo, then exactly the guest-memory operations a send makes (2-level: test-and-set
 *       pending, read mask, test-and-set selector, test-and-set upcall_pending; FIFO adds the queue lock, LINKED, the
 *       head, READY), with no engine code: the floor for a Java send on FFM memory;</li>
 *   <li>{@code atomics*Global}: the same on a global-arena segment, which FFM need not check for liveness (jxen's
 *       guest memory is freed, so it never uses one: this only prices the check);</li>
 *   <li>{@code fastPath*}: the undo, then jxen's fast path (route lookup, grace-period slot, the ABI's setPending).</li>
 * </ul>
 * Run: {@code java --enable-native-access=ALL-UNNAMED -cp cli/target/jxen.jar org.openjdk.jmh.Main SendAblationBenchmark}
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
public class SendAblationBenchmark {
    private static final GuestWidth W = GuestWidth.BITS_64;
    private static final int PRIORITY = FifoLayout.PRIORITY_DEFAULT;
    private static final VarHandle INT = ValueLayout.JAVA_INT.varHandle().withInvokeExactBehavior();
    private static final VarHandle LONG = ValueLayout.JAVA_LONG.varHandle().withInvokeExactBehavior();

    /** Bare FFM: guest RAM and the send's int words (absolute offsets) and bits, computed once. */
    private MemorySegment ram;
    private long pendingWord, maskWord, selectorWord, selectorLong, upcallWord;
    private int pendingBit, maskBit, selectorBit, upcallBit;
    private long siBase, viBase;
    private GuestBitmap pendingMap, maskMap, selectorMap, upcallMap;
    private TwoLevelAbi twoLevelAbi;

    private BenchDomain twoLevel;
    private FastPath.Sender twoLevelSender;
    private int port;
    private GuestRegion sharedInfo;
    private GuestRegion vcpuInfo;
    private GuestRegion globalPage;

    private BenchDomain fifo;
    private FastPath.Sender fifoSender;
    private int fifoPort;
    private GuestRegion eventPage;
    private GuestRegion controlBlock;
    private GuestRegion fifoVcpuInfo;
    /** A queue lock as jxen's (CAS to take, release store to give back). */
    private final AtomicInteger queueLock = new AtomicInteger();

    @Setup
    public void setup() {
        twoLevel = new BenchDomain(1);
        port = twoLevel.ports.bindIpi(0);
        twoLevelSender = twoLevel.fastPath.newSender();
        sharedInfo = twoLevel.sharedInfo();
        vcpuInfo = twoLevel.guest.shared().vcpuInfo(0);
        globalPage = GuestRegion.of(Arena.global().allocate(4096, 4096), 0, 4096);
        ram = twoLevel.ram.segment();
        pendingMap = sharedInfo.bitmap(W.pendingOffset, W.twoLevelPorts());
        maskMap = sharedInfo.bitmap(W.maskOffset, W.twoLevelPorts());
        selectorMap = vcpuInfo.bitmap(W.pendingSelOffset, W.bitsPerWord());
        upcallMap = vcpuInfo.bitmap(SharedInfoLayout.UPCALL_PENDING, 1);
        twoLevelAbi = (TwoLevelAbi) twoLevel.guest.abi();
        siBase = sharedInfo.baseOffset();
        viBase = vcpuInfo.baseOffset();
        pendingWord = wordOf(siBase + W.pendingOffset, port);
        pendingBit = 1 << bitOf(siBase + W.pendingOffset, port);
        maskWord = wordOf(siBase + W.maskOffset, port);
        maskBit = 1 << bitOf(siBase + W.maskOffset, port);
        selectorWord = wordOf(viBase + W.pendingSelOffset, port >>> W.selectorShift);
        selectorBit = 1 << bitOf(viBase + W.pendingSelOffset, port >>> W.selectorShift);
        selectorLong = viBase + W.pendingSelOffset;
        upcallWord = wordOf(viBase + SharedInfoLayout.UPCALL_PENDING, 0);
        upcallBit = 1 << bitOf(viBase + SharedInfoLayout.UPCALL_PENDING, 0);
        fifo = new BenchDomain(1);
        fifo.switchToFifo(64);
        fifoPort = fifo.ports.bindIpi(0);
        fifoSender = fifo.fastPath.newSender();
        eventPage = fifo.ram.page(BenchDomain.ARRAY_GFN).orElseThrow();
        controlBlock = fifo.ram.page(BenchDomain.CONTROL_GFN).orElseThrow();
        fifoVcpuInfo = fifo.guest.shared().vcpuInfo(0);
    }

    @TearDown
    public void tearDown() {
        twoLevel.close();
        fifo.close();
    }

    @Benchmark
    public void undo2l() {
        twoLevel.consume(0, port);
    }

    /** The undo, then the send's operations through GuestRegion's per-access methods (jxen's access path before issue 36). */
    @Benchmark
    public boolean region2l() {
        twoLevel.consume(0, port);
        return send2l(sharedInfo, vcpuInfo, port);
    }

    /** The undo, then the send's operations as the ABI now issues them: words from GuestBitmaps into locals, GuestBits. */
    @Benchmark
    public boolean words2l() {
        twoLevel.consume(0, port);
        GuestBitmap pending = pendingMap, mask = maskMap, selector = selectorMap, upcall = upcallMap;
        int p = port, sel = p >>> W.selectorShift;
        MemorySegment si = pending.segment(), vi = selector.segment();
        long pw = pending.word(p), mw = mask.word(p), sw = selector.word(sel), uw = upcall.word(0);
        int pm = pending.mask(p), mm = mask.mask(p), sm = selector.mask(sel), um = upcall.mask(0);
        if (GuestBits.testAndSet(si, pw, pm) != 0) return false;
        if (GuestBits.test(si, mw, mm) != 0) return false;
        if (GuestBits.testAndSet(vi, sw, sm) != 0) return false;
        return GuestBits.testAndSet(vi, uw, um) == 0;
    }

    @Benchmark
    public boolean atomics2lGlobal() {
        globalPage.clearBit(W.pendingOffset, port);
        globalPage.getAndSetLong(W.pendingSelOffset, 0);
        globalPage.clearBit(SharedInfoLayout.UPCALL_PENDING, 0);
        return send2l(globalPage, globalPage, port);
    }

    private static boolean send2l(GuestRegion si, GuestRegion vi, int port) {
        if (si.testAndSetBit(W.pendingOffset, port)) return false;
        if (si.testBit(W.maskOffset, port)) return false;
        if (vi.testAndSetBit(W.pendingSelOffset, port >>> W.selectorShift)) return false;
        return !vi.testAndSetBit(SharedInfoLayout.UPCALL_PENDING, 0);
    }

    private static long wordOf(long field, long bit) {
        return (field + (bit >>> 3)) & ~3L;
    }

    private static int bitOf(long field, long bit) {
        return (int) ((((field + (bit >>> 3)) & 3L) << 3) | (bit & 7));
    }

    /** Bare FFM, int words and bits computed once: the floor. */
    @Benchmark
    public boolean ffm2l() {
        MemorySegment m = ram;
        int pb = pendingBit, ub = upcallBit;
        int x = (int) INT.getAndBitwiseAnd(m, pendingWord, ~pb);
        x += (int) (long) LONG.getAndSet(m, selectorLong, 0L);
        x += (int) INT.getAndBitwiseAnd(m, upcallWord, ~ub);
        if (((int) INT.getAndBitwiseOr(m, pendingWord, pb) & pb) != 0) return false;
        if (((int) INT.getVolatile(m, maskWord) & maskBit) != 0) return false;
        int sb = selectorBit;
        if (((int) INT.getAndBitwiseOr(m, selectorWord, sb) & sb) != 0) return false;
        return ((int) INT.getAndBitwiseOr(m, upcallWord, ub) & ub) == 0 && x != 42;
    }

    /** Bare FFM with GuestRegion's word and bit arithmetic on every access (the offsets from base, field and bit). */
    @Benchmark
    public boolean ffm2lArith() {
        MemorySegment m = ram;
        long si = siBase, vi = viBase;
        int p = port;
        int x = (int) INT.getAndBitwiseAnd(m, wordOf(si + W.pendingOffset, p), ~(1 << bitOf(si + W.pendingOffset, p)));
        x += (int) (long) LONG.getAndSet(m, vi + W.pendingSelOffset, 0L);
        x += (int) INT.getAndBitwiseAnd(m, wordOf(vi, 0), ~(1 << bitOf(vi, 0)));
        int b = 1 << bitOf(si + W.pendingOffset, p);
        if (((int) INT.getAndBitwiseOr(m, wordOf(si + W.pendingOffset, p), b) & b) != 0) return false;
        b = 1 << bitOf(si + W.maskOffset, p);
        if (((int) INT.getVolatile(m, wordOf(si + W.maskOffset, p)) & b) != 0) return false;
        long sel = p >>> W.selectorShift;
        b = 1 << bitOf(vi + W.pendingSelOffset, sel);
        if (((int) INT.getAndBitwiseOr(m, wordOf(vi + W.pendingSelOffset, sel), b) & b) != 0) return false;
        b = 1 << bitOf(vi, 0);
        return ((int) INT.getAndBitwiseOr(m, wordOf(vi, 0), b) & b) == 0 && x != 42;
    }

    /** The undo, then the 2-level ABI's setPending called directly: the ABI without routing. */
    @Benchmark
    public void abi2l() {
        twoLevel.consume(0, port);
        twoLevelAbi.setPending(0, port, 0);
    }

    @Benchmark
    public long fastPath2l() {
        twoLevel.consume(0, port);
        return twoLevelSender.trySend(port);
    }

    @Benchmark
    public void undoFifo() {
        fifo.consumeFifo(fifoPort, PRIORITY);
    }

    @Benchmark
    public boolean atomicsFifo() {
        fifo.consumeFifo(fifoPort, PRIORITY);
        long word = fifoPort * 4L;
        while (!queueLock.compareAndSet(0, 1)) Thread.onSpinWait();
        boolean linkedNow = false;
        try {
            if (!eventPage.testAndSetBit(word, FifoLayout.PENDING) && !eventPage.testBit(word, FifoLayout.MASKED) && !eventPage.testAndSetBit(word, FifoLayout.LINKED)) {
                controlBlock.putIntRelease(FifoLayout.headOffset(PRIORITY), fifoPort); // an empty queue: the head
                linkedNow = true;
            }
        } finally {
            queueLock.setRelease(0);
        }
        if (!linkedNow || controlBlock.testAndSetBit(FifoLayout.CONTROL_READY, PRIORITY)) return false;
        return !fifoVcpuInfo.testAndSetBit(SharedInfoLayout.UPCALL_PENDING, 0);
    }

    @Benchmark
    public long fastPathFifo() {
        fifo.consumeFifo(fifoPort, PRIORITY);
        return fifoSender.trySend(fifoPort);
    }
}
