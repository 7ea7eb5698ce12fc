package org.jxen.vmm.accel;

import static org.jxen.sys.kvm.KvmAbi.*;

import java.util.OptionalLong;
import java.util.function.BooleanSupplier;
import java.util.function.IntFunction;
import java.util.function.IntUnaryOperator;
import java.util.function.LongSupplier;

import org.jxen.engine.abi.Virq;
import org.jxen.engine.evtchn.GuestDomain;
import org.jxen.engine.evtchn.TwoLevelAbi;
import org.jxen.sys.kvm.KvmVm;

/**
 * KVM's Xen support (KVM_CAP_XEN_HVM; Linux {@code arch/x86/kvm/xen.c}, {@code Documentation/virt/kvm/api.rst}):
 * KVM intercepts VMCALL/VMMCALL and hands jxen what it does not answer itself (KVM_EXIT_XEN); it writes pvclock and
 * the wallclock from its own clock (so that clock is system time) and injects the callback vector. Beyond that it
 * takes what {@link XenOffer} says it offers, each feature by its own component:
 * <ul>
 * <li>{@link KvmSharedInfoSync}: the width, shared_info, the vcpu_infos and upcall vectors, kept in step (always);</li>
 * <li>{@link KvmSendRoutes}: the route table mirrored into KVM's send table (always; a refused route stays jxen's);</li>
 * <li>{@link KvmTimerKeeper}: singleshot timers ({@link XenOffer#timers}; else the engine's timer thread);</li>
 * <li>{@link KvmRunstateKeeper}: runstate areas ({@link XenOffer#runstates}; else the engine writes them);</li>
 * <li>{@link KvmBackendIrqfds}: backends' notifies ({@link XenOffer#backendIrqfds}; else the engine raises them);</li>
 * <li>{@link KvmEventRaiser}: jxen's raises through KVM ({@link XenOffer#eventSend}; else in guest memory).</li>
 * </ul>
 * All of them but the first work on 2-level events only: in the grace period of a switch to FIFO each gives its work
 * back to the engine ({@link Offload#abiChecked}), and takes it again after a return to 2-level.
 */
public record KvmXenAcceleration(XenOffer offer, int hypercallMsr) implements Acceleration {
    public KvmXenAcceleration {
        if (!offer.interceptsHypercalls()) throw new IllegalArgumentException("KVM offers no hypercall interception: " + offer);
    }

    @Override
    public String vmcallRefusal() {
        return null;
    }

    @Override
    public void configureVm(KvmVm vm) {
        vm.xenHvmConfig(KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL, hypercallMsr);
    }

    @Override
    public LongSupplier systemTime(KvmVm vm, OptionalLong resumedAt) {
        // KVM writes pvclock from its own clock, so that clock is system time (timers, runstates, saves).
        resumedAt.ifPresent(vm::setClockNanos);
        return vm::clockNanos;
    }

    @Override
    public Offload attach(EngineParts engine, KvmXenCalls calls, IntFunction<? extends AcceleratedVcpu> vcpus, IntUnaryOperator apicIdOf) {
        return new Attached(engine, calls, vcpus, apicIdOf);
    }

    @Override
    public boolean kernelDeliversTwoLevel() {
        return offer.sendRoutes();
    }

    @Override
    public String describe() {
        return "kvm (KVM's Xen support hands VMCALL/VMMCALL hypercalls to jxen; KVM keeps: " + offer.describe() + ")";
    }

    /** The components for this offer, wired into one domain's engine. A feature not offered has no component (null). */
    private final class Attached implements Offload {
        private final IntFunction<? extends AcceleratedVcpu> vcpus;
        private final KvmSharedInfoSync shared;
        private final KvmTimerKeeper timers;
        private final KvmRunstateKeeper runstates;
        private final KvmSendRoutes routes;
        private final KvmBackendIrqfds irqfds;
        private final KvmEventRaiser raiser;

        Attached(EngineParts engine, KvmXenCalls calls, IntFunction<? extends AcceleratedVcpu> vcpus, IntUnaryOperator apicIdOf) {
            this.vcpus = vcpus;
            GuestDomain guest = engine.guest();
            BooleanSupplier twoLevel = () -> guest.abi() instanceof TwoLevelAbi;
            int n = engine.vcpus();
            shared = new KvmSharedInfoSync(calls, guest.shared(), engine.params(), engine.ram(), n, vcpus);
            shared.install();
            if (offer.timers()) {
                timers = new KvmTimerKeeper(calls, n, engine.timers(), vcpus, twoLevel, shared::sharedInfoKnown,
                        v -> engine.ports().raiseVirq(v, Virq.TIMER));
                engine.timers().setKeeper(timers);
                shared.afterSharedInfoPlaced(timers::recheckAll);
            } else {
                timers = null;
            }
            if (offer.runstates()) {
                runstates = new KvmRunstateKeeper(calls, n, engine.runstates(), vcpus, offer.runstateUpdateFlag());
                engine.runstates().setKeeper(runstates);
                runstates.install();
            } else {
                runstates = null;
            }
            routes = new KvmSendRoutes(calls, twoLevel, timers, v -> guest.boundVirqPort(v, Virq.TIMER), apicIdOf);
            engine.routes().setMirror(routes);
            shared.sync(-1); // a restored guest's shared_info and vcpu_infos are placed already
            if (offer.backendIrqfds()) {
                irqfds = new KvmBackendIrqfds(calls, twoLevel, shared::sharedInfoKnown, apicIdOf);
                engine.routeSync().carryInbound(irqfds);
            } else {
                irqfds = null;
            }
            if (offer.eventSend()) {
                raiser = new KvmEventRaiser(calls, hypercallMsr, twoLevel, shared::sharedInfoKnown, vcpus,
                        v -> engine.params().upcallVector(v) != 0, apicIdOf);
                guest.setTwoLevelRaiser(raiser);
                raiser.install();
            } else {
                raiser = null;
            }
        }

        @Override
        public boolean deliverUpcall(int vcpu) {
            if (!shared.kernelInjects(vcpu)) return false;
            AcceleratedVcpu t = vcpus.apply(vcpu);
            if (t != null) t.nudge(); // KVM injects it while upcall_pending is set, at the vCPU's next entry
            return true;
        }

        @Override
        public boolean afterPlacement(int vcpu) {
            shared.sync(vcpu);
            return true;
        }

        @Override
        public void abiChecked() {
            routes.abiChecked(); // KVM's own senders: its table empties when the ABI leaves 2-level
            if (raiser != null) raiser.abiChecked(); // jxen no longer raises through KVM (KVM does 2-level only)
            if (irqfds != null) irqfds.abiChecked(); // nor do backends' irqfds
        }

        @Override
        public void beforeEntry(int vcpu) {
            shared.applyVcpu(vcpu);
            if (timers != null) timers.apply(vcpu);
            if (runstates != null) runstates.apply(vcpu);
        }

        @Override
        public boolean deliversWithoutJxen() {
            return true;
        }

        @Override
        public Figures figures() {
            return new Figures(routes.portsInKernel().cardinality(), irqfds == null ? 0 : irqfds.delivered(),
                    timers == null ? 0 : timers.handedOver(), runstates == null ? 0 : runstates.handedOver(),
                    raiser != null && raiser.promised());
        }

        @Override
        public void close() {
            if (irqfds != null) irqfds.close(); // a backend that did not stop then notifies through the engine
        }
    }
}
