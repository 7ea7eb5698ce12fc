#!/usr/bin/perl
# One boot of the peer guest (tools/peer, docs/peer.md) under one VMM; appends its record, one JSON line, to RESULTS.
# Usage: boot.pl jxen|qemu INDEX RESULTS LOGDIR IMAGE SECS TIMEOUT
# The VMM is started from here, so its process id (whose memory is read) and the start time are exact; each line of
# its standard output (the guest's console) is timed from that start. At "peer: ready" and "peer: done" the VMM's
# resident memory less the guest RAM's (the one mapping of the guest RAM's size, from smaps) is sampled.
use strict;
use warnings;
use Time::HiRes qw(time sleep);
use IO::Socket::UNIX;
use JSON::PP;
use POSIX qw(WNOHANG);

my ($vmm, $index, $results, $logdir, $image, $secs, $timeout) = @ARGV;
die "usage: boot.pl jxen|qemu INDEX RESULTS LOGDIR IMAGE SECS TIMEOUT\n" unless defined $timeout;
my $peer = $ENV{JXEN_PEER} // '/var/tmp/jxen-peer';
my $ram_mib = 512;
my $tap = $ENV{JXEN_PEER_NET}; # run.sh's TAP, if it could make one
my $cmdline = "console=hvc0 quiet peer.secs=$secs" . ($tap ? ' peer.net=1' : '');
my $log = "$logdir/$vmm-$index";
(my $monitor = $image) =~ s/[^\/]*$/$vmm-$index.monitor/; # beside the image, on a tmpfs: a 9p file system binds no socket
my @cmd;
unlink $monitor;
if ($vmm eq 'jxen') {
    # The jxen launcher's own java command (./jxen's last line), without its rebuild check, which walks the source tree;
    # JXEN_CP instead of the jar: a build's class path (the CI smoke, which runs before the jar is packaged).
    my $java = $ENV{JXEN_JAVA} // die "JXEN_JAVA unset\n";
    my @main = $ENV{JXEN_CP} ? ('-cp', $ENV{JXEN_CP}, 'org.jxen.cli.Main') : ('-jar', $ENV{JXEN_JAR} // die "JXEN_JAR unset\n");
    # Not the launcher's AOT start-up cache: inside the emulated VM, read over 9p, it made jxen's start slower, not
    # faster (docs/peer.md), and these rows compare the VMMs as started there.
    @cmd = ($java, '--enable-native-access=ALL-UNNAMED', '--sun-misc-unsafe-memory-access=allow', '-XX:+UseParallelGC', '-Djdk.nio.maxCachedBufferSize=262144', @main,
        'run', '--kernel', "$peer/vmlinuz", '--initrd', "$peer/initrd.gz", '--accel', 'kvm', '--vcpus', '2', '--memory', $ram_mib,
        '--disk', $image, '--cmdline', $cmdline, '--timeout', $timeout, '--socket', $monitor, ($tap ? ('--net', "tap=$tap") : ()), split(' ', $ENV{JXEN_PEER_ARGS} // ''));
} else {
    @cmd = ("$peer/bin/qemu-system-x86_64", '-M', 'pc', '-accel', 'kvm,xen-version=0x40013,kernel-irqchip=split', '-cpu', 'host',
        '-smp', '2', '-m', $ram_mib, '-display', 'none', '-no-reboot', '-nodefaults',
        '-chardev', 'stdio,id=con0,signal=off', '-device', 'xen-console,chardev=con0',
        '-monitor', "unix:$monitor,server=on,wait=off",
        '-drive', "file=$image,if=none,id=d0,format=raw,file.locking=off", '-device', 'xen-disk,drive=d0,vdev=xvda',
        ($tap ? ('-netdev', "tap,id=n0,ifname=$tap,script=no,downscript=no", '-device', 'xen-net-device,netdev=n0') : ()),
        '-kernel', "$peer/vmlinuz", '-initrd', "$peer/initrd.gz", '-append', $cmdline);
}

my %r = (vmm => $vmm, index => $index + 0, command => join(' ', @cmd));
open(my $err, '>', "$log.stderr") or die;
open(my $con, '>', "$log.console") or die;
$con->autoflush(1);
my $t0 = time;
my $pid = open(my $out, '-|') // die "fork: $!";
if ($pid == 0) {
    open(STDERR, '>&', $err) or die;
    open(STDIN, '<', '/dev/null') or die;
    exec @cmd or die "exec $cmd[0]: $!";
}

# The VMM's resident memory and the guest RAM's share of it (KiB).
sub memory {
    my %m;
    open(my $st, '<', "/proc/$pid/status") or return undef;
    while (<$st>) { $m{rss} = $1 if /^VmRSS:\s+(\d+)/; }
    open(my $sm, '<', "/proc/$pid/smaps") or return undef;
    my ($size, $guest) = (0, 0);
    while (<$sm>) {
        if (/^Size:\s+(\d+)/) { $size = $1; }
        elsif (/^Rss:\s+(\d+)/ && $size >= $ram_mib * 1024 && $size <= $ram_mib * 1024 + 4096 && $1 > $guest) { $guest = $1; }
    }
    return undef unless defined $m{rss};
    return { rss_kib => $m{rss} + 0, guest_kib => $guest + 0, overhead_kib => $m{rss} - $guest };
}

# QEMU's human monitor: each command's output up to the next prompt (the greeting's read first), as [command, output]
# pairs; an empty list where the monitor cannot be reached.
sub qemu_monitor {
    my @commands = @_;
    my $s = IO::Socket::UNIX->new(Peer => $monitor) or return ();
    $s->blocking(0);
    my @out;
    for my $c ('', @commands) {
        print $s "$c\n" if $c ne '';
        my ($buf, $deadline) = ('', time + 30);
        while (time < $deadline && $buf !~ /\(qemu\) $/) {
            my $n = sysread($s, my $chunk, 65536);
            if ($n) { $buf .= $chunk; } else { sleep 0.2; }
        }
        push @out, [$c, $buf] if $c ne '';
    }
    return @out;
}

# Exits to the VMM so far. jxen: its own counts by kind (the control socket's query-counters: every exit it handles).
# QEMU: KVM's per-vCPU statistics (info stats, KVM_GET_STATS_FD), summed over the vCPUs: io_exits and mmio_exits are
# the port and MMIO exits, which with kernel-irqchip=split all reach QEMU, exits counts every exit including those
# KVM handles itself.
sub exits {
    if ($vmm eq 'jxen') {
        my $s = IO::Socket::UNIX->new(Peer => $monitor) or return undef;
        print $s qq({"execute":"query-counters"}\n);
        $s->timeout(30);
        my $line = <$s> // return undef;
        my $reply = eval { decode_json($line) } or return undef;
        my $e = $reply->{return}{exits} or return undef;
        return { %$e, io => $e->{'hypercall-page'} + $e->{'console-io'} + $e->{'pci-config-io'} + $e->{'other-io'} };
    }
    my $text = join('', map { $_->[1] } qemu_monitor(map { ("cpu $_", 'info stats vcpu') } 0 .. 1));
    my %sum;
    while ($text =~ /^\s+(exits|io_exits|mmio_exits|halt_exits|hypercalls|signal_exits|irq_exits|insn_emulation) \(cumulative\): (\d+)/mg) { $sum{$1} += $2; }
    return undef unless %sum;
    return { io => $sum{io_exits} // 0, mmio => $sum{mmio_exits} // 0, map { ("kvm-$_" => $sum{$_}) } keys %sum };
}

# A hung QEMU's state: every vCPU's registers and the top of its stack, through the human monitor.
sub qemu_evidence {
    my @out = qemu_monitor('info registers -a', 'cpu 0', 'x/32gx $rsp', 'cpu 1', 'x/32gx $rsp', 'info irq');
    return @out ? join('', map { "== $_->[0]\n$_->[1]\n" } @out) : "no monitor: $!";
}

my @console;
my %disk;
my $limit = $t0 + $timeout + ($vmm eq 'jxen' ? 120 : 0); # jxen stops itself at --timeout with its stall report
my $sel = '';
vec($sel, fileno($out), 1) = 1;
my $pending = '';
my $eof = 0;
while (!$eof) {
    my $left = $limit - time;
    if ($left <= 0) {
        $r{timed_out} = JSON::PP::true;
        if ($vmm eq 'qemu') { open(my $ev, '>', "$log.evidence") or die; print $ev qemu_evidence(); close $ev; }
        kill 'KILL', $pid;
        last;
    }
    my $rin = $sel;
    next unless select($rin, undef, undef, $left > 1 ? 1 : $left);
    my $n = sysread($out, my $chunk, 65536);
    if (!$n) { $eof = 1; $chunk = "\n"; }
    $pending .= $chunk;
    while ($pending =~ s/^([^\n]*)\n//) {
        my $line = $1;
        $line =~ s/\r//g;
        next if $eof && $line eq '';
        my $t = time - $t0;
        printf $con "%9.3f %s\n", $t, $line;
        push @console, $line;
        $r{first_output_s} //= $t;
        if ($line =~ /peer: init uptime ([\d.]+)/) { $r{init_wall_s} = $t; $r{init_uptime_s} = $1 + 0; }
        elsif ($line =~ /peer: evtchn (.*)/) { $r{evtchn} = $1; }
        elsif ($line =~ /peer: xvda at uptime ([\d.]+)/) { $r{xvda_uptime_s} = $1 + 0; }
        elsif ($line =~ /peer: ready/) { $r{memory_init} = memory(); $r{exits_init} = exits(); }
        elsif ($line =~ /peer: disk (\S+) .* mbps ([\d.]+) iops ([\d.]+)/) { $disk{$1} = { mbps => $2 + 0, iops => $3 + 0 }; }
        elsif ($line =~ /peer: pingpong rounds \d+ us ([\d.]+)/) { $r{pingpong_us} = $1 + 0; }
        elsif ($line =~ /peer: net rr rounds \d+ us ([\d.]+)/) { $r{net_rr_us} = $1 + 0; }
        elsif ($line =~ /peer: net (tx|rx) .* mbps ([\d.]+)/) { $r{"net_$1_mbps"} = $2 + 0; }
        elsif ($line =~ /peer: done/) { $r{memory_done} = memory(); $r{exits_done} = exits(); }
        elsif ($line =~ /peer: end/) { $r{end_wall_s} = $t; }
    }
}
close $out;
unlink $monitor;
my $status = $? >> 8;
$r{exit_status} = $status;
$r{disk} = \%disk;
$r{wall_s} = time - $t0;
close $err;

# Did the boot finish, and if not, which signature (LinuxGuestTest's two for jxen; the same two read from QEMU's
# guest's console, where the IF-clear one shows only as a hang).
my $console = join("\n", @console);
my $stderr = do { local $/; my $f; open($f, '<', "$log.stderr") ? <$f> : '' };
if (defined $r{end_wall_s}) { $r{outcome} = 'ok'; }
else {
    $r{outcome} = 'failed';
    if ($stderr =~ /an interrupt was delivered while the guest had interrupts disabled/) { $r{signature} = 'callback with IF=0 (stall)'; }
    elsif ($console =~ /ENTRY_TRAMPOLINE stack guard page was hit/) {
        $r{signature} = 'callback entered with the user GS (ENTRY_TRAMPOLINE guard page)' . ($console =~ /asm_sysvec_xen_hvm_callback/ ? '' : ', no xen callback frame');
    }
    elsif ($console =~ /(Kernel panic[^\n]*|BUG:[^\n]*|Oops[^\n]*)/) { $r{signature} = "other oops: $1"; }
    elsif ($r{timed_out} || $status == 124) { $r{signature} = 'hang (no end before the timeout)' . ($stderr =~ /the guest is stuck/ ? ': jxen says stuck' : ''); }
    else { $r{signature} = "exit $status before the end"; }
    my @tail = @console > 30 ? @console[-30 .. -1] : @console;
    $r{console_tail} = join("\n", @tail);
    my @errs = split /\n/, $stderr;
    $r{stderr_tail} = join("\n", @errs > 30 ? @errs[-30 .. -1] : @errs);
}
open(my $res, '>>', $results) or die;
print $res JSON::PP->new->canonical->encode(\%r), "\n";
close $res;
printf "peer: %s boot %d: %s%s, init at %s s wall (uptime %s s), %.0f s in all\n", $vmm, $index, $r{outcome},
    $r{signature} ? " ($r{signature})" : '', $r{init_wall_s} // '-', $r{init_uptime_s} // '-', $r{wall_s};
