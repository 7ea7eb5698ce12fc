package org.jxen.vmm.xenstore;

import static org.junit.jupiter.api.Assertions.*;
import static org.jxen.vmm.xenstore.XsWire.*;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** XenStore semantics through the wire protocol, without a ring: store, watches, transactions, permissions, quotas. */
class XenStoreTest {
    private static final int DOMID = 1;
    private XenStore store;
    private final List<byte[]> out = new ArrayList<>();
    private XsConnection guest;

    /** A reply: type and payload. */
    record Reply(int type, int reqId, int txId, String payload) {}

    @BeforeEach
    void setUp() {
        store = new XenStore(new XenStore.Quota(50, 4, 2, 64));
        store.populateDomain(DOMID, "guest", 0x100, 3);
        guest = new XsConnection(store, DOMID, out::add);
    }

    private static Reply decode(byte[] m) {
        ByteBuffer b = ByteBuffer.wrap(m).order(ByteOrder.LITTLE_ENDIAN);
        int type = b.getInt(), req = b.getInt(), tx = b.getInt(), len = b.getInt();
        return new Reply(type, req, tx, new String(m, 16, len, StandardCharsets.UTF_8));
    }

    private List<Reply> call(int type, int tx, String payload) {
        out.clear();
        guest.handle(type, 7, tx, payload.getBytes(StandardCharsets.UTF_8));
        return out.stream().map(XenStoreTest::decode).toList();
    }

    private String ok(int type, int tx, String payload) {
        Reply r = call(type, tx, payload).getFirst();
        assertEquals(type, r.type(), () -> "expected success, got " + r.payload());
        assertEquals(7, r.reqId());
        return r.payload();
    }

    private String err(int type, int tx, String payload) {
        Reply r = call(type, tx, payload).getFirst();
        assertEquals(ERROR, r.type(), () -> "expected an error, got " + r.payload());
        return r.payload().replace("\0", "");
    }

    @Test
    void readWriteMkdirRmDirectory() {
        assertEquals("OK\0", ok(WRITE, 0, "data/a/b\0hello"));
        assertEquals("hello", ok(READ, 0, "data/a/b\0"));
        assertEquals("hello", ok(READ, 0, "/local/domain/1/data/a/b\0"), "relative paths live under the home");
        assertEquals("", ok(READ, 0, "data/a\0"), "missing parents are created empty");
        assertEquals("OK\0", ok(MKDIR, 0, "data/c\0"));
        assertEquals("OK\0", ok(MKDIR, 0, "data/c\0"), "mkdir of an existing node is fine");
        assertEquals("a\0c\0", ok(DIRECTORY, 0, "data\0"));
        assertEquals("OK\0", ok(RM, 0, "data/a\0"));
        assertEquals("ENOENT", err(READ, 0, "data/a/b\0"), "rm is recursive");
        assertEquals("OK\0", ok(RM, 0, "data/zz\0"), "a missing child of an existing node");
        assertEquals("ENOENT", err(RM, 0, "data/zz/yy\0"), "a missing parent");
        assertEquals("EINVAL", err(RM, 0, "/\0"));
        assertEquals("guest", ok(READ, 0, "name\0"));
        assertEquals("/local/domain/5\0", ok(GET_DOMAIN_PATH, 0, "5\0"));
        assertEquals("EINVAL", err(GET_DOMAIN_PATH, 0, "five\0"));
    }

    @Test
    void badPathsAndMalformedRequests() {
        for (String bad : List.of("data//x\0", "data/x/\0", "data/a b\0", "\0", "data/\u00e9\0")) {
            assertEquals("EINVAL", err(READ, 0, bad), bad);
        }
        assertEquals("EINVAL", err(READ, 0, "data/a"), "unterminated string");
        assertEquals("EINVAL", err(READ, 0, "data/a\0extra\0"), "one argument only");
        assertEquals("EINVAL", err(WRITE, 0, "no-nul-at-all"));
        assertEquals("EINVAL", err(WATCH, 0, "onlypath\0"));
        assertEquals("EINVAL", err(SET_PERMS, 0, "data\0x9\0"));
        assertEquals("EINVAL", err(99, 0, "x\0"), "unknown type");
        assertEquals("EACCES", err(INTRODUCE, 0, "1\0" + "2\0" + "3\0"), "dom0-only");
        assertEquals("EINVAL", err(READ, 0, "x".repeat(XsWire.ABS_PATH_MAX) + "\0"));
    }

    @Test
    void permissions() {
        store.hostWrite("/secret", "s");
        store.hostSetPerms("/secret", "n0");
        assertEquals("EACCES", err(READ, 0, "/secret\0"));
        assertEquals("EACCES", err(WRITE, 0, "/secret\0x"));
        assertEquals("EACCES", err(WRITE, 0, "/secret/child\0x"), "creating under an unwritable node");
        store.hostSetPerms("/secret", "n0", "r1");
        assertEquals("s", ok(READ, 0, "/secret\0"));
        assertEquals("EACCES", err(WRITE, 0, "/secret\0x"));
        assertEquals("n0\0r1\0", ok(GET_PERMS, 0, "/secret\0"));
        ok(WRITE, 0, "data/mine\0v");
        assertEquals("n1\0r0\0", ok(GET_PERMS, 0, "data/mine\0"), "created nodes inherit their parent's, owned by the creator");
        assertEquals("OK\0", ok(SET_PERMS, 0, "data/mine\0n1\0r0\0b2\0"));
        assertEquals("EPERM", err(SET_PERMS, 0, "data/mine\0n2\0"), "a guest cannot give its node away");
    }

    @Test
    void watchesFireInitiallyAndOnChangesBelow() {
        List<Reply> r = call(WATCH, 0, "data\0tok\0");
        assertEquals(2, r.size());
        assertEquals(WATCH, r.get(0).type(), "the reply first");
        assertEquals(new Reply(WATCH_EVENT, 0, 0, "data\0tok\0"), r.get(1), "then the initial event");
        out.clear();
        store.hostWrite("/local/domain/1/data/x/y", "1");
        assertEquals(List.of(new Reply(WATCH_EVENT, 0, 0, "data/x/y\0tok\0")), out.stream().map(XenStoreTest::decode).toList(),
                "relative watches report relative paths");
        out.clear();
        store.hostWrite("/local/domain/1/control/z", "1");
        assertTrue(out.isEmpty(), "a change elsewhere does not fire");
        assertEquals("EEXIST", err(WATCH, 0, "data\0tok\0"));
        ok(WATCH, 0, "/local/domain/1/data/x/y\0abs\0");
        List<Reply> rm = call(RM, 0, "data/x\0");
        assertTrue(rm.contains(new Reply(RM, 7, 0, "OK\0")), "the reply (after the events it caused, as xenstored)");
        List<Reply> events = rm.stream().filter(x -> x.type() == WATCH_EVENT).toList();
        assertTrue(events.contains(new Reply(WATCH_EVENT, 0, 0, "data/x\0tok\0")));
        assertTrue(events.contains(new Reply(WATCH_EVENT, 0, 0, "/local/domain/1/data/x/y\0abs\0")), "removal fires watches below");
        assertEquals("OK\0", ok(UNWATCH, 0, "data\0tok\0"));
        assertEquals("ENOENT", err(UNWATCH, 0, "data\0tok\0"));
        assertEquals("OK\0", ok(RESET_WATCHES, 0, ""));
        out.clear();
        store.hostWrite("/local/domain/1/data/x/y", "2");
        assertTrue(out.isEmpty(), "reset_watches removed them all");
        ok(WATCH, 0, "@introduceDomain\0t\0");
        assertEquals("EINVAL", err(WATCH, 0, "@bogus\0t\0"));
    }

    @Test
    void transactionsIsolateAndConflict() {
        ok(WRITE, 0, "data/k\0v0");
        int t1 = Integer.parseInt(ok(TRANSACTION_START, 0, "\0").replace("\0", ""));
        ok(WRITE, t1, "data/k\0v1");
        assertEquals("v1", ok(READ, t1, "data/k\0"));
        assertEquals("v0", ok(READ, 0, "data/k\0"), "not visible outside before commit");
        assertEquals("OK\0", ok(TRANSACTION_END, t1, "T\0"));
        assertEquals("v1", ok(READ, 0, "data/k\0"));

        int t2 = Integer.parseInt(ok(TRANSACTION_START, 0, "\0").replace("\0", ""));
        assertEquals("v1", ok(READ, t2, "data/k\0"));
        ok(WRITE, 0, "data/k\0outside"); // a conflicting change
        ok(WRITE, t2, "data/k\0v2");
        assertEquals("EAGAIN", err(TRANSACTION_END, t2, "T\0"));
        assertEquals("outside", ok(READ, 0, "data/k\0"), "the failed transaction changed nothing");

        int t3 = Integer.parseInt(ok(TRANSACTION_START, 0, "\0").replace("\0", ""));
        ok(WRITE, t3, "data/k\0v3");
        ok(WRITE, 0, "control/unrelated\0y"); // nothing t3 touched
        assertEquals("OK\0", ok(TRANSACTION_END, t3, "T\0"), "unrelated changes do not conflict");
        assertEquals("v3", ok(READ, 0, "data/k\0"));
        int t5 = Integer.parseInt(ok(TRANSACTION_START, 0, "\0").replace("\0", ""));
        ok(WRITE, t5, "data/new1\0x");
        ok(WRITE, 0, "data/new2\0y"); // also a new child of data: data's child list changed under t5
        assertEquals("EAGAIN", err(TRANSACTION_END, t5, "T\0"), "as in xenstored, siblings created meanwhile conflict");
        int t4 = Integer.parseInt(ok(TRANSACTION_START, 0, "\0").replace("\0", ""));
        ok(WRITE, t4, "data/aborted\0x");
        assertEquals("OK\0", ok(TRANSACTION_END, t4, "F\0"));
        assertEquals("ENOENT", err(READ, 0, "data/aborted\0"));
        assertEquals("ENOENT", err(TRANSACTION_END, t4, "T\0"), "already ended");
        assertEquals("ENOENT", err(READ, 12345, "data/k\0"), "unknown transaction");
        assertEquals("EINVAL", err(TRANSACTION_END, t4, "X\0"));
    }

    @Test
    void quotas() {
        ok(TRANSACTION_START, 0, "\0");
        ok(TRANSACTION_START, 0, "\0");
        assertEquals("ENOSPC", err(TRANSACTION_START, 0, "\0"), "2 transactions");
        for (int i = 0; i < 4; i++) ok(WATCH, 0, "data\0t" + i + "\0");
        assertEquals("E2BIG", err(WATCH, 0, "data\0t9\0"), "4 watches");
        assertEquals("E2BIG", err(WRITE, 0, "data/big\0" + "x".repeat(65)), "64-byte values");
        String last = "";
        for (int i = 0; i < 60 && !last.equals("ENOSPC"); i++) {
            Reply r = call(WRITE, 0, "data/n" + i + "\0v").getFirst();
            last = r.type() == ERROR ? r.payload().replace("\0", "") : "";
        }
        assertEquals("ENOSPC", last, "50 nodes");
        assertTrue(Arrays.asList(store.dump().keySet().toArray()).size() > 50);
    }
}
