package org.jxen.engine.abi;

/** The FIFO event-channel ABI ({@code public/event_channel.h}). */
public final class FifoLayout {
    public static final int PRIORITY_MAX = 0;
    public static final int PRIORITY_DEFAULT = 7;
    public static final int PRIORITY_MIN = 15;
    public static final int MAX_QUEUES = PRIORITY_MIN + 1;

    /** Bits of an event_word_t (uint32_t). */
    public static final int PENDING = 31;
    public static final int MASKED = 30;
    public static final int LINKED = 29;
    public static final int BUSY = 28;
    public static final int LINK_BITS = 17;
    public static final int LINK_MASK = (1 << LINK_BITS) - 1;
    public static final int NR_CHANNELS = 1 << LINK_BITS;

    /** struct evtchn_fifo_control_block { uint32_t ready; uint32_t _rsvd; uint32_t head[16]; } */
    public static final int CONTROL_BLOCK_SIZE = 72;
    public static final int CONTROL_READY = 0;
    public static final int CONTROL_HEAD = 8;

    public static final int WORDS_PER_PAGE = 4096 / 4;
    public static final int MAX_EVENT_ARRAY_PAGES = NR_CHANNELS / WORDS_PER_PAGE;

    private FifoLayout() {}

    /** Offset of head[priority] in the control block. */
    public static int headOffset(int priority) {
        return CONTROL_HEAD + 4 * priority;
    }
}
