package org.jxen.engine.jfr;

import jdk.jfr.Category;
import jdk.jfr.Event;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;

/** An event delivered: an upcall raised on a vCPU, or a backend port notified. */
@Name("jxen.Delivery")
@Label("Event delivery")
@Category({"jxen", "Event channels"})
@StackTrace(false)
public final class DeliveryEvent extends Event {
    @Label("Target")
    public String target;

    @Label("vCPU or backend port")
    public int index;
}
