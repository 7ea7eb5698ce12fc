package org.jxen.cli;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

import org.jxen.engine.abi.DomId;
import org.jxen.engine.abi.EvtchnOp;
import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.abi.SharedInfoLayout;
import org.jxen.engine.abi.Virq;
import org.jxen.engine.evtchn.BackendDomain;
import org.jxen.engine.evtchn.Binding;
import org.jxen.engine.evtchn.Channel;
import org.jxen.engine.evtchn.DomainConfig;
import org.jxen.engine.evtchn.GuestDomain;
import org.jxen.engine.evtchn.PortManager;
import org.jxen.engine.fastpath.BackendSignals;
import org.jxen.engine.fastpath.EventSignal;
import org.jxen.engine.fastpath.FastPath;
import org.jxen.engine.fastpath.ReaderSlots;
import org.jxen.engine.fastpath.RouteSync;
import org.jxen.engine.fastpath.RouteTable;
import org.jxen.engine.guestside.TwoLevelConsumer;
import org.jxen.engine.hypercall.EventChannelOp;
import org.jxen.engine.memory.AddressTranslator;
import org.jxen.engine.memory.GuestMemory;
import org.jxen.engine.memory.GuestVirtualMemory;
import org.jxen.vmm.control.ControlCommands;
import org.jxen.vmm.control.ControlServer;
import org.jxen.vmm.control.ControlTarget;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The engine on its own, with Java threads standing in for vCPUs: a guest domain over native memory binds IPI ports,
 * loopback pairs, timer VIRQs and a backend channel; sender threads issue EVTCHNOP_send hypercalls (struct in guest
 * memory, as a guest would) which the fast path serves from its route table; consumer threads take events as Linux
 * does; the port table and the counts are printed.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Run the event-channel engine with Java threads as vCPUs and show events flowing.")
final class DemoCommand implements Callable<Integer> {
    @Option(names = "--vcpus", defaultValue = "2", description = "vCPU threads (1-32, default ${DEFAULT-VALUE}).")
    int vcpus;

    @Option(names = "--events", defaultValue = "200000", description = "EVTCHNOP_send hypercalls to issue (default ${DEFAULT-VALUE}).")
    long events;

    @Option(names = "--layout", defaultValue = "64", description = "shared_info layout: 64 or 32 (default ${DEFAULT-VALUE}).")
    int layout;

    @Option(names = "--socket", paramLabel = "PATH", description = "Serve the control socket here (jxen events ... --socket PATH).")
    Path socket;

    @Option(names = "--linger", defaultValue = "0", paramLabel = "SECONDS",
            description = "Keep the domain (and its control socket) alive this long after the run (default ${DEFAULT-VALUE}).")
    int linger;

    @Override
    public Integer call() throws Exception {
        if (linger < 0 || linger > 86400) throw new IllegalArgumentException("--linger must be 0..86400");
        if (vcpus < 1 || vcpus > 32) throw new IllegalArgumentException("--vcpus must be 1..32");
        if (events < 1) throw new IllegalArgumentException("--events must be positive");
        if (layout != 64 && layout != 32) throw new IllegalArgumentException("--layout must be 64 or 32");
        GuestWidth width = layout == 64 ? GuestWidth.BITS_64 : GuestWidth.BITS_32;

        try (Arena arena = Arena.ofShared()) {
            GuestMemory ram = new GuestMemory(arena.allocate(1 << 20, GuestMemory.PAGE_SIZE));
            GuestDomain guest = new GuestDomain(DomainConfig.of(vcpus));
            guest.shared().latch(width);
            guest.shared().relocateSharedInfo(ram.page(0x10).orElseThrow());
            BackendDomain backend = new BackendDomain(DomId.DOM0);
            PortManager ports = new PortManager(guest, backend);
            EventChannelOp evtchnOp = new EventChannelOp(ports);
            RouteTable routes = new RouteTable(() -> guest.abi().portLimit(), vcpus, ReaderSlots.global());
            BackendSignals signals = new BackendSignals();
            RouteSync.install(ports, routes, signals);
            evtchnOp.setFastPath(new FastPath(guest, routes));
            LongAdder backendWakeups = new LongAdder();

            AtomicIntegerArray owner = new AtomicIntegerArray(width.twoLevelPorts());
            for (int i = 0; i < owner.length(); i++) owner.set(i, -1);
            LongAdder consumed = new LongAdder();
            AtomicLong upcalls = new AtomicLong();
            TwoLevelConsumer[] consumers = new TwoLevelConsumer[vcpus];
            for (int v = 0; v < vcpus; v++) consumers[v] = new TwoLevelConsumer(v, guest.shared(), owner, p -> consumed.increment());
            guest.setUpcallSink(v -> {
                upcalls.incrementAndGet();
                consumers[v].upcall();
            });

            // Bindings: an IPI and a timer VIRQ per vCPU, a loopback pair, a channel to a backend.
            List<Integer> sendPorts = new ArrayList<>();
            for (int v = 0; v < vcpus; v++) {
                int ipi = ports.bindIpi(v);
                owner.set(ipi, v);
                sendPorts.add(ipi);
                owner.set(ports.bindVirq(Virq.TIMER, v), v);
            }
            int target = ports.allocUnbound(DomId.DOMID_SELF, DomId.DOMID_SELF);
            owner.set(target, 0);
            int source = ports.bindInterdomain(DomId.DOMID_SELF, target);
            owner.set(source, 0);
            sendPorts.add(source);
            int backendPort = ports.backendAllocUnbound(guest.domid());
            signals.register(backendPort, new CountingSignal(backendWakeups)); // a backend's eventfd would go here
            int toBackend = ports.bindInterdomain(DomId.DOM0, backendPort);
            owner.set(toBackend, 0);
            sendPorts.add(toBackend);

            ControlServer control = socket == null ? null : new ControlServer(socket, new ControlTarget() {
                @Override
                public PortManager ports() {
                    return ports;
                }

                @Override
                public Map<String, Object> counters() {
                    return Map.of("upcalls", upcalls.get(), "consumed", consumed.sum(), "backend-wakeups",
                            backendWakeups.sum(), "abi", ControlCommands.abiName(ports));
                }
            });
            List<Thread> threads = new ArrayList<>();
            for (TwoLevelConsumer c : consumers) threads.add(Thread.ofPlatform().name("vcpu").start(c));
            for (TwoLevelConsumer c : consumers) c.upcall(); // bind_interdomain raised its local ports

            // Senders: EVTCHNOP_send through the hypercall layer, the struct in guest memory.
            int senders = Math.max(1, Math.min(vcpus, 2));
            long perSender = events / senders;
            long start = System.nanoTime();
            List<Thread> senderThreads = new ArrayList<>();
            for (int s = 0; s < senders; s++) {
                long argGpa = 0x1000 + 64L * s;
                int seed = s;
                senderThreads.add(Thread.ofPlatform().name("sender").start(() -> {
                    GuestVirtualMemory mem = new GuestVirtualMemory(ram, AddressTranslator.IDENTITY);
                    MemorySegment arg = ram.segment().asSlice(argGpa, 4);
                    SplittableRandom rnd = new SplittableRandom(seed);
                    for (long n = 0; n < perSender; n++) {
                        arg.set(ValueLayout.JAVA_INT, 0, sendPorts.get(rnd.nextInt(sendPorts.size())));
                        evtchnOp.invoke(EvtchnOp.SEND, argGpa, mem);
                        if ((n & 1023) == 0) ports.raiseVirq(rnd.nextInt(vcpus), Virq.TIMER);
                    }
                }));
            }
            for (Thread t : senderThreads) t.join();
            long sendNanos = System.nanoTime() - start;
            Thread.sleep(100);
            for (TwoLevelConsumer c : consumers) c.stop();
            for (Thread t : threads) t.join();

            System.out.printf("jxen engine demo: %d vCPU threads, %s shared_info, shared_info at gpa 0x%x%n",
                    vcpus, width == GuestWidth.BITS_64 ? "64-bit" : "32-bit (compat)", 0x10000);
            System.out.printf("%-6s %-12s %-5s %-18s %-8s %-6s%n", "port", "type", "vcpu", "target", "pending", "masked");
            for (int p = 1; p < ports.validPorts(); p++) {
                Channel ch = ports.channel(p);
                if (ch.isFree()) continue;
                System.out.printf("%-6d %-12s %-5d %-18s %-8s %-6s%n", p, type(ch), ch.vcpu(), target(ch),
                        guest.abi().isPending(p), guest.abi().isMasked(p));
            }
            long sent = perSender * senders;
            System.out.printf("sent %,d events by EVTCHNOP_send hypercall in %.1f ms of wall clock, warm-up and sender and vCPU threads on %d cores included (%.0f ns per send; ./jxen bench measures); %d routes in the fast path%n",
                    sent, sendNanos / 1e6, Runtime.getRuntime().availableProcessors(), (double) sendNanos / sent, routes.routes().size());
            System.out.printf("upcalls raised %,d; events consumed by vCPU threads %,d (coalescing merges sends to a "
                    + "pending port); backend wake-ups %,d%n", upcalls.get(), consumed.sum(), backendWakeups.sum());
            System.out.printf("upcall_pending per vCPU now: %s%n", upcallPending(guest));
            if (control != null) {
                System.out.printf("control socket: %s (jxen events list --socket %s); lingering %d s%n", socket, socket, linger);
                System.out.flush();
                Thread.sleep(linger * 1000L);
                control.close();
            }
        }
        return 0;
    }

    /** Stands in for a backend's eventfd: counts the wake-ups. */
    private record CountingSignal(LongAdder count) implements EventSignal {
        @Override
        public void signal() {
            count.increment();
        }

        @Override
        public EventSignal duplicate() {
            return this;
        }

        @Override
        public void close() {}
    }

    private static String type(Channel ch) {
        return switch (ch.binding()) {
            case Binding.Unbound u -> "unbound";
            case Binding.Interdomain i -> "interdomain";
            case Binding.Virq v -> "virq";
            case Binding.Ipi i -> "ipi";
            case Binding.Pirq p -> "pirq";
            default -> "closed";
        };
    }

    private static String target(Channel ch) {
        return switch (ch.binding()) {
            case Binding.Unbound u -> "dom" + u.remoteDomid();
            case Binding.Interdomain i -> "dom" + i.remoteDomid() + ":" + i.remotePort();
            case Binding.Virq v -> v.virq() == Virq.TIMER ? "VIRQ_TIMER" : "virq " + v.virq();
            case Binding.Pirq p -> "pirq " + p.pirq();
            default -> "-";
        };
    }

    private static String upcallPending(GuestDomain guest) {
        StringBuilder sb = new StringBuilder();
        for (int v = 0; v < guest.vcpuCount(); v++) {
            sb.append(guest.shared().vcpuInfo(v).testBit(SharedInfoLayout.UPCALL_PENDING, 0) ? 1 : 0);
        }
        return sb.toString();
    }
}
