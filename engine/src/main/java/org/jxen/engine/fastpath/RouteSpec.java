package org.jxen.engine.fastpath;

/**
 * A route as requested: sends on {@code sendPort}, of {@code type} (an EVTCHNSTAT_* value: ipi, virq or interdomain),
 * go to {@code delivery}. The route table validates it and takes its own reference to a signal.
 */
public record RouteSpec(int sendPort, int type, Delivery delivery) {}
