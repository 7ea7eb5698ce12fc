package org.jxen.engine.memory;

import java.util.Optional;

/**
 * Guest frames outside RAM that Xen can fill: a grant-table frame placed by XENMEM_add_to_physmap at a gfn the guest
 * picked in a hole of its physmap (Linux PVH takes such gfns from unpopulated address space above RAM). The VMM
 * backs each with a host page mapped at that gfn; the engine only asks.
 */
public interface HoleFrames {
    /** A page now at {@code gfn} for the guest (zeroed when new; the same one if already there), or empty if that gfn cannot hold one. */
    Optional<GuestRegion> map(long gfn);

    /** {@code gfn} no longer holds the page {@link #map} returned (the guest placed the frame elsewhere). */
    void unmap(long gfn);

    /** No frames outside RAM: add_to_physmap there answers -EINVAL. */
    HoleFrames NONE = new HoleFrames() {
        @Override
        public Optional<GuestRegion> map(long gfn) {
            return Optional.empty();
        }

        @Override
        public void unmap(long gfn) {}
    };
}
