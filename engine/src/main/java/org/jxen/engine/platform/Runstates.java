package org.jxen.engine.platform;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;

import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.memory.GuestMemory;

/**
 * Each vCPU's runstate ({@code struct vcpu_runstate_info}, {@code public/vcpu.h}): the state it is in, since when,
 * and the time spent in each state, copied to the area the guest registered with
 * VCPUOP_register_runstate_memory_area at every transition. With VMASST_TYPE_runstate_update_flag enabled the copy
 * is bracketed by XEN_RUNSTATE_UPDATE in state_entry_time, so a guest reader can tell a torn copy.
 *
 * <p>The area's guest-virtual address is translated when it is registered (as KVM and QEMU do; Xen re-walks at each
 * update): a guest that later remaps the address keeps receiving updates at the physical page it had. An area may
 * straddle two pages mapped to unrelated frames.
 */
public final class Runstates {
    public static final int RUNNING = 0, RUNNABLE = 1, BLOCKED = 2, OFFLINE = 3;
    /** XEN_RUNSTATE_UPDATE: bit 63 of state_entry_time while an update is in progress. */
    public static final long UPDATE = 1L << 63;

    /** Where one vCPU's area lives (one or two guest-physical pieces) and the layout its registrant used. */
    public record Area(long gpa1, int len1, long gpa2, GuestWidth width) {
        /** Whether the area is one guest-physical range (its second piece, if any, is the next page of the first). */
        public boolean contiguous() {
            return gpa2 == 0 || gpa2 == gpa1 + len1;
        }
    }

    /** One vCPU's runstate: its state, since when, and the time spent in each state (running, runnable, blocked, offline). */
    public record Figures(int state, long entryTime, long[] time) {
        public Figures {
            time = time.clone();
        }

        @Override
        public long[] time() {
            return time.clone();
        }
    }

    private final GuestMemory ram;
    private final long[] entryTime;
    private final long[][] time;
    private final int[] state;
    private final Area[] areas;
    private volatile boolean updateFlag;
    private RunstateKeeper keeper = RunstateKeeper.NONE;

    public Runstates(GuestMemory ram, int vcpus, long nowNs) {
        this.ram = ram;
        entryTime = new long[vcpus];
        time = new long[vcpus][4];
        state = new int[vcpus];
        areas = new Area[vcpus];
        for (int v = 0; v < vcpus; v++) {
            state[v] = v == 0 ? RUNNING : OFFLINE;
            entryTime[v] = nowNs;
        }
    }

    /** sizeof(struct vcpu_runstate_info): 48 in the 64-bit layout, 44 in the packed i386 one. */
    public static int size(GuestWidth width) {
        return width == GuestWidth.BITS_64 ? 48 : 44;
    }

    /** Where runstates held outside the engine are (kvm mode). */
    public synchronized void setKeeper(RunstateKeeper keeper) {
        this.keeper = keeper;
    }

    /** VMASST_TYPE_runstate_update_flag. */
    public void setUpdateFlag(boolean enabled) {
        RunstateKeeper k;
        synchronized (this) {
            if (updateFlag == enabled) return;
            updateFlag = enabled;
            k = keeper;
        }
        k.changed(-1);
    }

    public boolean updateFlag() {
        return updateFlag;
    }

    /** The struct layout follows the caller's width at registration, as Xen's compat handling does. */
    public void register(int vcpu, Area area) {
        RunstateKeeper k;
        synchronized (this) {
            takeFromKeeper(vcpu);
            areas[vcpu] = area;
            copyOut(vcpu);
            k = keeper;
        }
        k.changed(vcpu);
    }

    public void unregister(int vcpu) {
        RunstateKeeper k;
        synchronized (this) {
            takeFromKeeper(vcpu);
            areas[vcpu] = null;
            k = keeper;
        }
        k.changed(vcpu);
    }

    /** vCPU {@code vcpu}'s registered area, or null. */
    public synchronized Area area(int vcpu) {
        return areas[vcpu];
    }

    public synchronized int state(int vcpu) {
        Figures f = keeper.figures(vcpu);
        return f != null ? f.state() : state[vcpu];
    }

    /** Time vCPU {@code vcpu} has spent in {@code which}, up to its last transition. */
    public synchronized long timeIn(int vcpu, int which) {
        Figures f = keeper.figures(vcpu);
        return f != null ? f.time()[which] : time[vcpu][which];
    }

    /** vCPU {@code vcpu}'s figures now, wherever its runstate is kept. */
    public synchronized Figures figures(int vcpu) {
        Figures f = keeper.figures(vcpu);
        return f != null ? f : ownFigures(vcpu);
    }

    /** vCPU {@code vcpu}'s figures as the engine has them (a keeper takes them over from here). */
    public synchronized Figures ownFigures(int vcpu) {
        return new Figures(state[vcpu], entryTime[vcpu], time[vcpu]);
    }

    /** A keeper gives vCPU {@code vcpu}'s runstate back: the engine goes on from its figures. */
    public synchronized void takeBack(int vcpu, Figures f) {
        state[vcpu] = f.state();
        entryTime[vcpu] = f.entryTime();
        time[vcpu] = f.time();
    }

    /** Before the engine writes a held vCPU's area itself: its figures are the keeper's latest. */
    private void takeFromKeeper(int vcpu) {
        Figures f = keeper.figures(vcpu);
        if (f != null) takeBack(vcpu, f);
    }

    /**
     * Moves a vCPU to {@code newState} at {@code nowNs} and updates its guest area; a no-op for a vCPU whose runstate a
     * keeper holds (KVM accounts its transitions and writes its area; the engine's figures would overwrite them).
     */
    public synchronized void transition(int vcpu, int newState, long nowNs) {
        if (newState == state[vcpu] || keeper.figures(vcpu) != null) return;
        long delta = nowNs - entryTime[vcpu];
        if (delta > 0) time[vcpu][state[vcpu]] += delta;
        state[vcpu] = newState;
        entryTime[vcpu] = Math.max(nowNs, entryTime[vcpu]);
        copyOut(vcpu);
    }

    /** What a saved domain keeps of the runstates: the update flag, and per vCPU its state, times and area. */
    public record Saved(boolean updateFlag, int[] state, long[] entryTime, long[][] time, Area[] areas) {}

    public synchronized Saved save() {
        for (int v = 0; v < state.length; v++) takeFromKeeper(v);
        long[][] t = new long[time.length][];
        for (int v = 0; v < t.length; v++) t[v] = time[v].clone();
        return new Saved(updateFlag, state.clone(), entryTime.clone(), t, areas.clone());
    }

    /** Takes over a saved domain's runstates; IllegalArgumentException if they do not fit this domain or its RAM. */
    public synchronized void restore(Saved s) {
        int n = state.length;
        if (s.state().length != n || s.entryTime().length != n || s.time().length != n || s.areas().length != n)
            throw new IllegalArgumentException("runstates: vCPU count");
        for (int v = 0; v < n; v++) {
            if (s.state()[v] < RUNNING || s.state()[v] > OFFLINE || s.time()[v].length != 4) throw new IllegalArgumentException("runstates: vCPU " + v);
            Area a = s.areas()[v];
            if (a != null) {
                int size = size(a.width());
                boolean fits = a.len1() > 0 && a.len1() <= size && ram.contains(a.gpa1(), a.len1())
                        && (a.len1() == size || ram.contains(a.gpa2(), size - a.len1()));
                if (!fits) throw new IllegalArgumentException("runstates: vCPU " + v + "'s area is outside guest RAM");
            }
        }
        updateFlag = s.updateFlag();
        for (int v = 0; v < n; v++) {
            state[v] = s.state()[v];
            entryTime[v] = s.entryTime()[v];
            time[v] = s.time()[v].clone();
            areas[v] = s.areas()[v];
        }
    }

    /** Writes vCPU {@code vcpu}'s struct vcpu_runstate_info in {@code layout} into {@code s} (VCPUOP_get_runstate_info). */
    public synchronized void snapshot(int vcpu, MemorySegment s, GuestWidth layout) {
        takeFromKeeper(vcpu);
        fill(vcpu, s, layout, 0);
    }

    /**
     * The figures in vCPU {@code vcpu}'s area as the guest sees them (a keeper writing there keeps them current), or
     * null if it has no area or the copy was torn (the update flag set, or changed while read).
     */
    public synchronized Figures readArea(int vcpu) {
        Area a = areas[vcpu];
        if (a == null) return null;
        int size = size(a.width());
        boolean wide = a.width() == GuestWidth.BITS_64;
        byte[] b = new byte[size];
        for (int i = 0; i < size; i++) b[i] = readByte(a, i);
        MemorySegment s = MemorySegment.ofArray(b);
        long entry = s.get(ValueLayout.JAVA_LONG_UNALIGNED, wide ? 8 : 4);
        if ((entry & UPDATE) != 0) return null;
        long[] t = new long[4];
        for (int i = 0; i < 4; i++) t[i] = s.get(ValueLayout.JAVA_LONG_UNALIGNED, (wide ? 16 : 12) + 8L * i);
        int st = s.get(ValueLayout.JAVA_INT_UNALIGNED, 0);
        if (st < RUNNING || st > OFFLINE) return null;
        return new Figures(st, entry, t);
    }

    private void fill(int vcpu, MemorySegment s, GuestWidth layout, long entryFlags) {
        boolean wide = layout == GuestWidth.BITS_64;
        s.set(ValueLayout.JAVA_INT_UNALIGNED, 0, state[vcpu]);
        s.set(ValueLayout.JAVA_LONG_UNALIGNED, wide ? 8 : 4, entryTime[vcpu] | entryFlags);
        for (int i = 0; i < 4; i++) s.set(ValueLayout.JAVA_LONG_UNALIGNED, (wide ? 16 : 12) + 8L * i, time[vcpu][i]);
    }

    private void copyOut(int vcpu) {
        Area a = areas[vcpu];
        if (a == null) return;
        int size = size(a.width());
        MemorySegment s = MemorySegment.ofArray(new byte[size]);
        fill(vcpu, s, a.width(), updateFlag ? UPDATE : 0);
        int entryAt = a.width() == GuestWidth.BITS_64 ? 8 : 4;
        if (updateFlag) {
            // state_entry_time's top byte first: a reader that sees the flag clear saw a complete copy.
            writeByte(a, entryAt + 7, (byte) ((entryTime[vcpu] >>> 56) | 0x80));
            VarHandle.storeStoreFence();
        }
        write(a, s, 0, size);
        if (updateFlag) {
            VarHandle.storeStoreFence();
            writeByte(a, entryAt + 7, (byte) (entryTime[vcpu] >>> 56));
        }
    }

    private void write(Area a, MemorySegment s, int from, int len) {
        for (int i = from; i < from + len; i++) writeByte(a, i, s.get(ValueLayout.JAVA_BYTE, i));
    }

    private byte readByte(Area a, int offset) {
        long gpa = offset < a.len1() ? a.gpa1() + offset : a.gpa2() + offset - a.len1();
        return ram.segment().get(ValueLayout.JAVA_BYTE, gpa);
    }

    /** A byte of the area: the guest registered it, the pieces were checked against RAM at registration. */
    private void writeByte(Area a, int offset, byte b) {
        long gpa = offset < a.len1() ? a.gpa1() + offset : a.gpa2() + offset - a.len1();
        ram.segment().set(ValueLayout.JAVA_BYTE, gpa, b);
    }
}
