#!/usr/bin/env bash
# Stops the host's auditd for the end-to-end tests and starts it again after
# them, so `make test` leaves the host's services as it found them.
#
#   test/auditd.sh stop      stop a running auditd, noting how it ran
#   test/auditd.sh restore   start it again the way it ran, if stop stopped it
#
# The note is $RULED_AUDITD_NOTE (default /run/ruled-test-auditd.stopped):
# "systemd" when the auditd service ran it, else auditd's command line.
# /run is emptied at boot, as is a stopped service's state.
set -euo pipefail
note=${RULED_AUDITD_NOTE:-/run/ruled-test-auditd.stopped}
auditd_bin=${RULED_AUDITD_BIN:-auditd}

running() { pgrep -x "$(basename "$auditd_bin")" >/dev/null; }

case ${1:-} in
stop)
	running || exit 0
	pid=$(pgrep -x "$(basename "$auditd_bin")" | head -1)
	how=$(tr '\0' ' ' <"/proc/$pid/cmdline" | sed 's/ $//')
	if [[ -d /run/systemd/system ]] && systemctl is-active --quiet auditd 2>/dev/null; then
		how=systemd
	fi
	# Written before stopping: an interrupted stop still gets restored.
	printf '%s\n' "$how" >"$note"
	echo "test/auditd.sh: stopping auditd ($how) for the tests (note: $note)"
	# The Debian unit refuses a manual stop (RefuseManualStop=yes); a
	# SIGTERM is auditd's own clean shutdown.
	pkill -x "$(basename "$auditd_bin")" || true
	for _ in $(seq 50); do running || exit 0; sleep 0.1; done
	echo "test/auditd.sh: auditd did not stop within 5 s" >&2
	exit 1
	;;
restore)
	[[ -f $note ]] || exit 0
	how=$(cat "$note")
	if ! running; then
		echo "test/auditd.sh: starting auditd again ($how)"
		if [[ $how == systemd ]]; then
			systemctl start auditd
		else
			# auditd daemonizes itself unless told -n/-f.
			read -r -a argv <<<"$how"
			"${argv[@]}"
		fi
		for _ in $(seq 50); do running && break; sleep 0.1; done
		if ! running; then
			echo "test/auditd.sh: auditd did not come back ($how)" >&2
			exit 1
		fi
	fi
	rm -f "$note"
	;;
*)
	echo "usage: test/auditd.sh stop|restore" >&2
	exit 2
	;;
esac
