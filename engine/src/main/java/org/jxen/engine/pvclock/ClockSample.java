package org.jxen.engine.pvclock;

/** A guest TSC value and the domain's system time (ns since the domain started) taken at the same moment. */
public record ClockSample(long tsc, long systemTimeNs) {}
