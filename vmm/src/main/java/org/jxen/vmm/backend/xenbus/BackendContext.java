package org.jxen.vmm.backend.xenbus;

import org.jxen.engine.evtchn.PortManager;
import org.jxen.engine.fastpath.BackendSignals;
import org.jxen.engine.grant.GrantMapper;
import org.jxen.vmm.xenstore.XenStore;

/** What a dom0 backend of the guest {@code domid} works with: its event channels, its grant mappings and XenStore. */
public record BackendContext(PortManager ports, BackendSignals signals, GrantMapper grants, XenStore store, int domid) {}
