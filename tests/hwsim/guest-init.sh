#!/bin/busybox sh
# PID 1 of the hwsim guest, started by the initramfs after switch_root (tests/hwsim/setup.sh
# puts it there). Runs the command the host wrote to $hwsim_results/.hwsim/command (a shell
# fragment: cd, exports, `set -- PROGRAM ARGS...`) with its output on the console, writes
# its exit status to $hwsim_results/.hwsim/exit and powers the VM off (QEMU runs with
# -no-reboot, so a reboot ends it). There is no init system: the command starts whatever
# it needs, and this shell reaps orphans while it waits.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8 TERM=dumb HWSIM_GUEST=1
ctl=$hwsim_results/.hwsim
status=125
if [ -f "$ctl/command" ]; then
    . "$ctl/command"
    "$@" </dev/null
    status=$?
else
    echo "hwsim guest: no command in $ctl"
fi
echo "$status" >"$ctl/exit.tmp" && mv "$ctl/exit.tmp" "$ctl/exit"
sync
/bin/busybox reboot -f
echo b >/proc/sysrq-trigger
