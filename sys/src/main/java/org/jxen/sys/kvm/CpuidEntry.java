package org.jxen.sys.kvm;

/**
 * One CPUID leaf as KVM_SET_CPUID2 takes it ({@code struct kvm_cpuid_entry2}: function, index, flags, eax..edx).
 * {@code flags} carries KVM_CPUID_FLAG_SIGNIFCANT_INDEX for leaves whose sub-leaf (ECX) matters.
 */
public record CpuidEntry(int function, int index, int flags, int eax, int ebx, int ecx, int edx) {
    /** KVM_CPUID_FLAG_SIGNIFCANT_INDEX (linux/kvm.h, spelled as there). */
    public static final int SIGNIFICANT_INDEX = 1;

    public static CpuidEntry of(int function, int eax, int ebx, int ecx, int edx) {
        return new CpuidEntry(function, 0, 0, eax, ebx, ecx, edx);
    }

    public static CpuidEntry sub(int function, int index, int eax, int ebx, int ecx, int edx) {
        return new CpuidEntry(function, index, SIGNIFICANT_INDEX, eax, ebx, ecx, edx);
    }

    public boolean matches(int fn, int idx) {
        return function == fn && ((flags & SIGNIFICANT_INDEX) == 0 || index == idx);
    }

    public CpuidEntry withEbx(int v) {
        return new CpuidEntry(function, index, flags, eax, v, ecx, edx);
    }

    public CpuidEntry withEcx(int v) {
        return new CpuidEntry(function, index, flags, eax, ebx, v, edx);
    }

    public CpuidEntry withEdx(int v) {
        return new CpuidEntry(function, index, flags, eax, ebx, ecx, v);
    }
}
