package org.jxen.vmm.xenstore;

/** A XenStore error, replied by name (xsd_errors in xs_wire.h: "ENOENT", "EACCES", ...). */
public final class XsError extends Exception {
    public XsError(String name) {
        super(name, null, false, false);
    }

    public String errno() {
        return getMessage();
    }

    static XsError of(String name) {
        return new XsError(name);
    }
}
