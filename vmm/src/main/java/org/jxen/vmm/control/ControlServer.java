package org.jxen.vmm.control;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import org.jxen.vmm.backend.ThreadStop;

/**
 * A UNIX socket serving {@link ControlCommands}: one thread accepts, one virtual thread per client reads request
 * lines (at most {@value #MAX_LINE} bytes each; a longer line gets an error reply and is skipped) and writes one reply
 * line for each. A malformed request never closes the socket or the connection.
 */
public final class ControlServer implements AutoCloseable {
    private static final Logger LOG = System.getLogger(ControlServer.class.getName());
    static final int MAX_LINE = 64 * 1024;

    private final Path path;
    private final ServerSocketChannel server;
    private final ControlCommands commands;
    private final Set<SocketChannel> clients = ConcurrentHashMap.newKeySet();
    /** Clients whose request is being answered (a migrate takes a while): close() lets them have their reply. */
    private final Set<SocketChannel> answering = ConcurrentHashMap.newKeySet();
    /** The threads serving clients: they act on the domain's ports, so close() waits for every one of them. */
    private final Set<Thread> serving = ConcurrentHashMap.newKeySet();
    private final Thread acceptor;
    private volatile boolean closed;

    public ControlServer(Path path, ControlTarget target) throws IOException {
        this.path = path;
        this.commands = new ControlCommands(target);
        Files.deleteIfExists(path); // a stale socket from an earlier run
        this.server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(path));
        this.acceptor = Thread.ofPlatform().name("jxen-control").daemon().start(this::acceptLoop);
    }

    public Path path() {
        return path;
    }

    private void acceptLoop() {
        while (!closed) {
            try {
                SocketChannel client = server.accept();
                synchronized (this) {
                    if (closed) {
                        client.close();
                        return;
                    }
                    clients.add(client);
                    serving.add(Thread.ofVirtual().start(() -> serve(client)));
                }
            } catch (IOException e) {
                if (!closed) LOG.log(Level.ERROR, "the control socket stops accepting", e);
                return;
            }
        }
    }

    private void serve(SocketChannel client) {
        try (client; InputStream in = Channels.newInputStream(client); OutputStream out = Channels.newOutputStream(client)) {
            byte[] buf = new byte[MAX_LINE];
            while (true) {
                int len = 0;
                boolean tooLong = false;
                int b;
                while ((b = in.read()) != -1 && b != '\n') {
                    if (len < MAX_LINE) buf[len++] = (byte) b;
                    else tooLong = true;
                }
                if (b == -1 && len == 0) return;
                if (!tooLong && blank(buf, len)) continue; // an empty line asks nothing
                answering.add(client);
                // The bytes go to the parser as they are, so invalid UTF-8 is an error reply, not a replaced character.
                String reply = tooLong
                        ? ControlCommands.error("GenericError", "request longer than " + MAX_LINE + " bytes")
                        : commands.handle(buf, len);
                out.write((reply + "\n").getBytes(StandardCharsets.UTF_8));
                out.flush();
                answering.remove(client);
                if (b == -1 || closed) return;
            }
        } catch (IOException e) {
            // the client went away
        } finally {
            clients.remove(client);
            serving.remove(Thread.currentThread());
        }
    }

    private static boolean blank(byte[] line, int length) {
        for (int k = 0; k < length; k++) {
            if (" \t\r".indexOf(line[k]) < 0) return false;
        }
        return true;
    }

    /** Stops accepting, disconnects every client and waits for the threads serving them (they touch the ports). */
    @Override
    public void close() {
        synchronized (this) {
            if (closed) return;
            closed = true;
        }
        try {
            server.close();
        } catch (IOException ignored) {
            // closing anyway
        }
        for (SocketChannel c : clients) {
            if (answering.contains(c)) continue; // it returns once its reply is written
            try {
                c.close();
            } catch (IOException ignored) {
                // closing anyway
            }
        }
        ThreadStop.join(acceptor, "the control socket's acceptor");
        for (Thread t : serving) ThreadStop.join(t, "a control socket client");
        try {
            Files.deleteIfExists(path);
        } catch (IOException ignored) {
            // nothing more to do
        }
    }
}
