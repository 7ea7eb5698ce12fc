package org.jxen.vmm.control;

import java.util.Map;

import org.jxen.engine.evtchn.PortManager;

/** What the control socket inspects and acts on: a domain's port manager and its counters. */
public interface ControlTarget {
    PortManager ports();

    /** Named counters (hypercalls, upcalls, ...), read when asked. */
    Map<String, Object> counters();
}
