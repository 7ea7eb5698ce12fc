package org.jxen.vmm.backend.net;

/**
 * The network rings' ABI ({@code public/io/netif.h}): a transmit ring of 12-byte request slots (4-byte responses) and a
 * receive ring of 8-byte slots, one page each (256 slots), and the extra-info slots that may follow a transmit request.
 */
final class Netif {
    /** struct netif_tx_request: gref, offset, flags, id, size; its slot size. */
    static final int TX_GREF = 0, TX_OFFSET = 4, TX_FLAGS = 6, TX_ID = 8, TX_SIZE = 10, TX_SLOT = 12;
    /** NETTXF_*. */
    static final int TXF_CSUM_BLANK = 1, TXF_DATA_VALIDATED = 2, TXF_MORE_DATA = 4, TXF_EXTRA_INFO = 8;
    /** struct netif_tx_response: id, status. */
    static final int TX_RSP_ID = 0, TX_RSP_STATUS = 2, TX_RSP_SIZE = 4;
    /** struct netif_extra_info: type, flags (XEN_NETIF_EXTRA_FLAG_MORE: another extra slot follows). */
    static final int EXTRA_TYPE = 0, EXTRA_FLAGS = 1, EXTRA_FLAG_MORE = 1;
    /** XEN_NETIF_EXTRA_TYPE_*: GSO, multicast add/delete, hash; MAX is the first invalid one. */
    static final int EXTRA_GSO = 1, EXTRA_MAX = 5;
    /** struct netif_rx_request: id, pad, gref; its slot size. */
    static final int RX_ID = 0, RX_GREF = 4, RX_SLOT = 8;
    /** struct netif_rx_response: id, offset, flags, status (a length when positive). */
    static final int RX_RSP_ID = 0, RX_RSP_OFFSET = 2, RX_RSP_FLAGS = 4, RX_RSP_STATUS = 6, RX_RSP_SIZE = 8;
    /** NETRXF_more_data: the frame goes on in the next response. */
    static final int RXF_MORE_DATA = 4;
    /** XEN_NETIF_RSP_*. */
    static final short RSP_OKAY = 0, RSP_ERROR = -1, RSP_NULL = 1;
    /** netback's limits: slots a well-formed packet may use (XEN_NETBK_LEGACY_SLOTS_MAX), and beyond which the frontend is broken (fatal_skb_slots). */
    static final int MAX_SLOTS = 18, FATAL_SLOTS = 20;
    /** A page; the Ethernet header; the largest frame either way (a transmit request's size is 16 bits). */
    static final int PAGE = 4096, ETH_HLEN = 14, MAX_FRAME = 65536;

    private Netif() {}
}
