package org.jxen.sys.kvm;

import static org.jxen.sys.kvm.KvmAbi.*;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.OptionalLong;
import java.util.concurrent.locks.Lock;
import java.util.concurrent.locks.ReentrantReadWriteLock;

import org.jxen.sys.Libc;

/**
 * A vCPU descriptor and its mmapped {@code struct kvm_run}. KVM_RUN and the exits belong to the vCPU's own thread;
 * any other ioctl may come from any thread (KVM serialises them on the vCPU's mutex, so one waits while the vCPU is
 * inside KVM_RUN) and is safe against {@link #close}, which waits for it and after which it throws. The exits are read and answered through {@link #run()}'s segment, with registers
 * exchanged through kvm_run's synced-register area rather than KVM_GET/SET_REGS (a vCPU ioctl costs ~2 µs here).
 */
public final class KvmVcpu implements AutoCloseable {
    /** IA32_TSC. */
    private static final int MSR_TSC = 0x10;

    private final int fd;
    /** Owns the kvm_run mapping and KVM_RUN's errno buffer: closed with the vCPU, after its thread has stopped. */
    private final Arena arena = Arena.ofShared();
    private final MemorySegment run;
    /**
     * KVM_RUN's errno, for the one thread that runs this vCPU. Every other call captures errno into a buffer of its own:
     * the FFM linker writes the calling thread's errno into the buffer after every call, successful or not, so a call
     * from another thread sharing this buffer (a diagnostic's KVM_GET_MP_STATE, KVM_GET_TSC_KHZ) could replace the
     * EINTR of a kicked KVM_RUN with that thread's stale errno, and the vCPU loop would stop on a bogus error.
     */
    private final MemorySegment runErrno = Libc.errnoBuffer(arena);
    /** Readers: ioctls in progress (any thread); the writer: {@link #close}. */
    private final ReentrantReadWriteLock descriptor = new ReentrantReadWriteLock();
    private boolean closed;

    KvmVcpu(int fd, int runSize) {
        this.fd = fd;
        this.run = Libc.mmap(arena, runSize, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED, fd, 0);
    }

    /** The mmapped kvm_run (exit reason, exit data, synced registers). */
    public MemorySegment runArea() {
        return run;
    }

    /** KVM_RUN: 0 after an exit, or -errno (EINTR after a kick, EAGAIN once when an AP leaves wait-for-SIPI). */
    public int enter() {
        return Libc.ioctl(fd, KVM_RUN, 0, runErrno);
    }

    private void ioctl(String name, long request, MemorySegment arg) {
        try (Arena a = Arena.ofConfined()) {
            int rc = call(request, arg, Libc.errnoBuffer(a));
            if (rc < 0) throw new KvmException(name, -rc);
        }
    }

    public void setCpuid(List<CpuidEntry> entries) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(SIZEOF_KVM_CPUID2 + (long) entries.size() * SIZEOF_KVM_CPUID_ENTRY2, 8);
            buf.set(ValueLayout.JAVA_INT, 0, entries.size());
            for (int i = 0; i < entries.size(); i++) CpuidCodec.write(buf, SIZEOF_KVM_CPUID2 + (long) i * SIZEOF_KVM_CPUID_ENTRY2, entries.get(i));
            ioctl("KVM_SET_CPUID2", KVM_SET_CPUID2, buf);
        }
    }

    /** KVM_GET_REGS into a {@code struct kvm_regs} segment (144 bytes). */
    public void getRegs(MemorySegment regs) {
        ioctl("KVM_GET_REGS", KVM_GET_REGS, regs);
    }

    public void setRegs(MemorySegment regs) {
        ioctl("KVM_SET_REGS", KVM_SET_REGS, regs);
    }

    /** KVM_GET_SREGS into a {@code struct kvm_sregs} segment (312 bytes). */
    public void getSregs(MemorySegment sregs) {
        ioctl("KVM_GET_SREGS", KVM_GET_SREGS, sregs);
    }

    public void setSregs(MemorySegment sregs) {
        ioctl("KVM_SET_SREGS", KVM_SET_SREGS, sregs);
    }

    public void setMpState(int state) {
        try (Arena a = Arena.ofConfined()) {
            ioctl("KVM_SET_MP_STATE", KVM_SET_MP_STATE, a.allocateFrom(ValueLayout.JAVA_INT, state));
        }
    }

    /** KVM_GET_MP_STATE: RUNNABLE, UNINITIALIZED, HALTED, ... */
    public int mpState() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment st = a.allocate(ValueLayout.JAVA_INT);
            ioctl("KVM_GET_MP_STATE", KVM_GET_MP_STATE, st);
            return st.get(ValueLayout.JAVA_INT, 0);
        }
    }

    /**
     * A piece of vCPU state KVM hands out as one struct (for save/restore): the struct's size and its get/set ioctls.
     * The bytes are the {@code <linux/kvm.h>} struct as is; jxen does not interpret them.
     */
    public enum StateBlock {
        REGS(SIZEOF_KVM_REGS, KVM_GET_REGS, KVM_SET_REGS),
        SREGS(SIZEOF_KVM_SREGS, KVM_GET_SREGS, KVM_SET_SREGS),
        FPU(SIZEOF_KVM_FPU, KVM_GET_FPU, KVM_SET_FPU),
        XSAVE(SIZEOF_KVM_XSAVE, KVM_GET_XSAVE, KVM_SET_XSAVE),
        XCRS(SIZEOF_KVM_XCRS, KVM_GET_XCRS, KVM_SET_XCRS),
        LAPIC(SIZEOF_KVM_LAPIC_STATE, KVM_GET_LAPIC, KVM_SET_LAPIC),
        EVENTS(SIZEOF_KVM_VCPU_EVENTS, KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS);

        public final int size;
        final long get, set;

        StateBlock(int size, long get, long set) {
            this.size = size;
            this.get = get;
            this.set = set;
        }
    }

    public byte[] getState(StateBlock block) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(block.size, 8);
            ioctl("KVM_GET_" + block, block.get, buf);
            return buf.toArray(ValueLayout.JAVA_BYTE);
        }
    }

    public void setState(StateBlock block, byte[] data) {
        if (data.length != block.size) throw new IllegalArgumentException(block + ": " + data.length + " bytes, expected " + block.size);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(block.size, 8);
            MemorySegment.copy(MemorySegment.ofArray(data), 0, buf, 0, data.length);
            ioctl("KVM_SET_" + block, block.set, buf);
        }
    }

    /** One MSR through KVM_GET_MSRS; empty if KVM does not have it for this vCPU. */
    public OptionalLong readMsr(int index) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment msrs = a.allocate(SIZEOF_KVM_MSRS + SIZEOF_KVM_MSR_ENTRY, 8);
            msrs.set(ValueLayout.JAVA_INT, 0, 1);
            msrs.set(ValueLayout.JAVA_INT, SIZEOF_KVM_MSRS, index);
            int rc = call(KVM_GET_MSRS, msrs, Libc.errnoBuffer(a));
            if (rc < 0) throw new KvmException("KVM_GET_MSRS", -rc);
            return rc == 1 ? OptionalLong.of(msrs.get(ValueLayout.JAVA_LONG, SIZEOF_KVM_MSRS + OFFSETOF_KVM_MSR_ENTRY_DATA))
                    : OptionalLong.empty();
        }
    }

    /** One MSR through KVM_SET_MSRS; false if KVM refused the value. */
    public boolean writeMsr(int index, long value) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment msrs = a.allocate(SIZEOF_KVM_MSRS + SIZEOF_KVM_MSR_ENTRY, 8);
            msrs.set(ValueLayout.JAVA_INT, 0, 1);
            msrs.set(ValueLayout.JAVA_INT, SIZEOF_KVM_MSRS, index);
            msrs.set(ValueLayout.JAVA_LONG, SIZEOF_KVM_MSRS + OFFSETOF_KVM_MSR_ENTRY_DATA, value);
            int rc = call(KVM_SET_MSRS, msrs, Libc.errnoBuffer(a));
            if (rc < 0) throw new KvmException("KVM_SET_MSRS", -rc);
            return rc == 1;
        }
    }

    /**
     * KVM_XEN_VCPU_SET_ATTR of {@code type} (KVM_XEN_VCPU_ATTR_TYPE_*) with {@code value} as the union's first 8 bytes
     * (a gpa, the vCPU id, a vector: little-endian, the rest zero). Not while another thread runs this vCPU (KVM holds
     * the vCPU's mutex through KVM_RUN). 0 or -errno.
     */
    public int setXenAttr(int type, long value) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment attr = a.allocate(SIZEOF_KVM_XEN_VCPU_ATTR, 8);
            attr.set(ValueLayout.JAVA_SHORT, 0, (short) type);
            attr.set(ValueLayout.JAVA_LONG, OFFSETOF_KVM_XEN_VCPU_ATTR_U, value);
            int rc = call(KVM_XEN_VCPU_SET_ATTR, attr, Libc.errnoBuffer(a));
            return Math.min(rc, 0);
        }
    }

    /**
     * KVM_XEN_VCPU_SET_ATTR of {@code type} with the union's first 8-byte words (the TIMER attribute:
     * {@code port | priority << 32}, then {@code expires_ns}; RUNSTATE_DATA: state, entry time, four times). Not while
     * another thread runs this vCPU. 0 or -errno.
     */
    public int setXenAttrWords(int type, long... words) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment attr = a.allocate(SIZEOF_KVM_XEN_VCPU_ATTR, 8);
            attr.set(ValueLayout.JAVA_SHORT, 0, (short) type);
            for (int i = 0; i < words.length; i++) attr.set(ValueLayout.JAVA_LONG, OFFSETOF_KVM_XEN_VCPU_ATTR_U + 8L * i, words[i]);
            int rc = call(KVM_XEN_VCPU_SET_ATTR, attr, Libc.errnoBuffer(a));
            return Math.min(rc, 0);
        }
    }

    /**
     * KVM_XEN_VCPU_GET_ATTR of {@code type}: the union's first {@code words} 8-byte words. Blocks while another thread
     * runs this vCPU (KVM holds its mutex through KVM_RUN). KvmException if KVM refuses.
     */
    public long[] xenAttr(int type, int words) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment attr = a.allocate(SIZEOF_KVM_XEN_VCPU_ATTR, 8);
            attr.set(ValueLayout.JAVA_SHORT, 0, (short) type);
            int rc = call(KVM_XEN_VCPU_GET_ATTR, attr, Libc.errnoBuffer(a));
            if (rc < 0) throw new KvmException("KVM_XEN_VCPU_GET_ATTR(" + type + ")", -rc);
            long[] out = new long[words];
            for (int i = 0; i < words; i++) out[i] = attr.get(ValueLayout.JAVA_LONG, OFFSETOF_KVM_XEN_VCPU_ATTR_U + 8L * i);
            return out;
        }
    }

    /** The guest TSC frequency in kHz (KVM_GET_TSC_KHZ), or -errno. */
    public int tscKhz() {
        try (Arena a = Arena.ofConfined()) {
            return call(KVM_GET_TSC_KHZ, MemorySegment.NULL, Libc.errnoBuffer(a));
        }
    }

    /** The guest's current TSC (KVM_GET_MSRS of IA32_TSC). */
    public long readTsc() {
        return readMsr(MSR_TSC).orElseThrow(() -> new KvmException("KVM_GET_MSRS(TSC)", 0));
    }

    /**
     * Unmaps kvm_run (a late access through {@link #runArea} then throws) and closes the descriptor. Only once the
     * thread that runs this vCPU has stopped: while it is inside an ioctl the arena is in use and this throws.
     */
    @Override
    public void close() {
        Lock l = descriptor.writeLock();
        l.lock();
        try {
            if (closed) return;
            arena.close();
            closed = true;
            Libc.close(fd);
        } finally {
            l.unlock();
        }
    }

    /**
     * One ioctl other than KVM_RUN, from any thread: the descriptor stays open until it returns (a close waits), and
     * after the close it throws instead of reaching whatever file took the number. KVM_RUN needs no such guard: its
     * errno buffer belongs to the vCPU's arena, which cannot close while the call is inside and throws after.
     */
    private int call(long request, MemorySegment arg, MemorySegment errno) {
        Lock l = descriptor.readLock();
        l.lock();
        try {
            if (closed) throw new IllegalStateException("the vCPU is closed");
            return Libc.ioctl(fd, request, arg, errno);
        } finally {
            l.unlock();
        }
    }
}
