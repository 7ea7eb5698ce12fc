package org.jxen.vmm.xenstore;

/** XenStore's wire protocol and ring ({@code public/io/xs_wire.h}). */
public final class XsWire {
    public static final int CONTROL = 0, DIRECTORY = 1, READ = 2, GET_PERMS = 3, WATCH = 4, UNWATCH = 5,
            TRANSACTION_START = 6, TRANSACTION_END = 7, INTRODUCE = 8, RELEASE = 9, GET_DOMAIN_PATH = 10, WRITE = 11,
            MKDIR = 12, RM = 13, SET_PERMS = 14, WATCH_EVENT = 15, ERROR = 16, IS_DOMAIN_INTRODUCED = 17, RESUME = 18,
            SET_TARGET = 19, RESET_WATCHES = 21, DIRECTORY_PART = 22;

    /** struct xsd_sockmsg { uint32_t type, req_id, tx_id, len; } */
    public static final int HEADER_SIZE = 16;
    /** XENSTORE_PAYLOAD_MAX. */
    public static final int PAYLOAD_MAX = 4096;
    /** XENSTORE_ABS_PATH_MAX / XENSTORE_REL_PATH_MAX. */
    public static final int ABS_PATH_MAX = 3072, REL_PATH_MAX = 2048;

    /** struct xenstore_domain_interface: req[1024], rsp[1024], then the four indexes, features, connection, error. */
    public static final int RING_SIZE = 1024;
    public static final int REQ = 0, RSP = 1024, REQ_CONS = 2048, REQ_PROD = 2052, RSP_CONS = 2056, RSP_PROD = 2060,
            SERVER_FEATURES = 2064, CONNECTION = 2068, ERROR_FIELD = 2072;
    public static final int INTERFACE_SIZE = 2076;

    private XsWire() {}
}
