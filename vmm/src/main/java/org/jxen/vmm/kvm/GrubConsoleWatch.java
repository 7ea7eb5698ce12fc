package org.jxen.vmm.kvm;

import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads along what PVH GRUB prints while it passes through unchanged: the messages GRUB gave ({@code error: ...}
 * lines, as {@code grub_print_error} writes them, GRUB's {@code kern/err.c}; and what the early start prints on the
 * debug port before it halts, {@code kern/i386/xen/pvh.c}) and its command-line prompt ({@code grub> },
 * {@code normal/cmdline.c}), where GRUB ends up after any failed boot: a missing grub.cfg, a kernel it cannot load,
 * a menu entry that failed (after its "Press any key to continue..." wait). jxen quotes these when GRUB stops, so a
 * bad image ends with GRUB's own words.
 *
 * <p>What the end of such a run means: GRUB at its prompt with nobody to type (not {@code interactive}) ends the run
 * there; a run that ended in a fault while GRUB still ran (paging off, {@link XenDomain#bootVcpuPaging}) is GRUB's
 * stop, not the kernel's. Either way the reason quotes GRUB. A kernel GRUB started that stopped where VMCALL cannot
 * reach jxen (user mode) is told as that.
 *
 * <p>GRUB draws its console with ANSI sequences (colours, cursor positioning): they are dropped, and a cursor move
 * ends the line being read, as it ends what GRUB was writing there. Bytes are read as Latin-1 (GRUB's messages are
 * ASCII).
 */
public final class GrubConsoleWatch {
    /** GRUB's command-line prompt, as it prints it at the start of a line. */
    static final String PROMPT = "grub> ";
    /** How many of GRUB's messages are kept (the latest). */
    private static final int KEPT = 4;

    private final boolean interactive;
    private final StringBuilder line = new StringBuilder();
    private final List<String> messages = new ArrayList<>();
    private boolean promptSeen;
    /** Where an escape sequence is: 0 none, 1 after ESC, 2 inside a control sequence (ESC [). */
    private int escape;
    private volatile XenDomain domain;

    /** {@code interactive}: a user is at the console (a terminal), so GRUB's prompt is theirs. */
    public GrubConsoleWatch(boolean interactive) {
        this.interactive = interactive;
    }

    /** {@code config} with both consoles read along (GRUB prints on the debug port until its PV console is up). */
    public RunConfig watching(RunConfig config) {
        return new RunConfig(config.image(), config.memoryBytes(), config.vcpus(), config.cmdline(), config.timeout(), readAlong(config.console()),
                config.consoleInput(), readAlong(config.hypervisorConsole()), config.accel(), config.initrd(), config.disks(), config.nets(),
                config.eventChannels(), config.pit());
    }

    /** The domain built from {@link #watching}'s config, before it runs: the one a prompt with nobody to type ends. */
    public void attach(XenDomain d) {
        domain = d;
    }

    /**
     * The run's outcome as the user should read it: a fault (a halt nothing can end, a triple fault) while GRUB still
     * ran quotes GRUB's messages; one after GRUB started a kernel, in user mode, says that the kernel may need KVM's
     * Xen support; anything else is the run's own outcome.
     */
    public RunOutcome explain(RunOutcome outcome, XenDomain d) {
        if (outcome.status() != RunOutcome.GUEST_FAULT || promptSeen()) return outcome;
        boolean grubRan;
        try {
            grubRan = !d.bootVcpuPaging();
        } catch (IllegalStateException vcpuStillRunning) {
            return outcome;
        }
        if (!grubRan) {
            // The kernel GRUB started stopped. Where VMCALL cannot reach jxen, say so: a kernel that calls Xen that way
            // (Linux 6.12, booted by GRUB as Xen HVM) gets KVM's own answer to its first hypercall and halts before its
            // console is up, so nothing else would tell the user why.
            String noVmcall = d.acceleration().vmcallRefusal();
            return noVmcall == null ? outcome : new RunOutcome(outcome.status(), "the kernel GRUB started stopped: " + outcome.reason()
                    + " (a kernel that calls Xen by VMCALL/VMMCALL, as Linux 6.12 does, needs KVM's Xen support: " + noVmcall + ")");
        }
        String said = messages();
        return new RunOutcome(outcome.status(), "GRUB stopped before starting a kernel: " + (said.isEmpty() ? "it printed no error" : said)
                + " (" + outcome.reason() + ")");
    }

    private void atPrompt() {
        XenDomain d = domain;
        if (interactive || d == null) return;
        String said = messages();
        d.end(new RunOutcome(RunOutcome.GUEST_FAULT, "GRUB stopped at its prompt without starting a kernel: "
                + (said.isEmpty() ? "it printed no error" : said)));
    }

    /** {@code out} with this watch reading along. */
    public OutputStream readAlong(OutputStream out) {
        return new FilterOutputStream(out) {
            @Override
            public void write(int b) throws IOException {
                out.write(b);
                read(b);
            }

            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                out.write(b, off, len);
                for (int i = off; i < off + len; i++) read(b[i]);
            }
        };
    }

    private void read(int b) {
        boolean prompt;
        synchronized (this) {
            prompt = take(b & 0xff);
        }
        if (prompt) atPrompt();
    }

    /** Takes one byte; true when it completed GRUB's first prompt. */
    private boolean take(int c) {
        switch (escape) {
            case 1 -> {
                escape = c == '[' ? 2 : 0;
                return false;
            }
            case 2 -> {
                if (c >= 0x40 && c <= 0x7e) { // the final byte of a control sequence
                    escape = 0;
                    if (c == 'H' || c == 'J' || c == 'f') endLine(); // cursor moved or screen cleared
                }
                return false;
            }
            default -> { }
        }
        if (c == 0x1b) {
            escape = 1;
            return false;
        }
        if (c == '\n' || c == '\r') {
            endLine();
            return false;
        }
        if (c < 0x20 || c == 0x7f) return false;
        line.append((char) c);
        if (!promptSeen && line.toString().equals(PROMPT)) {
            promptSeen = true;
            return true;
        }
        return false;
    }

    private void endLine() {
        String text = line.toString().strip();
        line.setLength(0);
        if (text.startsWith("error: ") || text.endsWith("System halted!") || text.endsWith("failed!")) {
            if (messages.isEmpty() || !messages.getLast().equals(text)) messages.add(text);
            if (messages.size() > KEPT) messages.removeFirst();
        }
    }

    /** Whether GRUB has shown its prompt. */
    public synchronized boolean promptSeen() {
        return promptSeen;
    }

    /** GRUB's latest messages (up to four, oldest first) on one line, or "" if it gave none. */
    public synchronized String messages() {
        List<String> all = new ArrayList<>(messages);
        String pending = line.toString().strip(); // a message still without its line end
        if (pending.startsWith("error: ") && (all.isEmpty() || !all.getLast().equals(pending))) all.add(pending);
        return String.join(" ", all.subList(Math.max(0, all.size() - KEPT), all.size()));
    }
}
