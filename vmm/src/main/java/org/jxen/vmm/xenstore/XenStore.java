package org.jxen.vmm.xenstore;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.BiConsumer;

/**
 * An in-memory XenStore with the protocol's semantics (xenstored's, for one unprivileged guest and dom0): a tree of
 * nodes with owners and permissions, writes that create missing parents, recursive removal, transactions that see a
 * snapshot and fail with EAGAIN when something they touched changed before they commit, watches that fire on the
 * watched node and everything below it (and once at registration), and per-domain quotas.
 *
 * <p>The tree is persistent (a change copies the path from the root), so a transaction's snapshot is just the root
 * it started from. Thread-safe: every operation holds the store's lock.
 */
public final class XenStore {
    /** Per-domain limits (xenstored's quota-nentry, quota-nr-watches, quota-max-transaction, quota-entry-size). */
    public record Quota(int nodes, int watches, int transactions, int valueBytes) {
        public static final Quota DEFAULT = new Quota(1000, 128, 10, 2048);
    }

    /** A registered watch: who to tell, and how the path is reported (relative watches get relative paths). */
    record Watch(Object owner, int domid, String absPath, String asGiven, String token, BiConsumer<String, String> sink) {}

    private static final class Transaction {
        final int domid;
        Node root;
        final Map<String, Long> seen = new HashMap<>(); // path -> generation at first access (-1: absent)
        final List<Runnable> replay = new ArrayList<>();

        Transaction(int domid, Node root) {
            this.domid = domid;
            this.root = root;
        }
    }

    private final Quota quota;
    private Node root;
    private long generation = 1;
    private int nextTx = 1;
    private final Map<Integer, Transaction> transactions = new HashMap<>();
    private final List<Watch> watches = new ArrayList<>();

    public XenStore(Quota quota) {
        this.quota = quota;
        this.root = Node.empty(List.of(new Perm('n', 0)), generation);
    }

    // ---- paths and permissions --------------------------------------------------------------------------------

    /** The absolute form of {@code path} for {@code domid} (relative paths live under /local/domain/<domid>). */
    static String absolute(int domid, String path) throws XsError {
        if (path.isEmpty()) throw XsError.of("EINVAL");
        String abs = path.startsWith("/") ? path : "/local/domain/" + domid + "/" + path;
        if (abs.length() > XsWire.ABS_PATH_MAX || (!path.startsWith("/") && path.length() > XsWire.REL_PATH_MAX)) throw XsError.of("EINVAL");
        if (abs.length() > 1 && abs.endsWith("/")) throw XsError.of("EINVAL");
        if (abs.contains("//")) throw XsError.of("EINVAL");
        for (int i = 0; i < abs.length(); i++) {
            char c = abs.charAt(i);
            boolean ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || "-/_@".indexOf(c) >= 0;
            if (!ok) throw XsError.of("EINVAL");
        }
        return abs;
    }

    private static List<String> components(String abs) {
        List<String> out = new ArrayList<>();
        for (String s : abs.split("/")) if (!s.isEmpty()) out.add(s);
        return out;
    }

    private static Node lookup(Node from, String abs) {
        Node n = from;
        for (String c : components(abs)) {
            n = n.children().get(c);
            if (n == null) return null;
        }
        return n;
    }

    private static char access(Node n, int domid) {
        if (domid == 0) return 'b';
        List<Perm> p = n.perms();
        if (p.getFirst().domid() == domid) return 'b';
        for (int i = 1; i < p.size(); i++) if (p.get(i).domid() == domid) return p.get(i).access();
        return p.getFirst().access();
    }

    private static boolean canRead(Node n, int domid) {
        char a = access(n, domid);
        return a == 'r' || a == 'b';
    }

    private static boolean canWrite(Node n, int domid) {
        char a = access(n, domid);
        return a == 'w' || a == 'b';
    }

    // ---- the tree, in or out of a transaction -------------------------------------------------------------------

    private Transaction tx(int domid, int txId) throws XsError {
        if (txId == 0) return null;
        Transaction t = transactions.get(txId);
        if (t == null || t.domid != domid) throw XsError.of("ENOENT");
        return t;
    }

    private Node currentRoot(Transaction t) {
        return t == null ? root : t.root;
    }

    /**
     * Records the generation of a node this transaction depends on, at its first access (before the transaction's
     * own change of it, so it is the snapshot's). A node's generation changes only when its value, permissions or
     * set of children change, so unrelated writes elsewhere do not conflict.
     */
    private void touch(Transaction t, String abs) {
        if (t != null) t.seen.putIfAbsent(abs, genOf(lookup(t.root, abs)));
    }

    private static long genOf(Node n) {
        return n == null ? -1 : n.generation();
    }

    private Node read(int domid, Transaction t, String abs) throws XsError {
        touch(t, abs);
        Node n = lookup(currentRoot(t), abs);
        if (n == null) throw XsError.of("ENOENT");
        if (!canRead(n, domid)) throw XsError.of("EACCES");
        return n;
    }

    public synchronized byte[] read(int domid, int txId, String path) throws XsError {
        return read(domid, tx(domid, txId), absolute(domid, path)).value().clone();
    }

    public synchronized List<String> directory(int domid, int txId, String path) throws XsError {
        return List.copyOf(read(domid, tx(domid, txId), absolute(domid, path)).children().keySet());
    }

    public synchronized List<String> getPerms(int domid, int txId, String path) throws XsError {
        return read(domid, tx(domid, txId), absolute(domid, path)).perms().stream().map(Perm::wire).toList();
    }

    public synchronized void write(int domid, int txId, String path, byte[] value) throws XsError {
        if (value.length > quota.valueBytes() && domid != 0) throw XsError.of("E2BIG");
        String abs = absolute(domid, path);
        change(domid, tx(domid, txId), abs, n -> n.withValue(value.clone(), ++generation), true);
    }

    public synchronized void mkdir(int domid, int txId, String path) throws XsError {
        String abs = absolute(domid, path);
        Transaction t = tx(domid, txId);
        if (lookup(currentRoot(t), abs) != null) {
            touch(t, abs);
            return;
        }
        change(domid, t, abs, n -> n, true);
    }

    public synchronized void rm(int domid, int txId, String path) throws XsError {
        String abs = absolute(domid, path);
        if (abs.equals("/")) throw XsError.of("EINVAL");
        Transaction t = tx(domid, txId);
        String parentPath = parent(abs);
        touch(t, abs);
        touch(t, parentPath);
        Node base = currentRoot(t);
        Node n = lookup(base, abs);
        Node parent = lookup(base, parentPath);
        if (n == null) {
            if (parent == null) throw XsError.of("ENOENT");
            return; // xenstored: removing a missing child of an existing node succeeds
        }
        if (!canWrite(n, domid)) throw XsError.of("EACCES");
        Node newRoot = replace(base, components(parentPath), p -> p.withChild(last(abs), null, ++generation));
        commitChange(t, newRoot, abs, true, () -> {
            try {
                rm(domid, 0, abs);
            } catch (XsError ignored) {
                // re-checked at commit
            }
        });
    }

    public synchronized void setPerms(int domid, int txId, String path, List<String> perms) throws XsError {
        List<Perm> parsed = Perm.parseList(perms);
        if (parsed == null) throw XsError.of("EINVAL");
        String abs = absolute(domid, path);
        Transaction t = tx(domid, txId);
        Node n = read(domid, t, abs);
        if (!canWrite(n, domid)) throw XsError.of("EACCES");
        if (domid != 0 && parsed.getFirst().domid() != n.owner()) throw XsError.of("EPERM");
        change(domid, t, abs, x -> x.withPerms(List.copyOf(parsed), ++generation), false);
    }

    @FunctionalInterface
    private interface Edit {
        Node apply(Node n);
    }

    /** Applies {@code edit} to the node at abs, creating it and missing parents (owned by domid) when allowed. */
    private void change(int domid, Transaction t, String abs, Edit edit, boolean create) throws XsError {
        touch(t, abs);
        touch(t, parent(abs));
        Node base = currentRoot(t);
        List<String> comps = components(abs);
        // Find the deepest existing node on the path: its write permission decides.
        Node n = base;
        Node deepest = base;
        int existing = 0;
        for (String c : comps) {
            Node next = n.children().get(c);
            if (next == null) break;
            n = next;
            deepest = n;
            existing++;
        }
        if (existing < comps.size() && !create) throw XsError.of("ENOENT");
        if (!canWrite(deepest, domid)) throw XsError.of("EACCES");
        int created = comps.size() - existing;
        if (created > 0 && domid != 0 && base.countOwnedBy(domid) + created > quota.nodes()) throw XsError.of("ENOSPC");
        List<Perm> inherited = new ArrayList<>(deepest.perms());
        if (domid != 0) inherited.set(0, new Perm(inherited.getFirst().access(), domid));
        List<Perm> newPerms = List.copyOf(inherited);
        Node newRoot = replace(base, comps, target -> edit.apply(target), newPerms);
        commitChange(t, newRoot, abs, false, () -> {
            try {
                change(domid, null, abs, edit, create);
            } catch (XsError ignored) {
                // re-checked at commit
            }
        });
    }

    private Node replace(Node base, List<String> comps, Edit atTarget) {
        return replace(base, comps, atTarget, base.perms());
    }

    /** A copy of the tree with the node at comps edited (nodes created on the way get {@code newPerms}). */
    private Node replace(Node at, List<String> comps, Edit atTarget, List<Perm> newPerms) {
        if (comps.isEmpty()) return atTarget.apply(at);
        Node child = at.children().get(comps.getFirst());
        boolean created = child == null;
        if (created) child = Node.empty(newPerms, ++generation);
        Node updated = replace(child, comps.subList(1, comps.size()), atTarget, newPerms);
        // Only a node whose set of children changed gets a new generation; ancestors are merely copied.
        return at.withChild(comps.getFirst(), updated, created ? ++generation : at.generation());
    }

    private void commitChange(Transaction t, Node newRoot, String abs, boolean removal, Runnable replayOnCommit) {
        if (t != null) {
            t.root = newRoot;
            t.replay.add(replayOnCommit);
            return;
        }
        root = newRoot;
        fire(abs, removal);
    }

    private static String parent(String abs) {
        int i = abs.lastIndexOf('/');
        return i <= 0 ? "/" : abs.substring(0, i);
    }

    private static String last(String abs) {
        return abs.substring(abs.lastIndexOf('/') + 1);
    }

    // ---- transactions -------------------------------------------------------------------------------------------

    public synchronized int startTransaction(int domid) throws XsError {
        long open = transactions.values().stream().filter(t -> t.domid == domid).count();
        if (domid != 0 && open >= quota.transactions()) throw XsError.of("ENOSPC");
        int id = nextTx++;
        if (nextTx <= 0) nextTx = 1;
        transactions.put(id, new Transaction(domid, root));
        return id;
    }

    /** Ends a transaction: commit applies it unless something it touched changed meanwhile (EAGAIN). */
    public synchronized void endTransaction(int domid, int txId, boolean commit) throws XsError {
        Transaction t = transactions.get(txId);
        if (t == null || t.domid != domid || txId == 0) throw XsError.of("ENOENT");
        transactions.remove(txId);
        if (!commit) return;
        for (var e : t.seen.entrySet()) {
            if (genOf(lookup(root, e.getKey())) != e.getValue()) throw XsError.of("EAGAIN");
        }
        for (Runnable r : t.replay) r.run();
    }

    // ---- watches ------------------------------------------------------------------------------------------------

    /** Registers a watch; its sink gets (path, token) on every matching change (the caller sends the initial event). */
    public synchronized void watch(Object owner, int domid, String path, String token, BiConsumer<String, String> sink) throws XsError {
        String abs = path.startsWith("@") ? checkSpecial(path) : absolute(domid, path);
        long mine = watches.stream().filter(w -> w.owner() == owner).count();
        if (domid != 0 && mine >= quota.watches()) throw XsError.of("E2BIG");
        for (Watch w : watches) {
            if (w.owner() == owner && w.asGiven().equals(path) && w.token().equals(token)) throw XsError.of("EEXIST");
        }
        watches.add(new Watch(owner, domid, abs, path, token, sink));
    }

    private static String checkSpecial(String path) throws XsError {
        if (!path.equals("@introduceDomain") && !path.equals("@releaseDomain")) throw XsError.of("EINVAL");
        return path;
    }

    public synchronized void unwatch(Object owner, int domid, String path, String token) throws XsError {
        for (int i = 0; i < watches.size(); i++) {
            Watch w = watches.get(i);
            if (w.owner() == owner && w.asGiven().equals(path) && w.token().equals(token)) {
                watches.remove(i);
                return;
            }
        }
        throw XsError.of("ENOENT");
    }

    public synchronized void resetWatches(Object owner) {
        watches.removeIf(w -> w.owner() == owner);
    }

    /** Forgets everything a connection had (its watches and transactions). */
    public synchronized void disconnect(Object owner, int domid) {
        resetWatches(owner);
        transactions.values().removeIf(t -> t.domid == domid);
    }

    private void fire(String changed, boolean removal) {
        for (Watch w : List.copyOf(watches)) {
            boolean below = isAtOrBelow(changed, w.absPath());
            boolean removedAbove = removal && isAtOrBelow(w.absPath(), changed);
            if (!below && !removedAbove) continue;
            String reported = removedAbove && !below ? w.absPath() : changed;
            Node n = lookup(root, reported);
            if (n != null && !canRead(n, w.domid())) continue;
            w.sink().accept(relativeFor(w, reported), w.token());
        }
    }

    private static boolean isAtOrBelow(String path, String ancestor) {
        return path.equals(ancestor) || ancestor.equals("/") || path.startsWith(ancestor + "/");
    }

    /** A relative watch reports paths relative to the domain's home. */
    private static String relativeFor(Watch w, String abs) {
        if (w.asGiven().startsWith("/")) return abs;
        String home = "/local/domain/" + w.domid() + "/";
        return abs.startsWith(home) ? abs.substring(home.length()) : abs;
    }

    // ---- host side ----------------------------------------------------------------------------------------------

    /** Host-side write (as dom0) of a string value. */
    public void hostWrite(String path, String value) {
        try {
            write(0, 0, path, value.getBytes(StandardCharsets.UTF_8));
        } catch (XsError e) {
            throw new IllegalStateException(path + ": " + e.errno());
        }
    }

    /** Host-side permission change (as dom0). */
    public void hostSetPerms(String path, String... perms) {
        try {
            setPerms(0, 0, path, List.of(perms));
        } catch (XsError e) {
            throw new IllegalStateException(path + ": " + e.errno());
        }
    }

    /**
     * The nodes a guest expects at boot (as xl/libxl writes them): /local/domain/0, and /local/domain/<domid> owned
     * by the guest with name, domid and its console entries, plus control/, data/, device/.
     */
    public void populateDomain(int domid, String name, long consoleGfn, int consolePort) {
        populateDomain(domid, name, consoleGfn, consolePort, 0, 0);
    }

    /**
     * As above, plus what libxl writes for a domain of {@code memoryKib} KiB and {@code vcpus} vCPUs: memory/static-max
     * and memory/target (the balloon driver reads them) and each cpu/N/availability (Linux's CPU hotplug watch,
     * drivers/xen/cpu_hotplug.c); 0 leaves them out.
     */
    public void populateDomain(int domid, String name, long consoleGfn, int consolePort, long memoryKib, int vcpus) {
        hostWrite("/local/domain/0/name", "Domain-0");
        hostWrite("/local/domain/0/domid", "0");
        String home = "/local/domain/" + domid;
        hostWrite(home, "");
        hostSetPerms(home, "n" + domid, "r0");
        hostWrite(home + "/name", name);
        hostWrite(home + "/domid", Integer.toString(domid));
        hostWrite(home + "/console/ring-ref", Long.toString(consoleGfn));
        hostWrite(home + "/console/port", Integer.toString(consolePort));
        hostWrite(home + "/console/type", "xenconsoled");
        for (String dir : List.of("/control", "/data", "/device", "/memory")) hostWrite(home + dir, "");
        hostWrite(home + "/control/platform-feature-xs_reset_watches", "1");
        hostWrite("/local/domain/" + domid + "/vm", "/vm/" + domid);
        if (memoryKib > 0) {
            hostWrite(home + "/memory/static-max", Long.toString(memoryKib));
            hostWrite(home + "/memory/target", Long.toString(memoryKib));
        }
        for (int v = 0; v < vcpus; v++) hostWrite(home + "/cpu/" + v + "/availability", "online");
    }

    // ---- save and restore ---------------------------------------------------------------------------------------

    /** Most nodes a saved tree may hold (well above any quota; a damaged file cannot make us allocate more). */
    private static final int MAX_SAVED_NODES = 1 << 20, MAX_DEPTH = 1024;

    /** Every node, depth first: value, permissions, then the children by name. */
    public synchronized void writeTree(DataOutputStream out) throws IOException {
        writeNode(out, root);
    }

    private static void writeNode(DataOutputStream out, Node n) throws IOException {
        out.writeInt(n.value().length);
        out.write(n.value());
        out.writeShort(n.perms().size());
        for (Perm p : n.perms()) out.writeUTF(p.wire());
        out.writeInt(n.children().size());
        for (var e : n.children().entrySet()) {
            out.writeUTF(e.getKey());
            writeNode(out, e.getValue());
        }
    }

    /** Replaces the tree with one written by {@link #writeTree}; IOException (tree unchanged) for a malformed one. */
    public synchronized void readTree(DataInputStream in) throws IOException {
        int[] count = {0};
        Node r = readNode(in, 0, count);
        root = r;
    }

    private Node readNode(DataInputStream in, int depth, int[] count) throws IOException {
        if (depth > MAX_DEPTH || ++count[0] > MAX_SAVED_NODES) throw new IOException("xenstore: tree too large");
        int len = in.readInt();
        if (len < 0 || len > XsWire.PAYLOAD_MAX) throw new IOException("xenstore: value of " + len + " bytes");
        byte[] value = in.readNBytes(len);
        if (value.length != len) throw new EOFException();
        int np = in.readUnsignedShort();
        List<String> perms = new ArrayList<>();
        for (int i = 0; i < np; i++) perms.add(in.readUTF());
        List<Perm> parsed = Perm.parseList(perms);
        if (parsed == null) throw new IOException("xenstore: bad permissions in a saved node (" + perms.size() + " entries)"); // damaged: its bytes are no message
        int nc = in.readInt();
        if (nc < 0 || nc > MAX_SAVED_NODES) throw new IOException("xenstore: " + nc + " children");
        TreeMap<String, Node> children = new TreeMap<>();
        for (int i = 0; i < nc; i++) {
            String name = in.readUTF();
            if (name.isEmpty() || name.contains("/")) throw new IOException("xenstore: bad node name");
            children.put(name, readNode(in, depth + 1, count));
        }
        return new Node(value, parsed, children, ++generation);
    }

    /** The watches {@code owner} registered, as given: {path, token} pairs. */
    synchronized List<String[]> watchesOf(Object owner) {
        List<String[]> out = new ArrayList<>();
        for (Watch w : watches) if (w.owner() == owner) out.add(new String[] {w.asGiven(), w.token()});
        return out;
    }

    /** The ids of {@code domid}'s open transactions. */
    synchronized List<Integer> transactionsOf(int domid) {
        List<Integer> out = new ArrayList<>();
        for (var e : transactions.entrySet()) if (e.getValue().domid == domid) out.add(e.getKey());
        return out;
    }

    /**
     * Re-opens a transaction a saved domain had open. Its snapshot is gone, so it can only fail: its commit answers
     * EAGAIN, which a guest handles by starting over (as after a conflict).
     */
    synchronized void adoptLostTransaction(int domid, int txId) {
        Transaction t = new Transaction(domid, root);
        t.seen.put("/", -2L); // no node ever has generation -2: the commit always conflicts
        transactions.put(txId, t);
        if (txId >= nextTx) nextTx = txId + 1 > 0 ? txId + 1 : 1;
    }

    /** A copy of every node's value (tests, inspection). */
    public synchronized Map<String, String> dump() {
        Map<String, String> out = new LinkedHashMap<>();
        dump(root, "", out);
        return out;
    }

    private static void dump(Node n, String path, Map<String, String> out) {
        out.put(path.isEmpty() ? "/" : path, new String(n.value(), StandardCharsets.UTF_8));
        for (var e : n.children().entrySet()) dump(e.getValue(), path + "/" + e.getKey(), out);
    }
}
