package org.jxen.sys.kvm;

import static org.jxen.sys.kvm.KvmAbi.*;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** {@code struct kvm_cpuid_entry2} to and from {@link CpuidEntry}. */
final class CpuidCodec {
    private CpuidCodec() {}

    static CpuidEntry read(MemorySegment s, long at) {
        return new CpuidEntry(s.get(ValueLayout.JAVA_INT, at + OFFSETOF_KVM_CPUID_ENTRY2_FUNCTION),
                s.get(ValueLayout.JAVA_INT, at + OFFSETOF_KVM_CPUID_ENTRY2_INDEX),
                s.get(ValueLayout.JAVA_INT, at + OFFSETOF_KVM_CPUID_ENTRY2_FLAGS),
                s.get(ValueLayout.JAVA_INT, at + OFFSETOF_KVM_CPUID_ENTRY2_EAX),
                s.get(ValueLayout.JAVA_INT, at + OFFSETOF_KVM_CPUID_ENTRY2_EAX + 4),
                s.get(ValueLayout.JAVA_INT, at + OFFSETOF_KVM_CPUID_ENTRY2_EAX + 8),
                s.get(ValueLayout.JAVA_INT, at + OFFSETOF_KVM_CPUID_ENTRY2_EDX));
    }

    static void write(MemorySegment s, long at, CpuidEntry e) {
        s.asSlice(at, SIZEOF_KVM_CPUID_ENTRY2).fill((byte) 0);
        s.set(ValueLayout.JAVA_INT, at + OFFSETOF_KVM_CPUID_ENTRY2_FUNCTION, e.function());
        s.set(ValueLayout.JAVA_INT, at + OFFSETOF_KVM_CPUID_ENTRY2_INDEX, e.index());
        s.set(ValueLayout.JAVA_INT, at + OFFSETOF_KVM_CPUID_ENTRY2_FLAGS, e.flags());
        s.set(ValueLayout.JAVA_INT, at + OFFSETOF_KVM_CPUID_ENTRY2_EAX, e.eax());
        s.set(ValueLayout.JAVA_INT, at + OFFSETOF_KVM_CPUID_ENTRY2_EAX + 4, e.ebx());
        s.set(ValueLayout.JAVA_INT, at + OFFSETOF_KVM_CPUID_ENTRY2_EAX + 8, e.ecx());
        s.set(ValueLayout.JAVA_INT, at + OFFSETOF_KVM_CPUID_ENTRY2_EDX, e.edx());
    }
}
