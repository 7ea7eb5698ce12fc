package org.jxen.vmm.kvm;

import java.util.concurrent.ConcurrentHashMap;
import org.jxen.vmm.cpu.HypercallPage;

/**
 * Port-I/O devices beside the built-in ones (hypercalls, debug console, COM1): a VMM user's device that takes the
 * writes to its port, such as the benchmark's timestamp ports. One table per domain, read by every vCPU's exit
 * handler; writes to ports nobody registered are ignored.
 */
public final class IoPorts {
    /** Takes one OUT to its port: the writing vCPU and the value (zero-extended from the access size). */
    @FunctionalInterface
    public interface Device {
        void write(int vcpu, int value);
    }

    private final ConcurrentHashMap<Integer, Device> devices = new ConcurrentHashMap<>();

    /** Registers {@code device} at {@code port}; IllegalArgumentException if the port is taken or built in. */
    public void register(int port, Device device) {
        if (port < 0 || port > 0xFFFF || port == HypercallPage.PORT || port == ExitHandler.DEBUGCON
                || port == ExitHandler.XEN_DEBUG_PORT || (port >= ExitHandler.COM1 && port < ExitHandler.COM1 + 8))
            throw new IllegalArgumentException("port 0x" + Integer.toHexString(port) + " is jxen's own");
        if (devices.putIfAbsent(port, device) != null) throw new IllegalArgumentException("port 0x" + Integer.toHexString(port) + " is taken");
    }

    /** True if a device took the write. */
    boolean write(int port, int vcpu, int value) {
        if (devices.isEmpty()) return false;
        Device d = devices.get(port);
        if (d == null) return false;
        d.write(vcpu, value);
        return true;
    }
}
