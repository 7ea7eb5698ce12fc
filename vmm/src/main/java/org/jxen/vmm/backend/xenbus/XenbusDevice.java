package org.jxen.vmm.backend.xenbus;

import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.nio.charset.StandardCharsets;
import java.util.Map;

import org.jxen.vmm.xenstore.XenStore;
import org.jxen.vmm.xenstore.XsError;

/**
 * A PV device's two XenStore directories and the backend's half of the XenbusState handshake
 * ({@code public/io/xenbus.h}), as libxl creates them and Linux's xenbus drivers use them: the frontend directory
 * {@code /local/domain/<domid>/device/<type>/<devid>} owned by the guest (dom0 may read), the backend directory
 * {@code /local/domain/0/backend/<type>/<domid>/<devid>} owned by dom0 (the guest may read), each naming the other.
 * The backend watches the frontend's {@code state}; the watch only raises {@code onChange} (it runs under XenStore's
 * lock), and the backend's own thread reads the state.
 */
public final class XenbusDevice {
    private static final Logger LOG = System.getLogger(XenbusDevice.class.getName());
    public static final int UNKNOWN = 0, INITIALISING = 1, INIT_WAIT = 2, INITIALISED = 3, CONNECTED = 4, CLOSING = 5, CLOSED = 6;

    private final XenStore store;
    private final int domid;
    private final String frontend, backend, name;
    private volatile boolean changed = true; // the first service pass looks at the frontend
    private int state = INITIALISING;

    /**
     * Creates both directories with {@code frontendNodes} and {@code backendNodes} (besides backend/frontend,
     * backend-id/frontend-id, state and online, which every device has) and starts watching the frontend.
     */
    public XenbusDevice(XenStore store, int domid, String type, int devid, String name, Map<String, String> frontendNodes,
            Map<String, String> backendNodes, Runnable onChange) {
        this.store = store;
        this.domid = domid;
        this.name = name;
        this.frontend = "/local/domain/" + domid + "/device/" + type + "/" + devid;
        this.backend = "/local/domain/0/backend/" + type + "/" + domid + "/" + devid;
        String[] guestOwns = {"n" + domid, "r0"}, dom0Owns = {"n0", "r" + domid};
        write(backend, "", dom0Owns);
        write(backend + "/frontend", frontend, dom0Owns);
        write(backend + "/frontend-id", Integer.toString(domid), dom0Owns);
        write(backend + "/online", "1", dom0Owns);
        for (var e : backendNodes.entrySet()) write(backend + "/" + e.getKey(), e.getValue(), dom0Owns);
        write(backend + "/state", Integer.toString(INITIALISING), dom0Owns);
        write(frontend, "", guestOwns);
        write(frontend + "/backend", backend, guestOwns);
        write(frontend + "/backend-id", "0", guestOwns);
        for (var e : frontendNodes.entrySet()) write(frontend + "/" + e.getKey(), e.getValue(), guestOwns);
        write(frontend + "/state", Integer.toString(INITIALISING), guestOwns);
        watchFrontend(onChange);
    }

    /**
     * A restored domain's device: both directories are in its restored XenStore tree already (the frontend's as the
     * guest left it), so nothing is written; the backend's state is what its node says, and the watch starts again
     * (watches of the host are not part of a save).
     */
    public static XenbusDevice adopt(XenStore store, int domid, String type, int devid, String name, Runnable onChange) {
        return new XenbusDevice(store, domid, type, devid, name, onChange);
    }

    private XenbusDevice(XenStore store, int domid, String type, int devid, String name, Runnable onChange) {
        this.store = store;
        this.domid = domid;
        this.name = name;
        this.frontend = "/local/domain/" + domid + "/device/" + type + "/" + devid;
        this.backend = "/local/domain/0/backend/" + type + "/" + domid + "/" + devid;
        String s = read(backend + "/state");
        try {
            state = s == null ? UNKNOWN : Integer.parseInt(s.trim());
        } catch (NumberFormatException e) {
            state = UNKNOWN;
        }
        watchFrontend(onChange);
    }

    private void watchFrontend(Runnable onChange) {
        try {
            store.watch(this, 0, frontend + "/state", "backend", (path, token) -> {
                changed = true;
                onChange.run();
            });
        } catch (XsError e) {
            throw new IllegalStateException("watching " + frontend + "/state: " + e.errno());
        }
    }

    private void write(String path, String value, String... perms) {
        store.hostWrite(path, value);
        store.hostSetPerms(path, perms);
    }

    /** The device's name in messages ("vbd xvda", "vif 0"). */
    public String name() {
        return name;
    }

    /** Whether the frontend's state was written since the last call. */
    public boolean takeChange() {
        boolean c = changed;
        changed = false;
        return c;
    }

    /** The frontend's state; UNKNOWN if its node is gone or not a number. */
    public int frontendState() {
        String s = readFrontend("state");
        try {
            return s == null ? UNKNOWN : Integer.parseInt(s.trim());
        } catch (NumberFormatException e) {
            return UNKNOWN;
        }
    }

    /** A node of the frontend's directory, or null if it is absent (or the guest made it unreadable). */
    public String readFrontend(String key) {
        return read(frontend + "/" + key);
    }

    /** A frontend node as an unsigned number, or {@code dflt} if absent or not a number (xenbus_read_unsigned). */
    public long readFrontendUnsigned(String key, long dflt) {
        return unsigned(readFrontend(key), dflt);
    }

    /** A node of the backend's own directory as an unsigned number, or {@code dflt}. */
    public long readBackendUnsigned(String key, long dflt) {
        return unsigned(read(backend + "/" + key), dflt);
    }

    private static long unsigned(String s, long dflt) {
        if (s == null) return dflt;
        try {
            long v = Long.parseLong(s.trim());
            return v < 0 ? dflt : v;
        } catch (NumberFormatException e) {
            return dflt;
        }
    }

    private String read(String path) {
        try {
            return new String(store.read(0, 0, path), StandardCharsets.UTF_8);
        } catch (XsError e) {
            return null;
        }
    }

    /** Writes a node of the backend's directory (the guest may read it). */
    public void writeBackend(String key, String value) {
        write(backend + "/" + key, value, "n0", "r" + domid);
    }

    public int state() {
        return state;
    }

    /** xenbus_switch_state. */
    public void switchState(int next) {
        state = next;
        writeBackend("state", Integer.toString(next));
    }

    /**
     * xenbus_dev_fatal: the reason in the backend's {@code error} node and in the log (an error), and the
     * device goes to Closing; the domain runs on.
     */
    public void fatal(String reason) {
        LOG.log(Level.ERROR, name + ": " + reason);
        writeBackend("error", reason);
        switchState(CLOSING);
    }

    public String frontendPath() {
        return frontend;
    }

    /** Stops watching (the device is going away with the domain). */
    public void close() {
        store.resetWatches(this);
    }
}
