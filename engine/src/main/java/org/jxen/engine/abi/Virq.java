package org.jxen.engine.abi;

/** Virtual IRQs ({@code public/xen.h}). */
public final class Virq {
    public static final int TIMER = 0;
    public static final int DEBUG = 1;
    public static final int CONSOLE = 2;
    public static final int DOM_EXC = 3;
    public static final int TBUF = 4;
    public static final int DEBUGGER = 6;
    public static final int XENOPROF = 7;
    public static final int CON_RING = 8;
    public static final int PCPU_STATE = 9;
    public static final int MEM_EVENT = 10;
    public static final int ARGO = 11;
    public static final int ENOMEM = 12;
    public static final int XENPMU = 13;
    public static final int ARCH_0 = 16;
    public static final int ARCH_7 = 23;
    /** NR_VIRQS. */
    public static final int COUNT = 24;

    private Virq() {}

    /** Xen's {@code virq_is_global()}: only TIMER, DEBUG, XENOPROF and XENPMU are per-vCPU (x86: ARCH_* global). */
    public static boolean isGlobal(int virq) {
        return switch (virq) {
            case TIMER, DEBUG, XENOPROF, XENPMU -> false;
            default -> true;
        };
    }
}
