package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/ruled/ruled/sources/event"
	"github.com/ruled/ruled/sources/proctable"
)

func init() {
	register("ps", "every process with its container", runPS)
}

// containerIDOf returns the container id of a live pid: the 64-hex id in
// /proc/PID/cgroup, "host" when the cgroup paths name no container, "" when
// the file could not be read. It is a minimal stand-in until the integrator
// points it at sources/container's parser.
var containerIDOf = func(pid int) string {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return ""
	}
	defer f.Close()
	return cgroupContainerID(f)
}

// cgroupContainerID finds a 64-hex path element (docker/ID, docker-ID.scope,
// cri-containerd-ID.scope, crio-ID.scope, libpod-ID.scope) in a
// /proc/PID/cgroup file.
func cgroupContainerID(r io.Reader) string {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.LastIndexByte(line, ':'); i >= 0 {
			line = line[i+1:]
		}
		for _, el := range strings.Split(line, "/") {
			el = strings.TrimSuffix(el, ".scope")
			if i := strings.LastIndexByte(el, '-'); i >= 0 {
				el = el[i+1:]
			}
			if isHex64(el) {
				return el
			}
		}
	}
	return event.HostID
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// psRow is one process of `ruled ps -json` (JSON lines, one object per
// process).
type psRow struct {
	PID       int    `json:"pid"`
	PPID      int    `json:"ppid"`
	User      string `json:"user"`
	UID       int    `json:"uid"`
	Name      string `json:"name"`
	Exe       string `json:"exe"`
	Cmdline   string `json:"cmdline"`
	Container string `json:"container_id"`
}

func runPS(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ps", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "one JSON object per line instead of a table")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(stderr, "ruled ps: unexpected arguments:", fs.Args())
		return exitUsage
	}
	tb := proctable.New(proctable.Config{})
	tb.SetContainerResolver(containerIDOf)
	if err := tb.Seed(ctx); err != nil {
		fmt.Fprintln(stderr, "ruled ps:", err)
		return exitError
	}
	procs := tb.Processes()
	sort.Slice(procs, func(i, j int) bool { return procs[i].PID < procs[j].PID })
	rows := make([]psRow, 0, len(procs))
	for _, p := range procs {
		cmd := p.Cmdline
		if cmd == "" && p.Exe == "" {
			cmd = "[" + p.Name + "]" // kernel thread, as ps shows it
		}
		rows = append(rows, psRow{
			PID: p.PID, PPID: p.PPID, User: p.User, UID: p.UID, Name: p.Name,
			Exe: p.Exe, Cmdline: cmd, Container: p.ContainerID,
		})
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		for _, r := range rows {
			if err := enc.Encode(r); err != nil {
				fmt.Fprintln(stderr, "ruled ps:", err)
				return exitError
			}
		}
		return exitOK
	}
	w := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(w, "PID\tPPID\tUSER\tCONTAINER\tEXE\tCMDLINE")
	for _, r := range rows {
		user := r.User
		if user == "" {
			user = strconv.Itoa(r.UID)
		}
		cid := r.Container
		if len(cid) == 64 {
			cid = cid[:12] // docker ps's short form; -json has the full id
		}
		if cid == "" {
			cid = "-"
		}
		exe := r.Exe
		if exe == "" {
			exe = "-"
		}
		fmt.Fprintf(w, "%d\t%d\t%s\t%s\t%s\t%s\n", r.PID, r.PPID, user, cid, exe, r.Cmdline)
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintln(stderr, "ruled ps:", err)
		return exitError
	}
	return exitOK
}
