package org.jxen.vmm.backend.net;

import java.lang.foreign.MemorySegment;

import org.jxen.sys.TapDevice;

/** A host TAP device: one frame per read and per write (IFF_NO_PI), as {@link TapDevice} gives them. */
public record TapLink(TapDevice tap) implements FrameLink {
    @Override
    public String name() {
        return tap.name();
    }

    @Override
    public int fd() {
        return tap.fd();
    }

    @Override
    public int read(MemorySegment into) {
        return tap.read(into);
    }

    @Override
    public int write(MemorySegment frame) {
        return tap.write(frame);
    }

    @Override
    public void close() {
        tap.close();
    }
}
