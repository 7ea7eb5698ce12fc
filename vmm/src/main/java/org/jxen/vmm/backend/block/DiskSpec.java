package org.jxen.vmm.backend.block;

import java.nio.file.Path;

/** A disk as {@code --disk FILE[,ro][,format=raw]} gives it: an image file (raw), read-only or read-write. */
public record DiskSpec(Path file, boolean readOnly) {
    /** Parses the option's value; IllegalArgumentException with a one-line reason for anything else. */
    public static DiskSpec parse(String value) {
        String[] parts = value.split(",");
        if (parts[0].isEmpty()) throw new IllegalArgumentException("--disk needs a file: --disk FILE[,ro][,format=raw]");
        boolean ro = false;
        for (int i = 1; i < parts.length; i++) {
            switch (parts[i]) {
                case "ro" -> ro = true;
                case "rw" -> ro = false;
                case "format=raw" -> { }
                default -> throw new IllegalArgumentException(parts[i].startsWith("format=")
                        ? "--disk " + value + ": only format=raw is supported"
                        : "--disk " + value + ": unknown option '" + parts[i] + "' (ro, rw, format=raw)");
            }
        }
        return new DiskSpec(Path.of(parts[0]), ro);
    }

    /** How many disks a guest can have here (xvda..xvdp). */
    public static final int MAX_DISKS = 16;

    /** The Linux name of the {@code index}th disk (xvda, xvdb, …) and its virtual-device number (major 202). */
    public static String deviceName(int index) {
        return "xvd" + (char) ('a' + index);
    }

    /** The xenstore device id of xvd{a+index}: (202 << 8) | (index << 4), as docs/misc/vbd-interface.txt defines. */
    public static int deviceId(int index) {
        if (index < 0 || index >= MAX_DISKS) throw new IllegalArgumentException("at most " + MAX_DISKS + " disks");
        return (202 << 8) | (index << 4);
    }
}
