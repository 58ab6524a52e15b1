package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"text/tabwriter"

	"github.com/ruled/ruled/sources/enrichers/container"
	"github.com/ruled/ruled/sources/enrichers/proctable"
	"github.com/ruled/ruled/sources/event"
)

func init() {
	register("ps", "every process with its container", runPS)
}

// psRow is one process of `ruled ps -json` (JSON lines, one object per
// process).
type psRow struct {
	PID           int    `json:"pid"`
	PPID          int    `json:"ppid"`
	User          string `json:"user"`
	UID           int    `json:"uid"`
	Name          string `json:"name"`
	Exe           string `json:"exe"`
	Cmdline       string `json:"cmdline"`
	Container     string `json:"container_id"`
	ContainerName string `json:"container_name,omitempty"`
}

func runPS(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ps", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "one JSON object per line instead of a table")
	socket := fs.String("docker", container.DefaultDockerSocket, "Docker Engine API socket for container names (empty: ids only)")
	cri := fs.String("cri", "", criFlagHelp)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(stderr, "ruled ps: unexpected arguments:", fs.Args())
		return exitUsage
	}
	res := containerResolver(*socket, *cri)
	tb := proctable.New(proctable.Config{})
	tb.SetContainerResolver(res.ContainerID)
	if err := tb.Seed(ctx); err != nil {
		fmt.Fprintln(stderr, "ruled ps:", err)
		return exitError
	}
	procs := tb.Processes()
	sort.Slice(procs, func(i, j int) bool { return procs[i].PID < procs[j].PID })
	lctx, cancel := context.WithTimeout(ctx, dockerTimeout)
	defer cancel()
	nameOf := namer(lctx, res, "ruled ps", stderr)
	rows := make([]psRow, 0, len(procs))
	for _, p := range procs {
		cmd := p.Cmdline
		if cmd == "" && p.Exe == "" {
			cmd = "[" + p.Name + "]" // kernel thread, as ps shows it
		}
		rows = append(rows, psRow{
			PID: p.PID, PPID: p.PPID, User: p.User, UID: p.UID, Name: p.Name,
			Exe: p.Exe, Cmdline: cmd, Container: p.ContainerID, ContainerName: nameOf(p.ContainerID),
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
	fmt.Fprintln(w, "PID\tPPID\tUSER\tCONTAINER\tCONTAINER_NAME\tEXE\tCMDLINE")
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
		name := r.ContainerName
		if name == "" {
			name = "-"
		}
		// Escaped: a process picks its own argv and comm, and this table goes to a terminal.
		fmt.Fprintf(w, "%d\t%d\t%s\t%s\t%s\t%s\t%s\n", r.PID, r.PPID, event.Escape(user), cid, event.Escape(name), event.Escape(exe), event.Escape(r.Cmdline))
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintln(stderr, "ruled ps:", err)
		return exitError
	}
	return exitOK
}
