//go:build linux

// Command helpers is one static multi-call program that the scenario suite
// copies into its test image under several names. The name it runs under
// decides what it does, so the kernel sees the process name an attack or a
// service would really have (comm "java", "apt-get", "sshd" ...).
package main

import (
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	name := filepath.Base(os.Args[0])
	var err error
	switch name {
	case "java":
		err = java(os.Args[1:])
	case "nginx", "mysqld":
		err = service(os.Args[1:])
	case "apt-get":
		err = aptGet()
	case "sshd":
		err = sshd()
	case "memfdexec":
		err = memfdExec(os.Args[1:])
	case "ptracer":
		err = ptracer()
	case "kmodload":
		err = kmodLoad()
	case "poolclient":
		err = poolClient(os.Args[1:])
	case "xmrig":
		err = xmrig(os.Args[1:])
	case "docker":
		err = dockerPing()
	case "socat":
		err = socat(os.Args[1:])
	case "setuidback":
		err = setuidBack()
	case "dropuid":
		err = dropUID()
	case "uffd":
		err = uffd()
	case "antidebug":
		err = antiDebug()
	case "packetsock":
		err = packetSocket()
	case "logrotate":
		err = logrotate()
	case "scp":
		err = scp()
	case "sha1sum":
		// A core utility that talks to the network: the pool client
		// under another name.
		err = poolClient(os.Args[1:])
	case "debugfs":
		// A stand-in that only starts: the rule is about debugfs being
		// run in a privileged container, where it could open the host's
		// block devices.
		fmt.Println("debugfs (ruled scenario stand-in)")
	default:
		err = fmt.Errorf("unknown helper name %q", name)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}
