package org.jxen.vmm.backend.net;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A NIC as {@code --net} gives it: where its frames go ({@code tap=NAME}, a host TAP device, or {@code user}, passt's
 * user-mode network with QEMU's {@code -nic user} options {@code hostfwd=tcp::HOSTPORT-:GUESTPORT}) and the guest's MAC
 * (generated in Xen's OUI 00:16:3e, as xl does, when not given).
 */
public record NetSpec(Link link, byte[] mac) {
    public NetSpec {
        if (mac.length != 6) throw new IllegalArgumentException("a MAC has 6 bytes");
        if ((mac[0] & 1) != 0) throw new IllegalArgumentException("--net mac=: a multicast address cannot be a NIC's");
    }

    /** Where a NIC's frames go. */
    public sealed interface Link permits Tap, User {}

    /** The host TAP interface {@code name}. */
    public record Tap(String name) implements Link {
        public Tap {
            if (name.isEmpty() || name.length() > 15) throw new IllegalArgumentException("--net tap=NAME: an interface name of 1..15 characters");
        }
    }

    /** passt's user-mode network, with these ports of the host forwarded to the guest. */
    public record User(List<HostForward> forwards) implements Link {
        public User {
            forwards = List.copyOf(forwards);
            Set<String> seen = new HashSet<>();
            for (HostForward f : forwards)
                if (!seen.add(f.protocol() + " " + f.hostPort()))
                    throw new IllegalArgumentException("--net user: host port " + f.protocol().name().toLowerCase() + " " + f.hostPort() + " is forwarded twice");
        }
    }

    /** QEMU's {@code hostfwd=}: connections to {@code hostAddress} (all of the host's when empty) port {@code hostPort} go to the guest's {@code guestPort}. */
    public record HostForward(Protocol protocol, String hostAddress, int hostPort, int guestPort) {
        public HostForward {
            if (hostPort < 1 || hostPort > 65535 || guestPort < 1 || guestPort > 65535)
                throw new IllegalArgumentException("--net user,hostfwd=: ports are 1..65535");
        }

        /** As passt's {@code -t}/{@code -u} takes it: {@code [ADDR/]HOSTPORT:GUESTPORT}. */
        String passtSpec() {
            return (hostAddress.isEmpty() ? "" : hostAddress + "/") + hostPort + ":" + guestPort;
        }

        /** As the option reads: {@code tcp:ADDR:HOSTPORT-:GUESTPORT}. */
        String text() {
            return protocol.name().toLowerCase() + ":" + hostAddress + ":" + hostPort + "-:" + guestPort;
        }
    }

    public enum Protocol { TCP, UDP }

    /** The addresses passt hands the guest, as QEMU's user network (slirp) numbers them: guest, gateway (the host). */
    public static final String USER_GUEST = "10.0.2.15", USER_GATEWAY = "10.0.2.2";
    public static final int USER_PREFIX = 24;

    private static final String USAGE = "tap=NAME or user[,hostfwd=tcp::HOSTPORT-:GUESTPORT]..., and mac=XX:XX:XX:XX:XX:XX";
    /** QEMU's hostfwd=[tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport (net/slirp.c, slirp_hostfwd). */
    private static final Pattern HOSTFWD = Pattern.compile("(tcp|udp)?:([0-9.]*):([0-9]{1,5})-([0-9.]*):([0-9]{1,5})");
    private static final Pattern IPV4 = Pattern.compile("((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])");

    /** Parses the option's value; IllegalArgumentException with a one-line reason for anything else. */
    public static NetSpec parse(String value) {
        String tap = null;
        boolean user = false;
        List<HostForward> forwards = new ArrayList<>();
        byte[] mac = null;
        for (String part : value.split(",", -1)) {
            if (part.startsWith("tap=")) tap = part.substring(4);
            else if (part.equals("user")) user = true;
            else if (part.startsWith("hostfwd=")) forwards.add(parseHostForward(part.substring(8)));
            else if (part.startsWith("mac=")) mac = parseMac(part.substring(4));
            else throw new IllegalArgumentException("--net " + value + ": unknown option '" + part + "' (" + USAGE + ")");
        }
        if ((tap == null) == !user) throw new IllegalArgumentException("--net " + value + ": needs one of tap=NAME and user");
        if (tap != null && !forwards.isEmpty()) throw new IllegalArgumentException("--net " + value + ": hostfwd= is for user networking (a TAP's host side is yours)");
        Link link = user ? new User(forwards) : new Tap(tap);
        return new NetSpec(link, mac != null ? mac : generatedMac());
    }

    private static HostForward parseHostForward(String s) {
        Matcher m = HOSTFWD.matcher(s);
        if (!m.matches()) throw new IllegalArgumentException("--net user,hostfwd=" + s + ": expected [tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT, e.g. tcp::5555-:22");
        String hostAddress = m.group(2), guestAddress = m.group(4);
        if (!hostAddress.isEmpty() && !IPV4.matcher(hostAddress).matches())
            throw new IllegalArgumentException("--net user,hostfwd=" + s + ": '" + hostAddress + "' is not an IPv4 address");
        if (!guestAddress.isEmpty() && !guestAddress.equals(USER_GUEST))
            throw new IllegalArgumentException("--net user,hostfwd=" + s + ": the guest's address is " + USER_GUEST + " (or empty)");
        Protocol p = "udp".equals(m.group(1)) ? Protocol.UDP : Protocol.TCP;
        return new HostForward(p, hostAddress, Integer.parseInt(m.group(3)), Integer.parseInt(m.group(5)));
    }

    private static byte[] parseMac(String s) {
        String[] parts = s.split(":");
        if (parts.length != 6) throw new IllegalArgumentException("--net mac=" + s + ": six hex bytes separated by ':'");
        byte[] mac = new byte[6];
        try {
            for (int i = 0; i < 6; i++) {
                if (parts[i].length() != 2) throw new NumberFormatException();
                mac[i] = (byte) Integer.parseInt(parts[i], 16);
            }
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--net mac=" + s + ": six hex bytes separated by ':'");
        }
        return mac;
    }

    /** 00:16:3e:xx:xx:xx, the range Xen's toolstack draws guest MACs from. */
    static byte[] generatedMac() {
        byte[] mac = {0x00, 0x16, 0x3e, 0, 0, 0};
        for (int i = 3; i < 6; i++) mac[i] = (byte) ThreadLocalRandom.current().nextInt(i == 3 ? 0x80 : 0x100);
        return mac;
    }

    /** The MAC as XenStore holds it: "00:16:3e:12:34:56". */
    public String macText() {
        return HexFormat.ofDelimiter(":").formatHex(mac);
    }

    /** The link as {@code --net} reads (without the MAC): {@code tap=NAME} or {@code user[,hostfwd=...]}. */
    public String linkText() {
        return switch (link) {
            case Tap t -> "tap=" + t.name();
            case User u -> {
                StringBuilder b = new StringBuilder("user");
                for (HostForward f : u.forwards()) b.append(",hostfwd=").append(f.text());
                yield b.toString();
            }
        };
    }
}
