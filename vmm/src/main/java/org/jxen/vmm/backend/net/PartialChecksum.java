package org.jxen.vmm.backend.net;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Finishes the TCP or UDP checksum of a frame the guest sent with NETTXF_csum_blank (its checksum offload: the field
 * is left for the backend), as netback's {@code skb_checksum_setup} with recalculation does: the pseudo-header is
 * computed here from the IP header rather than trusted from the guest. IPv4 (unfragmented) and IPv6 without extension
 * headers, each carrying TCP or UDP directly after an untagged Ethernet header; anything else cannot be finished.
 */
final class PartialChecksum {
    private static final ValueLayout.OfShort BE16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final int ETHERTYPE_IPV4 = 0x0800, ETHERTYPE_IPV6 = 0x86DD, PROTO_TCP = 6, PROTO_UDP = 17;
    private static final int TCP_CHECK = 16, UDP_CHECK = 6, IPV6_HEADER = 40;

    private PartialChecksum() {}

    /** Writes the checksum into the first {@code length} bytes of {@code frame}; false if the frame is not one we can finish. */
    static boolean finish(MemorySegment frame, int length) {
        if (length < Netif.ETH_HLEN + 20) return false;
        int ethertype = u16(frame, 12), ip = Netif.ETH_HLEN;
        long sum;
        int proto, l4, l4Length;
        if (ethertype == ETHERTYPE_IPV4) {
            int versionIhl = u8(frame, ip);
            int ihl = (versionIhl & 0xF) * 4;
            if (versionIhl >>> 4 != 4 || ihl < 20) return false;
            if ((u16(frame, ip + 6) & 0x3FFF) != 0) return false; // a fragment: the transport header is not all here
            int total = u16(frame, ip + 2);
            if (total < ihl || ip + total > length) return false;
            proto = u8(frame, ip + 9);
            l4 = ip + ihl;
            l4Length = total - ihl;
            sum = add(frame, ip + 12, 8); // source and destination addresses
        } else if (ethertype == ETHERTYPE_IPV6) {
            if (length < ip + IPV6_HEADER || u8(frame, ip) >>> 4 != 6) return false;
            proto = u8(frame, ip + 6);
            l4 = ip + IPV6_HEADER;
            l4Length = u16(frame, ip + 4);
            if (l4 + l4Length > length) return false;
            sum = add(frame, ip + 8, 32);
        } else {
            return false;
        }
        int check = switch (proto) {
            case PROTO_TCP -> TCP_CHECK;
            case PROTO_UDP -> UDP_CHECK;
            default -> -1;
        };
        if (check < 0 || l4Length < check + 2) return false;
        sum += proto + l4Length;
        frame.set(BE16, l4 + check, (short) 0);
        sum += add(frame, l4, l4Length);
        int result = ~fold(sum) & 0xFFFF;
        if (result == 0 && proto == PROTO_UDP) result = 0xFFFF; // 0 means "no checksum" in UDP
        frame.set(BE16, l4 + check, (short) result);
        return true;
    }

    /** The one's complement sum, unfolded, of {@code length} bytes at {@code at} as big-endian 16-bit words. */
    static long add(MemorySegment frame, int at, int length) {
        long sum = 0;
        int i = 0;
        for (; i + 1 < length; i += 2) sum += u16(frame, at + i);
        if (i < length) sum += u8(frame, at + i) << 8;
        return sum;
    }

    static int fold(long sum) {
        while ((sum >>> 16) != 0) sum = (sum & 0xFFFF) + (sum >>> 16);
        return (int) sum;
    }

    private static int u16(MemorySegment s, int at) {
        return s.get(BE16, at) & 0xFFFF;
    }

    private static int u8(MemorySegment s, int at) {
        return s.get(ValueLayout.JAVA_BYTE, at) & 0xFF;
    }
}
