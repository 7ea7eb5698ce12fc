package org.jxen.bench.paired;

/**
 * The benchmark guests' protocol ({@code bench/src/main/guest/bench_mbox.h}): the I/O ports they mark progress on, the
 * commands, and the mailbox layout ({@code struct mbox}: seq, cmd, iters, done, arg[8], then u64 samples).
 */
final class GuestCommands {
    static final int PORT_STAMP = 0x5B, PORT_ARMED = 0x5C, PORT_DONE = 0x5D, PORT_HELLO = 0x5E;
    static final int CMD_RTT = 1, CMD_RAISE = 2, CMD_BACKEND = 3, CMD_PINGPONG = 4, CMD_NOTIFY = 5, CMD_SEND_DIRECT = 6, CMD_EXIT_DIRECT = 7,
            CMD_HANDLER = 8, CMD_CALL_ONLY = 9;
    static final int MAX_SAMPLES = 20000;
    static final long SEQ = 0, CMD = 4, ITERS = 8, DONE = 12, ARG = 16, SAMPLES = 48;
    static final long MBOX_SIZE = SAMPLES + 8L * MAX_SAMPLES;
    static final int ARG_DOORBELL = 0, ARG_RAISE = 1, ARG_RTT = 2, ARG_BACKEND = 3;

    private GuestCommands() {}

    /** Commands whose samples are TSC ticks taken by the guest (the others are timed by the host). */
    static boolean guestTimed(int cmd) {
        return cmd == CMD_RTT || cmd == CMD_PINGPONG || cmd == CMD_SEND_DIRECT || cmd == CMD_EXIT_DIRECT || cmd == CMD_HANDLER || cmd == CMD_CALL_ONLY;
    }
}
