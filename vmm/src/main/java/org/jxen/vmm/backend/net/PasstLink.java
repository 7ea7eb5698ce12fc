package org.jxen.vmm.backend.net;

import java.io.File;
import java.io.IOException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import org.jxen.sys.Errno;
import org.jxen.sys.SyscallException;
import org.jxen.sys.UnixStream;

/**
 * passt's user-mode network (Debian package {@code passt}): jxen starts passt as its child, in the foreground, with
 * its socket in a private directory, and speaks its QEMU socket protocol over that UNIX stream socket: each Ethernet
 * frame preceded by its length as a 4-byte big-endian integer (passt's {@code tap.c}, {@code tap_send} and
 * {@code tap_handler_passt}; QEMU's {@code net/stream.c}). passt answers the guest's ARP and DHCP, forwards its DNS and carries its
 * TCP, UDP and ICMP through the host's own sockets, so no root and no TAP are needed; {@code hostfwd} ports become its
 * {@code -t}/{@code -u} forwards, listening on the host.
 *
 * <p>The guest is numbered as QEMU's {@code -nic user} numbers it ({@link NetSpec#USER_GUEST}, gateway
 * {@link NetSpec#USER_GATEWAY}, which passt maps to the host's loopback). On a host without an IPv4 default route (which
 * passt otherwise takes its template interface from) the loopback is the template and passt's MAC is given.
 *
 * <p>The frames themselves: {@link LengthPrefixedFrames}. One thread reads and writes (netback's I/O thread);
 * {@link #close} after it stopped.
 */
public final class PasstLink implements FrameLink {
    private static final Logger LOG = System.getLogger(PasstLink.class.getName());
    /** The Debian package that has passt, for the one line when it is missing. */
    static final String PACKAGE = "passt";
    /** The MAC passt answers with when it has no template interface to take one from (QEMU's slirp gateway MAC). */
    static final String TEMPLATE_MAC = "52:55:0a:00:02:02";

    private final Process passt;
    private final Path dir, socket;
    private final LengthPrefixedFrames frames;
    private boolean closed;

    private PasstLink(Process passt, Path dir, Path socket, UnixStream stream) {
        this.passt = passt;
        this.dir = dir;
        this.socket = socket;
        this.frames = new LengthPrefixedFrames(stream, "passt's socket " + socket, () -> passt.isAlive() ? "" : " (passt exited with status " + passt.exitValue() + ")");
    }

    /**
     * Starts passt for {@code user} and connects to it; IOException in one line when passt is not installed, fails to
     * start or does not accept within {@code startTimeoutMillis} (its own last message quoted). Nothing is left behind then.
     */
    public static PasstLink start(NetSpec.User user, long startTimeoutMillis) throws IOException {
        return start(user, startTimeoutMillis, System.getenv("PATH"));
    }

    /** {@link #start(NetSpec.User, long)} with passt looked up in {@code searchPath} (tests: a PATH without it). */
    static PasstLink start(NetSpec.User user, long startTimeoutMillis, String searchPath) throws IOException {
        Path binary = onPath("passt", searchPath);
        if (binary == null)
            throw new IOException("--net user needs passt, which is not on PATH: install Debian's package '" + PACKAGE + "' (apt-get install " + PACKAGE + ")");
        Path dir = Files.createTempDirectory(socketBase(), "jxen-passt-", PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        Process process = null;
        try {
            List<String> command = command(binary, dir, user, hasIpv4DefaultRoute(), asRoot(dir));
            process = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(dir.resolve("passt.out").toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
            Path socket = dir.resolve("passt.socket");
            UnixStream stream = awaitAccepting(process, socket, dir, startTimeoutMillis);
            return new PasstLink(process, dir, socket, stream);
        } catch (IOException | RuntimeException e) {
            if (process != null) stop(process);
            removeTree(dir);
            throw e;
        }
    }

    /** passt's command line: foreground, one client, its socket and log in {@code dir}, QEMU's numbering, the forwards. */
    static List<String> command(Path binary, Path dir, NetSpec.User user, boolean defaultRoute, boolean root) {
        List<String> c = new ArrayList<>(List.of(binary.toString(), "--foreground", "--quiet", "--one-off",
                "--socket", dir.resolve("passt.socket").toString(), "--log-file", dir.resolve("passt.log").toString(),
                // DNS: passt's default, DHCP naming the host's resolvers and their answers carried back from them. Not QEMU's
                // 10.0.2.3: this passt (0.0~git20230309) with --dns-forward 10.0.2.3 rewrites every answer from the host's
                // resolver to come from 10.0.2.3, so a guest asking the resolver DHCP named drops them; with --dns 10.0.2.3
                // as well it has no resolver left to relay to (docs/backends.md).
                "--address", NetSpec.USER_GUEST, "--netmask", Integer.toString(NetSpec.USER_PREFIX), "--gateway", NetSpec.USER_GATEWAY));
        if (!defaultRoute) c.addAll(List.of("--interface", "lo", "--mac-addr", TEMPLATE_MAC));
        // As root passt drops to nobody by itself; named here because the directory is handed to that user.
        if (root) c.addAll(List.of("--runas", "nobody"));
        for (NetSpec.HostForward f : user.forwards()) c.addAll(List.of(f.protocol() == NetSpec.Protocol.TCP ? "-t" : "-u", f.passtSpec()));
        return c;
    }

    private static Path onPath(String name, String path) {
        if (path == null) return null;
        for (String d : path.split(":")) {
            if (d.isEmpty()) continue;
            Path p = Path.of(d, name);
            if (Files.isRegularFile(p) && Files.isExecutable(p)) return p;
        }
        return null;
    }

    /**
     * Where the private directory goes: {@code $XDG_RUNTIME_DIR} (the user's runtime directory, meant for sockets, and
     * a tmpfs where a file system such as 9p cannot hold one) when it is a directory, else the temporary directory. As
     * root, passt (then nobody) must be able to pass through it, so a runtime directory closed to others is skipped.
     */
    private static Path socketBase() throws IOException {
        String runtime = System.getenv("XDG_RUNTIME_DIR");
        Path tmp = Path.of(System.getProperty("java.io.tmpdir"));
        if (runtime == null || runtime.isEmpty() || !Path.of(runtime).isAbsolute() || !Files.isDirectory(Path.of(runtime))) return tmp;
        Path base = Path.of(runtime);
        boolean root = ((Integer) Files.getAttribute(base, "unix:uid")) == 0 && "root".equals(System.getProperty("user.name"));
        if (root && !Files.getPosixFilePermissions(base).contains(PosixFilePermission.OTHERS_EXECUTE)) return tmp;
        return base;
    }

    /** Whether the kernel's IPv4 table has a default route ({@code /proc/net/route}: destination and mask 0). */
    static boolean hasIpv4DefaultRoute() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/net/route"))) {
                String[] f = line.trim().split("\\s+");
                if (f.length > 7 && f[1].equals("00000000") && f[7].equals("00000000")) return true;
            }
        } catch (IOException e) {
            return true; // let passt find out for itself
        }
        return false;
    }

    /**
     * When jxen is root, passt runs as nobody: the private directory becomes nobody's, with root's group keeping its
     * access, because passt (still root, but having dropped CAP_DAC_OVERRIDE: its {@code isolate_initial}) opens its
     * log there before it changes user; closed to everyone else.
     */
    private static boolean asRoot(Path dir) throws IOException {
        if (((Integer) Files.getAttribute(dir, "unix:uid")) != 0) return false;
        UserPrincipal nobody = dir.getFileSystem().getUserPrincipalLookupService().lookupPrincipalByName("nobody");
        Files.setOwner(dir, nobody);
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxrwx---"));
        return true;
    }

    /** Connects once passt's socket accepts; IOException if passt ended first or did not get there in time. */
    private static UnixStream awaitAccepting(Process process, Path socket, Path dir, long timeoutMillis) throws IOException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        while (true) {
            if (Files.exists(socket)) {
                try {
                    return UnixStream.connect(socket);
                } catch (SyscallException e) {
                    if (e.errno() != Errno.ECONNREFUSED && e.errno() != Errno.ENOENT && e.errno() != Errno.EAGAIN)
                        throw new IOException("--net user: connecting to passt's socket: " + Errno.describe(e.errno()));
                }
            }
            if (!process.isAlive())
                throw new IOException("--net user: passt exited with status " + process.exitValue() + lastWords(dir));
            if (System.nanoTime() > deadline)
                throw new IOException("--net user: passt did not accept on its socket within " + timeoutMillis + " ms" + lastWords(dir));
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("--net user: interrupted while waiting for passt");
            }
        }
    }

    /** passt's last line of complaint (its output, then its log), for a one-line failure. */
    private static String lastWords(Path dir) {
        String last = null;
        for (String file : List.of("passt.out", "passt.log")) {
            try {
                for (String line : Files.readAllLines(dir.resolve(file), StandardCharsets.UTF_8)) {
                    String l = line.strip();
                    if (!l.isEmpty() && !l.startsWith("Failed to send") && !l.startsWith("passt ")) last = l;
                }
            } catch (IOException e) {
                // not written
            }
        }
        return last == null ? "" : " (passt: " + last + ")";
    }

    @Override
    public String name() {
        return "passt (" + socket + ")";
    }

    @Override
    public int fd() {
        return frames.fd();
    }

    @Override
    public int read(MemorySegment into) {
        return frames.read(into);
    }

    @Override
    public int write(MemorySegment frame) {
        return frames.write(frame);
    }

    /** Whether passt is still running (tests). */
    boolean running() {
        return passt.isAlive();
    }

    /** The private directory (tests: that it goes away). */
    Path directory() {
        return dir;
    }

    /** Disconnects (passt, one-off, exits), makes sure passt has ended, removes its directory. */
    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        frames.close();
        stop(passt);
        removeTree(dir);
    }

    private static void stop(Process p) {
        try {
            if (!p.waitFor(2, TimeUnit.SECONDS)) {
                p.destroy();
                if (!p.waitFor(5, TimeUnit.SECONDS)) {
                    p.destroyForcibly();
                    p.waitFor(5, TimeUnit.SECONDS);
                }
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }

    private static void removeTree(Path dir) {
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        } catch (IOException e) {
            LOG.log(Level.WARNING, "--net user: removing " + dir + ": " + e.getMessage());
        }
    }
}
