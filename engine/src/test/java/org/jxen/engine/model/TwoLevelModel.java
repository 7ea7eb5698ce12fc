package org.jxen.engine.model;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A sequential reference model of Xen's port table and 2-level bits, written independently of the engine: plain
 * arrays, no locks, no guest memory, each rule spelled out from {@code common/event_channel.c} and {@code event_2l.c}.
 * The differential test runs the same operations on both and compares everything observable.
 */
public final class TwoLevelModel {
    public static final int FREE = 0, RESERVED = -1, UNBOUND = 1, INTERDOMAIN = 2, PIRQ = 3, VIRQ = 4, IPI = 5;
    static final int EPERM = -1, ENOENT = -2, ESRCH = -3, EEXIST = -17, EINVAL = -22, ENOSPC = -28, ENOSYS = -38;
    static final int SELF = 0x7FF0;
    static final int BUCKET = 64;
    static final int BACKEND_PORTS = 4096;

    /** One side's port table. state/vcpu per port; a and b hold the state's data (remote dom+port, virq, pirq). */
    static final class Table {
        final int id;
        final int limit;
        int[] state, vcpu, a, b;
        int valid = BUCKET;

        Table(int id, int limit) {
            this.id = id;
            this.limit = limit;
            state = new int[limit];
            vcpu = new int[limit];
            a = new int[limit];
            b = new int[limit];
            state[0] = RESERVED;
        }

        int alloc(int maxPort) {
            for (int p = 0; p < valid; p++) {
                if (p > maxPort) return ENOSPC;
                if (state[p] == FREE) return p;
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
    final java.util.function.IntPredicate pirqAccess;
    final Table guest, backend;
    public final boolean[] pending, mask;
    public final long[] sel;
    public final boolean[] upcallPending;
    public final List<Integer> upcalls = new ArrayList<>();
    public final List<Integer> backendNotifications = new ArrayList<>();
    final int[][] virqPort;
    final int[] pirqPort;

    public TwoLevelModel(int domid, int vcpus, int nrPirqs, int maxPort, java.util.function.IntPredicate pirqAccess,
            int bitsPerWord) {
        this.domid = domid;
        this.vcpus = vcpus;
        this.nrPirqs = nrPirqs;
        this.maxPort = maxPort;
        this.pirqAccess = pirqAccess;
        this.bitsPerWord = bitsPerWord;
        int limit = bitsPerWord * bitsPerWord;
        guest = new Table(domid, limit);
        backend = new Table(0, BACKEND_PORTS);
        pending = new boolean[limit];
        mask = new boolean[limit];
        sel = new long[vcpus];
        upcallPending = new boolean[vcpus];
        virqPort = new int[vcpus][24];
        pirqPort = new int[nrPirqs];
    }

    public int limit() {
        return pending.length;
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
        int p = guest.alloc(maxPort);
        if (p < 0) return p;
        guest.state[p] = UNBOUND;
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
        int lport = ld.alloc(ld == guest ? maxPort : BACKEND_PORTS - 1);
        if (lport < 0) return lport;
        if (!rd.valid(rport)) return EINVAL;
        if (rd.state[rport] != UNBOUND || rd.a[rport] != ld.id) return EINVAL;
        ld.state[lport] = INTERDOMAIN;
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
        int p = guest.alloc(maxPort);
        if (p < 0) return p;
        guest.state[p] = VIRQ;
        guest.a[p] = virq;
        guest.vcpu[p] = vcpu;
        virqPort[vcpu][virq] = p;
        return p;
    }

    public int bindPirq(int pirq) {
        if (pirq < 0 || pirq >= nrPirqs) return EINVAL;
        if (!pirqAccess.test(pirq)) return EPERM;
        if (pirqPort[pirq] != 0) return EEXIST;
        int p = guest.alloc(maxPort);
        if (p < 0) return p;
        guest.state[p] = PIRQ;
        guest.a[p] = pirq;
        guest.vcpu[p] = 0;
        pirqPort[pirq] = p;
        return p;
    }

    public int bindIpi(int vcpu) {
        if (vcpu < 0 || vcpu >= vcpus) return ENOENT;
        int p = guest.alloc(maxPort);
        if (p < 0) return p;
        guest.state[p] = IPI;
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
        if (d == guest && port < limit()) pending[port] = false;
        d.state[port] = FREE;
        d.vcpu[port] = 0;
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
        return 0;
    }

    public int setPriority(int port) {
        return guest.valid(port) ? ENOSYS : EINVAL;
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
        int p = backend.alloc(BACKEND_PORTS - 1);
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

    /** {state, vcpu, a, b} of a guest port for comparison (a/b only where the state defines them). */
    public int[] describe(int port) {
        if (!guest.valid(port)) return new int[] {FREE, 0, 0, 0};
        int s = guest.state[port];
        return switch (s) {
            case UNBOUND, PIRQ, VIRQ -> new int[] {s, guest.vcpu[port], guest.a[port], 0};
            case INTERDOMAIN -> new int[] {s, guest.vcpu[port], guest.a[port], guest.b[port]};
            default -> new int[] {s, guest.vcpu[port], 0, 0};
        };
    }
}
