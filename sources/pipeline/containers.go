package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/ruled/ruled/sources/enrichers/container"
	"github.com/ruled/ruled/sources/enrichers/netns"
	"github.com/ruled/ruled/sources/event"
)

// addContainers wires container attribution and namespace sockets into the
// table and the enrichment chain. It cannot fail: without a Docker daemon
// the resolver still attributes container ids from /proc/PID/cgroup and
// fills names once the daemon answers.
func (l *Pipeline) addContainers(cfg Config) {
	res := l.res
	nc := netns.NewCache(netns.Config{})
	l.table.SetContainerResolver(res.ContainerID)
	l.table.SetStdioResolver(nc.CompleteStdio)
	// Order matters: the table fills proc.*, the resolver reads proc.pid and
	// proc.exe, the socket cache reads fd.* and proc.std*.
	l.enrich = append(l.enrich, res, nc)
	l.workers = append(l.workers, res.Run, l.warmContainers)
	l.nc = nc
}

// newResolver creates the container resolver first, since the proc
// connector source asks it for each exec's container as it is received.
func (l *Pipeline) newResolver(cfg Config) {
	sock := cfg.DockerSocket
	if sock == "" {
		sock = container.DefaultDockerSocket
	}
	log := l.log.With("component", "containers")
	var cri []container.Runtime
	if c := probeCRI(cfg.CRISocket, log); c != nil {
		cri = append(cri, c)
	}
	l.res = container.NewResolver(container.Config{
		Runtime:  container.NewDocker(sock),
		Runtimes: cri,
		Logger:   log,
		PIDIn:    l.table.OldestIn,
	})
}

// probeCRI finds the node's CRI runtime. A configured socket is used even
// when it does not answer yet (the runtime may start after ruled, and the
// resolver retries); the default sockets only when one answers.
func probeCRI(socket string, log *slog.Logger) *container.CRI {
	if socket == "none" {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if socket != "" {
		c, err := container.NewCRI(socket)
		if err != nil {
			log.Warn("cri runtime not used", "socket", socket, "err", err)
			return nil
		}
		if name, ver, err := c.Version(ctx); err != nil {
			log.Warn("cri runtime not answering yet; container metadata from it once it does", "socket", socket, "err", err)
		} else {
			log.Info("cri runtime", "socket", socket, "runtime", name, "version", ver)
		}
		return c
	}
	c, ver, err := container.ProbeCRI(ctx, container.DefaultCRISockets, time.Second)
	if err != nil {
		log.Debug("no cri runtime", "probed", err)
		return nil
	}
	log.Info("cri runtime", "socket", c.Socket(), "runtime", ver)
	return c
}

// warmContainers asks for the audit watches of the containers that were
// running before ruled started, and looks up their metadata, so their
// first events after start carry names too, not only the ones that trigger
// a lookup. It runs beside the event path; the lookups stop at the first
// failure other than "not found" (the daemon is down: the resolver
// recovers on its own when it returns).
func (l *Pipeline) warmContainers(ctx context.Context) error {
	var ids []string
	seen := map[string]bool{}
	for _, p := range l.table.Processes() {
		id := p.ContainerID
		if id == "" || id == event.HostID || seen[id] {
			continue
		}
		seen[id] = true
		ids = append(ids, id)
		if l.audit != nil {
			l.audit.WatchContainer(p.PID, id)
		}
	}
	for _, id := range ids {
		if _, err := l.res.Lookup(ctx, id); err != nil && !errors.Is(err, container.ErrNotFound) {
			if ctx.Err() == nil {
				l.log.Debug("container warm-up stopped", "err", err)
			}
			return nil
		}
	}
	l.log.Debug("container metadata warmed", "containers", len(ids))
	return nil
}
