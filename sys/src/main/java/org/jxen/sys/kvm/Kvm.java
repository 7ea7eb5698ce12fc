package org.jxen.sys.kvm;

import static org.jxen.sys.kvm.KvmAbi.*;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.jxen.sys.Libc;
import org.jxen.sys.SyscallException;

/** The /dev/kvm system descriptor: API version, capabilities, supported CPUID, and VM creation. */
public final class Kvm implements AutoCloseable {
    public static final String DEVICE = "/dev/kvm";
    /** Entries KVM_GET_SUPPORTED_CPUID may return (it fails with E2BIG below what it needs). */
    private static final int MAX_CPUID_ENTRIES = 256;

    private final int fd;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment errno = Libc.errnoBuffer(arena);

    private Kvm(int fd) {
        this.fd = fd;
    }

    /** Opens /dev/kvm and checks the API version; a one-line reason if that is not possible. */
    public static Kvm open() throws KvmUnavailableException {
        int fd;
        try {
            fd = Libc.open(DEVICE, Libc.O_RDWR | Libc.O_CLOEXEC);
        } catch (SyscallException e) {
            throw new KvmUnavailableException(e.getMessage());
        }
        Kvm kvm = new Kvm(fd);
        int version = kvm.ioctl(KVM_GET_API_VERSION, 0);
        if (version != KVM_API_VERSION) {
            kvm.close();
            throw new KvmUnavailableException(DEVICE + ": KVM API version " + version + ", jxen needs " + KVM_API_VERSION);
        }
        return kvm;
    }

    /** Whether /dev/kvm exists here (tests that need it skip without it). */
    public static boolean present() {
        return Files.exists(Path.of(DEVICE));
    }

    int ioctl(long request, long arg) {
        return Libc.ioctl(fd, request, arg, errno);
    }

    /** KVM_CHECK_EXTENSION: 0 if absent, else the capability's value (often 1, or a count). */
    public int checkExtension(int cap) {
        int rc = ioctl(KVM_CHECK_EXTENSION, cap);
        return Math.max(rc, 0);
    }

    public int vcpuMmapSize() {
        int rc = ioctl(KVM_GET_VCPU_MMAP_SIZE, 0);
        if (rc < 0) throw new KvmException("KVM_GET_VCPU_MMAP_SIZE", -rc);
        return rc;
    }

    /** KVM_GET_SUPPORTED_CPUID: what a vCPU can be given. */
    public List<CpuidEntry> supportedCpuid() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(SIZEOF_KVM_CPUID2 + (long) MAX_CPUID_ENTRIES * SIZEOF_KVM_CPUID_ENTRY2, 8);
            buf.set(ValueLayout.JAVA_INT, 0, MAX_CPUID_ENTRIES);
            int rc = Libc.ioctl(fd, KVM_GET_SUPPORTED_CPUID, buf, errno);
            if (rc < 0) throw new KvmException("KVM_GET_SUPPORTED_CPUID", -rc);
            int n = buf.get(ValueLayout.JAVA_INT, 0);
            List<CpuidEntry> out = new ArrayList<>(n);
            for (int i = 0; i < n; i++) out.add(CpuidCodec.read(buf, SIZEOF_KVM_CPUID2 + (long) i * SIZEOF_KVM_CPUID_ENTRY2));
            return out;
        }
    }

    public KvmVm createVm() {
        int vmfd = ioctl(KVM_CREATE_VM, 0);
        if (vmfd < 0) throw new KvmException("KVM_CREATE_VM", -vmfd);
        return new KvmVm(vmfd, vcpuMmapSize());
    }

    @Override
    public void close() {
        Libc.close(fd);
        arena.close();
    }
}
