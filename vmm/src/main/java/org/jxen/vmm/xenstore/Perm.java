package org.jxen.vmm.xenstore;

import java.util.ArrayList;
import java.util.List;

/** One permission entry: a domain and its access ('n' none, 'r' read, 'w' write, 'b' both), as "r5" on the wire. */
record Perm(char access, int domid) {
    boolean canRead() {
        return access == 'r' || access == 'b';
    }

    boolean canWrite() {
        return access == 'w' || access == 'b';
    }

    String wire() {
        return access + Integer.toString(domid);
    }

    /** Parses "n0", "b5"...: null if malformed. */
    static Perm parse(String s) {
        if (s.length() < 2 || "nrwb".indexOf(s.charAt(0)) < 0) return null;
        try {
            int d = Integer.parseInt(s.substring(1));
            return d < 0 || d > 0xFFFF ? null : new Perm(s.charAt(0), d);
        } catch (NumberFormatException e) {
            return null;
        }
    }

    static List<Perm> parseList(List<String> items) {
        List<Perm> out = new ArrayList<>();
        for (String s : items) {
            Perm p = parse(s);
            if (p == null) return null;
            out.add(p);
        }
        return out.isEmpty() ? null : out;
    }
}
