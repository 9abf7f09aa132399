#!/usr/bin/env bash
# seed-root.sh DIR: the files anyip-firstboot edits on an appliance (root's
# /etc/shadow, sshd's configuration), made under DIR for its --root, so that
# the demo and the benchmarks never touch this machine's /etc. The same as
# internal/e2etest.SeedRoot.
set -euo pipefail
dir=$1
mkdir -p "$dir/etc/ssh"
printf 'root:*:20000:0:99999:7:::\ndaemon:*:20000:0:99999:7:::\n' >"$dir/etc/shadow"
chmod 0640 "$dir/etc/shadow"
printf 'Include /etc/ssh/sshd_config.d/*.conf\n\n#PermitRootLogin prohibit-password\n' >"$dir/etc/ssh/sshd_config"
