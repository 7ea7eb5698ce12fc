package org.jxen.vmm.xenstore;

import static org.junit.jupiter.api.Assertions.*;

import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;

import org.junit.jupiter.api.Test;
import org.jxen.engine.abi.DomId;
import org.jxen.engine.abi.Errno;
import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.abi.Hypercall;
import org.jxen.engine.evtchn.DomainConfig;
import org.jxen.engine.hvm.HvmOp;
import org.jxen.engine.hvm.HvmParam;
import org.jxen.engine.hvm.HvmParams;
import org.jxen.engine.hypercall.HypercallArgs;
import org.jxen.engine.hypercall.HypercallDispatcher;
import org.jxen.engine.testing.EventFixture;
import org.jxen.vmm.backend.ConsoleBackend;
import org.jxen.vmm.backend.PvDevices;

/** A guest finds its console and XenStore through HVMOP_get_param (a real hypercall through the dispatcher) and uses them. */
class PvDevicesTest {
    private static final long PARAM_GPA = 0x1800;

    private static long hvmParam(EventFixture f, HypercallDispatcher d, int op, int domid, int index, long value) {
        var s = f.ram.segment();
        s.set(ValueLayout.JAVA_SHORT_UNALIGNED, PARAM_GPA, (short) domid);
        s.set(ValueLayout.JAVA_INT_UNALIGNED, PARAM_GPA + 4, index);
        s.set(ValueLayout.JAVA_LONG_UNALIGNED, PARAM_GPA + 8, value);
        return d.dispatch(HypercallArgs.from64(Hypercall.HVM_OP, op, PARAM_GPA, 0, 0, 0), f.vmem, false);
    }

    private static long getParam(EventFixture f, HypercallDispatcher d, int index) {
        assertEquals(0, hvmParam(f, d, HvmParam.HVMOP_GET_PARAM, DomId.DOMID_SELF, index, 0), "get_param " + index);
        return f.ram.segment().get(ValueLayout.JAVA_LONG_UNALIGNED, PARAM_GPA + 8);
    }

    @Test
    void guestFindsAndUsesConsoleAndXenStore() throws Exception {
        ByteArrayOutputStream stdout = new ByteArrayOutputStream();
        try (var f = new EventFixture(GuestWidth.BITS_64, DomainConfig.of(2), 256 * 1024).withFastPath()) {
            HvmParams params = new HvmParams(2);
            XenStore store = new XenStore(XenStore.Quota.DEFAULT);
            HypercallDispatcher d = HypercallDispatcher.withEventChannels(f.op, true);
            d.register(Hypercall.HVM_OP, new HvmOp(f.guest, params));
            try (var pv = new PvDevices(f.ports, f.backendSignals, f.ram, params, store, "guest", 0x20, 0x21, stdout,
                    InputStream.nullInputStream())) {
                long storePfn = getParam(f, d, HvmParam.STORE_PFN);
                int storeEvtchn = (int) getParam(f, d, HvmParam.STORE_EVTCHN);
                long consolePfn = getParam(f, d, HvmParam.CONSOLE_PFN);
                int consoleEvtchn = (int) getParam(f, d, HvmParam.CONSOLE_EVTCHN);
                assertEquals(0x21, storePfn);
                assertEquals(pv.storePort(), storeEvtchn);

                GuestXsClient xs = new GuestXsClient(f, f.ram.page(storePfn).orElseThrow(), storeEvtchn);
                assertEquals("guest", xs.call(XsWire.READ, 0, "name\0").text());
                assertEquals(Long.toString(consolePfn), xs.call(XsWire.READ, 0, "console/ring-ref\0").text());
                assertEquals(Integer.toString(consoleEvtchn), xs.call(XsWire.READ, 0, "console/port\0").text());

                var ring = f.ram.page(consolePfn).orElseThrow();
                byte[] msg = "booted\n".getBytes(StandardCharsets.UTF_8);
                for (int i = 0; i < msg.length; i++) ring.putByte(ConsoleBackend.OUT + i, msg[i]);
                ring.putIntRelease(ConsoleBackend.OUT_PROD, msg.length);
                assertEquals(0, f.ports.send(consoleEvtchn));
                long deadline = System.nanoTime() + 60_000_000_000L;
                while (!stdout.toString(StandardCharsets.UTF_8).equals("booted\n") && System.nanoTime() < deadline) Thread.sleep(1);
                assertEquals("booted\n", stdout.toString(StandardCharsets.UTF_8));
            }
        }
    }

    @Test
    void hvmParamRules() {
        try (var f = EventFixture.of(GuestWidth.BITS_64)) {
            HvmParams params = new HvmParams(4);
            HypercallDispatcher d = HypercallDispatcher.withEventChannels(f.op, true);
            d.register(Hypercall.HVM_OP, new HvmOp(f.guest, params));
            params.set(HvmParam.IOREQ_PFN, 0x99);
            assertEquals(-Errno.EPERM, hvmParam(f, d, HvmParam.HVMOP_GET_PARAM, DomId.DOMID_SELF, HvmParam.IOREQ_PFN, 0), "toolstack-only");
            assertEquals(-Errno.EPERM, hvmParam(f, d, HvmParam.HVMOP_SET_PARAM, DomId.DOMID_SELF, HvmParam.STORE_PFN, 5), "set by the toolstack only");
            assertEquals(-Errno.EINVAL, hvmParam(f, d, HvmParam.HVMOP_GET_PARAM, DomId.DOMID_SELF, HvmParam.COUNT, 0));
            assertEquals(-Errno.EINVAL, hvmParam(f, d, HvmParam.HVMOP_GET_PARAM, DomId.DOMID_SELF, -1, 0));
            assertEquals(-Errno.EPERM, hvmParam(f, d, HvmParam.HVMOP_GET_PARAM, DomId.DOM0, HvmParam.STORE_PFN, 0));
            assertEquals(-Errno.ESRCH, hvmParam(f, d, HvmParam.HVMOP_GET_PARAM, 42, HvmParam.STORE_PFN, 0));
            assertEquals(-Errno.EFAULT, d.dispatch(HypercallArgs.from64(Hypercall.HVM_OP, HvmParam.HVMOP_GET_PARAM, -16, 0, 0, 0), f.vmem, false));
            assertEquals(-Errno.ENOSYS, d.dispatch(HypercallArgs.from64(Hypercall.HVM_OP, 999, PARAM_GPA, 0, 0, 0), f.vmem, false));

            // CALLBACK_IRQ of type VECTOR (2 in bits 63:56): the domain-wide upcall vector; set from 32-bit code latches.
            long callback = (2L << 56) | 0xF3;
            var s = f.ram.segment();
            s.set(ValueLayout.JAVA_SHORT_UNALIGNED, PARAM_GPA, (short) DomId.DOMID_SELF);
            s.set(ValueLayout.JAVA_INT_UNALIGNED, PARAM_GPA + 4, HvmParam.CALLBACK_IRQ);
            s.set(ValueLayout.JAVA_LONG_UNALIGNED, PARAM_GPA + 8, callback);
            assertEquals(0, (int) d.dispatch(HypercallArgs.from32(Hypercall.HVM_OP, HvmParam.HVMOP_SET_PARAM, PARAM_GPA, 0, 0, 0), f.vmem, false));
            assertEquals(GuestWidth.BITS_32, f.guest.shared().width(), "CALLBACK_IRQ latches the layout from the caller's mode");
            assertEquals(0xF3, params.upcallVector(3));
            // HVMOP_set_evtchn_upcall_vector: per vCPU, takes precedence; vectors below 0x10 rejected.
            s.set(ValueLayout.JAVA_INT_UNALIGNED, PARAM_GPA, 1);
            s.set(ValueLayout.JAVA_BYTE, PARAM_GPA + 4, (byte) 0x0F);
            assertEquals(-Errno.EINVAL, d.dispatch(HypercallArgs.from64(Hypercall.HVM_OP, HvmParam.HVMOP_SET_EVTCHN_UPCALL_VECTOR, PARAM_GPA, 0, 0, 0), f.vmem, false));
            s.set(ValueLayout.JAVA_BYTE, PARAM_GPA + 4, (byte) 0xE0);
            assertEquals(0, d.dispatch(HypercallArgs.from64(Hypercall.HVM_OP, HvmParam.HVMOP_SET_EVTCHN_UPCALL_VECTOR, PARAM_GPA, 0, 0, 0), f.vmem, false));
            assertEquals(0xE0, params.upcallVector(1));
            assertEquals(0xF3, params.upcallVector(0));
            s.set(ValueLayout.JAVA_INT_UNALIGNED, PARAM_GPA, 4);
            assertEquals(-Errno.ENOENT, d.dispatch(HypercallArgs.from64(Hypercall.HVM_OP, HvmParam.HVMOP_SET_EVTCHN_UPCALL_VECTOR, PARAM_GPA, 0, 0, 0), f.vmem, false));
        }
    }
}
