/*
 * The smallest PVH guest: writes a line to the debug port (0xE9) and halts. It is what the loader tests load, in
 * each image shape jxen accepts: ELF64, ELF32 for i386, a 64-bit build repacked as ELF32 with machine x86-64, and
 * the PHYS32_ENTRY note with a 4- or 8-byte descriptor. Only the i386 build can run (the PVH entry state is 32-bit
 * protected mode, paging off); the 64-bit builds exist for the loader's image-shape tests, since running them would
 * need a 32-to-64-bit trampoline first.
 *
 * Built with SPIN, it loops with interrupts disabled after its line instead of halting: a guest stuck for good that
 * never exits (the run watchdog's other case).
 */
#ifdef NOTE_QUAD
#define NOTE_DESC ".quad"
#else
#define NOTE_DESC ".long"
#endif

/* XEN_ELFNOTE_PHYS32_ENTRY (public/elfnote.h) = 18, name "Xen". */
__asm__(".pushsection .note.Xen, \"a\", @note\n"
        ".balign 4\n"
        ".long 4, 2f - 1f, 18\n"
        ".asciz \"Xen\"\n"
        ".balign 4\n"
        "1: " NOTE_DESC " pvh_start\n"
        "2: .balign 4\n"
        ".popsection");

/* A BSS the loader must zero: the guest checks it before it says hello. */
volatile unsigned char bss_area[8192];
static const char greeting[] = "hello from a PVH guest\n";
static const char dirty[] = "BSS not zeroed\n";

static void say(const char *s)
{
    for (; *s; s++)
        __asm__ volatile("outb %0, $0xe9" : : "a"(*s));
}

__attribute__((section(".text.entry"), used)) void pvh_start(void)
{
    for (unsigned i = 0; i < sizeof(bss_area); i++)
        if (bss_area[i]) {
            say(dirty);
            for (;;)
                __asm__ volatile("cli; hlt");
        }
    say(greeting);
#ifdef SPIN
    __asm__ volatile("cli");
    for (;;)
        __asm__ volatile("pause");
#else
    for (;;)
        __asm__ volatile("cli; hlt");
#endif
}
