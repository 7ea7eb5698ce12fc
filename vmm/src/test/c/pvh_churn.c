/*
 * Routes churned while another vCPU sends: vCPU 1 sends on loopback interdomain pairs as fast as it can, each send
 * waiting for its event; vCPU 0 meanwhile moves the receiving ports between vCPUs (EVTCHNOP_bind_vcpu, masked around
 * it as Linux's xen_rebind_evtchn_to_cpu does), closes pairs and binds new ones. In kvm mode every such change is a
 * route jxen updates, removes or adds in KVM's event-channel table while KVM delivers sends from it. Checked: no send
 * that returned 0 goes without its event (none lost, even across a move), a send fails only on a pair being closed,
 * and a closed port is never raised afterwards (no send, in KVM or in jxen, outlives the close).
 */
#include "xen32.h"

#define PAIRS 4
#define ROUNDS 600
#define WAIT_NS 60000000000ull /* a lost event is reported after a minute of guest time, not hung on */

extern void upcall_stub(void);

struct pair {
    volatile u32 near, far; /* a send on near raises far */
};
static struct pair pairs[PAIRS];
static volatile u32 gen[PAIRS]; /* odd while vCPU 0 changes the pair (a seqlock) */
static volatile u32 done, ap_done, ap_ready;
static volatile u32 sends, lost, bad_rc, moved, reopened, raised_after_close;
/* The first lost event, for the report: its port, pending/masked bits, owner, the selectors, and the round. */
static volatile u32 lost_port, lost_state, lost_round, round_now;

static long op(int cmd, volatile void *arg)
{
    return evtchn_op(cmd, (void *)arg);
}

static void open_pair(int i, u32 vcpu)
{
    volatile struct { u16 dom; u16 remote_dom; u32 port; } u = {DOMID_SELF, DOMID_SELF, 0};
    check(op(EVTCHNOP_alloc_unbound, &u) == 0, "alloc_unbound");
    volatile struct { u16 remote_dom; u16 pad; u32 remote_port; u32 local_port; } b = {DOMID_SELF, 0, u.port, 0};
    check(op(EVTCHNOP_bind_interdomain, &b) == 0, "bind_interdomain");
    check(u.port < 1024 && b.local_port < 1024, "ports below 1024");
    port_vcpu[b.local_port] = 0; /* near is only sent on */
    if (vcpu != 0) {
        volatile struct { u32 port; u32 vcpu; } bv = {u.port, vcpu};
        check(op(EVTCHNOP_bind_vcpu, &bv) == 0, "bind_vcpu of a new port");
    }
    port_vcpu[u.port] = vcpu;
    pairs[i].near = b.local_port;
    pairs[i].far = u.port;
}

static void spin(u32 n)
{
    __asm__ volatile("sti" ::: "memory");
    for (u32 k = 0; k < n; k++)
        __asm__ volatile("pause" ::: "memory");
    __asm__ volatile("cli" ::: "memory");
}

static void sender(void)
{
    ap_ready = 1;
    __asm__ volatile("sti" ::: "memory");
    while (!done) {
        for (int i = 0; i < PAIRS; i++) {
            u32 g = gen[i];
            if (g & 1)
                continue;
            u32 near = pairs[i].near, far = pairs[i].far;
            if (gen[i] != g)
                continue;
            u32 before = events_seen[far];
            long rc = send(near);
            if (rc != 0) {
                if (gen[i] == g)
                    bad_rc++; /* only a pair being closed may refuse */
                continue;
            }
            sends++;
            u64 deadline = now_ns(1) + WAIT_NS;
            while (events_seen[far] == before && gen[i] == g) {
                if (now_ns(1) > deadline) {
                    if (lost++ == 0) {
                        lost_port = far;
                        lost_round = round_now;
                        lost_state = test_bit(EVTCHN_PENDING, far) | test_bit(EVTCHN_MASK, far) << 1 | port_vcpu[far] << 2
                                     | UPCALL_PENDING(VCPU_INFO(0)) << 4 | UPCALL_PENDING(VCPU_INFO(1)) << 5
                                     | ((PENDING_SEL(VCPU_INFO(0)) >> (far / 32)) & 1) << 6 | ((PENDING_SEL(VCPU_INFO(1)) >> (far / 32)) & 1) << 7;
                    }
                    break;
                }
                __asm__ volatile("pause" ::: "memory");
            }
        }
    }
    __asm__ volatile("cli" ::: "memory");
    ap_done = 1;
}

void guest_main(void)
{
    place_shared_info();
    set_gate(UPCALL_VECTOR, upcall_stub);
    lapic_enable();
    check(set_param(HVM_PARAM_CALLBACK_IRQ, (2ull << 56) | UPCALL_VECTOR) == 0, "CALLBACK_IRQ vector type");
    for (int i = 0; i < PAIRS; i++)
        open_pair(i, i & 1);
    start_vcpu1(sender);
    while (!ap_ready)
        __asm__ volatile("pause" ::: "memory");
    pass("vCPU 1 sends on 4 loopback pairs");

    for (u32 r = 0; r < ROUNDS; r++) {
        round_now = r;
        int i = r % PAIRS;
        u32 far = pairs[i].far;
        switch ((r / PAIRS) % 3) {
        case 0: { /* move the receiving port to the other vCPU: a route update */
            u32 to = 1 - port_vcpu[far];
            set_bit(EVTCHN_MASK, far);
            volatile struct { u32 port; u32 vcpu; } bv = {far, to};
            check(op(EVTCHNOP_bind_vcpu, &bv) == 0, "bind_vcpu");
            port_vcpu[far] = to;
            volatile u32 p = far;
            check(op(EVTCHNOP_unmask, &p) == 0, "unmask (re-raises what arrived while masked)");
            moved++;
            break;
        }
        case 1: { /* close the pair (routes removed) and open a new one (routes added) */
            gen[i]++;
            volatile u32 n = pairs[i].near, f = far;
            check(op(EVTCHNOP_close, &n) == 0, "close near");
            check(op(EVTCHNOP_close, &f) == 0, "close far");
            spin(2000); /* the sender keeps sending on the closed port meanwhile */
            if (test_bit(EVTCHN_PENDING, far))
                raised_after_close++;
            open_pair(i, r & 1);
            gen[i]++;
            reopened++;
            break;
        }
        default:
            break;
        }
        spin(500);
    }
    done = 1;
    __asm__ volatile("sti" ::: "memory"); /* the sender may be waiting for an event only this vCPU takes */
    while (!ap_done)
        __asm__ volatile("pause" ::: "memory");
    __asm__ volatile("cli" ::: "memory");
    print("churn: ");
    print_u32(sends);
    print(" sends answered by their events while ");
    print_u32(moved);
    print(" ports moved and ");
    print_u32(reopened);
    print(" pairs were closed and opened again\n");
    if (lost) {
        print("churn: first lost event on port ");
        print_u32(lost_port);
        print(" in round ");
        print_u32(lost_round);
        print(", state bits (pending, masked, owner x2, upcall_pending 0/1, sel 0/1) ");
        print_u32(lost_state);
        print("\n");
    }
    check(lost == 0, "every send that returned 0 raised its port (none lost)");
    check(bad_rc == 0, "a send failed only on a pair being closed");
    check(raised_after_close == 0, "no closed port was raised after its close");
    check(sends > ROUNDS, "the sends ran alongside the churn");
    pass("routes churned under concurrent sends: none lost, none after a close");
}
