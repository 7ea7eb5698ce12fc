package org.jxen.vmm.migrate;

import java.io.BufferedInputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;

import org.jxen.sys.kvm.KvmUnavailableException;
import org.jxen.vmm.kvm.RunConfig;
import org.jxen.vmm.kvm.XenDomain;

/**
 * The destination of a live migration: listens (loopback unless an address is given), accepts one source, and builds
 * the domain from its stream as a restore does, applying RAM rounds as they arrive (SaveFile keeps the pages sent
 * before the state until the domain's memory exists). The stream is untrusted: every section is checked as a save
 * file's is, a stream that stops for {@link #SILENCE} is given up, and any damage ends the wait with one IOException
 * line and no domain.
 */
public final class IncomingMigration implements AutoCloseable {
    /** How long the stream may be silent: a source sends continuously, even its stop-and-copy takes far less. */
    public static final Duration SILENCE = Duration.ofSeconds(120);
    private static final Logger LOG = System.getLogger(IncomingMigration.class.getName());
    private final ServerSocket server;

    private IncomingMigration(ServerSocket server) {
        this.server = server;
    }

    /** Listens at {@code at} (port 0: any free port, see {@link #port}). */
    public static IncomingMigration listen(MigrationAddress at) throws IOException {
        ServerSocket s = new ServerSocket();
        try {
            s.bind(at.socketAddress(), 1);
        } catch (IOException e) {
            s.close();
            throw new IOException("cannot listen on " + at + ": " + e.getMessage());
        }
        return new IncomingMigration(s);
    }

    /** The port listened on. */
    public int port() {
        return server.getLocalPort();
    }

    /**
     * Waits for the source, reads its stream and builds the domain, ready to {@link XenDomain#run} where the source
     * stopped. IOException with a one-line reason if the stream is damaged, cut or hostile.
     */
    public XenDomain accept(Duration timeout, OutputStream console, InputStream consoleInput, OutputStream hypervisorConsole, RunConfig.Accel accel)
            throws IOException, KvmUnavailableException {
        Socket peer = server.accept();
        server.close(); // one source per listen
        try {
            peer.setSoTimeout((int) SILENCE.toMillis());
            peer.setReceiveBufferSize(1 << 20);
            InputStream in = new BufferedInputStream(peer.getInputStream(), 1 << 16);
            InputStream kept = new FilterInputStream(in) {
                @Override
                public void close() {
                    // the restore closes its stream; the socket stays open for the confirmation
                }
            };
            XenDomain d = XenDomain.restore(kept, "migration stream", timeout, console, consoleInput, hypervisorConsole, accel);
            try {
                OutputStream out = peer.getOutputStream();
                out.write(MigrationSource.CONFIRM);
                out.flush();
                int commit = in.read();
                if (commit != MigrationSource.COMMIT)
                    throw new IOException("the source did not commit the switch-over (" + (commit < 0 ? "the stream ended" : "it sent " + commit) + "); it keeps the guest");
                tellRunning(out);
            } catch (IOException | RuntimeException e) {
                d.close();
                throw e instanceof IOException io && io.getMessage() != null && io.getMessage().startsWith("the source did not commit") ? io
                        : new IOException("the source did not commit the switch-over (" + e.getMessage() + "); it keeps the guest");
            }
            peer.close();
            return d;
        } catch (IOException | RuntimeException e) {
            peer.close();
            throw e;
        }
    }

    /**
     * Committed: the guest is this side's whatever happens next, so a source that cannot be told is left in doubt (it
     * holds its copy stopped until its operator resolves it), never answered by giving the guest up here.
     */
    private static void tellRunning(OutputStream out) {
        try {
            out.write(MigrationSource.RUNNING);
            out.flush();
        } catch (IOException e) {
            LOG.log(Level.WARNING,
                    "the source was not told that the guest runs here (" + e.getMessage() + "); it holds its stopped copy until its operator resolves it");
        }
    }

    @Override
    public void close() throws IOException {
        server.close();
    }
}
