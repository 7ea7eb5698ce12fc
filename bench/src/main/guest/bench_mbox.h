/*
 * What the two benchmark guests (bench_xen.c under jxen, bench_bare.c under the C reference VMM) share with their
 * hosts: the I/O ports they mark progress on and the command mailbox. The host writes a command, bumps seq and
 * rings the guest's doorbell (an event under jxen, an MSI under the C VMM); the guest runs it, writes samples, sets
 * done = seq and writes PORT_DONE. PortMarks.java and kvmref.c use the same numbers.
 */
#ifndef BENCH_MBOX_H
#define BENCH_MBOX_H

#define PORT_CALL 0x5A  /* the hypercall page's port: a jxen hypercall, the C VMM's bare exit */
#define PORT_STAMP 0x5B /* the host takes a timestamp at this exit */
#define PORT_ARMED 0x5C /* the guest is about to halt waiting for the host's raise */
#define PORT_DONE 0x5D  /* the command is finished */
#define PORT_HELLO 0x5E /* value: the mailbox's guest-physical address; the guest is ready */

#define CMD_RTT 1      /* guest-timed: a hypercall round trip (jxen: EVTCHNOP_send on a routed, masked IPI port) */
#define CMD_RAISE 2    /* host-timed: host raise -> upcall handler ran -> PORT_STAMP */
#define CMD_BACKEND 3  /* host-timed: PORT_STAMP -> send -> the backend thread wakes on its eventfd */
#define CMD_PINGPONG 4 /* guest-timed: vCPU 0 -> IPI -> vCPU 1 -> IPI -> vCPU 0 */
#define CMD_NOTIFY 5   /* host-timed: a backend's notify (jxen: on the backend's channel; C VMM: an irqfd) -> upcall -> PORT_STAMP */
/* Linux's way into Xen, VMCALL/VMMCALL (kvm mode only: without KVM's Xen support KVM answers them itself); C VMM: CMD_RTT */
#define CMD_SEND_DIRECT 6 /* guest-timed: CMD_RTT's EVTCHNOP_send by VMCALL/VMMCALL: KVM delivers a routed port in the kernel */
#define CMD_EXIT_DIRECT 7 /* guest-timed: VCPUOP_is_up by VMCALL/VMMCALL: KVM leaves it to the VMM (KVM_EXIT_XEN) */
/* guest-timed: the guest's own work for one event: its event handler's body, called directly on the state a raise
 * leaves (jxen: pending bit, selector, upcall_pending; C VMM: nothing), interrupts off. No exit, no VMM. */
#define CMD_HANDLER 8
/* guest-timed: CMD_RTT's exit with the bare guest's instructions: jxen's guest calls the hypercall page's
 * event_channel_op stub directly with an unknown command (one register set, nothing to read: -ENOSYS), so both sides
 * run the same guest code and only the VMMs' exit handling differs. */
#define CMD_CALL_ONLY 9

#define MAX_SAMPLES 20000
/* bench_xen.c's ports in arg[]: the doorbell, the host's raise, the masked IPI for CMD_RTT, the backend's channel */
#define ARG_DOORBELL 0
#define ARG_RAISE 1
#define ARG_RTT 2
#define ARG_BACKEND 3
/* arg[4], arg[5]: the ping-pong IPI ports of vCPU 0 and 1; arg[6], arg[7]: progress of vCPU 0 and 1 (diagnostics) */

struct mbox {
    volatile unsigned int seq, cmd, iters, done;
    volatile unsigned int arg[8]; /* bench_xen.c: its ports (PORT_* order below) */
    volatile unsigned long long samples[MAX_SAMPLES]; /* TSC ticks, guest-timed commands */
};

static inline void outl(unsigned short port, unsigned int v)
{
    __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port) : "memory");
}

static inline unsigned long long tsc(void)
{
    unsigned int lo, hi;
    __asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi) : : "memory");
    return ((unsigned long long)hi << 32) | lo;
}

#endif
