package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/ruled/ruled/sources/event"
)

// DefaultDockerSocket is where dockerd listens by default.
const DefaultDockerSocket = "/var/run/docker.sock"

// Docker is a client of the Docker Engine API over dockerd's unix socket.
// It uses unversioned paths, which every Engine API version accepts.
type Docker struct {
	hc *http.Client
}

// NewDocker returns a client of the daemon listening on socket.
func NewDocker(socket string) *Docker {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		MaxIdleConns:       4,
		DisableCompression: true,
	}
	// No client timeout: Events is a long stream; callers bound Inspect
	// with their context.
	return &Docker{hc: &http.Client{Transport: tr}}
}

// inspectResponse is the part of GET /containers/{id}/json ruled uses.
type inspectResponse struct {
	ID     string `json:"Id"`
	Name   string `json:"Name"`
	Image  string `json:"Image"`
	Config struct {
		Image  string            `json:"Image"`
		Labels map[string]string `json:"Labels"`
	} `json:"Config"`
	HostConfig struct {
		Privileged bool `json:"Privileged"`
	} `json:"HostConfig"`
	GraphDriver struct {
		Name string            `json:"Name"`
		Data map[string]string `json:"Data"`
	} `json:"GraphDriver"`
}

// Inspect implements Runtime with GET /containers/{id}/json.
func (d *Docker) Inspect(ctx context.Context, id string) (Info, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/containers/"+url.PathEscape(id)+"/json", nil)
	if err != nil {
		return Info{}, fmt.Errorf("docker inspect %s: %w", id, err)
	}
	resp, err := d.hc.Do(req)
	if err != nil {
		return Info{}, fmt.Errorf("docker inspect %s: %w", id, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return Info{}, fmt.Errorf("docker inspect %s: %w", id, ErrNotFound)
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return Info{}, fmt.Errorf("docker inspect %s: %s: %s", id, resp.Status, strings.TrimSpace(string(msg)))
	}
	return decodeInspect(io.LimitReader(resp.Body, 4<<20))
}

// decodeInspect turns an inspect response body into Info.
func decodeInspect(r io.Reader) (Info, error) {
	var ir inspectResponse
	if err := json.NewDecoder(r).Decode(&ir); err != nil {
		return Info{}, fmt.Errorf("decode docker inspect: %w", err)
	}
	return infoOf(ir)
}

func infoOf(ir inspectResponse) (Info, error) {
	info := Info{
		ID:         ir.ID,
		Name:       strings.TrimPrefix(ir.Name, "/"),
		Image:      ir.Config.Image,
		ImageID:    ir.Image,
		Runtime:    event.RuntimeDocker,
		Privileged: ir.HostConfig.Privileged,
		Labels:     ir.Config.Labels,
	}
	if ir.GraphDriver.Name == "overlay2" || ir.GraphDriver.Name == "overlay" {
		info.UpperDir = ir.GraphDriver.Data["UpperDir"]
	}
	info.setK8s()
	return info, nil
}

// eventMessage is one object of the GET /events stream.
type eventMessage struct {
	Type   string `json:"Type"`
	Action string `json:"Action"`
	Actor  struct {
		ID string `json:"ID"`
	} `json:"Actor"`
}

// Events implements Runtime with GET /events filtered to containers.
func (d *Docker) Events(ctx context.Context, connected func(), fn func(Event)) error {
	q := url.Values{"filters": {`{"type":["container"]}`}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/events?"+q.Encode(), nil)
	if err != nil {
		return fmt.Errorf("docker events: %w", err)
	}
	resp, err := d.hc.Do(req)
	if err != nil {
		return fmt.Errorf("docker events: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("docker events: %s", resp.Status)
	}
	if connected != nil {
		connected()
	}
	return decodeEvents(resp.Body, fn)
}

// decodeEvents reads the concatenated JSON objects of an events stream.
func decodeEvents(r io.Reader, fn func(Event)) error {
	dec := json.NewDecoder(r)
	for {
		var m eventMessage
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("docker events: %w", io.ErrUnexpectedEOF)
			}
			return fmt.Errorf("docker events: %w", err)
		}
		if m.Type != "" && m.Type != "container" {
			continue
		}
		// "exec_start: sh" and "health_status: healthy" carry a suffix.
		action, _, _ := strings.Cut(m.Action, ":")
		fn(Event{Action: action, ID: m.Actor.ID})
	}
}
