package org.jxen.engine.abi;

/** EVTCHNOP_* command numbers and EVTCHNSTAT_* values ({@code public/event_channel.h}). */
public final class EvtchnOp {
    public static final int BIND_INTERDOMAIN = 0;
    public static final int BIND_VIRQ = 1;
    public static final int BIND_PIRQ = 2;
    public static final int CLOSE = 3;
    public static final int SEND = 4;
    public static final int STATUS = 5;
    public static final int ALLOC_UNBOUND = 6;
    public static final int BIND_IPI = 7;
    public static final int BIND_VCPU = 8;
    public static final int UNMASK = 9;
    public static final int RESET = 10;
    public static final int INIT_CONTROL = 11;
    public static final int EXPAND_ARRAY = 12;
    public static final int SET_PRIORITY = 13;
    public static final int RESET_CONT = 14;

    public static final int STAT_CLOSED = 0;
    public static final int STAT_UNBOUND = 1;
    public static final int STAT_INTERDOMAIN = 2;
    public static final int STAT_PIRQ = 3;
    public static final int STAT_VIRQ = 4;
    public static final int STAT_IPI = 5;

    /** evtchn_bind_pirq flags. */
    public static final int BIND_PIRQ_WILL_SHARE = 1;

    private EvtchnOp() {}
}
