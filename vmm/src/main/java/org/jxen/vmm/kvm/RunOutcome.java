package org.jxen.vmm.kvm;

/**
 * How a guest run ended: the process exit status and a one-line reason. The statuses follow the guest contract:
 * poweroff 0, crash 3, reboot 4; a fault the guest cannot recover from (triple fault, entry failure, a halt nothing
 * can end) 2; a jxen or KVM failure 1; the run's time limit 124 (as timeout(1)); stopped from outside (a signal,
 * a caller) 130, as a shell reports SIGINT.
 */
public record RunOutcome(int status, String reason) {
    public static final int POWEROFF = 0, JXEN_ERROR = 1, GUEST_FAULT = 2, CRASH = 3, REBOOT = 4, TIMEOUT = 124, STOPPED = 130;

    /** The run ended with the guest still running (time limit or a stop from outside): it can be saved. */
    public boolean guestAlive() {
        return status == TIMEOUT || status == STOPPED;
    }

    /** SCHEDOP_shutdown's reason (SHUTDOWN_poweroff 0, reboot 1, suspend 2, crash 3, watchdog 4, soft_reset 5). */
    public static RunOutcome forShutdown(int reason) {
        return switch (reason) {
            case 0 -> new RunOutcome(POWEROFF, "guest powered off");
            case 1 -> new RunOutcome(REBOOT, "guest asked to reboot");
            case 3 -> new RunOutcome(CRASH, "guest crashed (SHUTDOWN_crash)");
            case 4 -> new RunOutcome(CRASH, "guest watchdog fired (SHUTDOWN_watchdog)");
            default -> new RunOutcome(GUEST_FAULT, "guest shut down with reason " + reason + ", which jxen does not support");
        };
    }
}
