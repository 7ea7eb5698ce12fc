package org.jxen.vmm.accel;

import static org.junit.jupiter.api.Assertions.*;
import static org.jxen.sys.kvm.KvmAbi.*;

import org.junit.jupiter.api.Test;

/** Which features kvm mode uses for each set of KVM_CAP_XEN_HVM flags: a pure function of the offer. */
class XenOfferTest {
    private static final int HCALL = KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL;

    /** timers, runstates, update flag, irqfds, event send. */
    private static void assertUses(XenOffer o, boolean timers, boolean runstates, boolean updateFlag, boolean irqfds, boolean send) {
        assertEquals(timers, o.timers(), "timers of " + o);
        assertEquals(runstates, o.runstates(), "runstates of " + o);
        assertEquals(updateFlag, o.runstateUpdateFlag(), "update flag of " + o);
        assertEquals(irqfds, o.backendIrqfds(), "irqfds of " + o);
        assertEquals(send, o.eventSend(), "event send of " + o);
    }

    @Test
    void everyFlagEveryFeature() {
        XenOffer o = new XenOffer(0x1FF);
        assertTrue(o.interceptsHypercalls() && o.sendRoutes());
        assertUses(o, true, true, true, true, true);
        assertEquals("hypercalls, pvclock, callback vector, send routes, timers, runstates (with update flag), backend irqfds, event send", o.describe());
    }

    @Test
    void withoutInterceptionNothingIsUsedWhateverElseIsOffered() {
        for (XenOffer o : new XenOffer[] {XenOffer.NONE, new XenOffer(0x1FF & ~HCALL), new XenOffer(-22)}) {
            assertFalse(o.interceptsHypercalls());
            assertFalse(o.sendRoutes());
            assertUses(o, false, false, false, false, false);
            assertEquals("none", o.describe());
        }
    }

    @Test
    void eachPartialOfferTurnsOffOnlyWhatDependsOnIt() {
        assertUses(new XenOffer(HCALL), false, false, false, false, false);
        // TIMER came with EVTCHN_SEND (Linux 5.19): without it, neither.
        assertUses(new XenOffer(0x1FF & ~KVM_XEN_HVM_CONFIG_EVTCHN_SEND), false, true, true, true, false);
        assertUses(new XenOffer(0x1FF & ~KVM_XEN_HVM_CONFIG_RUNSTATE), true, false, false, true, true);
        assertUses(new XenOffer(0x1FF & ~KVM_XEN_HVM_CONFIG_RUNSTATE_UPDATE_FLAG), true, true, false, true, true);
        assertUses(new XenOffer(0x1FF & ~KVM_XEN_HVM_CONFIG_EVTCHN_2LEVEL), true, true, true, false, true);
        assertUses(new XenOffer(HCALL | KVM_XEN_HVM_CONFIG_RUNSTATE_UPDATE_FLAG), false, false, false, false, false);
    }

    @Test
    void kvmAccelerationNeedsInterception() {
        assertThrows(IllegalArgumentException.class, () -> new KvmXenAcceleration(new XenOffer(0x1FF & ~HCALL), 0x40000000));
        assertNotNull(new UserSpaceAcceleration("why", null).vmcallRefusal());
        assertEquals("user (hypercalls through jxen's hypercall page; this KVM has no Xen support)",
                new UserSpaceAcceleration("why", "this KVM has no Xen support").describe());
    }
}
