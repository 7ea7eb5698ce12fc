package org.jxen.vmm.kvm;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Map;
import java.util.stream.LongStream;

import org.jxen.engine.evtchn.Channel;
import org.jxen.engine.evtchn.FifoAbi;
import org.jxen.engine.evtchn.GuestDomain;
import org.jxen.engine.evtchn.PortManager;
import org.jxen.engine.memory.GuestMemory;
import org.jxen.engine.memory.GuestVirtualMemory;
import org.jxen.engine.memory.PageWalker;
import org.jxen.engine.memory.PagingState;
import org.jxen.vmm.backend.xenbus.PvBackend;

/**
 * What jxen can say about a guest that stopped making progress (its run reached --timeout): where jxen's own threads
 * are, the event-channel state the guest sees (upcall_pending, FIFO ready words and heads, every bound port's
 * pending/masked state and event word) and each PV device's ring indexes. Enough to tell a lost event from a lost
 * request from a stuck thread; read without locks, so a snapshot, never a consistent cut.
 */
final class StallReport {
    /**
     * Said of a stopped vCPU's stack holding a 64-bit kernel interrupt frame whose saved RFLAGS has IF clear under a
     * vector entry's orig_ax of -1: an interrupt taken while interrupts were disabled, which no correct hypervisor and
     * CPU deliver (docs/kvm-runtime.md, "Found by running guests").
     */
    static final String INTERRUPT_WITH_IF_CLEAR = "an interrupt was delivered while the guest had interrupts disabled";
    private static final long KERNEL_CS = 0x10, KERNEL_SS = 0x18, RFLAGS_IF = 0x200, KERNEL_TEXT = 0xFFFF_FFFF_8000_0000L,
            KERNEL_SPACE = 0xFFFF_8000_0000_0000L;
    /** Words printed; the search reads the whole stack (Linux's are 16 KiB, IRQ stacks too). */
    private static final int STACK_WORDS = 192, STACK_BYTES = 32 << 10;
    private static final int THREAD_FRAMES = 8;

    private StallReport() {}

    /**
     * The words above a stopped vCPU's stack pointer, read through its page tables, and an interrupt frame taken with
     * IF clear if the stack holds one. The search covers the whole stack (up to the unmapped page above it) and, when
     * that stack is Linux's IRQ stack, the task stack it was entered from: its top word is the stack pointer that
     * {@code call_on_irqstack} saved ({@code arch/x86/include/asm/irq_stack.h}), and an interrupt taken on a task stack
     * leaves its frame there while its handler runs on the IRQ stack.
     */
    static String stack(GuestMemory ram, PagingState paging, long rsp) {
        GuestVirtualMemory memory = new GuestVirtualMemory(ram, PageWalker.of(ram, paging));
        long[] words = wordsUpTo(memory, rsp, STACK_BYTES);
        if (words.length == 0) return " (not readable)";
        StringBuilder sb = new StringBuilder();
        int shown = Math.min(words.length, STACK_WORDS), nonZero = shown;
        while (nonZero > 0 && words[nonZero - 1] == 0) nonZero--;
        for (int i = 0; i < nonZero; i++) sb.append(' ').append(Long.toHexString(words[i]));
        if (nonZero < shown) sb.append(String.format(" (%s%d zero words)", nonZero == 0 ? "" : "then ", shown - nonZero));
        long base = rsp;
        int i = interruptFrameWithIfClear(words);
        long entered = words[words.length - 1];
        if (i < 0 && Long.compareUnsigned(entered, KERNEL_SPACE) >= 0 && (entered < rsp || entered > rsp + 8L * words.length)) {
            words = wordsUpTo(memory, entered, STACK_BYTES);
            base = entered;
            i = interruptFrameWithIfClear(words);
        }
        if (i >= 0) sb.append(String.format("%n  an interrupt frame at 0x%x saved rip 0x%x rflags 0x%x: %s", base + 8L * (i + 1), words[i + 1],
                words[i + 3], INTERRUPT_WITH_IF_CLEAR));
        return sb.toString();
    }

    /** The words from {@code address} up to the first unreadable page, at most {@code limit} bytes. */
    private static long[] wordsUpTo(GuestVirtualMemory memory, long address, int limit) {
        address &= ~7L;
        long end = address + limit;
        LongStream.Builder words = LongStream.builder();
        for (long at = address; at < end; ) {
            long next = Math.min((at | (GuestMemory.PAGE_SIZE - 1)) + 1, end);
            long[] page = new long[(int) ((next - at) / 8)];
            if (memory.read(at, MemorySegment.ofArray(page)) != 0) break;
            for (long w : page) words.add(w);
            at = next;
        }
        return words.build().toArray();
    }

    /** Where Linux's pt_regs tail (orig_ax -1, rip, cs, rflags, rsp, ss) of a kernel interrupt taken with IF clear starts; -1 if none. */
    static int interruptFrameWithIfClear(long[] w) {
        for (int i = 0; i + 5 < w.length; i++) {
            if (w[i] == -1L && Long.compareUnsigned(w[i + 1], KERNEL_TEXT) >= 0 && w[i + 2] == KERNEL_CS && (w[i + 3] & RFLAGS_IF) == 0
                    && (w[i + 3] & 2) != 0 && w[i + 4] < 0 && w[i + 5] == KERNEL_SS) return i;
        }
        return -1;
    }

    /**
     * What jxen saw, in two parts: the guest's event state and rings (short, and what tells a lost event from a lost
     * request: a report goes first, where a truncated log still shows it) and where jxen's threads were.
     */
    record Snapshot(String events, String threads) {}

    static Snapshot of(GuestPlatform platform, Iterable<PvBackend> backends) {
        return new Snapshot(events(platform, backends), threads());
    }

    /** jxen's threads and their stacks, without the JDK's invocation frames (method handles, FFM stubs). */
    private static String threads() {
        StringBuilder sb = new StringBuilder("jxen threads:\n");
        for (Map.Entry<Thread, StackTraceElement[]> e : Thread.getAllStackTraces().entrySet()) {
            if (!e.getKey().getName().startsWith("jxen")) continue;
            sb.append("  ").append(e.getKey().getName()).append(" (").append(e.getKey().getState()).append(")\n");
            int shown = 0;
            for (StackTraceElement f : e.getValue()) {
                if (shown == THREAD_FRAMES) break;
                if (f.getClassName().startsWith("java.lang.invoke.") || f.getClassName().startsWith("jdk.internal.foreign.")) continue;
                sb.append("      at ").append(f).append('\n');
                shown++;
            }
        }
        return sb.toString().strip();
    }

    private static String events(GuestPlatform platform, Iterable<PvBackend> backends) {
        StringBuilder sb = new StringBuilder();
        GuestDomain guest = platform.guest();
        PortManager ports = platform.ports();
        var abi = guest.abi();
        sb.append("event channels (").append(abi instanceof FifoAbi ? "FIFO" : "2-level").append("):\n");
        for (int v = 0; v < guest.shared().vcpuCount(); v++) {
            sb.append("  vCPU ").append(v).append(" upcall_pending ").append(guest.shared().vcpuInfo(v).getByte(0));
            if (abi instanceof FifoAbi fifo && fifo.controlBlock(v) != null) {
                var cb = fifo.controlBlock(v);
                sb.append(" ready 0x").append(Integer.toHexString(cb.getIntVolatile(0))).append(" heads");
                for (int p = 0; p < 16; p++) {
                    int head = cb.getIntVolatile(8 + 4L * p);
                    if (head != 0) sb.append(" [").append(p).append("]=").append(head);
                }
            }
            sb.append('\n');
        }
        for (int port = 1; port < ports.validPorts(); port++) {
            Channel ch = ports.channel(port);
            if (ch.isFree()) continue;
            sb.append("  port ").append(port).append(' ').append(ch.binding()).append(" vcpu ").append(ch.vcpu())
                    .append(abi.isPending(port) ? " pending" : "").append(abi.isMasked(port) ? " masked" : "");
            if (abi instanceof FifoAbi fifo) sb.append(" word 0x").append(Integer.toHexString(fifo.eventWord(port)));
            sb.append('\n');
        }
        for (PvBackend b : backends) {
            String rings = b.ringState();
            if (!rings.isEmpty()) sb.append("  ").append(b.name()).append(": ").append(rings).append('\n');
        }
        return sb.toString().strip();
    }
}
