package org.jxen.vmm.control;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/** One request, one reply, over a control socket. */
public final class ControlClient {
    private ControlClient() {}

    /** Sends {@code request} (one JSON line) and returns the reply line. */
    public static String call(Path socket, String request) throws IOException {
        try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            ch.connect(UnixDomainSocketAddress.of(socket));
            var out = Channels.newOutputStream(ch);
            out.write((request + "\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
            var in = new BufferedReader(new InputStreamReader(Channels.newInputStream(ch), StandardCharsets.UTF_8));
            String reply = in.readLine();
            if (reply == null) throw new IOException("the control socket closed without replying");
            return reply;
        }
    }
}
