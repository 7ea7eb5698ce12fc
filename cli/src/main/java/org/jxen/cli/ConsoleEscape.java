package org.jxen.cli;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;

/**
 * The guest console's input from a terminal in raw mode: every byte goes to the guest except the escape key, Ctrl-]
 * (as {@code xl console}), which ends the session: the input ends there and {@link #onEscape} runs once.
 */
final class ConsoleEscape extends FilterInputStream {
    static final int CTRL_RIGHT_BRACKET = 0x1D;
    private volatile Runnable onEscape = () -> {};
    private boolean escaped;

    ConsoleEscape(InputStream in) {
        super(in);
    }

    void onEscape(Runnable r) {
        onEscape = r;
    }

    @Override
    public int read() throws IOException {
        byte[] one = new byte[1];
        return read(one, 0, 1) < 0 ? -1 : one[0] & 0xFF;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
        if (escaped) return -1;
        int n = super.read(b, off, len);
        for (int i = 0; i < n; i++) {
            if ((b[off + i] & 0xFF) == CTRL_RIGHT_BRACKET) {
                escaped = true;
                onEscape.run();
                return i == 0 ? -1 : i;
            }
        }
        return n;
    }
}
