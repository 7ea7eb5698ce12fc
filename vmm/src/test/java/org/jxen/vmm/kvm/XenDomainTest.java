package org.jxen.vmm.kvm;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.nio.file.Path;
import java.time.Duration;

import org.junit.jupiter.api.Test;
import org.jxen.sys.kvm.Kvm;
import org.jxen.sys.kvm.KvmUnavailableException;

/**
 * Guests on /dev/kvm: the gcc-built PVH guests run to their end. Skipped, with the reason, where there is no
 * /dev/kvm (as on a host whose kernel is itself a PVM guest); there the missing device must give a one-line reason.
 */
class XenDomainTest {
    private static final String NO_KVM = "no /dev/kvm on this machine: the KVM guest tests are skipped";

    private static RunConfig config(String guest, ByteArrayOutputStream console, int timeoutSeconds) {
        return new RunConfig(Path.of(System.getProperty("jxen.guests", "target/guests"), guest), 16L << 20, 2, "",
                Duration.ofSeconds(timeoutSeconds), console, new ByteArrayInputStream(new byte[0]));
    }

    @Test
    void withoutKvmTheRunFailsWithOneLine() {
        assumeFalse(Kvm.present(), "/dev/kvm is present");
        KvmUnavailableException e = assertThrows(KvmUnavailableException.class,
                () -> XenDomain.create(config("pvh-xen-32.elf", new ByteArrayOutputStream(), 5)));
        assertTrue(e.getMessage().contains("/dev/kvm"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
    }

    /** A test guest built on xen32.h: each stage prints PASS, a failed check crashes the domain with FAIL. */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"pvh-events-32.elf", "pvh-ipi2-32.elf", "pvh-fifo-32.elf", "pvh-xenstore-32.elf", "pvh-platform-32.elf", "pvh-long-64.elf"})
    void guestStagesAllPass(String guest) throws Exception {
        assumeTrue(Kvm.present(), NO_KVM);
        ByteArrayOutputStream console = new ByteArrayOutputStream();
        RunOutcome o;
        try (XenDomain d = XenDomain.create(config(guest, console, 240))) {
            o = d.run();
        }
        String out = console.toString();
        System.out.println(guest + ":\n" + out.strip());
        assertEquals(RunOutcome.POWEROFF, o.status(), o.reason() + "; console:\n" + out);
        assertTrue(out.contains("ALL PASSED") && !out.contains("FAIL"), out);
    }

    @Test
    void guestGrantsAPageToAJxenBackendThatWritesIntoIt() throws Exception {
        assumeTrue(Kvm.present(), NO_KVM);
        ByteArrayOutputStream console = new ByteArrayOutputStream();
        java.util.concurrent.atomic.AtomicReference<Throwable> backendError = new java.util.concurrent.atomic.AtomicReference<>();
        RunOutcome o;
        try (XenDomain d = XenDomain.create(config("pvh-grant-32.elf", console, 120))) {
            // The backend: the guest leaves {magic, ref, state} at guest-physical 0x7000 (see pvh_grant.c).
            org.jxen.engine.grant.GrantMapper mapper = new org.jxen.engine.grant.GrantMapper(d.platform().grants(), d.ram(), 0);
            var mailbox = d.ram().region(0x7000, 12).orElseThrow();
            Thread backend = Thread.ofPlatform().daemon(true).start(() -> {
                try {
                    awaitState(mailbox, 0, 0x544E5247);
                    var r = mapper.map(mailbox.getIntVolatile(4), false);
                    assertEquals(org.jxen.engine.grant.GrantMapper.GNTST_OKAY, r.status());
                    r.mapping().page().putIntVolatile(0, 0xC0FFEE);
                    mailbox.putIntVolatile(8, 2);
                    awaitState(mailbox, 8, 3);
                    mapper.unmap(r.mapping());
                    mailbox.putIntVolatile(8, 4);
                } catch (Throwable t) {
                    backendError.set(t);
                }
            });
            o = d.run();
            backend.join(5000);
        }
        String out = console.toString();
        System.out.println("pvh-grant-32.elf:\n" + out.strip());
        assertNull(backendError.get(), () -> "backend: " + backendError.get());
        assertEquals(RunOutcome.POWEROFF, o.status(), o.reason() + "; console:\n" + out);
        assertTrue(out.contains("ALL PASSED") && !out.contains("FAIL"), out);
    }

    private static void awaitState(org.jxen.engine.memory.GuestRegion mailbox, int offset, int value) throws InterruptedException {
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (mailbox.getIntVolatile(offset) != value) {
            if (System.nanoTime() > deadline) throw new AssertionError("the guest never reached state " + value);
            Thread.sleep(1);
        }
    }

    @Test
    void guestFindsXenMakesHypercallsAndPowersOff() throws Exception {
        assumeTrue(Kvm.present(), NO_KVM);
        ByteArrayOutputStream console = new ByteArrayOutputStream();
        try (XenDomain d = XenDomain.create(config("pvh-xen-32.elf", console, 30))) {
            RunOutcome o = d.run();
            assertEquals(RunOutcome.POWEROFF, o.status(), o.reason() + "; console: " + console);
        }
        assertTrue(console.toString().contains("hello via HYPERVISOR_console_io"), console.toString());
    }

    @Test
    void randomHypercallsFromAGuestAreAllAnswered() throws Exception {
        assumeTrue(Kvm.present(), NO_KVM);
        ByteArrayOutputStream console = new ByteArrayOutputStream();
        try (XenDomain d = XenDomain.create(config("pvh-hostile-32.elf", console, 120))) {
            RunOutcome o = d.run();
            assertEquals(RunOutcome.POWEROFF, o.status(), o.reason() + "; console: " + console);
        }
        assertTrue(console.toString().matches("(?s).*hostile: \\d{5} hypercalls answered on 2 vCPUs\n.*"), console.toString());
    }

    @Test
    void haltWithInterruptsOffEndsTheRunPromptly() throws Exception {
        assumeTrue(Kvm.present(), NO_KVM);
        // The guest prints its line and then halts with interrupts off: the time from that line to the end of the run
        // is the watchdog's reaction (the build and JIT warm-up before it can be slow under emulation).
        java.util.concurrent.atomic.AtomicLong lineAt = new java.util.concurrent.atomic.AtomicLong();
        ByteArrayOutputStream console = new ByteArrayOutputStream() {
            @Override
            public synchronized void write(int b) {
                super.write(b);
                if (b == '\n') lineAt.compareAndSet(0, System.nanoTime());
            }
        };
        long ended;
        try (XenDomain d = XenDomain.create(config("pvh-hello-32.elf", console, 120))) {
            RunOutcome o = d.run();
            ended = System.nanoTime();
            assertEquals(RunOutcome.GUEST_FAULT, o.status(), o.reason());
            assertTrue(o.reason().contains("halted with interrupts disabled"), o.reason());
        }
        double seconds = (ended - lineAt.get()) / 1e9;
        System.out.printf("halt watchdog: run ended %.2f s after the guest's last line%n", seconds);
        assertTrue(lineAt.get() != 0 && seconds < 3, "ended by the watchdog soon after the halt, not at the time limit: " + seconds + " s");
        assertEquals("hello from a PVH guest\n", console.toString());
    }
}
