#!/usr/bin/perl
# The peer harness's summary (tools/peer, docs/peer.md): from the boots' records (one JSON line each, boot.pl), per
# row the median, the range and the count of boots that got that far, for jxen and QEMU, and the ratio of the
# medians; failed boots with their signatures. Usage: report.pl RESULTS.jsonl MARKDOWN JSON
use strict;
use warnings;
use JSON::PP;

my ($in, $md_file, $json_file) = @ARGV;
die "usage: report.pl RESULTS.jsonl MARKDOWN JSON\n" unless defined $json_file;
open(my $f, '<', $in) or die "$in: $!";
my @boots = map { decode_json($_) } grep { /\S/ } <$f>;
my @vmms = ('jxen', 'qemu');

my @rows = (
    ['process start → guest init, wall (s)', sub { $_[0]{init_wall_s} }, 1],
    ['guest uptime at init (s)', sub { $_[0]{init_uptime_s} }, 2],
    ['VMM start-up: wall at init − guest uptime (s)', sub { defined $_[0]{init_wall_s} ? $_[0]{init_wall_s} - $_[0]{init_uptime_s} : undef }, 1],
    ['guest uptime when xvda appeared (s)', sub { $_[0]{xvda_uptime_s} }, 2],
    ['VMM resident memory − guest RAM, at init (MiB)', sub { my $m = $_[0]{memory_init}; $m ? $m->{overhead_kib} / 1024 : undef }, 1],
    ['VMM resident memory − guest RAM, after the disk runs (MiB)', sub { my $m = $_[0]{memory_done}; $m ? $m->{overhead_kib} / 1024 : undef }, 1],
    ['xvda sequential direct read, 1 MiB, QD1 (MB/s)', sub { $_[0]{disk}{'seq-read'}{mbps} }, 2],
    ['xvda sequential direct write, 1 MiB, QD1 (MB/s)', sub { $_[0]{disk}{'seq-write'}{mbps} }, 2],
    ['xvda 4 KiB direct random read, QD1 (IOPS)', sub { $_[0]{disk}{'rand-read-qd1'}{iops} }, 0],
    ['xvda 4 KiB direct random read, QD32 (IOPS)', sub { $_[0]{disk}{'rand-read-qd32'}{iops} }, 0],
    ['xvda 4 KiB direct random write, QD1 (IOPS)', sub { $_[0]{disk}{'rand-write-qd1'}{iops} }, 0],
    ['xvda 4 KiB direct random write, QD32 (IOPS)', sub { $_[0]{disk}{'rand-write-qd32'}{iops} }, 0],
    ['cross-vCPU wake-up round trip, pipe ping-pong (µs)', sub { $_[0]{pingpong_us} }, 0],
    ['TCP round trip guest ↔ host over the PV NIC, 1 byte (µs)', sub { $_[0]{net_rr_us} }, 0],
    ['TCP stream guest → host over the PV NIC (MB/s)', sub { $_[0]{net_tx_mbps} }, 2],
    ['TCP stream host → guest over the PV NIC (MB/s)', sub { $_[0]{net_rx_mbps} }, 2],
    ['port I/O exits to the VMM, boot to init', sub { my $e = $_[0]{exits_init}; $e ? $e->{io} : undef }, 0],
    ['MMIO exits to the VMM, boot to init', sub { my $e = $_[0]{exits_init}; $e ? $e->{mmio} : undef }, 0],
    ['port I/O exits to the VMM, whole run', sub { my $e = $_[0]{exits_done}; $e ? $e->{io} : undef }, 0],
);

sub median { my @s = sort { $a <=> $b } @_; my $n = @s; return $n % 2 ? $s[$n / 2] : ($s[$n / 2 - 1] + $s[$n / 2]) / 2; }
sub fmt { my ($v, $d) = @_; return sprintf("%.${d}f", $v); }

my %count = map { my $v = $_; ($v => scalar grep { $_->{vmm} eq $v } @boots) } @vmms;
my %failed = map { my $v = $_; ($v => [grep { $_->{vmm} eq $v && $_->{outcome} ne 'ok' } @boots]) } @vmms;
my @md = ("| row (2 vCPUs, 512 MiB, one PV disk, one PV NIC) | jxen (kvm mode, PVH), $count{jxen} boots | QEMU (Xen HVM), $count{qemu} boots | jxen / QEMU (medians) |",
    '|---|---|---|---|');
my @json_rows;
for my $row (@rows) {
    my ($name, $get, $digits) = @$row;
    my (%cell, %median);
    for my $v (@vmms) {
        my @x = grep { defined } map { $get->($_) } grep { $_->{vmm} eq $v } @boots;
        if (!@x) { $cell{$v} = '–'; next; }
        my @s = sort { $a <=> $b } @x;
        $median{$v} = median(@x);
        $cell{$v} = sprintf('%s [%s–%s] (n=%d)', fmt($median{$v}, $digits), fmt($s[0], $digits), fmt($s[-1], $digits), scalar @x);
        push @json_rows, { row => $name, vmm => $v, n => scalar @x, median => $median{$v}, min => $s[0], max => $s[-1], values => \@x };
    }
    my $ratio = defined $median{jxen} && defined $median{qemu} && $median{qemu} != 0 ? sprintf('%.2f', $median{jxen} / $median{qemu}) : '–';
    push @md, "| $name | $cell{jxen} | $cell{qemu} | $ratio |";
}
my %sig;
for my $v (@vmms) { $sig{$v} = join('; ', map { "#$_->{index}: $_->{signature}" } @{ $failed{$v} }) || 'none'; }
push @md, sprintf('| boots that did not finish | %d: %s | %d: %s | |', scalar @{ $failed{jxen} }, $sig{jxen}, scalar @{ $failed{qemu} }, $sig{qemu});
my %abi;
for my $b (@boots) { $abi{$b->{vmm}}{$b->{evtchn}}++ if $b->{evtchn}; }
push @md, '', 'Medians, [min–max] and n = boots that reached the row. Event channel ABI the guest chose: '
    . join('; ', map { my $v = $_; "$v " . join(', ', map { "$_ ($abi{$v}{$_})" } sort keys %{ $abi{$v} }) } grep { $abi{$_} } @vmms) . '.';
open(my $md, '>', $md_file) or die;
print $md join("\n", @md), "\n";
close $md;
open(my $js, '>', $json_file) or die;
print $js JSON::PP->new->canonical->pretty->encode({ boots => \%count,
    failed => { map { my $v = $_; ($v => [map { { index => $_->{index}, signature => $_->{signature}, console_tail => $_->{console_tail} } } @{ $failed{$v} }]) } @vmms },
    rows => \@json_rows });
close $js;
print join("\n", @md), "\n";
