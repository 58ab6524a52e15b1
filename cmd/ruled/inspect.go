package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ruled/ruled/inspect"
	"github.com/ruled/ruled/sources/enrichers/container"
	"github.com/ruled/ruled/sources/event"
)

func init() {
	register("inspect", "a container (name, id, prefix, host pid, IP or host veth): processes, sockets, network, changes, mounts, packages, alerts", runInspect)
}

func runInspect(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: ruled inspect [-json] [-docker SOCKET] [-alerts FILE]... TARGET")
		fmt.Fprintln(stderr, "TARGET: container name, id or id prefix, host pid, container IP, or host veth interface")
		fs.PrintDefaults()
	}
	asJSON := fs.Bool("json", false, "write one JSON document")
	socket := fs.String("docker", container.DefaultDockerSocket, "Docker Engine API socket (empty: answer from /proc and the cgroup only)")
	var alertFiles rulePaths
	fs.Var(&alertFiles, "alerts", "alert file (JSON lines, the file: output) to read the container's alerts from (repeatable; default: the file outputs of running ruled agents)")
	maxChanges := fs.Int("max-changes", inspect.DefaultMaxChanges, "list at most this many upper-layer entries")
	maxAlerts := fs.Int("max-alerts", inspect.DefaultMaxAlerts, "keep this many of the most recent alerts")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return exitUsage
	}
	opt := inspect.Options{MaxChanges: *maxChanges, MaxAlerts: *maxAlerts, RuntimeTimeout: dockerTimeout}
	if *socket != "" {
		opt.Docker = container.NewDocker(*socket)
	}
	if len(alertFiles) > 0 {
		opt.AlertFiles = alertFiles
	}
	rep, err := inspect.Gather(ctx, fs.Arg(0), opt)
	if err != nil {
		fmt.Fprintln(stderr, "ruled inspect:", err)
		return exitError
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintln(stderr, "ruled inspect:", err)
			return exitError
		}
		return exitOK
	}
	if err := writeInspect(stdout, rep); err != nil {
		fmt.Fprintln(stderr, "ruled inspect:", err)
		return exitError
	}
	return exitOK
}

// writeInspect prints a report as sections of tables. Every string that a
// container or its processes chose (names, labels, command lines, paths,
// alert text) goes through event.Escape, as in ps and netstat, so what is
// inspected cannot write control sequences to the responder's terminal.
func writeInspect(w io.Writer, r *inspect.Report) error {
	e := event.Escape
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	c := r.Container
	fmt.Fprintln(tw, "CONTAINER")
	kv := func(k string, v any) {
		s := e(fmt.Sprint(v))
		if s == "" || s == "[]" || s == "map[]" || s == "<nil>" {
			s = "-"
		}
		fmt.Fprintf(tw, "  %s\t%s\n", k, s)
	}
	kv("id", c.ID)
	kv("name", c.Name)
	kv("image", c.Image)
	kv("image id", c.ImageID)
	kv("runtime", strings.TrimSpace(c.Runtime+" "+c.OCIRuntime))
	kv("state", c.State)
	kv("created", fmtTime(c.Created))
	kv("started", fmtTime(c.Started))
	if c.Privileged != nil {
		kv("privileged", *c.Privileged)
	} else {
		kv("privileged", "unknown (runtime down)")
	}
	kv("cap add", strings.Join(c.CapAdd, ","))
	kv("cap effective", strings.Join(c.CapEffective, ","))
	kv("pid mode", c.PIDMode)
	kv("pid namespace", c.PIDNamespace)
	kv("init pid", c.InitPID)
	kv("k8s pod", strings.Trim(c.K8sNamespace+"/"+c.K8sPod, "/"))
	keys := make([]string, 0, len(c.Labels))
	for k := range c.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		kv("label", k+"="+c.Labels[k])
	}
	kv("metadata from", c.From)

	fmt.Fprintln(tw, "\nPROCESSES\nPID\tPPID\tVPID\tUSER\tSTARTED\tEXE\tCMDLINE\tSTDIO")
	for _, p := range r.Processes {
		user := p.User
		if user == "" {
			user = fmt.Sprint(p.UID)
		}
		var stdio []string
		for i, s := range []*event.Stdio{p.Stdin, p.Stdout, p.Stderr} {
			if s != nil {
				stdio = append(stdio, fmt.Sprintf("%d=%s:%s", i, s.L4Proto, e(s.Name)))
			}
		}
		fmt.Fprintf(tw, "%d\t%d\t%d\t%s\t%s\t%s\t%s%s\t%s\n", p.PID, p.PPID, p.VPID, e(user), fmtTime(p.Started),
			dash(e(p.Exe)), strings.Repeat("  ", p.Depth), e(p.Cmdline), dash(strings.Join(stdio, " ")))
	}
	fmt.Fprintln(tw, "\nSOCKETS\nPROTO\tSTATE\tLOCAL\tREMOTE\tINODE\tPID\tEXE")
	for _, s := range r.Sockets {
		pid := "-"
		if s.PID > 0 {
			pid = fmt.Sprint(s.PID)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", s.Proto, dash(s.State), s.Local, s.Remote, s.Inode, pid, dash(e(s.Exe)))
	}
	fmt.Fprintln(tw, "\nNETWORK\nIF\tMAC\tADDRESSES\tHOST VETH")
	for _, l := range r.Network.Interfaces {
		veth := "-"
		if l.HostVeth != nil {
			veth = fmt.Sprintf("%s (ifindex %d)", e(l.HostVeth.Name), l.HostVeth.Index)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e(l.Name), dash(l.MAC), dash(strings.Join(l.Addrs, " ")), veth)
	}
	for _, n := range r.Network.Networks {
		fmt.Fprintf(tw, "  network %s\t%s\t%s\t%s\n", e(n.Name), dash(n.IPAddress), dash(n.Gateway), dash(n.ID))
	}
	fmt.Fprintln(tw, "\nCHANGES\tSIZE\tMODE\tMTIME\tEXEC")
	for _, ch := range r.Changes {
		ex := ""
		if ch.Executable {
			ex = "executable"
		}
		fmt.Fprintf(tw, "%s %s\t%d\t%s\t%s\t%s\n", ch.Kind, e(ch.Path), ch.Size, dash(ch.Mode), fmtTime(ch.MTime), ex)
	}
	fmt.Fprintln(tw, "\nMOUNTS\nDESTINATION\tTYPE\tSOURCE\tOPTIONS\tFLAG")
	for _, m := range r.Mounts {
		flag := ""
		if m.Sensitive {
			flag = "SENSITIVE: " + e(m.Reason)
		} else if m.HostPath != "" {
			flag = e(m.Reason)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e(m.Destination), e(m.Type), e(m.Source), e(m.Options), flag)
	}
	fmt.Fprintln(tw, "\nPACKAGES\tVERSION\tMANAGER")
	for _, p := range r.Packages {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", e(p.Name), e(p.Version), p.Manager)
	}
	fmt.Fprintln(tw, "\nALERTS\nTIME\tPRIORITY\tRULE\tOUTPUT")
	for _, a := range r.Alerts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", fmtTime(a.Time), a.Priority, e(a.Rule), e(a.Output))
	}
	if len(r.Notes) > 0 {
		fmt.Fprintln(tw, "\nNOTES")
		for _, n := range r.Notes {
			fmt.Fprintln(tw, "  "+e(n))
		}
	}
	return tw.Flush()
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
