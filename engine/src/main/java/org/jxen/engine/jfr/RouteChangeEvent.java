package org.jxen.engine.jfr;

import jdk.jfr.Category;
import jdk.jfr.Event;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;

/** A fast-path route table change and its result (its duration includes the grace period). */
@Name("jxen.RouteChange")
@Label("Route change")
@Category({"jxen", "Fast path"})
@StackTrace(false)
public final class RouteChangeEvent extends Event {
    @Label("Operation")
    public String operation;

    @Label("Port")
    public int port;

    @Label("Result")
    public int result;
}
