/*
 * The 64-bit test guests' start (pvh_long.c, pvh_migrate.c, pvh_timer64.c): the PVH note, identity page tables for 1 GiB of 2 MiB
 * pages, a GDT, and the 32-bit entry that enables PAE, EFER.LME and paging and calls main64 in long mode, as every
 * 64-bit PVH kernel starts. Included once per guest (it defines the tables).
 */
typedef unsigned int u32;
typedef unsigned long long u64;

__asm__(".pushsection .note.Xen, \"a\", @note\n.balign 4\n.long 4, 2f - 1f, 18\n.asciz \"Xen\"\n.balign 4\n"
        "1: .long pvh_start\n2: .balign 4\n.popsection");

unsigned char hypercall_page[4096] __attribute__((aligned(4096)));
u64 pml4[512] __attribute__((aligned(4096)));
u64 pdpt[512] __attribute__((aligned(4096)));
u64 pd[512] __attribute__((aligned(4096)));
unsigned char stack64[16384] __attribute__((aligned(16)));
u64 gdt64[4] __attribute__((aligned(8))) = {0, 0x00AF9A000000FFFFull, 0x00CF92000000FFFFull, 0x00CF9A000000FFFFull};
struct { unsigned short limit; u32 base; } __attribute__((packed)) gdt64_desc = {sizeof(gdt64) - 1, 0};

__asm__(".section .text.entry, \"ax\"\n"
        ".code32\n"
        ".globl pvh_start\n"
        "pvh_start:\n"
        "  movl $pdpt, %eax\n  orl $3, %eax\n  movl %eax, pml4\n"
        "  movl $pd, %eax\n  orl $3, %eax\n  movl %eax, pdpt\n"
        "  xorl %ecx, %ecx\n"
        "1: movl %ecx, %eax\n  shll $21, %eax\n  orl $0x83, %eax\n"
        "  movl %eax, pd(,%ecx,8)\n  movl $0, pd+4(,%ecx,8)\n"
        "  incl %ecx\n  cmpl $512, %ecx\n  jne 1b\n"
        "  movl %cr4, %eax\n  orl $0x20, %eax\n  movl %eax, %cr4\n"
        "  movl $pml4, %eax\n  movl %eax, %cr3\n"
        "  movl $0xC0000080, %ecx\n  rdmsr\n  orl $0x100, %eax\n  wrmsr\n"
        "  movl %cr0, %eax\n  orl $0x80000001, %eax\n  movl %eax, %cr0\n"
        "  movl $gdt64, gdt64_desc+2\n"
        "  lgdt gdt64_desc\n"
        "  ljmp $0x08, $long_entry\n"
        ".code64\n"
        "long_entry:\n"
        "  movw $0x10, %ax\n  movw %ax, %ds\n  movw %ax, %es\n  movw %ax, %ss\n"
        "  leaq stack64+16384(%rip), %rsp\n"
        "  call main64\n"
        "2: cli\n  hlt\n  jmp 2b\n"
        ".text\n");
