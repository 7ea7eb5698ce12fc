package org.jxen.vmm.migrate;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;

/**
 * Where a migration stream goes or is awaited: {@code tcp:HOST:PORT} ({@code [v6]} in brackets), or for a listener
 * {@code tcp:PORT} / {@code tcp::PORT}, which listens on loopback only: the stream is not encrypted or authenticated
 * (tunnel it, as QEMU's documentation advises for its own).
 */
public record MigrationAddress(String host, int port) {
    public MigrationAddress {
        if (port < 0 || port > 65535) throw new IllegalArgumentException("port " + port + " is out of range");
    }

    /** Parses {@code tcp:HOST:PORT} or {@code tcp:PORT}; IllegalArgumentException with a one-line reason. */
    public static MigrationAddress parse(String text) {
        if (!text.startsWith("tcp:")) throw new IllegalArgumentException(text + ": expected tcp:HOST:PORT (the only transport)");
        String rest = text.substring(4);
        int colon = rest.lastIndexOf(':');
        String host = colon < 0 ? "" : rest.substring(0, colon);
        if (host.startsWith("[") && host.endsWith("]")) host = host.substring(1, host.length() - 1);
        try {
            return new MigrationAddress(host, Integer.parseInt(rest.substring(colon + 1)));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(text + ": the port is not a number");
        }
    }

    /** The socket address; an empty host is loopback. */
    public InetSocketAddress socketAddress() throws UnknownHostException {
        return new InetSocketAddress(host.isEmpty() ? InetAddress.getLoopbackAddress() : InetAddress.getByName(host), port);
    }

    @Override
    public String toString() {
        return "tcp:" + (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
    }
}
