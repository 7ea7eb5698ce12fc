package org.jxen.engine.platform;

/** One entry of the memory map the guest is offered ({@code struct e820entry}, packed: 20 bytes). */
public record E820Entry(long addr, long size, int type) {
    public static final int RAM = 1, RESERVED = 2;
    public static final int SIZE = 20;
}
