package org.jxen.vmm.xenstore;

import java.util.List;
import java.util.TreeMap;

/**
 * An immutable XenStore node: its value, its permissions (the first entry is the owner and everyone's default), its
 * children by name, and a generation number that changes whenever the node does (transactions detect conflicts
 * with it). A store is a persistent tree of these: a change copies the path from the root.
 */
record Node(byte[] value, List<Perm> perms, TreeMap<String, Node> children, long generation) {
    static Node empty(List<Perm> perms, long generation) {
        return new Node(new byte[0], perms, new TreeMap<>(), generation);
    }

    Node withValue(byte[] v, long gen) {
        return new Node(v, perms, children, gen);
    }

    Node withPerms(List<Perm> p, long gen) {
        return new Node(value, p, children, gen);
    }

    Node withChild(String name, Node child, long gen) {
        TreeMap<String, Node> c = new TreeMap<>(children);
        if (child == null) c.remove(name);
        else c.put(name, child);
        return new Node(value, perms, c, gen);
    }

    int owner() {
        return perms.getFirst().domid();
    }

    /** Counts this node and its descendants owned by {@code domid}. */
    int countOwnedBy(int domid) {
        int n = owner() == domid ? 1 : 0;
        for (Node c : children.values()) n += c.countOwnedBy(domid);
        return n;
    }
}
