package org.jxen.engine.jfr;

import jdk.jfr.Category;
import jdk.jfr.Description;
import jdk.jfr.Event;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;

/** One hypercall dispatched (see them with {@code jcmd <pid> JFR.start}, then JFR.dump). */
@Name("jxen.Hypercall")
@Label("Hypercall")
@Category({"jxen", "Hypercalls"})
@Description("A guest hypercall and its result")
@StackTrace(false)
public final class HypercallEvent extends Event {
    @Label("Number")
    public int number;

    @Label("First argument")
    public long arg1;

    @Label("Result")
    public long result;
}
