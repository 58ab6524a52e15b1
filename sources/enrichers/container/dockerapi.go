package container

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Detail is what `ruled inspect` and the responders need of one container
// beyond Info: state, times, capabilities, networks and mounts as the
// runtime recorded them.
type Detail struct {
	Info
	Created    time.Time
	Started    time.Time
	State      string // running, paused, exited ...
	PID        int    // host pid of the container's init (0 when not running)
	PIDMode    string // "" (own namespace) or host, container:ID
	OCIRuntime string // runc, or a registered runtime name
	CapAdd     []string
	CapDrop    []string
	Networks   []Network
	Mounts     []RuntimeMount
	UpperDir   string // the writable layer, when the storage driver is overlay
}

// Network is one network a container is attached to.
type Network struct {
	Name      string `json:"name"`
	ID        string `json:"id"`
	IPAddress string `json:"ip_address,omitempty"`
	IPv6      string `json:"ipv6_address,omitempty"`
	Gateway   string `json:"gateway,omitempty"`
	MAC       string `json:"mac,omitempty"`
}

// RuntimeMount is a volume or bind mount as the runtime recorded it.
type RuntimeMount struct {
	Type        string // bind, volume, tmpfs
	Source      string // host path
	Destination string
	RW          bool
}

// detailResponse is the part of GET /containers/{id}/json Detail uses.
type detailResponse struct {
	inspectResponse
	Created string `json:"Created"`
	State   struct {
		Status    string `json:"Status"`
		Pid       int    `json:"Pid"`
		StartedAt string `json:"StartedAt"`
	} `json:"State"`
	HostConfig struct {
		Privileged bool     `json:"Privileged"`
		PidMode    string   `json:"PidMode"`
		Runtime    string   `json:"Runtime"`
		CapAdd     []string `json:"CapAdd"`
		CapDrop    []string `json:"CapDrop"`
	} `json:"HostConfig"`
	Mounts []struct {
		Type        string `json:"Type"`
		Source      string `json:"Source"`
		Destination string `json:"Destination"`
		RW          bool   `json:"RW"`
	} `json:"Mounts"`
	NetworkSettings struct {
		Networks map[string]struct {
			NetworkID         string `json:"NetworkID"`
			IPAddress         string `json:"IPAddress"`
			GlobalIPv6Address string `json:"GlobalIPv6Address"`
			Gateway           string `json:"Gateway"`
			MacAddress        string `json:"MacAddress"`
		} `json:"Networks"`
	} `json:"NetworkSettings"`
}

// Detail returns one container (id, name or unique id prefix, as the
// Engine API resolves them) with GET /containers/{id}/json.
func (d *Docker) Detail(ctx context.Context, ref string) (Detail, error) {
	body, err := d.call(ctx, http.MethodGet, "/containers/"+url.PathEscape(ref)+"/json", nil, nil)
	if err != nil {
		return Detail{}, fmt.Errorf("docker inspect %s: %w", ref, err)
	}
	return decodeDetail(bytes.NewReader(body))
}

// decodeDetail turns an inspect response body into Detail.
func decodeDetail(r io.Reader) (Detail, error) {
	var dr detailResponse
	if err := json.NewDecoder(r).Decode(&dr); err != nil {
		return Detail{}, fmt.Errorf("decode docker inspect: %w", err)
	}
	dr.inspectResponse.HostConfig.Privileged = dr.HostConfig.Privileged
	info, err := infoOf(dr.inspectResponse)
	if err != nil {
		return Detail{}, err
	}
	d := Detail{
		Info:       info,
		Created:    parseDockerTime(dr.Created),
		Started:    parseDockerTime(dr.State.StartedAt),
		State:      dr.State.Status,
		PID:        dr.State.Pid,
		PIDMode:    dr.HostConfig.PidMode,
		OCIRuntime: dr.HostConfig.Runtime,
		CapAdd:     dr.HostConfig.CapAdd,
		CapDrop:    dr.HostConfig.CapDrop,
	}
	d.UpperDir = info.UpperDir
	for _, m := range dr.Mounts {
		d.Mounts = append(d.Mounts, RuntimeMount{Type: m.Type, Source: m.Source, Destination: m.Destination, RW: m.RW})
	}
	for name, n := range dr.NetworkSettings.Networks {
		d.Networks = append(d.Networks, Network{
			Name: name, ID: n.NetworkID, IPAddress: n.IPAddress, IPv6: n.GlobalIPv6Address,
			Gateway: n.Gateway, MAC: n.MacAddress,
		})
	}
	sort.Slice(d.Networks, func(i, j int) bool { return d.Networks[i].Name < d.Networks[j].Name })
	return d, nil
}

// parseDockerTime reads the API's RFC 3339 times; Docker writes
// 0001-01-01T00:00:00Z for "never", which becomes the zero time.
func parseDockerTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() <= 1 {
		return time.Time{}
	}
	return t
}

// Commit writes an evidence image of the container (POST /commit): repo:tag
// with labels. The container is paused while its layer is copied, as
// `docker commit` does, so the copy is consistent. It returns the image id.
func (d *Docker) Commit(ctx context.Context, id, repo, tag, comment string, labels map[string]string) (string, error) {
	q := url.Values{"container": {id}, "repo": {repo}, "tag": {tag}, "comment": {comment}, "pause": {"true"}}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		// A Dockerfile LABEL instruction; JSON string quoting is what the
		// instruction parser accepts for values with spaces.
		v, _ := json.Marshal(labels[k])
		q.Add("changes", "LABEL "+k+"="+string(v))
	}
	body, err := d.call(ctx, http.MethodPost, "/commit?"+q.Encode(), nil, []int{http.StatusCreated, http.StatusOK})
	if err != nil {
		return "", fmt.Errorf("docker commit %s: %w", id, err)
	}
	var r struct {
		ID string `json:"Id"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return "", fmt.Errorf("docker commit %s: decode: %w", id, err)
	}
	return r.ID, nil
}

// Disconnect detaches the container from one network
// (POST /networks/{id}/disconnect, forced so a stopping container goes too).
func (d *Docker) Disconnect(ctx context.Context, id, network string) error {
	req, _ := json.Marshal(map[string]any{"Container": id, "Force": true})
	if _, err := d.call(ctx, http.MethodPost, "/networks/"+url.PathEscape(network)+"/disconnect", req, nil); err != nil {
		return fmt.Errorf("docker network disconnect %s %s: %w", network, id, err)
	}
	return nil
}

// Pause freezes every process of the container (POST /containers/{id}/pause).
func (d *Docker) Pause(ctx context.Context, id string) error {
	if _, err := d.call(ctx, http.MethodPost, "/containers/"+url.PathEscape(id)+"/pause", nil, nil); err != nil {
		return fmt.Errorf("docker pause %s: %w", id, err)
	}
	return nil
}

// Stop stops the container, killing it after timeout.
func (d *Docker) Stop(ctx context.Context, id string, timeout time.Duration) error {
	q := url.Values{"t": {fmt.Sprint(int(timeout.Seconds()))}}
	if _, err := d.call(ctx, http.MethodPost, "/containers/"+url.PathEscape(id)+"/stop?"+q.Encode(), nil, []int{http.StatusNoContent, http.StatusNotModified}); err != nil {
		return fmt.Errorf("docker stop %s: %w", id, err)
	}
	return nil
}

// Kill sends SIGKILL to the container's init.
func (d *Docker) Kill(ctx context.Context, id string) error {
	if _, err := d.call(ctx, http.MethodPost, "/containers/"+url.PathEscape(id)+"/kill", nil, nil); err != nil {
		return fmt.Errorf("docker kill %s: %w", id, err)
	}
	return nil
}

// call does one Engine API request and returns the body of a response whose
// status is in ok (default 200 and 204). A 404 wraps ErrNotFound.
func (d *Docker) call(ctx context.Context, method, path string, body []byte, ok []int) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://docker"+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := d.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, err
	}
	if ok == nil {
		ok = []int{http.StatusOK, http.StatusNoContent}
	}
	for _, s := range ok {
		if resp.StatusCode == s {
			return b, nil
		}
	}
	msg := strings.TrimSpace(string(b))
	var em struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(b, &em) == nil && em.Message != "" {
		msg = em.Message
	}
	if resp.StatusCode == http.StatusNotFound {
		return nil, fmt.Errorf("%s: %w", msg, ErrNotFound)
	}
	return nil, fmt.Errorf("%s: %s", resp.Status, msg)
}
