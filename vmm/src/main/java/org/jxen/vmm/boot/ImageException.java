package org.jxen.vmm.boot;

/** A guest image jxen cannot load; the message is one line for the user (what is wrong, and where). */
public final class ImageException extends Exception {
    public ImageException(String message) {
        super(message);
    }
}
