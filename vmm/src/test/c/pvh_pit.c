/*
 * A guest that uses the PIT as Linux's quick_pit_calibrate (arch/x86/kernel/tsc.c) does: channel 2's gate high and
 * the speaker off through port 0x61, mode 0 with LSB-then-MSB access through 0x43, count 0xFFFF through 0x42, then
 * reads of 0x42 (latched through 0x43; LSB, MSB) until the count has fallen, and of 0x61 until OUT2 (bit 5) rises at
 * the terminal count; the read-back command then gives channel 2's status. Without a PIT (jxen's default, as Xen's PVH platform) port
 * 0x61 reads all-ones: it says "pit: none" and powers off. Built with SAVE (XenDomainTest saves and restores it), it
 * then prints "ready to save, host port N" and halts until dom0 sends on that port, which the test does only after the
 * restore: channel 2 must still be programmed (status: mode 0, LSB/MSB access), its gate still high, and a count
 * loaded again must still fall.
 */
#include "xen32.h"

#define SPEAKER 0x61
#define PIT_CH2 0x42
#define PIT_MODE 0x43
#define GATE2 0x01
#define SPEAKER_DATA 0x02
#define OUT2 0x20
/* Counter 2, LSB then MSB, mode 0 (interrupt on terminal count), binary; read-back of counter 2's status only. */
#define CH2_LOHI_MODE0 0xB0
#define READ_BACK_STATUS_CH2 0xE8
#define LATCH_CH2 0x80
#define LIMIT 50000000u

extern void upcall_stub(void);

static inline u8 inb(u16 port)
{
    u8 v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static inline void outb(u8 v, u16 port)
{
    __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

/* The count latched, then read LSB, MSB. Linux's pit_expect_msb reads without a latch and looks at the MSB only: an
 * unlatched pair read across an MSB change is up to 0xFF low, so its next pair can read higher (seen in tools/kvm-vm,
 * where each read is slow). */
static u32 read_count(void)
{
    outb(LATCH_CH2, PIT_MODE);
    u32 lsb = inb(PIT_CH2);
    u32 msb = inb(PIT_CH2);
    return msb << 8 | lsb;
}

static void load_count(void)
{
    outb(CH2_LOHI_MODE0, PIT_MODE);
    outb(0xFF, PIT_CH2);
    outb(0xFF, PIT_CH2);
}

/* The count falls from 0xFFFF, never rising on the way (mode 0 counts down once), and OUT2 rises at zero. */
static void counts_down(const char *when)
{
    u32 first = read_count(), last = first, now = first, reads = 1;
    while (now + 0x200 > first && reads < LIMIT) {
        now = read_count();
        check(now <= last, "channel 2 counts down");
        last = now;
        reads++;
    }
    check(now + 0x200 <= first, "channel 2's count fell by 0x200");
    u32 polls = 0;
    while (!(inb(SPEAKER) & OUT2) && polls < LIMIT)
        polls++;
    check(inb(SPEAKER) & OUT2, "OUT2 rose at the terminal count");
    print("pit: ");
    print(when);
    print(": count 0x");
    for (int s = 12; s >= 0; s -= 4)
        print((const char[]){"0123456789abcdef"[(first >> s) & 0xF], 0});
    print(" fell by 0x200 in ");
    print_u32(reads);
    print(" reads, OUT2 high after ");
    print_u32(polls);
    print(" more polls\n");
}

/* Its status: LSB/MSB access, mode 0, binary; OUT as 0x61 said (not asked after a restore: KVM_SET_PIT2 reloads the count). */
static void status_is_programmed(int out_high)
{
    outb(READ_BACK_STATUS_CH2, PIT_MODE);
    u32 status = inb(PIT_CH2);
    check((status & 0x3F) == 0x30, "channel 2's status: LSB/MSB access, mode 0, binary");
    check(!out_high || (status & 0x80), "channel 2's status: OUT high");
}

void guest_main(void)
{
    outb((inb(SPEAKER) & ~SPEAKER_DATA) | GATE2, SPEAKER);
    u8 speaker = inb(SPEAKER);
    if (speaker == 0xFF) {
        load_count();
        print("pit: none: port 0x61 reads 0xff, channel 2 reads ");
        print_u32(read_count());
        print("\n");
        shutdown(SHUTDOWN_poweroff);
    }
    check(speaker & GATE2, "channel 2's gate reads back high from port 0x61");
    check(!(speaker & SPEAKER_DATA), "the speaker stays off");
    load_count();
    counts_down("boot");
    status_is_programmed(1);
    pass("channel 2 through ports 0x61, 0x43 and 0x42");
#ifdef SAVE
    place_shared_info();
    set_gate(UPCALL_VECTOR, upcall_stub);
    lapic_enable();
    check(set_param(HVM_PARAM_CALLBACK_IRQ, (2ull << 56) | UPCALL_VECTOR) == 0, "CALLBACK_IRQ vector type");
    u32 host = ready_to_save();
    HALT_UNTIL(events_seen[host] >= 1); /* dom0 sends only after the restore */
    status_is_programmed(0);
    check(inb(SPEAKER) & GATE2, "channel 2's gate is still high");
    pass("channel 2's programming came back with the restore");
    load_count();
    counts_down("restored");
    pass("the restored PIT counts");
    check(send(host) == 0, "answer dom0");
#endif
}
