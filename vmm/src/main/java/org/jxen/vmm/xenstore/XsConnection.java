package org.jxen.vmm.xenstore;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Consumer;

/**
 * One domain's XenStore connection: decodes requests ({@code struct xsd_sockmsg} + payload), runs them against the
 * store as that domain, and emits replies and watch events as whole messages. Malformed requests (unterminated
 * strings, missing arguments, unknown types, privileged operations) get an XS_ERROR reply; nothing a guest sends
 * can stop the connection.
 */
public final class XsConnection {
    private static final byte[] OK = {'O', 'K', 0};

    private final XenStore store;
    private final int domid;
    private final Consumer<byte[]> out;

    /** @param out receives every outgoing message (header and payload), in order */
    public XsConnection(XenStore store, int domid, Consumer<byte[]> out) {
        this.store = store;
        this.domid = domid;
        this.out = out;
    }

    public int domid() {
        return domid;
    }

    /** A message: 16-byte little-endian header then payload. */
    public static byte[] message(int type, int reqId, int txId, byte[] payload) {
        ByteBuffer b = ByteBuffer.allocate(XsWire.HEADER_SIZE + payload.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(type).putInt(reqId).putInt(txId).putInt(payload.length).put(payload);
        return b.array();
    }

    /** Handles one request and emits its reply (and any watch events it causes). */
    public void handle(int type, int reqId, int txId, byte[] payload) {
        byte[] reply;
        int replyType = type;
        try {
            reply = execute(type, txId, payload);
        } catch (XsError e) {
            replyType = XsWire.ERROR;
            reply = (e.errno() + "\0").getBytes(StandardCharsets.US_ASCII);
        }
        out.accept(message(replyType, reqId, txId, reply));
        if (type == XsWire.WATCH && replyType == XsWire.WATCH) {
            List<String> a = argsOrEmpty(payload);
            out.accept(watchEvent(a.get(0), a.get(1))); // a new watch fires once, after its reply
        }
    }

    private static byte[] watchEvent(String path, String token) {
        return message(XsWire.WATCH_EVENT, 0, 0, (path + "\0" + token + "\0").getBytes(StandardCharsets.UTF_8));
    }

    private static List<String> argsOrEmpty(byte[] p) {
        try {
            return args(p);
        } catch (XsError e) {
            return List.of();
        }
    }

    /** Replies with an error to a request that could not even be decoded (bad length). */
    public void reject(int reqId, int txId, String errno) {
        out.accept(message(XsWire.ERROR, reqId, txId, (errno + "\0").getBytes(StandardCharsets.US_ASCII)));
    }

    private byte[] execute(int type, int txId, byte[] p) throws XsError {
        return switch (type) {
            case XsWire.READ -> store.read(domid, txId, oneArg(p));
            case XsWire.DIRECTORY -> strings(store.directory(domid, txId, oneArg(p)));
            case XsWire.GET_PERMS -> strings(store.getPerms(domid, txId, oneArg(p)));
            case XsWire.WRITE -> {
                int nul = indexOf(p, 0);
                if (nul < 0) throw XsError.of("EINVAL");
                store.write(domid, txId, utf8(p, 0, nul), Arrays.copyOfRange(p, nul + 1, p.length));
                yield OK;
            }
            case XsWire.MKDIR -> {
                store.mkdir(domid, txId, oneArg(p));
                yield OK;
            }
            case XsWire.RM -> {
                store.rm(domid, txId, oneArg(p));
                yield OK;
            }
            case XsWire.SET_PERMS -> {
                List<String> a = args(p);
                if (a.size() < 2) throw XsError.of("EINVAL");
                store.setPerms(domid, txId, a.getFirst(), a.subList(1, a.size()));
                yield OK;
            }
            case XsWire.WATCH -> {
                List<String> a = args(p);
                if (a.size() != 2) throw XsError.of("EINVAL");
                store.watch(this, domid, a.get(0), a.get(1), (path, token) -> out.accept(watchEvent(path, token)));
                yield OK;
            }
            case XsWire.UNWATCH -> {
                List<String> a = args(p);
                if (a.size() != 2) throw XsError.of("EINVAL");
                store.unwatch(this, domid, a.get(0), a.get(1));
                yield OK;
            }
            case XsWire.TRANSACTION_START -> {
                if (txId != 0) throw XsError.of("EBUSY");
                yield (store.startTransaction(domid) + "\0").getBytes(StandardCharsets.US_ASCII);
            }
            case XsWire.TRANSACTION_END -> {
                String a = oneArg(p);
                if (!a.equals("T") && !a.equals("F")) throw XsError.of("EINVAL");
                store.endTransaction(domid, txId, a.equals("T"));
                yield OK;
            }
            case XsWire.GET_DOMAIN_PATH -> {
                String a = oneArg(p);
                try {
                    int d = Integer.parseInt(a);
                    if (d < 0 || d > 0xFFFF) throw XsError.of("EINVAL");
                    yield ("/local/domain/" + d + "\0").getBytes(StandardCharsets.US_ASCII);
                } catch (NumberFormatException e) {
                    throw XsError.of("EINVAL");
                }
            }
            case XsWire.RESET_WATCHES -> {
                store.resetWatches(this);
                yield OK;
            }
            case XsWire.CONTROL, XsWire.INTRODUCE, XsWire.RELEASE, XsWire.IS_DOMAIN_INTRODUCED, XsWire.RESUME,
                    XsWire.SET_TARGET -> throw XsError.of("EACCES"); // dom0-only operations
            default -> throw XsError.of("EINVAL");
        };
    }

    /** The single NUL-terminated argument a request carries. */
    private static String oneArg(byte[] p) throws XsError {
        int nul = indexOf(p, 0);
        if (nul < 0 || nul != p.length - 1) throw XsError.of("EINVAL");
        return utf8(p, 0, nul);
    }

    /** All NUL-terminated arguments; the payload must end with a NUL. */
    private static List<String> args(byte[] p) throws XsError {
        if (p.length == 0 || p[p.length - 1] != 0) throw XsError.of("EINVAL");
        List<String> out = new ArrayList<>();
        int start = 0;
        for (int i = 0; i < p.length; i++) {
            if (p[i] == 0) {
                out.add(utf8(p, start, i));
                start = i + 1;
            }
        }
        return out;
    }

    private static byte[] strings(List<String> items) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        for (String s : items) {
            b.writeBytes(s.getBytes(StandardCharsets.UTF_8));
            b.write(0);
        }
        return b.toByteArray();
    }

    private static int indexOf(byte[] p, int value) {
        for (int i = 0; i < p.length; i++) if (p[i] == value) return i;
        return -1;
    }

    private static String utf8(byte[] p, int from, int to) {
        return new String(p, from, to - from, StandardCharsets.UTF_8);
    }

    /** This connection's watches and open transaction ids (the tree is the store's, saved beside it). */
    public void save(DataOutputStream out) throws IOException {
        List<String[]> w = store.watchesOf(this);
        out.writeInt(w.size());
        for (String[] pt : w) {
            out.writeUTF(pt[0]);
            out.writeUTF(pt[1]);
        }
        List<Integer> tx = store.transactionsOf(domid);
        out.writeInt(tx.size());
        for (int id : tx) out.writeInt(id);
    }

    /**
     * Takes over what {@link #save} wrote: the watches again (without the initial event; the guest had it already),
     * and the transactions as lost ones (their commit answers EAGAIN).
     */
    public void restore(DataInputStream in) throws IOException {
        int n = in.readInt();
        if (n < 0 || n > 1 << 16) throw new IOException("xenstore: " + n + " watches");
        for (int i = 0; i < n; i++) {
            String path = in.readUTF(), token = in.readUTF();
            try {
                store.watch(this, domid, path, token, (p, t) -> out.accept(watchEvent(p, t)));
            } catch (XsError e) {
                throw new IOException("xenstore: watch " + path + ": " + e.errno());
            }
        }
        int t = in.readInt();
        if (t < 0 || t > 1 << 16) throw new IOException("xenstore: " + t + " transactions");
        for (int i = 0; i < t; i++) {
            int id = in.readInt();
            if (id <= 0) throw new IOException("xenstore: transaction id " + id);
            store.adoptLostTransaction(domid, id);
        }
    }

    /** Drops this connection's watches and transactions (the guest reset its connection or went away). */
    public void close() {
        store.disconnect(this, domid);
    }
}
