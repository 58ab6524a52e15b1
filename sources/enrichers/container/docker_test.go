package container

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDecodeInspectRecorded(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "docker", "inspect.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	info, err := decodeInspect(f)
	if err != nil {
		t.Fatal(err)
	}
	want := Info{
		ID:      recordedID,
		Name:    "fx1",
		Image:   "ruled-test-busybox:latest",
		ImageID: "sha256:6cb19ab017b8a5536144b434d2dc3b3392ffb0a892a64ebc000aa8516677339d",
		Runtime: "docker",
	}
	if info.ID != want.ID || info.Name != want.Name || info.Image != want.Image || info.ImageID != want.ImageID ||
		info.Runtime != want.Runtime || info.Privileged {
		t.Errorf("got %+v, want %+v", info, want)
	}
	if want := "/var/lib/docker/overlay2/6e75451db9ac4a5e2285de0ac286b1ca5acb32c927f4c782ed43b8e8628bcb5c/diff"; info.UpperDir != want {
		t.Errorf("upper %q, want %q", info.UpperDir, want)
	}
}

func TestDecodeInspect(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Info
		wantErr bool
	}{
		{"k8s labels and privileged", `{"Id":"x","Name":"/k8s_app","Image":"sha256:1","Config":{"Image":"app:2","Labels":{"io.kubernetes.pod.name":"p","io.kubernetes.pod.namespace":"ns"}},"HostConfig":{"Privileged":true}}`,
			Info{ID: "x", Name: "k8s_app", Image: "app:2", ImageID: "sha256:1", Runtime: "docker", Privileged: true, PodName: "p", PodNS: "ns"}, false},
		{"minimal", `{"Id":"y"}`, Info{ID: "y", Runtime: "docker"}, false},
		{"not json", `<html>`, Info{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeInspect(strings.NewReader(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			got.Labels = nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDecodeEventsRecorded(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "docker", "events.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []string
	err = decodeEvents(f, func(e Event) { got = append(got, e.Action+" "+e.ID[:12]) })
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("end of stream err = %v, want ErrUnexpectedEOF", err)
	}
	want := "create 166614ba282f,attach 166614ba282f,start 166614ba282f,die 166614ba282f,rename 166614ba282f,destroy 166614ba282f"
	if strings.Join(got, ",") != want {
		t.Errorf("got %v\nwant %v", got, want)
	}
}

func FuzzDecodeEvents(f *testing.F) {
	b, err := os.ReadFile(filepath.Join("testdata", "docker", "events.jsonl"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = decodeEvents(strings.NewReader(string(b)), func(Event) {})
	})
}

// TestDockerClientOverUnixSocket runs the client against a fake daemon on a
// unix socket: paths, 404 mapping, and the events stream.
func TestDockerClientOverUnixSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "docker.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	inspect, err := os.ReadFile(filepath.Join("testdata", "docker", "inspect.json"))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /containers/{id}/json", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") != recordedID {
			http.Error(w, `{"message":"No such container"}`, http.StatusNotFound)
			return
		}
		_, _ = w.Write(inspect)
	})
	mux.HandleFunc("GET /events", func(w http.ResponseWriter, r *http.Request) {
		if got := r.URL.Query().Get("filters"); got != `{"type":["container"]}` {
			http.Error(w, "bad filters "+got, http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, `{"Type":"container","Action":"exec_start: sh","Actor":{"ID":"abc"}}`+"\n")
		_, _ = io.WriteString(w, `{"Type":"network","Action":"connect","Actor":{"ID":"net"}}`+"\n")
		w.(http.Flusher).Flush()
	})
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	d := NewDocker(sock)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := d.Inspect(ctx, recordedID)
	if err != nil || info.Name != "fx1" {
		t.Fatalf("Inspect = %+v, %v", info, err)
	}
	if _, err := d.Inspect(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown id: err = %v, want ErrNotFound", err)
	}
	var evs []Event
	connected := false
	err = d.Events(ctx, func() { connected = true }, func(e Event) { evs = append(evs, e) })
	if err == nil || !connected {
		t.Errorf("Events: err %v connected %v", err, connected)
	}
	if len(evs) != 1 || evs[0] != (Event{Action: "exec_start", ID: "abc"}) {
		t.Errorf("events = %+v", evs)
	}
	// A daemon that is not there.
	if _, err := NewDocker(filepath.Join(t.TempDir(), "none.sock")).Inspect(ctx, recordedID); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("absent daemon: err = %v", err)
	}
}

func TestDecodeDetail(t *testing.T) {
	f, err := os.Open("testdata/docker/inspect.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := decodeDetail(f)
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "fx1" || d.State != "running" || d.PID != 6122 || d.OCIRuntime != "runc" {
		t.Errorf("name %q state %q pid %d runtime %q", d.Name, d.State, d.PID, d.OCIRuntime)
	}
	if d.Started.IsZero() || d.Created.IsZero() || !d.Started.After(d.Created) {
		t.Errorf("created %v started %v", d.Created, d.Started)
	}
	if len(d.Networks) != 1 || d.Networks[0].Name != "none" {
		t.Errorf("networks %+v", d.Networks)
	}
	if !strings.HasSuffix(d.UpperDir, "6e75451db9ac4a5e2285de0ac286b1ca5acb32c927f4c782ed43b8e8628bcb5c/diff") {
		t.Errorf("upper %q", d.UpperDir)
	}
}
