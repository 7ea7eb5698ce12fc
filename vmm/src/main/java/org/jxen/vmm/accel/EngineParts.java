package org.jxen.vmm.accel;

import org.jxen.engine.evtchn.GuestDomain;
import org.jxen.engine.evtchn.PortManager;
import org.jxen.engine.fastpath.RouteSync;
import org.jxen.engine.fastpath.RouteTable;
import org.jxen.engine.hvm.HvmParams;
import org.jxen.engine.memory.GuestMemory;
import org.jxen.engine.platform.Runstates;
import org.jxen.engine.platform.VcpuTimers;

/**
 * The parts of a domain's engine an acceleration may take work from, through the engine's own hooks (a
 * {@code SingleshotKeeper}, a {@code RunstateKeeper}, a {@code RouteMirror}, {@code InboundRoutes}, a
 * {@code TwoLevelRaiser}): the platform hands them over once, when it is built.
 */
public record EngineParts(GuestDomain guest, PortManager ports, HvmParams params, VcpuTimers timers, Runstates runstates,
        RouteTable routes, RouteSync routeSync, GuestMemory ram, int vcpus) {}
