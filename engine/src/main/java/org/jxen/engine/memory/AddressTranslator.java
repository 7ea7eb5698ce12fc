package org.jxen.engine.memory;

/**
 * Guest-virtual to guest-physical translation for hypercall arguments (pointers are guest-virtual in Xen HVM
 * hypercalls). The VMM implements it by walking the calling vCPU's page tables; with paging off it is the identity.
 */
@FunctionalInterface
public interface AddressTranslator {
    /** Returned by {@link #toPhysical} when the address is not mapped (or not writable for a write). */
    long FAULT = -1;

    /** The guest-physical address of {@code gva}, or {@link #FAULT}. */
    long toPhysical(long gva, boolean write);

    /** Paging off: virtual = physical. */
    AddressTranslator IDENTITY = (gva, write) -> gva;
}
