package org.jxen.vmm.backend.net;

import java.util.HexFormat;
import java.util.concurrent.ThreadLocalRandom;

/**
 * A NIC as {@code --net tap=NAME[,mac=XX:XX:XX:XX:XX:XX]} gives it: the host TAP device its packets go to and come
 * from, and the guest's MAC (generated in Xen's OUI 00:16:3e, as xl does, when not given).
 */
public record NetSpec(String tap, byte[] mac) {
    public NetSpec {
        if (tap.isEmpty() || tap.length() > 15) throw new IllegalArgumentException("--net tap=NAME: an interface name of 1..15 characters");
        if (mac.length != 6) throw new IllegalArgumentException("a MAC has 6 bytes");
        if ((mac[0] & 1) != 0) throw new IllegalArgumentException("--net mac=: a multicast address cannot be a NIC's");
    }

    /** Parses the option's value; IllegalArgumentException with a one-line reason for anything else. */
    public static NetSpec parse(String value) {
        String tap = null;
        byte[] mac = null;
        for (String part : value.split(",")) {
            if (part.startsWith("tap=")) tap = part.substring(4);
            else if (part.startsWith("mac=")) mac = parseMac(part.substring(4));
            else throw new IllegalArgumentException("--net " + value + ": unknown option '" + part + "' (tap=NAME, mac=XX:XX:XX:XX:XX:XX)");
        }
        if (tap == null) throw new IllegalArgumentException("--net " + value + ": needs tap=NAME");
        return new NetSpec(tap, mac != null ? mac : generatedMac());
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
}
