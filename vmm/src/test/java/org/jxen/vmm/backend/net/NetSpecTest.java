package org.jxen.vmm.backend.net;

import static org.junit.jupiter.api.Assertions.*;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.util.List;

import org.junit.jupiter.api.Test;

/** --net's value: a TAP name or user networking with its forwards, an optional unicast MAC, one-line reasons for anything else. */
class NetSpecTest {
    @Test
    void aTapAndAMacAreParsedAndAMissingMacIsOneOfXens() {
        NetSpec given = NetSpec.parse("tap=tap0,mac=00:16:3e:AB:cd:01");
        assertEquals(new NetSpec.Tap("tap0"), given.link());
        assertEquals("00:16:3e:ab:cd:01", given.macText());
        NetSpec generated = NetSpec.parse("tap=tap1");
        assertTrue(generated.macText().startsWith("00:16:3e:"), generated.macText());
        assertEquals(0, generated.mac()[3] & 0x80, "xl's range: the fourth byte below 0x80");
    }

    @Test
    void userNetworkingTakesQemusHostForwardsRepeatedly() {
        NetSpec plain = NetSpec.parse("user");
        assertEquals(new NetSpec.User(List.of()), plain.link());
        assertEquals("user", plain.linkText());
        NetSpec fwd = NetSpec.parse("user,hostfwd=tcp::5555-:22,hostfwd=udp:127.0.0.1:6000-10.0.2.15:53,hostfwd=:127.0.0.1:8080-:80,mac=00:16:3e:00:00:07");
        assertEquals(List.of(new NetSpec.HostForward(NetSpec.Protocol.TCP, "", 5555, 22), new NetSpec.HostForward(NetSpec.Protocol.UDP, "127.0.0.1", 6000, 53),
                new NetSpec.HostForward(NetSpec.Protocol.TCP, "127.0.0.1", 8080, 80)), ((NetSpec.User) fwd.link()).forwards());
        assertEquals("00:16:3e:00:00:07", fwd.macText());
        assertEquals("user,hostfwd=tcp::5555-:22,hostfwd=udp:127.0.0.1:6000-:53,hostfwd=tcp:127.0.0.1:8080-:80", fwd.linkText());
        assertEquals(fwd.link(), NetSpec.parse(fwd.linkText()).link(), "the text parses back to the same link (a save keeps it so)");
        // The same host port may carry TCP and UDP, as in QEMU.
        assertEquals(2, ((NetSpec.User) NetSpec.parse("user,hostfwd=tcp::5353-:53,hostfwd=udp::5353-:53").link()).forwards().size());
    }

    /** A save's NIC record: a TAP's name as older saves have it, or ':' and a user link's --net text. */
    @Test
    void aSavedNicRecordNamesItsTapOrItsUserLink() throws Exception {
        for (String link : new String[] {"tap0", ":user", ":user,hostfwd=tcp::5555-:22,hostfwd=udp:127.0.0.1:6000-:53"}) {
            ByteArrayOutputStream record = new ByteArrayOutputStream();
            try (DataOutputStream out = new DataOutputStream(record)) {
                out.writeInt(3);
                out.writeUTF(link);
                out.write(new byte[] {0x00, 0x16, 0x3e, 0x00, 0x00, 0x05});
            }
            NetBackend.SavedNic nic = NetBackend.readDevice(new DataInputStream(new ByteArrayInputStream(record.toByteArray())));
            assertEquals(3, nic.devid());
            assertEquals("00:16:3e:00:00:05", nic.spec().macText());
            assertEquals(link.startsWith(":") ? link.substring(1) : "tap=" + link, nic.spec().linkText());
        }
    }

    @Test
    void badValuesAreRefusedInOneLine() {
        for (String bad : new String[] {"", "mac=00:16:3e:00:00:01", "tap=", "tap=a-name-of-16-chars", "tap=t,mac=01:00:5e:00:00:01",
                "tap=t,mac=00:16:3e:00:00", "tap=t,mac=00:16:3e:00:00:zz", "tap=t,speed=10",
                // user networking: exactly one link; hostfwd only there, in QEMU's form, with sane ports and addresses
                "user,tap=t", "tap=t,hostfwd=tcp::5555-:22", "hostfwd=tcp::5555-:22", "user,", "user,hostfwd=", "user,hostfwd=tcp:5555-:22",
                "user,hostfwd=tcp::5555:22", "user,hostfwd=sctp::5555-:22", "user,hostfwd=tcp::0-:22", "user,hostfwd=tcp::5555-:65536",
                "user,hostfwd=tcp::99999-:22", "user,hostfwd=tcp:300.1.1.1:5555-:22", "user,hostfwd=tcp:localhost:5555-:22",
                "user,hostfwd=tcp::5555-10.0.2.16:22", "user,hostfwd=tcp::5555-:22,hostfwd=tcp::5555-:23", "user,hostfwd=tcp::-:22"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> NetSpec.parse(bad), bad);
            assertFalse(e.getMessage().contains("\n"), e.getMessage());
        }
    }
}
