#!/usr/bin/env bash
# Prepares a fresh Debian machine (as root) for ruled's end-to-end tests:
# installs Docker, containerd (its CRI plugin runs in test/k8s), auditd, rsyslog and busybox-static from Debian, starts
# dockerd if it is not running, and builds the offline test image
# ruled-test-busybox:latest with `docker import` of a busybox-static rootfs.
# It fails loudly: the end-to-end tests must run in CI, never skip.
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
	echo "test/setup.sh: must run as root (end-to-end tests use audit, netlink and Docker)" >&2
	exit 1
fi

# Tests decide themselves when a daemon holds the audit role, so no auditd
# may run during them. The host's own auditd is stopped (and noted: make test
# starts it again at the end with test/auditd.sh restore); one that only the
# package installation below starts is stopped without a note.
bash "$(dirname "$0")/auditd.sh" stop

# libjsoncpp25 libre2-9 libtbb12 libyaml-cpp0.7: the runtime libraries of the
# real Falco in ../shared/falco (test/falco runs it); xz-utils unpacks the
# real falcosidekick (test/falcosidekick). containerd (its CRI plugin),
# ca-certificates (the image), systemd (systemd-analyze verify) and
# logrotate: test/k8s.
pkgs=(docker.io containerd ca-certificates systemd logrotate busybox-static auditd rsyslog iproute2 procps gcc libc6-dev
	libjsoncpp25 libre2-9 libtbb12 libyaml-cpp0.7 xz-utils)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	echo "test/setup.sh: installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	scratch=$(mktemp)
	RULED_AUDITD_NOTE=$scratch bash "$(dirname "$0")/auditd.sh" stop
	rm -f "$scratch"
fi

# A runc wrapper registered as the runtime "ruled-test-runc": where the
# host's capability bounding set lacks a capability (a VM's init may
# withhold CAP_SYS_RESOURCE), `docker run --privileged` fails with plain
# runc; the wrapper drops just those from the container's capability sets.
# The privileged-container scenarios use it (see test/runcwrap).
wrapper=/usr/local/lib/ruled-test-runc
cd "$(dirname "$0")/.."
go build -o "$wrapper" ./test/runcwrap
runtime_flag="--add-runtime=ruled-test-runc=$wrapper"
pidfile=/run/ruled-test-dockerd.pid

if docker info >/dev/null 2>&1 && ! docker info -f '{{range $k, $v := .Runtimes}}{{$k}} {{end}}' | grep -qw ruled-test-runc; then
	pid=$(cat "$pidfile" 2>/dev/null || true)
	if [[ -n $pid ]] && [[ $(cat /proc/"$pid"/comm 2>/dev/null) == dockerd ]] || [[ ${CI:-} == true ]]; then
		# Ours (or CI's own machine): restart it with the wrapper runtime.
		echo "test/setup.sh: restarting dockerd with the ruled-test-runc runtime"
		pkill -x dockerd || true
		for _ in $(seq 300); do pgrep -x dockerd >/dev/null || break; sleep 0.2; done
	else
		echo "test/setup.sh: note: dockerd lacks the ruled-test-runc runtime ($runtime_flag);" \
			"the privileged-container scenarios will report that they could not run" >&2
	fi
fi

if ! docker info >/dev/null 2>&1; then
	echo "test/setup.sh: starting dockerd"
	mkdir -p /var/log
	nohup dockerd "$runtime_flag" >>/var/log/ruled-test-dockerd.log 2>&1 &
	echo $! >"$pidfile"
	for _ in $(seq 120); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
	if ! docker info >/dev/null 2>&1; then
		echo "test/setup.sh: dockerd did not come up; its log:" >&2
		tail -50 /var/log/ruled-test-dockerd.log >&2
		exit 1
	fi
fi

image=ruled-test-busybox:latest
# layout names the image's file layout: a change below bumps it, so a
# machine holding an image of an older layout builds it again.
layout=2
if [[ $(docker image inspect -f '{{index .Config.Labels "ruled.test.layout"}}' "$image" 2>/dev/null) != "$layout" ]]; then
	echo "test/setup.sh: building $image (layout $layout) offline from busybox-static"
	root=$(mktemp -d)
	trap 'rm -rf "$root"' EXIT
	# The layout of the official busybox image, which is what "a fresh
	# busybox container" means to tools such as the event-generator: /home,
	# the mail spool and web root of its accounts, and the standard system
	# accounts (daemon, bin, sys, sync, mail, www-data, operator, nobody).
	mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,root,home,var/tmp,var/spool/mail,var/www,dev/shm,proc,sys}
	chmod 1777 "$root/tmp" "$root/var/tmp"
	chmod 700 "$root/root"
	cp /bin/busybox "$root/bin/busybox"
	for applet in $("$root/bin/busybox" --list); do
		[[ -e "$root/bin/$applet" ]] || ln -s busybox "$root/bin/$applet"
	done
	# name uid gid home shell, one account a line.
	accounts='root 0 0 /root /bin/sh
daemon 1 1 /usr/sbin /bin/false
bin 2 2 /bin /bin/false
sys 3 3 /dev /bin/false
sync 4 100 /bin /bin/sync
mail 8 8 /var/spool/mail /bin/false
www-data 33 33 /var/www /bin/false
operator 37 37 /var /bin/false
nobody 65534 65534 /home /bin/false'
	: >"$root/etc/passwd"
	: >"$root/etc/shadow"
	while read -r name uid gid home shell; do
		echo "$name:x:$uid:$gid:$name:$home:$shell" >>"$root/etc/passwd"
		echo "$name:*:19000:0:99999:7:::" >>"$root/etc/shadow"
	done <<<"$accounts"
	# name gid [members]
	groups='root 0
daemon 1
bin 2
sys 3
adm 4
tty 5
disk 6
mail 8
wheel 10 root
www-data 33
operator 37
staff 50
users 100
nogroup 65534'
	: >"$root/etc/group"
	while read -r name gid members; do
		echo "$name:x:$gid:$members" >>"$root/etc/group"
	done <<<"$groups"
	chmod 640 "$root/etc/shadow"
	tar -C "$root" -c . | docker import -c 'CMD ["/bin/sh"]' -c "LABEL ruled.test.layout=$layout" - "$image" >/dev/null
fi
echo "test/setup.sh: ready (docker $(docker version -f '{{.Server.Version}}'), image $image)"
