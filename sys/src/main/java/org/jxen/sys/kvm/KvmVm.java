package org.jxen.sys.kvm;

import static org.jxen.sys.kvm.KvmAbi.*;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

import org.jxen.sys.Errno;
import org.jxen.sys.Libc;
import org.jxen.sys.SharedFd;

/** A KVM VM descriptor: memory slots, the in-kernel irqchip, MSIs, capabilities, the MSR filter, vCPU creation. */
public final class KvmVm implements AutoCloseable {
    /** Where the VMX TSS and identity map go: three pages just below the BIOS area, outside guest RAM (as QEMU). */
    public static final long TSS_ADDR = 0xFFFB_D000L, IDENTITY_MAP_ADDR = 0xFFFB_C000L;

    /** Held by every ioctl: timer and backend threads send MSIs while the domain closes (see SharedFd). */
    private final SharedFd fd;
    private final int mmapSize;

    KvmVm(int fd, int mmapSize) {
        this.fd = new SharedFd(fd);
        this.mmapSize = mmapSize;
    }

    /** ioctl(fd, request, arg) while holding the descriptor: -EBADF once the VM is closed. */
    private int call(long request, MemorySegment arg, MemorySegment errnoState) {
        int f = fd.acquire();
        if (f < 0) return -Errno.EBADF;
        try {
            return Libc.ioctl(f, request, arg, errnoState);
        } finally {
            fd.release();
        }
    }

    private int call(long request, long arg, MemorySegment errnoState) {
        int f = fd.acquire();
        if (f < 0) return -Errno.EBADF;
        try {
            return Libc.ioctl(f, request, arg, errnoState);
        } finally {
            fd.release();
        }
    }

    private int ioctl(String name, long request, long arg) {
        try (Arena a = Arena.ofConfined()) {
            int rc = call(request, arg, Libc.errnoBuffer(a));
            if (rc < 0) throw new KvmException(name, -rc);
            return rc;
        }
    }

    private int ioctl(String name, long request, MemorySegment arg) {
        try (Arena a = Arena.ofConfined()) {
            int rc = call(request, arg, Libc.errnoBuffer(a));
            if (rc < 0) throw new KvmException(name, -rc);
            return rc;
        }
    }

    /** KVM_CHECK_EXTENSION on the VM (some capabilities answer per VM). */
    public int checkExtension(int cap) {
        try (Arena a = Arena.ofConfined()) {
            return Math.max(call(KVM_CHECK_EXTENSION, cap, Libc.errnoBuffer(a)), 0);
        }
    }

    /** Maps {@code host} (page-aligned, a multiple of 4 KiB) at guest-physical {@code gpa} in slot {@code slot}. */
    public void setMemory(int slot, long gpa, MemorySegment host) {
        setMemory(slot, gpa, host, 0);
    }

    /**
     * {@link #setMemory(int, long, MemorySegment)} with the slot's {@code flags} (KVM_MEM_*): the same slot set again
     * with KVM_MEM_LOG_DIRTY_PAGES turns KVM's dirty log on for it, without it off (Documentation/virt/kvm/api.rst,
     * KVM_SET_USER_MEMORY_REGION: only the flags of an existing slot may change).
     */
    public void setMemory(int slot, long gpa, MemorySegment host, int flags) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment r = a.allocate(SIZEOF_KVM_USERSPACE_MEMORY_REGION, 8);
            r.set(ValueLayout.JAVA_INT, 0, slot);
            r.set(ValueLayout.JAVA_INT, OFFSETOF_KVM_USERSPACE_MEMORY_REGION_FLAGS, flags);
            r.set(ValueLayout.JAVA_LONG, OFFSETOF_KVM_USERSPACE_MEMORY_REGION_GUEST_PHYS_ADDR, gpa);
            r.set(ValueLayout.JAVA_LONG, OFFSETOF_KVM_USERSPACE_MEMORY_REGION_MEMORY_SIZE, host.byteSize());
            r.set(ValueLayout.JAVA_LONG, OFFSETOF_KVM_USERSPACE_MEMORY_REGION_USERSPACE_ADDR, host.address());
            ioctl("KVM_SET_USER_MEMORY_REGION", KVM_SET_USER_MEMORY_REGION, r);
        }
    }

    /** Removes memory slot {@code slot} (KVM_SET_USER_MEMORY_REGION with size 0): its guest frames are unbacked again. */
    public void deleteMemory(int slot) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment r = a.allocate(SIZEOF_KVM_USERSPACE_MEMORY_REGION, 8);
            r.set(ValueLayout.JAVA_INT, 0, slot);
            ioctl("KVM_SET_USER_MEMORY_REGION", KVM_SET_USER_MEMORY_REGION, r);
        }
    }

    /**
     * KVM_GET_DIRTY_LOG: the slot's pages written by the guest (or by KVM for it) since the last call, one bit each, into
     * {@code bitmap} (at least one bit per page, rounded up to 64). Without manual protection KVM clears its log and
     * write-protects those pages again in the same call. 0 or -errno (-ENOENT: the slot does not log).
     */
    public int getDirtyLog(int slot, MemorySegment bitmap) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment d = a.allocate(SIZEOF_KVM_DIRTY_LOG, 8);
            d.set(ValueLayout.JAVA_INT, 0, slot);
            d.set(ValueLayout.ADDRESS, OFFSETOF_KVM_DIRTY_LOG_DIRTY_BITMAP, bitmap);
            return Math.min(call(KVM_GET_DIRTY_LOG, d, Libc.errnoBuffer(a)), 0);
        }
    }

    /**
     * KVM_CLEAR_DIRTY_LOG (with KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 enabled): the pages set in {@code bitmap}, bit 0 being
     * {@code firstPage} (a multiple of 64), are clean again and write-protected, so the guest's next write logs them.
     * {@code pages} is a multiple of 64 unless the range ends at the slot's end. 0 or -errno.
     */
    public int clearDirtyLog(int slot, long firstPage, int pages, MemorySegment bitmap) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment d = a.allocate(SIZEOF_KVM_CLEAR_DIRTY_LOG, 8);
            d.set(ValueLayout.JAVA_INT, 0, slot);
            d.set(ValueLayout.JAVA_INT, OFFSETOF_KVM_CLEAR_DIRTY_LOG_NUM_PAGES, pages);
            d.set(ValueLayout.JAVA_LONG, OFFSETOF_KVM_CLEAR_DIRTY_LOG_FIRST_PAGE, firstPage);
            d.set(ValueLayout.ADDRESS, OFFSETOF_KVM_CLEAR_DIRTY_LOG_DIRTY_BITMAP, bitmap);
            return Math.min(call(KVM_CLEAR_DIRTY_LOG, d, Libc.errnoBuffer(a)), 0);
        }
    }

    /** KVM_ENABLE_CAP on the VM, 0 or -errno (a capability the caller can do without). */
    public int tryEnableCap(int cap, long arg0) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment c = a.allocate(SIZEOF_KVM_ENABLE_CAP, 8);
            c.set(ValueLayout.JAVA_INT, 0, cap);
            c.set(ValueLayout.JAVA_LONG, OFFSETOF_KVM_ENABLE_CAP_ARGS, arg0);
            return Math.min(call(KVM_ENABLE_CAP, c, Libc.errnoBuffer(a)), 0);
        }
    }

    /** The VMX real-mode helpers (ignored where not needed) and the in-kernel irqchip; before any vCPU. */
    public void createIrqchip() {
        ioctl("KVM_SET_TSS_ADDR", KVM_SET_TSS_ADDR, TSS_ADDR);
        try (Arena a = Arena.ofConfined()) {
            ioctl("KVM_SET_IDENTITY_MAP_ADDR", KVM_SET_IDENTITY_MAP_ADDR, a.allocateFrom(ValueLayout.JAVA_LONG, IDENTITY_MAP_ADDR));
        }
        ioctl("KVM_CREATE_IRQCHIP", KVM_CREATE_IRQCHIP, 0);
    }

    /**
     * KVM_CREATE_PIT2: an i8254 inside KVM (ports 0x40-0x43), after {@link #createIrqchip} (KVM refuses it without the
     * in-kernel PIC: -ENOENT). {@link KvmAbi#KVM_PIT_SPEAKER_DUMMY} puts port 0x61 in the kernel too: its bit 0 is
     * channel 2's gate and its bit 5 channel 2's output (arch/x86/kvm/i8254.c, speaker_ioport_read/_write), which is
     * all Linux's quick_pit_calibrate reads there; without it every access to 0x61 would exit to user space, and the
     * gate could only be set through KVM_SET_PIT2. Channel 0 raises GSI 0 through the VM's routing.
     */
    public void createPit() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment c = a.allocate(PitState.CONFIG);
            c.set(ValueLayout.JAVA_INT, 0, KVM_PIT_SPEAKER_DUMMY);
            ioctl("KVM_CREATE_PIT2", KVM_CREATE_PIT2, c);
        }
    }

    /**
     * KVM_REINJECT_CONTROL: whether the PIT's channel 0 ticks a guest has not acknowledged are delivered later (KVM's
     * default) or dropped. Reinjection registers an ack notifier and, on AMD, inhibits AVIC for the whole VM
     * (kvm_pit_set_reinject). 0 or -errno.
     */
    public int pitReinject(boolean reinject) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment c = a.allocate(PitState.REINJECT_CONTROL);
            c.set(ValueLayout.JAVA_BYTE, 0, (byte) (reinject ? 1 : 0));
            return Math.min(call(KVM_REINJECT_CONTROL, c, Libc.errnoBuffer(a)), 0);
        }
    }

    /** KVM_GET_PIT2: the in-kernel PIT's channels and flags. */
    public PitState getPit() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(PitState.STATE2);
            ioctl("KVM_GET_PIT2", KVM_GET_PIT2, s);
            return PitState.from(s);
        }
    }

    /**
     * KVM_SET_PIT2. KVM reloads each channel's count as a guest write would (kvm_vm_ioctl_set_pit2 in x86.c calls
     * kvm_pit_load_count): {@code count_load_time} becomes now and channel 0's timer restarts from its full count.
     */
    public void setPit(PitState state) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(PitState.STATE2);
            state.to(s);
            ioctl("KVM_SET_PIT2", KVM_SET_PIT2, s);
        }
    }

    /** KVM_ENABLE_CAP on the VM with up to four arguments. */
    public void enableCap(int cap, long... args) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment c = a.allocate(SIZEOF_KVM_ENABLE_CAP, 8);
            c.set(ValueLayout.JAVA_INT, 0, cap);
            for (int i = 0; i < args.length; i++) c.set(ValueLayout.JAVA_LONG, OFFSETOF_KVM_ENABLE_CAP_ARGS + 8L * i, args[i]);
            ioctl("KVM_ENABLE_CAP(" + cap + ")", KVM_ENABLE_CAP, c);
        }
    }

    /**
     * KVM_XEN_HVM_CONFIG: turns on KVM's Xen support with {@code flags} (KVM_XEN_HVM_CONFIG_*) and the hypercall-page
     * MSR (non-zero, or the support stays off). No blobs: with INTERCEPT_HCALL KVM writes its own page, unless the
     * MSR is filtered to userspace (jxen's).
     */
    public void xenHvmConfig(int flags, int msr) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment c = a.allocate(SIZEOF_KVM_XEN_HVM_CONFIG, 8);
            c.set(ValueLayout.JAVA_INT, OFFSETOF_KVM_XEN_HVM_CONFIG_FLAGS, flags);
            c.set(ValueLayout.JAVA_INT, OFFSETOF_KVM_XEN_HVM_CONFIG_MSR, msr);
            ioctl("KVM_XEN_HVM_CONFIG", KVM_XEN_HVM_CONFIG, c);
        }
    }

    /**
     * KVM_XEN_HVM_SET_ATTR of {@code type} (KVM_XEN_ATTR_TYPE_*) with {@code value} as the union's first 8 bytes (the
     * shared_info gfn, long mode, the callback vector, the Xen version: little-endian, the rest zero). 0 or -errno.
     */
    public int setXenAttr(int type, long value) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment attr = a.allocate(SIZEOF_KVM_XEN_HVM_ATTR, 8);
            attr.set(ValueLayout.JAVA_SHORT, 0, (short) type);
            attr.set(ValueLayout.JAVA_LONG, OFFSETOF_KVM_XEN_HVM_ATTR_U, value);
            return Math.min(call(KVM_XEN_HVM_SET_ATTR, attr, Libc.errnoBuffer(a)), 0);
        }
    }

    /**
     * KVM_XEN_ATTR_TYPE_EVTCHN, assign: a guest EVTCHNOP_send on {@code sendPort} (type EVTCHNSTAT_ipi or
     * _interdomain) raises local {@code port} on the vCPU with KVM id {@code vcpu} inside KVM, 2-level. 0 or -errno.
     */
    public int xenEvtchnAssignPort(int sendPort, int type, int port, int vcpu) {
        return xenEvtchn(sendPort, type, 0, port, vcpu, -1);
    }

    /** KVM_XEN_ATTR_TYPE_EVTCHN, assign: a send on {@code sendPort} (interdomain) signals eventfd {@code fd}. 0 or -errno. */
    public int xenEvtchnAssignEventFd(int sendPort, int type, int fd) {
        return xenEvtchn(sendPort, type, 0, 0, 0, fd);
    }

    /**
     * KVM_XEN_HVM_EVTCHN_SEND: KVM raises 2-level {@code port} for the vCPU with KVM id {@code vcpu} as its own sends do
     * ({@code kvm_xen_set_evtchn}: pending bit, mask, selector, upcall_pending, then a kick, the callback vector or the
     * wake-up of a vCPU polling the port). 0 (also for a masked or already pending port) or -errno. Any thread.
     */
    public int xenEvtchnSend(int port, int vcpu) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment e = a.allocate(SIZEOF_KVM_IRQ_ROUTING_XEN_EVTCHN, 4);
            e.set(ValueLayout.JAVA_INT, 0, port);
            e.set(ValueLayout.JAVA_INT, 4, vcpu);
            e.set(ValueLayout.JAVA_INT, 8, (int) KVM_IRQ_ROUTING_XEN_EVTCHN_PRIO_2LEVEL);
            return Math.min(call(KVM_XEN_HVM_EVTCHN_SEND, e, Libc.errnoBuffer(a)), 0);
        }
    }

    /**
     * KVM_SET_GSI_ROUTING: the VM's whole routing table becomes {@code routes} (it replaces KVM's default one, so a
     * caller that keeps the in-kernel PIC and IOAPIC reachable lists their pins too). Returns after every interrupt in
     * flight used the old table (KVM waits out its readers). 0 or -errno.
     */
    public int setGsiRouting(List<GsiRoute> routes) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment table = a.allocate(SIZEOF_KVM_IRQ_ROUTING + (long) routes.size() * SIZEOF_KVM_IRQ_ROUTING_ENTRY, 8);
            table.set(ValueLayout.JAVA_INT, 0, routes.size());
            for (int i = 0; i < routes.size(); i++) {
                MemorySegment e = table.asSlice(SIZEOF_KVM_IRQ_ROUTING + (long) i * SIZEOF_KVM_IRQ_ROUTING_ENTRY, SIZEOF_KVM_IRQ_ROUTING_ENTRY);
                MemorySegment u = e.asSlice(OFFSETOF_KVM_IRQ_ROUTING_ENTRY_U);
                e.set(ValueLayout.JAVA_INT, 0, routes.get(i).gsi());
                switch (routes.get(i)) {
                    case GsiRoute.Irqchip c -> {
                        e.set(ValueLayout.JAVA_INT, OFFSETOF_KVM_IRQ_ROUTING_ENTRY_TYPE, KVM_IRQ_ROUTING_IRQCHIP);
                        u.set(ValueLayout.JAVA_INT, 0, c.chip());
                        u.set(ValueLayout.JAVA_INT, 4, c.pin());
                    }
                    case GsiRoute.XenEvtchn x -> {
                        e.set(ValueLayout.JAVA_INT, OFFSETOF_KVM_IRQ_ROUTING_ENTRY_TYPE, KVM_IRQ_ROUTING_XEN_EVTCHN);
                        u.set(ValueLayout.JAVA_INT, 0, x.port());
                        u.set(ValueLayout.JAVA_INT, 4, x.vcpu());
                        u.set(ValueLayout.JAVA_INT, 8, (int) KVM_IRQ_ROUTING_XEN_EVTCHN_PRIO_2LEVEL);
                    }
                }
            }
            return Math.min(call(KVM_SET_GSI_ROUTING, table, Libc.errnoBuffer(a)), 0);
        }
    }

    /**
     * KVM_IRQFD: every write to eventfd {@code eventFd} raises {@code gsi} inside KVM (assign), or no longer (deassign,
     * which returns once an injection already started has finished). 0 or -errno.
     */
    public int irqfd(int eventFd, int gsi, boolean assign) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment arg = a.allocate(SIZEOF_KVM_IRQFD, 8);
            arg.set(ValueLayout.JAVA_INT, 0, eventFd);
            arg.set(ValueLayout.JAVA_INT, OFFSETOF_KVM_IRQFD_GSI, gsi);
            arg.set(ValueLayout.JAVA_INT, OFFSETOF_KVM_IRQFD_FLAGS, assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN);
            return Math.min(call(KVM_IRQFD, arg, Libc.errnoBuffer(a)), 0);
        }
    }

    /** KVM_XEN_ATTR_TYPE_EVTCHN, update: a local-port entry moves to the vCPU with KVM id {@code vcpu}. 0 or -errno. */
    public int xenEvtchnUpdate(int sendPort, int type, int port, int vcpu) {
        return xenEvtchn(sendPort, type, KVM_XEN_EVTCHN_UPDATE, port, vcpu, -1);
    }

    /** KVM_XEN_ATTR_TYPE_EVTCHN, deassign; returns once no send in KVM can still use the entry. 0 or -errno. */
    public int xenEvtchnDeassign(int sendPort) {
        return xenEvtchn(sendPort, 0, KVM_XEN_EVTCHN_DEASSIGN, 0, 0, -1);
    }

    /** KVM_XEN_ATTR_TYPE_EVTCHN, reset: KVM's table emptied (and its in-flight sends finished). 0 or -errno. */
    public int xenEvtchnReset() {
        return xenEvtchn(0, 0, KVM_XEN_EVTCHN_RESET, 0, 0, -1);
    }

    private int xenEvtchn(int sendPort, int type, int flags, int port, int vcpu, int fd) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment attr = a.allocate(SIZEOF_KVM_XEN_HVM_ATTR, 8);
            attr.set(ValueLayout.JAVA_SHORT, 0, (short) KVM_XEN_ATTR_TYPE_EVTCHN);
            attr.set(ValueLayout.JAVA_INT, OFFSETOF_KVM_XEN_HVM_ATTR_EVTCHN_SEND_PORT, sendPort);
            attr.set(ValueLayout.JAVA_INT, OFFSETOF_KVM_XEN_HVM_ATTR_EVTCHN_TYPE, type);
            attr.set(ValueLayout.JAVA_INT, OFFSETOF_KVM_XEN_HVM_ATTR_EVTCHN_FLAGS, flags);
            if (fd >= 0) {
                attr.set(ValueLayout.JAVA_INT, OFFSETOF_KVM_XEN_HVM_ATTR_EVTCHN_FD, fd); // deliver.eventfd.port stays 0
            } else {
                attr.set(ValueLayout.JAVA_INT, OFFSETOF_KVM_XEN_HVM_ATTR_EVTCHN_PORT, port);
                attr.set(ValueLayout.JAVA_INT, OFFSETOF_KVM_XEN_HVM_ATTR_EVTCHN_VCPU, vcpu);
                attr.set(ValueLayout.JAVA_INT, OFFSETOF_KVM_XEN_HVM_ATTR_EVTCHN_PRIORITY, (int) KVM_IRQ_ROUTING_XEN_EVTCHN_PRIO_2LEVEL);
            }
            return Math.min(call(KVM_XEN_HVM_SET_ATTR, attr, Libc.errnoBuffer(a)), 0);
        }
    }

    /** KVM's clock for this VM (KVM_GET_CLOCK): the nanoseconds its pvclocks count, what Xen calls system time. */
    public long clockNanos() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment c = a.allocate(SIZEOF_KVM_CLOCK_DATA, 8);
            ioctl("KVM_GET_CLOCK", KVM_GET_CLOCK, c);
            return c.get(ValueLayout.JAVA_LONG, OFFSETOF_KVM_CLOCK_DATA_CLOCK);
        }
    }

    /** KVM_SET_CLOCK: KVM's clock reads {@code nanos} now (a restored domain's time continues the saved one). */
    public void setClockNanos(long nanos) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment c = a.allocate(SIZEOF_KVM_CLOCK_DATA, 8);
            c.set(ValueLayout.JAVA_LONG, OFFSETOF_KVM_CLOCK_DATA_CLOCK, nanos);
            ioctl("KVM_SET_CLOCK", KVM_SET_CLOCK, c);
        }
    }

    /**
     * Sends every read and write of {@code msrs} to userspace (KVM_EXIT_X86_RDMSR/WRMSR with reason FILTER), all
     * other MSRs staying with KVM. Needs KVM_CAP_X86_USER_SPACE_MSR enabled with KVM_MSR_EXIT_REASON_FILTER.
     */
    public void denyMsrs(int... msrs) {
        if (msrs.length > 16) throw new IllegalArgumentException("at most 16 MSR filter ranges");
        try (Arena a = Arena.ofConfined()) {
            MemorySegment f = a.allocate(SIZEOF_KVM_MSR_FILTER, 8);
            f.set(ValueLayout.JAVA_INT, 0, KVM_MSR_FILTER_DEFAULT_ALLOW);
            MemorySegment deny = a.allocate(8, 8); // one bitmap bit per MSR, 0 = deny
            for (int i = 0; i < msrs.length; i++) {
                long r = OFFSETOF_KVM_MSR_FILTER_RANGES + (long) i * SIZEOF_KVM_MSR_FILTER_RANGE;
                f.set(ValueLayout.JAVA_INT, r, KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE);
                f.set(ValueLayout.JAVA_INT, r + OFFSETOF_KVM_MSR_FILTER_RANGE_NMSRS, 1);
                f.set(ValueLayout.JAVA_INT, r + OFFSETOF_KVM_MSR_FILTER_RANGE_BASE, msrs[i]);
                f.set(ValueLayout.ADDRESS, r + OFFSETOF_KVM_MSR_FILTER_RANGE_BITMAP, deny);
            }
            ioctl("KVM_X86_SET_MSR_FILTER", KVM_X86_SET_MSR_FILTER, f);
        }
    }

    /**
     * KVM_SIGNAL_MSI to the local APIC {@code apicId}: fixed delivery, edge, physical destination. Returns &gt; 0 if
     * delivered, 0 if the interrupt was blocked (already pending), or -errno. Safe from any thread.
     */
    public int signalMsi(int apicId, int vector) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment m = a.allocate(SIZEOF_KVM_MSI, 8);
            m.set(ValueLayout.JAVA_INT, OFFSETOF_KVM_MSI_ADDRESS_LO, 0xFEE0_0000 | (apicId & 0xFF) << 12);
            m.set(ValueLayout.JAVA_INT, OFFSETOF_KVM_MSI_ADDRESS_HI, 0);
            m.set(ValueLayout.JAVA_INT, OFFSETOF_KVM_MSI_DATA, vector & 0xFF);
            return call(KVM_SIGNAL_MSI, m, Libc.errnoBuffer(a));
        }
    }

    /**
     * Whether KVM keeps one stable master clock for this VM (KVM_GET_CLOCK's KVM_CLOCK_TSC_STABLE): the host TSC is
     * synchronised across CPUs, so vCPUs' TSCs agree. Without it a guest must not be told its TSC is stable.
     */
    public boolean tscStable() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment c = a.allocate(SIZEOF_KVM_CLOCK_DATA, 8);
            ioctl("KVM_GET_CLOCK", KVM_GET_CLOCK, c);
            return (c.get(ValueLayout.JAVA_INT, OFFSETOF_KVM_CLOCK_DATA_FLAGS) & KVM_CLOCK_TSC_STABLE) != 0;
        }
    }

    /** KVM_GET_IRQCHIP of one in-kernel chip (KVM_IRQCHIP_PIC_MASTER, _SLAVE, _IOAPIC): the kvm_irqchip struct. */
    public byte[] getIrqchip(int chip) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment c = a.allocate(SIZEOF_KVM_IRQCHIP, 8);
            c.set(ValueLayout.JAVA_INT, 0, chip);
            ioctl("KVM_GET_IRQCHIP", KVM_GET_IRQCHIP, c);
            return c.toArray(ValueLayout.JAVA_BYTE);
        }
    }

    /** KVM_SET_IRQCHIP with a struct from {@link #getIrqchip} (its chip id says which). */
    public void setIrqchip(byte[] state) {
        if (state.length != SIZEOF_KVM_IRQCHIP) throw new IllegalArgumentException("kvm_irqchip: " + state.length + " bytes");
        try (Arena a = Arena.ofConfined()) {
            MemorySegment c = a.allocate(SIZEOF_KVM_IRQCHIP, 8);
            MemorySegment.copy(MemorySegment.ofArray(state), 0, c, 0, state.length);
            ioctl("KVM_SET_IRQCHIP", KVM_SET_IRQCHIP, c);
        }
    }

    public KvmVcpu createVcpu(int id) {
        int vcpufd = ioctl("KVM_CREATE_VCPU(" + id + ")", KVM_CREATE_VCPU, id);
        try {
            return new KvmVcpu(vcpufd, mmapSize);
        } catch (RuntimeException e) {
            Libc.close(vcpufd);
            throw e;
        }
    }

    /** Closes the VM descriptor once no call holds it; calls after that answer -EBADF. Idempotent. */
    @Override
    public void close() {
        fd.close();
    }
}
