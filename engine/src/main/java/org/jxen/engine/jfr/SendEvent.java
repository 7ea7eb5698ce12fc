package org.jxen.engine.jfr;

import jdk.jfr.Category;
import jdk.jfr.Event;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;

/** EVTCHNOP_send: the port, whether the fast path served it, the result. */
@Name("jxen.EventSend")
@Label("Event-channel send")
@Category({"jxen", "Event channels"})
@StackTrace(false)
public final class SendEvent extends Event {
    @Label("Port")
    public int port;

    @Label("Fast path")
    public boolean fastPath;

    @Label("Result")
    public long result;
}
