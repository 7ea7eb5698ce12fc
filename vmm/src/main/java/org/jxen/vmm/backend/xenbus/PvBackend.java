package org.jxen.vmm.backend.xenbus;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.Map;

import org.jxen.vmm.backend.BackendLoop;
import org.jxen.vmm.backend.XenEvtchnHandle;

/**
 * A ring device's backend: its XenStore directories, its event-channel handle and its I/O thread, and the backend's
 * side of the XenbusState handshake as Linux's blkback and netback drive it ({@code frontend_changed} in
 * {@code drivers/block/xen-blkback/xenbus.c}, {@code drivers/net/xen-netback/xenbus.c}): InitWait once the device is
 * ready, connect when the frontend has published its rings, Closing/Closed after it, and InitWait again when a closed
 * frontend starts over (a guest that reloads its driver, or resumes). Everything — the handshake, the rings — runs on
 * the one I/O thread, woken by the frontend's notifications and by its state changes.
 */
public abstract class PvBackend implements AutoCloseable {
    protected final BackendContext context;
    protected final XenbusDevice bus;
    protected final XenEvtchnHandle xce;
    private BackendLoop loop;
    private boolean connected;

    /** Creates the device's nodes (with the features the backend offers) in state InitWait; {@link #start} runs it. */
    protected PvBackend(BackendContext context, String type, int devid, String name, Map<String, String> frontendNodes,
            Map<String, String> backendNodes) {
        this.context = context;
        this.xce = new XenEvtchnHandle(context.ports(), context.signals());
        this.bus = new XenbusDevice(context.store(), context.domid(), type, devid, name, frontendNodes, backendNodes, this::wake);
        bus.switchState(XenbusDevice.INIT_WAIT);
    }

    /**
     * A restored domain's device (see {@link #resume}): its XenStore directories come with the restored tree, its
     * state is what they say.
     */
    protected PvBackend(BackendContext context, String type, int devid, String name) {
        this.context = context;
        this.xce = new XenEvtchnHandle(context.ports(), context.signals());
        this.bus = XenbusDevice.adopt(context.store(), context.domid(), type, devid, name, this::wake);
    }

    /** Starts the I/O thread: the end of a subclass's constructor, once everything the thread uses exists. */
    protected final synchronized void start() {
        if (loop == null) loop = new BackendLoop("jxen-" + bus.name().replace(' ', '-'), xce, this::service);
    }

    /** The frontend state at which the rings are published (blkfront: Initialised; netfront: Connected). */
    protected abstract boolean readyToConnect(int frontendState);

    /** Maps the frontend's rings and binds its port; false (after {@link XenbusDevice#fatal}) if they are unusable. */
    protected abstract boolean connect();

    /**
     * A restored connection: the rings as the frontend published them (the saved RAM holds them), the port the save
     * names taken over, the grants the backend held mapped again; false (after {@link XenbusDevice#fatal}) if that
     * fails. Nothing is renegotiated: the frontend does not know it moved.
     */
    protected abstract boolean reconnect(DataInputStream saved) throws IOException;

    /** What {@link #reconnect} needs beyond XenStore (the backend's port, grants it keeps mapped), with the thread paused. */
    protected abstract void saveConnection(DataOutputStream out) throws IOException;

    /** The device's kind and configuration, which a restore opens again (the image, the TAP). */
    protected abstract void saveDevice(DataOutputStream out) throws IOException;

    /** Serves the rings (only while connected). */
    protected abstract void serve();

    /** Drops the rings, grants and port; idempotent. */
    protected abstract void disconnect();

    /** Asks the I/O thread for a pass (host-side work, a state change). */
    protected final void wake() {
        xce.wakeup();
    }

    private void service() {
        if (bus.takeChange()) frontendChanged(bus.frontendState());
        if (connected) serve();
    }

    private void frontendChanged(int front) {
        switch (front) {
            case XenbusDevice.INITIALISING -> {
                if (bus.state() == XenbusDevice.CLOSED) bus.switchState(XenbusDevice.INIT_WAIT); // prepare for reconnect
            }
            case XenbusDevice.INITIALISED, XenbusDevice.CONNECTED -> {
                if (!readyToConnect(front) || bus.state() == XenbusDevice.CONNECTED || bus.state() == XenbusDevice.CLOSING) return;
                disconnectIfConnected();
                if (connect()) {
                    connected = true;
                    bus.switchState(XenbusDevice.CONNECTED);
                } else {
                    disconnect();
                }
            }
            case XenbusDevice.CLOSING -> {
                disconnectIfConnected();
                bus.switchState(XenbusDevice.CLOSING);
            }
            default -> { // Closed, or the frontend's directory is gone (Unknown)
                disconnectIfConnected();
                if (bus.state() != XenbusDevice.CLOSED) bus.switchState(XenbusDevice.CLOSED);
            }
        }
    }

    private void disconnectIfConnected() {
        if (connected) disconnect();
        connected = false;
    }

    /** Marks the connection dead after a broken ring ({@link XenbusDevice#fatal} said why); the frontend may start over. */
    protected final void stopRing(String reason) {
        disconnectIfConnected();
        bus.fatal(reason);
    }

    /**
     * For a save: stops the I/O thread, keeping the connection (rings, port, grants) as it is; false (reported) if
     * the thread would not stop. Each pass of the thread ends with every request it took answered and published (the
     * backends here serve synchronously), so the rings' private indexes equal the published ones and need no saving.
     */
    public synchronized boolean pause() {
        return loop == null || loop.stop();
    }

    /**
     * A live migration's switch-over, after {@link #pause}: gives up what a destination on the same host must take
     * (an image's lock); none by default.
     */
    public void releaseHostFiles() {}

    /** After {@link #releaseHostFiles}, the migration abandoned: takes them back; false (reported here) if it cannot. */
    public boolean reclaimHostFiles() {
        return true;
    }

    /** After {@link #pause}, the save abandoned (a failed live migration): the I/O thread serves the rings again. */
    public synchronized boolean unpause() {
        return loop == null || loop.restart();
    }

    /** After {@link #pause}: the device (see {@link #saveDevice}), then its connection if it has one. */
    public final void save(DataOutputStream out) throws IOException {
        saveDevice(out);
        out.writeBoolean(connected);
        if (connected) saveConnection(out);
    }

    /**
     * The end of a restoring subclass constructor, before {@link #start}: takes the saved connection over, or leaves
     * the device in the state its XenStore nodes give (a frontend that was not connected connects as usual). A
     * connection that cannot be taken over stops the device with one line ({@link XenbusDevice#fatal}).
     */
    protected final void resume(DataInputStream saved) {
        try {
            if (!saved.readBoolean()) return;
            if (reconnect(saved)) connected = true;
            else disconnect();
        } catch (IOException e) { // a damaged record stops this device, not the domain
            bus.fatal("its saved connection is damaged (" + (e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage()) + ")");
            disconnect();
        }
    }

    /** The device's traffic, for the control socket's status. */
    public abstract Map<String, Long> counters();

    /** The device's rings and port as they are now (a report on a stalled guest); empty while not connected. */
    public String ringState() {
        return "";
    }

    public final boolean connected() {
        return connected;
    }

    public final String name() {
        return bus.name();
    }

    /**
     * Stops the I/O thread (the only one touching guest memory here), then drops the connection and the handle;
     * false (reported) if the thread would not stop, in which case nothing it uses is released. Idempotent.
     */
    public synchronized boolean stop() {
        if (stopped) return true;
        if (loop != null && !loop.stop()) return false;
        disconnectIfConnected();
        bus.close();
        xce.close();
        release();
        stopped = true;
        return true;
    }

    private boolean stopped;

    /** Releases what the backend holds beyond the connection (files, host devices), after its thread stopped. */
    protected void release() {}

    @Override
    public void close() {
        stop();
    }
}
