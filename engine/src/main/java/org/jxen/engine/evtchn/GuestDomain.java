package org.jxen.engine.evtchn;

import java.util.Arrays;

import org.jxen.engine.abi.Errno;
import org.jxen.engine.abi.Virq;
import org.jxen.engine.jfr.DeliveryEvent;

/**
 * The guest: its port table, its shared event memory, the ABI in force (2-level until FIFO is initialised), its
 * VIRQ and PIRQ bindings and its pollers.
 */
public final class GuestDomain extends EventDomain {
    private final DomainConfig config;
    private final SharedState shared;
    private final Pollers pollers;
    private volatile UpcallSink upcalls = UpcallSink.NONE;
    private volatile EventChannelAbi abi;
    private volatile TwoLevelRaiser raiser = TwoLevelRaiser.NONE;
    /** v->virq_to_evtchn[virq] for each vCPU; 0 when unbound. */
    private final int[][] virqPorts;
    /** pirq -> port; 0 when unbound. */
    private final int[] pirqPorts;

    public GuestDomain(DomainConfig config) {
        super(config.domid());
        this.config = config;
        this.shared = new SharedState(config.vcpus());
        this.pollers = new Pollers(config.vcpus());
        this.abi = new TwoLevelAbi(shared, this::upcall, pollers);
        this.virqPorts = new int[config.vcpus()][Virq.COUNT];
        this.pirqPorts = new int[config.nrPirqs()];
    }

    private void upcall(int vcpu) {
        DeliveryEvent event = new DeliveryEvent();
        if (event.isEnabled()) {
            event.target = "upcall";
            event.index = vcpu;
            event.commit();
        }
        upcalls.upcall(vcpu);
    }

    public DomainConfig config() {
        return config;
    }

    public int vcpuCount() {
        return config.vcpus();
    }

    /** domain_vcpu(d, id) != NULL. {@code vcpu} is the guest's uint32, so negative means huge. */
    public boolean hasVcpu(int vcpu) {
        return vcpu >= 0 && vcpu < config.vcpus();
    }

    public SharedState shared() {
        return shared;
    }

    /**
     * Xen's {@code evtchn_port_poll} ({@code xen/include/xen/event.h}): 1 if the port is pending, 0 if not, -EINVAL
     * if it is outside the valid range or not usable (free, reserved: port 0 included). Without the domain lock: a
     * poll races with a close in Xen too.
     */
    public int pollPort(int port) {
        if (!ports.isValid(port) || !ports.get(port).usable()) return -Errno.EINVAL;
        return abi().isPending(port) ? 1 : 0;
    }

    public Pollers pollers() {
        return pollers;
    }

    public EventChannelAbi abi() {
        return abi;
    }

    /** Switches the ABI (to FIFO on init_control, back to 2-level on reset). Caller holds the write lock. */
    void setAbi(EventChannelAbi newAbi) {
        this.abi = newAbi;
    }

    /** A fresh FIFO ABI over this domain's shared state (EVTCHNOP_init_control's switch). */
    FifoAbi newFifo() {
        return new FifoAbi(shared, this::upcall, pollers);
    }

    /** A fresh 2-level ABI over this domain's shared state (what EVTCHNOP_reset returns the domain to). */
    EventChannelAbi twoLevel() {
        return new TwoLevelAbi(shared, this::upcall, pollers, raiser);
    }

    /**
     * From now on 2-level events are raised by {@code r} (KVM's Xen support), now and after every return to 2-level.
     * Before the guest runs.
     */
    public void setTwoLevelRaiser(TwoLevelRaiser r) {
        raiser = r;
        if (abi instanceof TwoLevelAbi) abi = twoLevel();
    }

    /** Raises the upcall for {@code vcpu} unconditionally (arch_evtchn_inject: after vcpu_info moved). */
    public void injectUpcall(int vcpu) {
        upcall(vcpu);
    }

    public void setUpcallSink(UpcallSink sink) {
        this.upcalls = sink;
    }

    /** The port bound to {@code virq} on {@code vcpu} (0 if none): inspection and tests. */
    public int boundVirqPort(int vcpu, int virq) {
        return virqPorts[vcpu][virq];
    }

    int virqPort(int vcpu, int virq) {
        return virqPorts[vcpu][virq];
    }

    void setVirqPort(int vcpu, int virq, int port) {
        virqPorts[vcpu][virq] = port;
    }

    int pirqPort(int pirq) {
        return pirqPorts[pirq];
    }

    void setPirqPort(int pirq, int port) {
        pirqPorts[pirq] = port;
    }

    void clearBindings() {
        for (int[] row : virqPorts) Arrays.fill(row, 0);
        Arrays.fill(pirqPorts, 0);
    }

    @Override
    int portLimit() {
        return abi.portLimit();
    }

    @Override
    int maxPort() {
        return config.maxPort();
    }

    @Override
    boolean isBusy(int port) {
        return abi.isBusy(port);
    }

    @Override
    void raise(int port, Channel channel) {
        abi.setPending(channel.vcpu(), port, channel.priority());
    }

    @Override
    void clearPending(int port) {
        abi.clearPending(port);
    }

    @Override
    void initPort(int port, Channel channel) {
        abi.init(port, channel);
    }
}
