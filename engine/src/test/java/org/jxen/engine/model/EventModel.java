package org.jxen.engine.model;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.IntPredicate;

/**
 * A sequential reference model of Xen's port table, its 2-level bits and its FIFO event words and queues, written
 * independently of the engine: plain arrays, no locks, no guest memory, each rule spelled out from
 * {@code common/event_channel.c}, {@code event_2l.c} and {@code event_fifo.c}. The differential test runs the same
 * operations on both and compares everything observable.
 */
public final class EventModel {
    public static final int FREE = 0, RESERVED = -1, UNBOUND = 1, INTERDOMAIN = 2, PIRQ = 3, VIRQ = 4, IPI = 5;
    static final int EPERM = -1, ENOENT = -2, ESRCH = -3, EEXIST = -17, EINVAL = -22, ENOSPC = -28, ENOSYS = -38, EACCES = -13,
            EOPNOTSUPP = -95;
    static final int FIFO_PORTS = 1 << 17;
    static final int SELF = 0x7FF0;
    static final int BUCKET = 64;
    static final int BACKEND_PORTS = 4096;

    /** One side's port table. state/vcpu per port; a and b hold the state's data (remote dom+port, virq, pirq). */
    static final class Table {
        final int id;
        int[] state, vcpu, a, b, prio;
        int valid = BUCKET;

        Table(int id, int capacity) {
            this.id = id;
            state = new int[capacity];
            vcpu = new int[capacity];
            a = new int[capacity];
            b = new int[capacity];
            prio = new int[capacity];
            Arrays.fill(prio, 7);
            state[0] = RESERVED;
        }

        int alloc(int maxPort, int limit, IntPredicate busy) {
            for (int p = 0; p < valid; p++) {
                if (p > maxPort) return ENOSPC;
                if (state[p] == FREE && !busy.test(p)) return p;
            }
            if (valid >= limit || valid > maxPort) return ENOSPC;
            int p = valid;
            valid += BUCKET;
            return p;
        }

        boolean valid(int port) {
            return port >= 0 && port < valid;
        }
    }

    public final int domid, vcpus, nrPirqs, maxPort, bitsPerWord;
    final IntPredicate pirqAccess;
    final Table guest, backend;
    public final boolean[] pending, mask;
    /** Non-null while the FIFO ABI is in force. */
    public FifoState fifo;
    public final int twoLevelLimit;
    public final long[] sel;
    public final boolean[] upcallPending;
    public final List<Integer> upcalls = new ArrayList<>();
    public final List<Integer> backendNotifications = new ArrayList<>();
    final int[][] virqPort;
    final int[] pirqPort;

    public EventModel(int domid, int vcpus, int nrPirqs, int maxPort, IntPredicate pirqAccess,
            int bitsPerWord) {
        this.domid = domid;
        this.vcpus = vcpus;
        this.nrPirqs = nrPirqs;
        this.maxPort = maxPort;
        this.pirqAccess = pirqAccess;
        this.bitsPerWord = bitsPerWord;
        int limit = bitsPerWord * bitsPerWord;
        twoLevelLimit = limit;
        guest = new Table(domid, FIFO_PORTS);
        backend = new Table(0, BACKEND_PORTS);
        pending = new boolean[limit];
        mask = new boolean[limit];
        sel = new long[vcpus];
        upcallPending = new boolean[vcpus];
        virqPort = new int[vcpus][24];
        pirqPort = new int[nrPirqs];
    }

    public int limit() {
        return fifo != null ? FIFO_PORTS : twoLevelLimit;
    }

    int allocGuest() {
        return guest.alloc(maxPort, limit(), p -> fifo != null && fifo.busy(p));
    }

    /** The n-th (mod count) bound guest port, or 0 when none is bound. */
    public int randomBoundPort(int n) {
        int count = 0;
        for (int p = 1; p < guest.valid; p++) if (guest.state[p] != FREE) count++;
        if (count == 0) return 0;
        int k = n % count;
        for (int p = 1; p < guest.valid; p++) if (guest.state[p] != FREE && k-- == 0) return p;
        return 0;
    }

    public int validPorts() {
        return guest.valid;
    }

    static boolean globalVirq(int virq) {
        return !(virq == 0 || virq == 1 || virq == 7 || virq == 13);
    }

    Table byAnyId(int dom) {
        if (dom == SELF || dom == domid) return guest;
        if (dom == 0) return backend;
        return null;
    }

    // ---- raising -------------------------------------------------------------------------------------------

    void raiseGuest(int port) {
        if (fifo != null) {
            fifo.raise(guest.vcpu[port], port, guest.prio[port]);
            return;
        }
        if (port >= limit()) return;
        if (pending[port]) return;
        pending[port] = true;
        if (mask[port]) return;
        int v = guest.vcpu[port];
        long bit = 1L << (port / bitsPerWord);
        if ((sel[v] & bit) != 0) return;
        sel[v] |= bit;
        if (upcallPending[v]) return;
        upcallPending[v] = true;
        upcalls.add(v);
    }

    void raise(Table t, int port) {
        if (t == guest) raiseGuest(port);
        else backendNotifications.add(port);
    }

    // ---- operations ----------------------------------------------------------------------------------------

    public int allocUnbound(int dom, int remote) {
        Table d = byAnyId(dom);
        if (d == null) return ESRCH;
        if (d != guest) return EPERM;
        int p = allocGuest();
        if (p < 0) return p;
        guest.state[p] = UNBOUND;
        guest.prio[p] = 7; // evtchn_port_init
        guest.a[p] = remote == SELF ? domid : remote;
        guest.vcpu[p] = 0;
        return p;
    }

    public int bindInterdomain(int remoteDom, int remotePort) {
        Table rd = byAnyId(remoteDom);
        if (rd == null) return ESRCH;
        return bindInterdomain(guest, rd, remotePort);
    }

    int bindInterdomain(Table ld, Table rd, int rport) {
        int lport = ld == guest ? allocGuest() : ld.alloc(BACKEND_PORTS - 1, BACKEND_PORTS, p -> false);
        if (lport < 0) return lport;
        if (!rd.valid(rport)) return EINVAL;
        if (rd.state[rport] != UNBOUND || rd.a[rport] != ld.id) return EINVAL;
        ld.state[lport] = INTERDOMAIN;
        ld.prio[lport] = 7;
        ld.a[lport] = rd.id;
        ld.b[lport] = rport;
        ld.vcpu[lport] = 0;
        rd.state[rport] = INTERDOMAIN;
        rd.a[rport] = ld.id;
        rd.b[rport] = lport;
        raise(ld, lport);
        return lport;
    }

    public int bindVirq(int virq, int vcpu) {
        if (virq < 0 || virq >= 24) return EINVAL;
        if (globalVirq(virq) && vcpu != 0) return EINVAL;
        if (vcpu < 0 || vcpu >= vcpus) return ENOENT;
        if (virqPort[vcpu][virq] != 0) return EEXIST;
        int p = allocGuest();
        if (p < 0) return p;
        guest.state[p] = VIRQ;
        guest.prio[p] = 7;
        guest.a[p] = virq;
        guest.vcpu[p] = vcpu;
        virqPort[vcpu][virq] = p;
        return p;
    }

    public int bindPirq(int pirq) {
        if (pirq < 0 || pirq >= nrPirqs) return EINVAL;
        if (!pirqAccess.test(pirq)) return EPERM;
        if (pirqPort[pirq] != 0) return EEXIST;
        int p = allocGuest();
        if (p < 0) return p;
        guest.state[p] = PIRQ;
        guest.prio[p] = 7;
        guest.a[p] = pirq;
        guest.vcpu[p] = 0;
        pirqPort[pirq] = p;
        return p;
    }

    public int bindIpi(int vcpu) {
        if (vcpu < 0 || vcpu >= vcpus) return ENOENT;
        int p = allocGuest();
        if (p < 0) return p;
        guest.state[p] = IPI;
        guest.prio[p] = 7;
        guest.vcpu[p] = vcpu;
        return p;
    }

    public int close(int port) {
        return close(guest, port);
    }

    int close(Table d, int port) {
        if (!d.valid(port)) return EINVAL;
        int s = d.state[port];
        if (s == FREE || s == RESERVED) return EINVAL;
        if (s == PIRQ) pirqPort[d.a[port]] = 0;
        if (s == VIRQ) {
            for (int v = 0; v < vcpus; v++) if (virqPort[v][d.a[port]] == port) virqPort[v][d.a[port]] = 0;
        }
        if (s == INTERDOMAIN) {
            Table rd = d.a[port] == d.id ? d : (d == guest ? backend : guest);
            int rport = d.b[port];
            rd.state[rport] = UNBOUND;
            rd.a[rport] = d.id;
        }
        if (d == guest) {
            if (fifo != null) fifo.clearPending(port);
            else if (port < limit()) pending[port] = false;
        }
        d.state[port] = FREE;
        d.vcpu[port] = 0;
        d.prio[port] = 7;
        return 0;
    }

    public int send(int port) {
        return send(guest, port);
    }

    int send(Table d, int port) {
        if (!d.valid(port)) return EINVAL;
        switch (d.state[port]) {
            case INTERDOMAIN -> {
                Table rd = d.a[port] == d.id ? d : (d == guest ? backend : guest);
                raise(rd, d.b[port]);
                return 0;
            }
            case IPI -> {
                raise(d, port);
                return 0;
            }
            case UNBOUND -> {
                return 0;
            }
            default -> {
                return EINVAL;
            }
        }
    }

    /** status: {rc, status, vcpu, unionDom, unionPort, unionWord}; the union entries are -1 where not written. */
    public int[] status(int dom, int port) {
        Table d = byAnyId(dom);
        if (d == null) return new int[] {ESRCH};
        if (d != guest) return new int[] {EPERM};
        if (!guest.valid(port)) return new int[] {EINVAL};
        int s = guest.state[port];
        int v = guest.vcpu[port];
        return switch (s) {
            case FREE, RESERVED -> new int[] {0, 0, v, -1, -1, -1};
            case UNBOUND -> new int[] {0, 1, v, guest.a[port], -1, -1};
            case INTERDOMAIN -> new int[] {0, 2, v, guest.a[port], guest.b[port], -1};
            case PIRQ -> new int[] {0, 3, v, -1, -1, guest.a[port]};
            case VIRQ -> new int[] {0, 4, v, -1, -1, guest.a[port]};
            case IPI -> new int[] {0, 5, v, -1, -1, -1};
            default -> throw new IllegalStateException();
        };
    }

    public int bindVcpu(int port, int vcpu) {
        if (vcpu < 0 || vcpu >= vcpus) return ENOENT;
        if (!guest.valid(port)) return EINVAL;
        int s = guest.state[port];
        boolean ok = s == UNBOUND || s == INTERDOMAIN || s == PIRQ || (s == VIRQ && globalVirq(guest.a[port]));
        if (!ok) return EINVAL;
        guest.vcpu[port] = vcpu;
        return 0;
    }

    public int unmask(int port) {
        if (!guest.valid(port)) return EINVAL;
        if (guest.state[port] == FREE || guest.state[port] == RESERVED) return 0; // event.h: not usable, left alone
        if (fifo != null) {
            fifo.unmask(guest.vcpu[port], port, guest.prio[port]);
            return 0;
        }
        if (port >= limit()) return 0;
        boolean wasMasked = mask[port];
        mask[port] = false;
        if (wasMasked && pending[port]) {
            int v = guest.vcpu[port];
            long bit = 1L << (port / bitsPerWord);
            if ((sel[v] & bit) == 0) {
                sel[v] |= bit;
                if (!upcallPending[v]) {
                    upcallPending[v] = true;
                    upcalls.add(v);
                }
            }
        }
        return 0;
    }

    public int reset(int dom) {
        Table d = byAnyId(dom);
        if (d == null) return ESRCH;
        if (d != guest) return EPERM;
        for (int p = 1; p < guest.valid; p++) close(guest, p);
        for (int[] row : virqPort) Arrays.fill(row, 0);
        Arrays.fill(pirqPort, 0);
        fifo = null;
        return 0;
    }

    public int setPriority(int port, int priority) {
        if (!guest.valid(port)) return EINVAL;
        if (fifo == null) return ENOSYS;
        if (guest.state[port] == FREE || guest.state[port] == RESERVED) return EACCES;
        if (priority < 0 || priority > 15) return EINVAL;
        guest.prio[port] = priority;
        return 0;
    }

    /** EVTCHNOP_init_control; {@code gfnOk}: the frame is guest RAM. */
    public int initControl(boolean gfnOk, int offset, int vcpu) {
        if (vcpu < 0 || vcpu >= vcpus) return ENOENT;
        if (Integer.compareUnsigned(offset, 4096 - 72) > 0 || (offset & 7) != 0) return EINVAL;
        if (!gfnOk) return EINVAL;
        if (fifo != null) {
            if (fifo.hasBlock[vcpu]) return EINVAL;
            fifo.hasBlock[vcpu] = true;
            return 0;
        }
        FifoState f = new FifoState();
        f.hasBlock[vcpu] = true;
        for (int p = 1; p < Math.min(twoLevelLimit, guest.valid); p++) {
            if (pending[p]) f.held[p] = true;
            guest.prio[p] = 7;
        }
        fifo = f;
        return 0;
    }

    /** EVTCHNOP_expand_array. */
    public int expandArray(boolean gfnOk) {
        if (fifo == null) return EOPNOTSUPP;
        if (fifo.pages >= 128) return ENOSPC;
        if (!gfnOk) return EINVAL;
        int first = fifo.pages * 1024;
        fifo.pages++;
        for (int p = first; p < first + 1024 && guest.valid(p); p++) {
            if (fifo.held[p]) {
                fifo.held[p] = false;
                if (guest.state[p] != FREE) fifo.raise(guest.vcpu[p], p, guest.prio[p]);
            }
        }
        return 0;
    }

    /** The FIFO ABI's state: event words, control blocks (READY, HEAD) and Xen's private tails and last queues. */
    public final class FifoState {
        public static final int P = 1 << 31, M = 1 << 30, L = 1 << 29, B = 1 << 28, LINK = (1 << 17) - 1;
        public final int[] words = new int[FIFO_PORTS];
        public int pages;
        final boolean[] held = new boolean[FIFO_PORTS];
        public final boolean[] hasBlock = new boolean[vcpus];
        public final int[] ready = new int[vcpus];
        public final int[][] head = new int[vcpus][16];
        final int[][] tail = new int[vcpus][16];
        final int[] lastq = new int[FIFO_PORTS];

        boolean hasWord(int port) {
            return port >= 0 && port < pages * 1024;
        }

        boolean busy(int port) {
            return hasWord(port) && (words[port] & L) != 0;
        }

        void raise(int v, int port, int prio) {
            if (!hasWord(port)) {
                held[port] = true;
                return;
            }
            int oldV = lastq[port] >>> 8, oldP = lastq[port] & 0xFF;
            words[port] |= P;
            boolean linked = true;
            if (hasBlock[v] && (words[port] & M) == 0 && (words[port] & L) == 0) {
                words[port] |= L;
                if (tail[oldV][oldP] == port) tail[oldV][oldP] = 0;
                if (oldV != v || oldP != prio) lastq[port] = (v << 8) | prio;
                int t = tail[v][prio];
                linked = t != 0 && hasWord(t) && (words[t] & L) != 0;
                if (linked) words[t] = (words[t] & ~(B | LINK)) | port;
                else head[v][prio] = port;
                tail[v][prio] = port;
            }
            if (!linked && (ready[v] & (1 << prio)) == 0) {
                ready[v] |= 1 << prio;
                if (!upcallPending[v]) {
                    upcallPending[v] = true;
                    upcalls.add(v);
                }
            }
        }

        void clearPending(int port) {
            held[port] = false;
            if (hasWord(port)) words[port] &= ~P;
        }

        void unmask(int v, int port, int prio) {
            if (!hasWord(port)) return;
            words[port] &= ~M;
            if ((words[port] & P) != 0) raise(v, port, prio);
        }

        /** The guest handles every queue of every vCPU: walk from HEAD unlinking, clear PENDING, clear READY. */
        public void drainAll() {
            for (int v = 0; v < vcpus; v++) {
                if (!hasBlock[v]) continue;
                ready[v] = 0;
                for (int q = 0; q < 16; q++) {
                    int port = head[v][q];
                    while (port != 0 && hasWord(port)) {
                        int next = words[port] & LINK;
                        words[port] &= ~(L | LINK | P);
                        port = next;
                    }
                }
            }
        }
    }

    // ---- host side -----------------------------------------------------------------------------------------

    public boolean raiseVirq(int vcpu, int virq) {
        if (virq < 0 || virq >= 24) return false;
        int owner = globalVirq(virq) ? 0 : vcpu;
        if (owner < 0 || owner >= vcpus) return false;
        int p = virqPort[owner][virq];
        if (p == 0) return false;
        raiseGuest(p);
        return true;
    }

    public boolean raisePirq(int pirq) {
        if (pirq < 0 || pirq >= nrPirqs || pirqPort[pirq] == 0) return false;
        raiseGuest(pirqPort[pirq]);
        return true;
    }

    public int backendAllocUnbound() {
        int p = backend.alloc(BACKEND_PORTS - 1, BACKEND_PORTS, q -> false);
        if (p < 0) return p;
        backend.state[p] = UNBOUND;
        backend.a[p] = domid;
        backend.vcpu[p] = 0;
        return p;
    }

    public int backendBind(int guestPort) {
        return bindInterdomain(backend, guest, guestPort);
    }

    public int backendNotify(int port) {
        return send(backend, port);
    }

    public int backendClose(int port) {
        return close(backend, port);
    }

    // ---- guest-side memory actions ---------------------------------------------------------------------------

    public void guestMask(int port) {
        mask[port] = true;
    }

    public void guestClearMask(int port) {
        mask[port] = false;
    }

    public void guestClearPending(int port) {
        pending[port] = false;
    }

    /** Clear upcall_pending and exchange the selector with 0. */
    public void guestAcknowledge(int vcpu) {
        upcallPending[vcpu] = false;
        sel[vcpu] = 0;
    }

    /** {state, vcpu, a, b, priority} of a guest port for comparison (a/b only where the state defines them). */
    public int[] describe(int port) {
        if (!guest.valid(port)) return new int[] {FREE, 0, 0, 0, 7};
        int s = guest.state[port];
        int pr = guest.prio[port];
        return switch (s) {
            case UNBOUND, PIRQ, VIRQ -> new int[] {s, guest.vcpu[port], guest.a[port], 0, pr};
            case INTERDOMAIN -> new int[] {s, guest.vcpu[port], guest.a[port], guest.b[port], pr};
            case FREE, RESERVED -> new int[] {s, guest.vcpu[port], 0, 0, 7};
            default -> new int[] {s, guest.vcpu[port], 0, 0, pr};
        };
    }
}
