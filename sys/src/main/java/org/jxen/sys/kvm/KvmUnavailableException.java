package org.jxen.sys.kvm;

/** /dev/kvm cannot be used here; the message says why in one line (missing device, no permission, old API). */
public final class KvmUnavailableException extends Exception {
    public KvmUnavailableException(String message) {
        super(message);
    }
}
