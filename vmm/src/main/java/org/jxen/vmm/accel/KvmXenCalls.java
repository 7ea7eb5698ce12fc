package org.jxen.vmm.accel;

import java.util.List;
import java.util.function.IntFunction;

import org.jxen.sys.kvm.GsiRoute;
import org.jxen.sys.kvm.KvmVcpu;
import org.jxen.sys.kvm.KvmVm;

/**
 * The ioctls of KVM's Xen support that {@link KvmXenAcceleration} makes, in one place: {@link #of} passes them to the
 * VM and its vCPUs; tests give a recorder, so the wiring for every partial offer runs without KVM. Return values are
 * KVM's (0 or -errno); the vCPU calls keep {@link KvmVcpu}'s rule (only on that vCPU's thread, or while it is stopped).
 */
public interface KvmXenCalls {
    /** KVM_XEN_HVM_CONFIG with {@code flags} and the hypercall MSR; throws if KVM refuses. */
    void hvmConfig(int flags, int msr);

    /** KVM_XEN_HVM_SET_ATTR. */
    int setAttr(int type, long value);

    /** KVM_XEN_VCPU_SET_ATTR with the union's first words. */
    int setVcpuAttr(int vcpu, int type, long... words);

    /** KVM_XEN_VCPU_GET_ATTR: the union's first {@code words} words; throws (KvmException) if KVM refuses. */
    long[] vcpuAttr(int vcpu, int type, int words);

    /** KVM_XEN_ATTR_TYPE_EVTCHN: assign a send port delivered to a local port on a vCPU. */
    int assignPort(int sendPort, int type, int port, int vcpu);

    /** KVM_XEN_ATTR_TYPE_EVTCHN: assign a send port that signals an eventfd. */
    int assignEventFd(int sendPort, int type, int fd);

    int updatePort(int sendPort, int type, int port, int vcpu);

    int deassignPort(int sendPort);

    /** Empties KVM's table of send ports. */
    int resetPorts();

    /** KVM_XEN_HVM_EVTCHN_SEND. */
    int send(int port, int vcpu);

    /** KVM_SET_GSI_ROUTING (the whole table). */
    int setGsiRouting(List<GsiRoute> routes);

    /** KVM_IRQFD assign or deassign. */
    int irqfd(int eventFd, int gsi, boolean assign);

    /** The calls on a real VM and its vCPUs (by KVM vCPU index). */
    static KvmXenCalls of(KvmVm vm, IntFunction<KvmVcpu> vcpus) {
        return new KvmXenCalls() {
            @Override
            public void hvmConfig(int flags, int msr) {
                vm.xenHvmConfig(flags, msr);
            }

            @Override
            public int setAttr(int type, long value) {
                return vm.setXenAttr(type, value);
            }

            @Override
            public int setVcpuAttr(int vcpu, int type, long... words) {
                return vcpus.apply(vcpu).setXenAttrWords(type, words);
            }

            @Override
            public long[] vcpuAttr(int vcpu, int type, int words) {
                return vcpus.apply(vcpu).xenAttr(type, words);
            }

            @Override
            public int assignPort(int sendPort, int type, int port, int vcpu) {
                return vm.xenEvtchnAssignPort(sendPort, type, port, vcpu);
            }

            @Override
            public int assignEventFd(int sendPort, int type, int fd) {
                return vm.xenEvtchnAssignEventFd(sendPort, type, fd);
            }

            @Override
            public int updatePort(int sendPort, int type, int port, int vcpu) {
                return vm.xenEvtchnUpdate(sendPort, type, port, vcpu);
            }

            @Override
            public int deassignPort(int sendPort) {
                return vm.xenEvtchnDeassign(sendPort);
            }

            @Override
            public int resetPorts() {
                return vm.xenEvtchnReset();
            }

            @Override
            public int send(int port, int vcpu) {
                return vm.xenEvtchnSend(port, vcpu);
            }

            @Override
            public int setGsiRouting(List<GsiRoute> routes) {
                return vm.setGsiRouting(routes);
            }

            @Override
            public int irqfd(int eventFd, int gsi, boolean assign) {
                return vm.irqfd(eventFd, gsi, assign);
            }
        };
    }
}
