package org.jxen.engine.platform;

import org.jxen.engine.abi.Errno;
import org.jxen.engine.hypercall.HypercallArgs;
import org.jxen.engine.memory.GuestVirtualMemory;

/**
 * HYPERVISOR_vm_assist(cmd, type) for an HVM guest ({@code public/xen.h}, Xen's {@code vm_assist}): the only type an
 * HVM domain may enable is VMASST_TYPE_runstate_update_flag; any other type is -EINVAL, checked before the command;
 * a command other than enable/disable is -ENOSYS.
 */
public final class VmAssist {
    public static final int CMD_ENABLE = 0, CMD_DISABLE = 1;
    public static final int TYPE_RUNSTATE_UPDATE_FLAG = 5;

    private final Runstates runstates;

    public VmAssist(Runstates runstates) {
        this.runstates = runstates;
    }

    public long handle(HypercallArgs args, GuestVirtualMemory mem) {
        long type = args.a2();
        if (type != TYPE_RUNSTATE_UPDATE_FLAG) return -Errno.EINVAL;
        return switch (HypercallArgs.u32(args.a1())) {
            case CMD_ENABLE -> {
                runstates.setUpdateFlag(true);
                yield 0;
            }
            case CMD_DISABLE -> {
                runstates.setUpdateFlag(false);
                yield 0;
            }
            default -> -Errno.ENOSYS;
        };
    }
}
