package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ruled/ruled/sources/enrichers/container"
	"github.com/ruled/ruled/sources/enrichers/netns"
	"github.com/ruled/ruled/sources/event"
)

func init() {
	register("netstat", "every socket of every network namespace, with pid, exe, container", runNetstat)
}

// netstatRow is one socket of `ruled netstat -json` (JSON lines).
type netstatRow struct {
	Proto         string `json:"proto"`
	State         string `json:"state"`
	Local         string `json:"local"`
	Remote        string `json:"remote"`
	Inode         uint64 `json:"inode,omitempty"`
	UID           uint32 `json:"uid"`
	NetNS         uint64 `json:"netns"`
	PIDs          []int  `json:"pids,omitempty"`
	PID           int    `json:"pid,omitempty"`
	Exe           string `json:"exe,omitempty"`
	Comm          string `json:"comm,omitempty"`
	ContainerID   string `json:"container_id,omitempty"`
	ContainerName string `json:"container_name,omitempty"`
}

// dockerTimeout bounds all Docker API calls of one ps or netstat run: a
// hung daemon must not hang the listing.
const dockerTimeout = 2 * time.Second

// containerResolver attributes pids to containers and, when socket is not
// empty, names them from the Docker daemon.
const criFlagHelp = "CRI runtime socket for container and pod names (default: probe containerd's and CRI-O's; none: no CRI)"

func containerResolver(socket, cri string) *container.Resolver {
	var rt container.Runtime
	if socket != "" {
		rt = container.NewDocker(socket)
	}
	// A Kubernetes node's CRI runtime (containerd, CRI-O) names the pods'
	// containers.
	var more []container.Runtime
	ctx, cancel := context.WithTimeout(context.Background(), dockerTimeout)
	defer cancel()
	sockets := container.DefaultCRISockets
	if cri != "" {
		sockets = []string{cri}
	}
	if cri != "none" {
		if c, _, err := container.ProbeCRI(ctx, sockets, time.Second); err == nil {
			more = append(more, c)
		}
	}
	return container.NewResolver(container.Config{Runtime: rt, Runtimes: more, LookupTimeout: dockerTimeout})
}

func runNetstat(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fset := flag.NewFlagSet("netstat", flag.ContinueOnError)
	fset.SetOutput(stderr)
	asJSON := fset.Bool("json", false, "one JSON object per line instead of a table")
	socket := fset.String("docker", container.DefaultDockerSocket, "Docker Engine API socket for container names (empty: ids only)")
	cri := fset.String("cri", "", criFlagHelp)
	if err := fset.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fset.NArg() > 0 {
		fmt.Fprintln(stderr, "ruled netstat: unexpected arguments:", fset.Args())
		return exitUsage
	}
	proc := os.DirFS("/proc")
	entries, err := netns.Snapshot(proc, netns.ReadLive)
	if err != nil {
		fmt.Fprintln(stderr, "ruled netstat:", err)
		return exitError
	}
	res := containerResolver(*socket, *cri)
	lctx, cancel := context.WithTimeout(ctx, dockerTimeout)
	defer cancel()
	rows := netstatRows(proc, entries, res.ContainerID, namer(lctx, res, "ruled netstat", stderr))
	if *asJSON {
		enc := json.NewEncoder(stdout)
		for _, r := range rows {
			if err := enc.Encode(r); err != nil {
				fmt.Fprintln(stderr, "ruled netstat:", err)
				return exitError
			}
		}
		return exitOK
	}
	if err := writeNetstatTable(stdout, rows); err != nil {
		fmt.Fprintln(stderr, "ruled netstat:", err)
		return exitError
	}
	return exitOK
}

// namer returns container names from the runtime, giving up for the rest
// of the run after the first failure that is not "no such container" (the
// daemon is down or slow: ids only).
func namer(ctx context.Context, res *container.Resolver, cmd string, stderr io.Writer) func(id string) string {
	names := map[string]string{}
	down := false
	return func(id string) string {
		if id == "" || id == event.HostID || down {
			return ""
		}
		if n, ok := names[id]; ok {
			return n
		}
		info, err := res.Lookup(ctx, id)
		if err != nil && !errors.Is(err, container.ErrNotFound) {
			fmt.Fprintln(stderr, cmd+": container names unavailable:", err)
			down = true
		}
		names[id] = info.Name
		return info.Name
	}
}

// netstatRows turns a snapshot into rows. A socket no process holds
// (TIME_WAIT, or one whose holder exited) gets the container of its
// namespace's other processes.
func netstatRows(proc fs.FS, entries []netns.Entry, containerOf func(pid int) string, nameOf func(id string) string) []netstatRow {
	cids := map[int]string{}
	cid := func(pid int) string {
		if c, ok := cids[pid]; ok {
			return c
		}
		c := containerOf(pid)
		cids[pid] = c
		return c
	}
	nsContainer := map[uint64]string{}
	for _, e := range entries {
		if len(e.PIDs) > 0 {
			if c := cid(e.PIDs[0]); c != "" && nsContainer[e.NetNS] == "" {
				nsContainer[e.NetNS] = c
			}
		}
	}
	rows := make([]netstatRow, 0, len(entries))
	for _, e := range entries {
		r := netstatRow{
			Proto:  e.Kind.String(),
			State:  e.StateName(),
			Local:  e.Local.String(),
			Remote: e.Remote.String(),
			Inode:  e.Inode,
			UID:    e.UID,
			NetNS:  e.NetNS,
			PIDs:   e.PIDs,
		}
		if len(e.PIDs) > 0 {
			r.PID = e.PIDs[0]
			r.Exe, r.Comm = procExe(proc, r.PID)
			r.ContainerID = cid(r.PID)
		} else {
			r.ContainerID = nsContainer[e.NetNS]
		}
		r.ContainerName = nameOf(r.ContainerID)
		rows = append(rows, r)
	}
	return rows
}

func procExe(proc fs.FS, pid int) (exe, comm string) {
	p := strconv.Itoa(pid)
	exe, _ = fs.ReadLink(proc, p+"/exe")
	b, _ := fs.ReadFile(proc, p+"/comm")
	return exe, strings.TrimSpace(string(b))
}

func writeNetstatTable(w io.Writer, rows []netstatRow) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "PROTO\tSTATE\tLOCAL\tREMOTE\tPID\tEXE\tCONTAINER\tNAME")
	for _, r := range rows {
		pid := "-"
		if len(r.PIDs) > 0 {
			pid = strconv.Itoa(r.PID)
			if len(r.PIDs) > 1 {
				pid += "+" + strconv.Itoa(len(r.PIDs)-1)
			}
		}
		exe := r.Exe
		if exe == "" {
			exe = r.Comm
		}
		cid := r.ContainerID
		if len(cid) == 64 {
			cid = cid[:12] // docker ps's short form; -json has the full id
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			r.Proto, dash(r.State), r.Local, r.Remote, pid, dash(event.Escape(exe)), dash(cid), dash(event.Escape(r.ContainerName)))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
