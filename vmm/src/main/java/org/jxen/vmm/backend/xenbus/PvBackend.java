package org.jxen.vmm.backend.xenbus;

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

    /** Starts the I/O thread: the end of a subclass's constructor, once everything the thread uses exists. */
    protected final synchronized void start() {
        if (loop == null) loop = new BackendLoop("jxen-" + bus.name().replace(' ', '-'), xce, this::service);
    }

    /** The frontend state at which the rings are published (blkfront: Initialised; netfront: Connected). */
    protected abstract boolean readyToConnect(int frontendState);

    /** Maps the frontend's rings and binds its port; false (after {@link XenbusDevice#fatal}) if they are unusable. */
    protected abstract boolean connect();

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
     * false (reported) if the thread would not stop, in which case nothing it uses is released.
     */
    public synchronized boolean stop() {
        if (loop != null && !loop.stop()) return false;
        disconnectIfConnected();
        bus.close();
        xce.close();
        release();
        return true;
    }

    /** Releases what the backend holds beyond the connection (files, host devices), after its thread stopped. */
    protected void release() {}

    @Override
    public void close() {
        stop();
    }
}
