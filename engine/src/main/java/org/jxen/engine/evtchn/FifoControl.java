package org.jxen.engine.evtchn;

import static org.jxen.engine.abi.FifoLayout.*;

import java.util.Optional;

import org.jxen.engine.abi.Errno;
import org.jxen.engine.abi.SharedInfoLayout;
import org.jxen.engine.memory.GuestMemory;
import org.jxen.engine.memory.GuestRegion;

/**
 * EVTCHNOP_init_control and EVTCHNOP_expand_array (Xen's {@code evtchn_fifo_init_control},
 * {@code evtchn_fifo_expand_array}): the switch of the whole domain from 2-level to FIFO on the first control block,
 * carrying pending events over (they wait, held, until the event-array page covering them arrives), and the growth of
 * the event array a guest page at a time. EVTCHNOP_reset returns the domain to 2-level.
 *
 * <p>Senders on the fast path take no lock: one may have read the old ABI (or found no event page and held its
 * event) just before a switch or an expansion. Both therefore publish the change first, wait out such senders
 * ({@link #setGracePeriod}: the route table's grace period), and only then carry the pending events over or sweep
 * the held ones, so what a late sender set is seen.
 */
public final class FifoControl {
    private final PortManager ports;
    private final GuestDomain guest;
    private final GuestMemory memory;
    /** Returns once every fast-path sender that was in flight has finished (RouteTable's readers). */
    private volatile Runnable gracePeriod = () -> {};

    /** Tells the ABI changes how to wait out lock-free senders (call before the guest runs). */
    public void setGracePeriod(Runnable waitForSenders) {
        this.gracePeriod = waitForSenders;
    }

    public FifoControl(PortManager ports, GuestMemory memory) {
        this.ports = ports;
        this.guest = ports.guest();
        this.memory = memory;
    }

    /** link_bits returned by init_control. */
    public int linkBits() {
        return LINK_BITS;
    }

    /** Registers vCPU {@code vcpu}'s control block at {@code offset} in guest frame {@code gfn}. */
    public int initControl(long gfn, int offset, int vcpu) {
        if (!guest.hasVcpu(vcpu)) return -Errno.ENOENT;
        if (Integer.compareUnsigned(offset, SharedInfoLayout.PAGE_SIZE - CONTROL_BLOCK_SIZE) > 0) return -Errno.EINVAL;
        if ((offset & 7) != 0) return -Errno.EINVAL;
        return ports.underWriteLock(() -> initControlLocked(gfn, offset, vcpu));
    }

    private int initControlLocked(long gfn, int offset, int vcpu) {
        Optional<GuestRegion> page = memory.page(gfn);
        if (page.isEmpty()) return -Errno.EINVAL;
        GuestRegion block = page.get().slice(offset, CONTROL_BLOCK_SIZE);
        if (guest.abi() instanceof FifoAbi fifo) return fifo.mapControlBlock(vcpu, block);
        switchToFifo(vcpu, block);
        return 0;
    }

    /** The first control block: FIFO replaces 2-level for the whole domain (setup_ports). */
    private void switchToFifo(int vcpu, GuestRegion block) {
        EventChannelAbi twoLevel = guest.abi();
        int previousLimit = twoLevel.portLimit();
        FifoAbi fifo = guest.newFifo();
        fifo.mapControlBlock(vcpu, block);
        guest.setAbi(fifo);
        gracePeriod.run(); // a sender that read the 2-level ABI has set its bit by now: the sweep below sees it
        for (int port = 1; port < Math.min(previousLimit, guest.ports.validPorts()); port++) {
            if (twoLevel.isPending(port)) fifo.hold(port);
            Channel ch = guest.ports.get(port);
            if (ch.priority() != PRIORITY_DEFAULT) guest.ports.set(port, ch.withPriority(PRIORITY_DEFAULT));
        }
    }

    /** Adds guest frame {@code gfn} to the event array and raises the events held for the ports it covers. */
    public int expandArray(long gfn) {
        if (!(guest.abi() instanceof FifoAbi)) return -Errno.EOPNOTSUPP;
        return ports.underWriteLock(() -> expandArrayLocked(gfn));
    }

    private int expandArrayLocked(long gfn) {
        if (!(guest.abi() instanceof FifoAbi fifo)) return -Errno.EOPNOTSUPP;
        if (fifo.eventPages() >= MAX_EVENT_ARRAY_PAGES) return -Errno.ENOSPC;
        Optional<GuestRegion> page = memory.page(gfn);
        if (page.isEmpty()) return -Errno.EINVAL;
        int first = fifo.addEventPage(page.get());
        gracePeriod.run(); // a sender that found no page has held its event by now: the sweep below takes it
        for (int port = first; port < first + WORDS_PER_PAGE && guest.ports.isValid(port); port++) {
            if (fifo.takeHeld(port)) {
                Channel ch = guest.ports.get(port);
                if (!ch.isFree()) fifo.setPending(ch.vcpu(), port, ch.priority());
            }
        }
        return 0;
    }
}
