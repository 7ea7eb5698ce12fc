/**
 * What a guest does with event channels, written in Java: reference consumers that read and clear bits in guest
 * memory exactly as Linux's event-channel drivers do. Used by tests (Java threads standing in for vCPUs), the
 * engine demonstration and benchmarks. Nothing here is used by the VMM itself.
 */
package org.jxen.engine.guestside;
