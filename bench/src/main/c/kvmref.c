/*
 * The minimal C KVM VMM that jxen's KVM rows are measured against (jxen bench: hypercall-rtt, raise-to-upcall,
 * send-to-backend, ipi-pingpong). It runs bench_bare.c on two vCPUs with the in-kernel irqchip, as jxen runs
 * bench_xen.c, and does the least a VMM can: a bare exit answered with nothing, KVM_SIGNAL_MSI into a halted vCPU,
 * an eventfd written from the vCPU thread and read by a backend thread, LAPIC IPIs that never leave the kernel, and
 * an irqfd (an eventfd whose GSI KVM routes as an MSI) for a backend's notify.
 * Registers come through kvm_run's synced area (as jxen reads them), time from CLOCK_MONOTONIC (System.nanoTime).
 * Loaded into the jxen bench process with the other C references; one VM at a time.
 *
 * One ablation knob, off by default: KVMREF_BUSY_NS=N makes the vCPU thread spin N ns at each PORT_STAMP exit, before
 * it takes the time, so outside every measured span. It gives this VMM's vCPU thread the CPU time per event that
 * jxen's guest's Xen protocol work gives jxen's (docs/benchmarks.md, send-to-backend: that load decides where the
 * scheduler puts the woken backend).
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../guest/bench_mbox.h"

#define RAM_SIZE (16u << 20)
#define V_DOORBELL 0xF3
#define V_RAISE 0xF6

#define IRQFD_GSI 24 /* above the in-kernel IOAPIC's pins */

static int kvm = -1, vm = -1, efd = -1, irqfd = -1;
static uint8_t *ram;
static int vcpu_fd[2] = {-1, -1};
static struct kvm_run *runs[2];
static pthread_t vcpu_thread[2], backend_thread;
static int threads_started, backend_started;
static volatile int stopping;
static volatile uint32_t mbox_gpa;
static sem_t hello, armed, stamped, done, woke;
static volatile int64_t stamp_ns;
static int64_t stamp_busy_ns; /* KVMREF_BUSY_NS */
static int64_t *volatile backend_samples;
static volatile long backend_index;
static long tsc_khz;
static int mmap_size;

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int msi(uint32_t apic, uint32_t vector)
{
    struct kvm_msi m = {.address_lo = 0xFEE00000u | (apic << 12), .data = vector};
    return ioctl(vm, KVM_SIGNAL_MSI, &m);
}

static void *vcpu_loop(void *arg)
{
    long i = (long)arg;
    struct kvm_run *r = runs[i];
    r->kvm_valid_regs = KVM_SYNC_X86_REGS;
    while (!stopping) {
        if (ioctl(vcpu_fd[i], KVM_RUN, 0) < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            break;
        }
        if (r->exit_reason != KVM_EXIT_IO || r->io.direction != KVM_EXIT_IO_OUT)
            continue; /* nothing else is expected; the guest goes on */
        uint32_t value = *(uint32_t *)((uint8_t *)r + r->io.data_offset);
        switch (r->io.port) {
        case PORT_CALL:
            if (r->s.regs.regs.rbx == 1) {
                uint64_t one = 1;
                if (write(efd, &one, sizeof one) != sizeof one)
                    abort();
            }
            break;
        case PORT_STAMP:
            if (stamp_busy_ns) {
                int64_t until = now_ns() + stamp_busy_ns;
                while (now_ns() < until)
                    ;
            }
            stamp_ns = now_ns();
            sem_post(&stamped);
            break;
        case PORT_ARMED:
            sem_post(&armed);
            break;
        case PORT_DONE:
            sem_post(&done);
            break;
        case PORT_HELLO:
            mbox_gpa = value;
            sem_post(&hello);
            break;
        }
    }
    return NULL;
}

/* The backend: wakes on its eventfd, takes the time, answers with an MSI (the guest's "event"). */
static void *backend_loop(void *arg)
{
    (void)arg;
    for (;;) {
        uint64_t v;
        if (read(efd, &v, sizeof v) != sizeof v)
            break;
        int64_t t = now_ns();
        if (stopping)
            break;
        if (backend_samples)
            backend_samples[backend_index] = t - stamp_ns;
        backend_index++;
        sem_post(&woke);
        msi(0, V_RAISE);
    }
    return NULL;
}

/* Loads the benchmark guest: an ELF64 file (bench_bare.c is 64-bit; it starts in 32-bit code) with its segments below RAM_SIZE. */
static int load_elf(const char *path, uint32_t *entry)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -errno;
    struct stat st;
    fstat(fd, &st);
    uint8_t *f = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (f == MAP_FAILED)
        return -errno;
    Elf64_Ehdr *e = (Elf64_Ehdr *)f;
    int rc = 0;
    if (st.st_size < (off_t)sizeof *e || memcmp(e->e_ident, ELFMAG, SELFMAG) || e->e_ident[EI_CLASS] != ELFCLASS64 ||
        e->e_entry >= RAM_SIZE || e->e_phoff + (uint64_t)e->e_phnum * sizeof(Elf64_Phdr) > (uint64_t)st.st_size) {
        rc = -ENOEXEC;
        goto out;
    }
    for (int i = 0; i < e->e_phnum; i++) {
        Elf64_Phdr *p = (Elf64_Phdr *)(f + e->e_phoff + i * e->e_phentsize);
        if (p->p_type != PT_LOAD)
            continue;
        if (p->p_paddr > RAM_SIZE || p->p_memsz > RAM_SIZE - p->p_paddr || p->p_filesz > p->p_memsz ||
            p->p_offset > (uint64_t)st.st_size || p->p_filesz > (uint64_t)st.st_size - p->p_offset) {
            rc = -ENOEXEC;
            goto out;
        }
        memcpy(ram + p->p_paddr, f + p->p_offset, p->p_filesz);
        memset(ram + p->p_paddr + p->p_filesz, 0, p->p_memsz - p->p_filesz);
    }
    *entry = (uint32_t)e->e_entry;
out:
    munmap(f, st.st_size);
    return rc;
}

static void flat(struct kvm_segment *s, uint16_t sel, uint8_t type)
{
    memset(s, 0, sizeof *s);
    s->limit = 0xFFFFFFFF;
    s->selector = sel;
    s->type = type;
    s->present = 1;
    s->db = 1;
    s->s = 1;
    s->g = 1;
}

static void ignore(int sig) { (void)sig; }

void kvmref_close(void);

/* Builds the VM and runs the guest until it says hello. 0, or -errno. */
int kvmref_open(const char *guest)
{
    const char *busy = getenv("KVMREF_BUSY_NS");
    stamp_busy_ns = busy ? atoll(busy) : 0;
    int rc = -ENODEV;
    stopping = 0;
    sem_init(&hello, 0, 0);
    sem_init(&armed, 0, 0);
    sem_init(&stamped, 0, 0);
    sem_init(&done, 0, 0);
    sem_init(&woke, 0, 0);
    if ((kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC)) < 0)
        return -errno;
    if ((vm = ioctl(kvm, KVM_CREATE_VM, 0)) < 0)
        goto fail;
    ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (ram == MAP_FAILED) {
        ram = NULL;
        goto fail;
    }
    struct kvm_userspace_memory_region region = {.slot = 0, .guest_phys_addr = 0, .memory_size = RAM_SIZE, .userspace_addr = (uint64_t)ram};
    if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0 || ioctl(vm, KVM_SET_TSS_ADDR, 0xFFFBD000ul) < 0 ||
        ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0)
        goto fail;
    uint32_t entry = 0;
    if ((rc = load_elf(guest, &entry)) < 0)
        goto fail;
    rc = -ENODEV;
    mmap_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    struct kvm_cpuid2 *cpuid = calloc(1, sizeof *cpuid + 256 * sizeof(struct kvm_cpuid_entry2));
    cpuid->nent = 256;
    if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, cpuid) < 0) {
        free(cpuid);
        goto fail;
    }
    for (long i = 0; i < 2; i++) {
        if ((vcpu_fd[i] = ioctl(vm, KVM_CREATE_VCPU, i)) < 0)
            break;
        runs[i] = mmap(NULL, mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_fd[i], 0);
        if (runs[i] == MAP_FAILED || ioctl(vcpu_fd[i], KVM_SET_CPUID2, cpuid) < 0)
            break;
        struct kvm_sregs s;
        ioctl(vcpu_fd[i], KVM_GET_SREGS, &s);
        flat(&s.cs, 0x08, 0xB);
        flat(&s.ds, 0x10, 0x3);
        s.es = s.fs = s.gs = s.ss = s.ds;
        s.tr.type = 0xB;
        s.tr.present = 1;
        s.tr.limit = 0x67;
        s.cr0 = 0x11;
        s.cr4 = 0;
        s.efer = 0;
        struct kvm_regs r = {.rip = entry, .rflags = 2, .rsi = (uint64_t)i};
        struct kvm_mp_state mp = {.mp_state = KVM_MP_STATE_RUNNABLE};
        if (ioctl(vcpu_fd[i], KVM_SET_SREGS, &s) < 0 || ioctl(vcpu_fd[i], KVM_SET_REGS, &r) < 0 ||
            ioctl(vcpu_fd[i], KVM_SET_MP_STATE, &mp) < 0)
            break;
    }
    free(cpuid);
    if (vcpu_fd[1] < 0 || runs[1] == MAP_FAILED || runs[1] == NULL)
        goto fail;
    tsc_khz = ioctl(vcpu_fd[0], KVM_GET_TSC_KHZ, 0);
    if (tsc_khz <= 0)
        goto fail;
    if ((efd = eventfd(0, EFD_CLOEXEC)) < 0 || (irqfd = eventfd(0, EFD_CLOEXEC)) < 0)
        goto fail;
    /* CMD_NOTIFY: the irqfd's GSI as an MSI to vCPU 0 (the table replaces KVM's default one, which the guest does not use) */
    struct {
        struct kvm_irq_routing table;
        struct kvm_irq_routing_entry entry;
    } routing = {.table = {.nr = 1}, .entry = {.gsi = IRQFD_GSI, .type = KVM_IRQ_ROUTING_MSI,
                                                .u.msi = {.address_lo = 0xFEE00000u, .data = V_RAISE}}};
    struct kvm_irqfd assign = {.fd = (uint32_t)irqfd, .gsi = IRQFD_GSI};
    if (ioctl(vm, KVM_SET_GSI_ROUTING, &routing) < 0 || ioctl(vm, KVM_IRQFD, &assign) < 0)
        goto fail;
    struct sigaction sa = {0};
    struct sigaction old;
    sigaction(SIGPIPE, NULL, &old);
    if (old.sa_handler == SIG_IGN || old.sa_handler == SIG_DFL) { /* the JVM has its own; outside it, ours */
        sa.sa_handler = ignore;
        sigaction(SIGPIPE, &sa, NULL);
    }
    for (long i = 0; i < 2; i++) {
        pthread_create(&vcpu_thread[i], NULL, vcpu_loop, (void *)i);
        pthread_setname_np(vcpu_thread[i], i == 0 ? "kvmref-vcpu-0" : "kvmref-vcpu-1"); /* as jxen's threads are named */
    }
    threads_started = 1;
    pthread_create(&backend_thread, NULL, backend_loop, NULL);
    pthread_setname_np(backend_thread, "kvmref-backend");
    backend_started = 1;
    struct timespec limit;
    clock_gettime(CLOCK_REALTIME, &limit);
    limit.tv_sec += 120;
    if (sem_timedwait(&hello, &limit) < 0 || mbox_gpa == 0 || mbox_gpa + sizeof(struct mbox) > RAM_SIZE)
        goto fail;
    return 0;
fail:
    if (rc == -ENODEV && errno)
        rc = -errno;
    kvmref_close();
    return rc;
}

/* Waits for a semaphore up to 60 s; -ETIMEDOUT if the guest stopped answering. */
static int await(sem_t *s)
{
    struct timespec limit;
    clock_gettime(CLOCK_REALTIME, &limit);
    limit.tv_sec += 60;
    while (sem_timedwait(s, &limit) < 0) {
        if (errno != EINTR)
            return -ETIMEDOUT;
    }
    return 0;
}

/*
 * One batch of a command: iters samples in nanoseconds into samples. settle_ns: how long the guest is left halted
 * before a raise (CMD_RAISE). 0, or -errno.
 */
int kvmref_run(int cmd, long iters, int64_t *samples, long settle_ns)
{
    if (vm < 0 || iters <= 0 || iters > MAX_SAMPLES)
        return -EINVAL;
    struct mbox *m = (struct mbox *)(ram + mbox_gpa);
    backend_samples = cmd == CMD_BACKEND ? samples : NULL;
    backend_index = 0;
    m->cmd = cmd;
    m->iters = iters;
    __atomic_store_n(&m->seq, m->seq + 1, __ATOMIC_SEQ_CST);
    if (msi(0, V_DOORBELL) < 0)
        return -errno;
    if (cmd == CMD_RAISE || cmd == CMD_NOTIFY) {
        for (long i = 0; i < iters; i++) {
            if (await(&armed) < 0)
                return -ETIMEDOUT;
            struct timespec settle = {0, settle_ns};
            nanosleep(&settle, NULL);
            int64_t t0 = now_ns();
            uint64_t one = 1;
            if (cmd == CMD_RAISE ? msi(0, V_RAISE) < 0 : write(irqfd, &one, sizeof one) != sizeof one)
                return -errno;
            if (await(&stamped) < 0)
                return -ETIMEDOUT;
            samples[i] = stamp_ns - t0;
        }
    }
    if (await(&done) < 0)
        return -ETIMEDOUT;
    while (sem_trywait(&stamped) == 0 || sem_trywait(&woke) == 0 || sem_trywait(&armed) == 0)
        ; /* marks this command did not wait for */
    if (cmd == CMD_RTT || cmd == CMD_PINGPONG || cmd == CMD_SEND_DIRECT || cmd == CMD_EXIT_DIRECT || cmd == CMD_HANDLER || cmd == CMD_CALL_ONLY) {
        for (long i = 0; i < iters; i++)
            samples[i] = (int64_t)(m->samples[i] * 1000000 / (uint64_t)tsc_khz);
    }
    return 0;
}

void kvmref_close(void)
{
    stopping = 1;
    if (threads_started) {
        for (int i = 0; i < 2; i++) {
            runs[i]->immediate_exit = 1;
            pthread_kill(vcpu_thread[i], SIGPIPE);
            pthread_join(vcpu_thread[i], NULL);
        }
        threads_started = 0;
    }
    if (backend_started) {
        uint64_t one = 1;
        if (write(efd, &one, sizeof one) != sizeof one)
            abort();
        pthread_join(backend_thread, NULL);
        backend_started = 0;
    }
    for (int i = 0; i < 2; i++) {
        if (runs[i] && runs[i] != MAP_FAILED)
            munmap(runs[i], mmap_size);
        runs[i] = NULL;
        if (vcpu_fd[i] >= 0)
            close(vcpu_fd[i]);
        vcpu_fd[i] = -1;
    }
    if (efd >= 0)
        close(efd);
    if (irqfd >= 0)
        close(irqfd); /* closing it deassigns it (with the VM closed just below) */
    if (vm >= 0)
        close(vm);
    if (kvm >= 0)
        close(kvm);
    if (ram)
        munmap(ram, RAM_SIZE);
    efd = irqfd = vm = kvm = -1;
    ram = NULL;
    mbox_gpa = 0;
}
