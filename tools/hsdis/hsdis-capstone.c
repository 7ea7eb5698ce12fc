/*
 * A disassembler plugin for HotSpot's -XX:+PrintAssembly (issue 36: reading what C2 makes of the send path), over
 * Debian's capstone (libcapstone-dev). HotSpot loads "hsdis-amd64.so" from the JDK's lib directory or the library
 * path and calls decode_instructions_virtual: for each instruction it reports an "insn" event at its address,
 * prints it through the caller's printf, then "/insn" at its end. The JDK's own hsdis sources are not shipped
 * with its binaries, and building them needs binutils' or LLVM's sources; this one needs only the package.
 * Build: tools/hsdis/build.sh.
 */
#include <capstone/capstone.h>
#include <stdint.h>
#include <string.h>

typedef void *(*hsdis_event_fn)(void *stream, const char *event, void *arg);
typedef int (*hsdis_printf_fn)(void *stream, const char *format, ...);

__attribute__((visibility("default")))
void *decode_instructions_virtual(uintptr_t start_va, uintptr_t end_va, unsigned char *buffer, uintptr_t length,
                                  hsdis_event_fn event, void *event_stream, hsdis_printf_fn print, void *print_stream,
                                  const char *options, int newline) {
    (void) end_va;
    csh handle;
    if (cs_open(CS_ARCH_X86, CS_MODE_64, &handle) != CS_ERR_OK) return (void *) start_va;
    /* "intel" among the options (-XX:PrintAssemblyOptions=intel) asks for Intel syntax; AT&T otherwise, as HotSpot's default. */
    cs_option(handle, CS_OPT_SYNTAX, options && strstr(options, "intel") ? CS_OPT_SYNTAX_INTEL : CS_OPT_SYNTAX_ATT);
    cs_option(handle, CS_OPT_SKIPDATA, CS_OPT_ON); /* data between code (constants, padding) shown as .byte, not an end */
    cs_insn *insn;
    size_t count = cs_disasm(handle, buffer, length, start_va, 0, &insn);
    uintptr_t reached = start_va;
    if (event) event(event_stream, "mach", (void *) "i386:x86-64");
    for (size_t i = 0; i < count; i++) {
        if (event) event(event_stream, "insn", (void *) (uintptr_t) insn[i].address);
        print(print_stream, "%-7s %s", insn[i].mnemonic, insn[i].op_str);
        reached = (uintptr_t) (insn[i].address + insn[i].size);
        if (event) event(event_stream, "/insn", (void *) reached);
        if (newline) print(print_stream, "\n");
    }
    if (count > 0) cs_free(insn, count);
    cs_close(&handle);
    return (void *) reached;
}
