package org.jxen.vmm.backend.net;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

/** --net's value: a TAP name, an optional unicast MAC, one-line reasons for anything else. */
class NetSpecTest {
    @Test
    void aTapAndAMacAreParsedAndAMissingMacIsOneOfXens() {
        NetSpec given = NetSpec.parse("tap=tap0,mac=00:16:3e:AB:cd:01");
        assertEquals("tap0", given.tap());
        assertEquals("00:16:3e:ab:cd:01", given.macText());
        NetSpec generated = NetSpec.parse("tap=tap1");
        assertTrue(generated.macText().startsWith("00:16:3e:"), generated.macText());
        assertEquals(0, generated.mac()[3] & 0x80, "xl's range: the fourth byte below 0x80");
    }

    @Test
    void badValuesAreRefusedInOneLine() {
        for (String bad : new String[] {"", "mac=00:16:3e:00:00:01", "tap=", "tap=a-name-of-16-chars", "tap=t,mac=01:00:5e:00:00:01",
                "tap=t,mac=00:16:3e:00:00", "tap=t,mac=00:16:3e:00:00:zz", "tap=t,speed=10"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> NetSpec.parse(bad), bad);
            assertFalse(e.getMessage().contains("\n"), e.getMessage());
        }
    }
}
