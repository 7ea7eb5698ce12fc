package org.jxen.bench;

import java.util.concurrent.TimeUnit;

import org.jxen.sys.Epoll;
import org.jxen.sys.EventFd;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * eventfd notify → wake between two threads: the benchmark thread signals one eventfd; an echo thread blocked in
 * epoll_wait on it wakes, drains and signals a second eventfd, on which the benchmark thread waits. One op is one
 * round trip (two notify→wake hops). Also the bare signal cost (write(2) on an eventfd, critical downcall).
 *
 * <p>Run: {@code java --enable-native-access=ALL-UNNAMED -cp cli/target/jxen.jar org.openjdk.jmh.Main EventFdWakeBenchmark}
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
public class EventFdWakeBenchmark {
    private EventFd ping, pong, sink;
    private Epoll pongWait;
    private Thread echo;
    private volatile boolean stop;

    @Setup(Level.Trial)
    public void setup() {
        ping = EventFd.create();
        pong = EventFd.create();
        sink = EventFd.create();
        pongWait = new Epoll();
        pongWait.add(pong.fd(), 1);
        echo = Thread.ofPlatform().name("echo").start(() -> {
            try (Epoll wait = new Epoll()) {
                wait.add(ping.fd(), 1);
                while (!stop) {
                    if (wait.await(100, t -> {}) > 0 && ping.drain() > 0) pong.signal();
                }
            }
        });
    }

    @TearDown(Level.Trial)
    public void tearDown() throws InterruptedException {
        stop = true;
        echo.join();
        pongWait.close();
        ping.close();
        pong.close();
        sink.close();
    }

    @Benchmark
    public long roundTrip() {
        ping.signal();
        while (pongWait.await(1000, t -> {}) == 0) {
            // spurious or EINTR: wait again
        }
        return pong.drain();
    }

    @Benchmark
    public void signalOnly() {
        sink.signal();
    }
}
