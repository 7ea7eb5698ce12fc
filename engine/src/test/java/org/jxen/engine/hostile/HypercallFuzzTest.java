package org.jxen.engine.hostile;

import org.jxen.engine.abi.DomId;
import org.jxen.engine.abi.GuestWidth;
import org.jxen.engine.abi.Virq;
import org.jxen.engine.evtchn.DomainConfig;
import org.jxen.engine.hypercall.HypercallDispatcher;
import org.jxen.engine.testing.EventFixture;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;

import org.junit.jupiter.api.Tag;

/**
 * Coverage-guided fuzzing of the hypercall surface with Jazzer: an input is a guest (layout, vCPUs, fast path on or
 * off) and a sequence of hypercalls with arbitrary registers, interleaved with scribbles over guest RAM and host-side
 * raises. Every result must be a Xen errno or 0, no exception may escape a handler (the dispatcher is strict), no
 * access may leave guest RAM (it would throw), and the port tables must stay consistent.
 *
 * <p>CI fuzzes for maxDuration; a longer run: {@code mvn -B -pl engine test -Dtest=HypercallFuzzTest -Djazzer.max_duration=1h}.
 * With {@code -Djxen.fuzz=} (empty) only the committed inputs are replayed.
 */
@Tag("slow")
class HypercallFuzzTest {
    @FuzzTest(maxDuration = "45s")
    void hypercalls(FuzzedDataProvider data) {
        HostileGuest.Choices c = new HostileGuest.Choices() {
            @Override
            public int intIn(int min, int max) {
                return data.consumeInt(min, max);
            }

            @Override
            public long anyLong() {
                return data.consumeLong();
            }

            @Override
            public boolean bool() {
                return data.consumeBoolean();
            }

            @Override
            public byte[] bytes(int max) {
                return data.consumeBytes(max);
            }
        };
        GuestWidth width = data.consumeBoolean() ? GuestWidth.BITS_64 : GuestWidth.BITS_32;
        var cfg = DomainConfig.of(data.consumeInt(1, 4)).withMaxPort(data.consumeBoolean() ? 200 : Integer.MAX_VALUE);
        EventFixture f = new EventFixture(width, cfg);
        try {
            if (data.consumeBoolean()) f.withFastPath();
            HypercallDispatcher d = HostileGuest.dispatcher(f);
            int steps = data.consumeInt(1, 40);
            for (int i = 0; i < steps && data.remainingBytes() > 0; i++) {
                switch (data.consumeInt(0, 9)) {
                    case 0 -> HostileGuest.scribble(f, c);
                    case 1 -> f.ports.raiseVirq(data.consumeInt(-1, 4), data.consumeInt(-1, Virq.COUNT));
                    case 2 -> {
                        int bport = f.ports.backendAllocUnbound(DomId.DOMID_SELF);
                        if (bport > 0) f.registerBackendPort(bport);
                    }
                    case 3 -> f.ports.backendNotify(data.consumeInt(0, 80));
                    default -> {
                        HostileGuest.hypercall(f, d, c);
                        HostileGuest.check(f);
                    }
                }
            }
            HostileGuest.check(f);
        } finally {
            f.close();
        }
    }
}
