package inspect

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/ruled/ruled/outputs"
	"github.com/ruled/ruled/sources/event"
)

// DefaultMaxAlerts is how many of a container's most recent alerts a report
// keeps.
const DefaultMaxAlerts = 50

// ReadAlerts reads alert JSON lines (the file output's format) and returns
// the last max alerts whose output_fields name container id, oldest first.
// Lines that are not alerts (a partial first line of a file tail) are
// skipped.
func ReadAlerts(r io.Reader, id string, max int) ([]event.Alert, error) {
	if max <= 0 {
		max = DefaultMaxAlerts
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	needle := []byte(id)
	var out []event.Alert
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.Contains(line, needle) {
			continue // most lines are other containers': skip the decode
		}
		var a event.Alert
		if err := json.Unmarshal(line, &a); err != nil {
			continue
		}
		if cid, _ := a.OutputFields["container.id"].(string); cid != id {
			continue
		}
		if len(out) == max {
			out = slices.Delete(out, 0, 1)
		}
		out = append(out, a)
	}
	return out, sc.Err()
}

// AlertFile is an alert file found through a running agent.
type AlertFile struct {
	// Path is where the file can be read from here: under the agent's
	// /proc/PID/root, so an agent in another mount namespace works too.
	Path string
	// How says where the path came from.
	How string
}

// FindAlertFiles looks for the file outputs of running ruled agents: for
// every process whose comm is "ruled", its command line's -output file:PATH
// flags or, without them, the file outputs of its -config file. Relative
// paths are the agent's, resolved against its working directory. proc is
// the /proc file system.
func FindAlertFiles(proc fs.FS) []AlertFile {
	ents, err := fs.ReadDir(proc, ".")
	if err != nil {
		return nil
	}
	var out []AlertFile
	seen := map[string]bool{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, _ := fs.ReadFile(proc, e.Name()+"/comm")
		if strings.TrimSpace(string(comm)) != "ruled" {
			continue
		}
		b, err := fs.ReadFile(proc, e.Name()+"/cmdline")
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
		cwd, _ := fs.ReadLink(proc, e.Name()+"/cwd")
		root := e.Name() + "/root"
		abs := func(p string) string {
			if !path.IsAbs(p) {
				p = path.Join(cwd, p)
			}
			return path.Join(root, p)
		}
		files, configFile := agentFiles(args[1:])
		how := "-output file: of ruled pid " + strconv.Itoa(pid)
		if len(files) == 0 && configFile != "" {
			cb, err := fs.ReadFile(proc, strings.TrimPrefix(abs(configFile), "/"))
			if err == nil {
				files = configFiles(cb)
				how = "outputs of " + configFile + ", the -config of ruled pid " + strconv.Itoa(pid)
			}
		}
		for _, f := range files {
			p := abs(f)
			if !seen[p] {
				seen[p] = true
				out = append(out, AlertFile{Path: p, How: how})
			}
		}
	}
	return out
}

// agentFiles picks the file output paths and the config file out of an
// agent's arguments (flag package syntax: -flag value, -flag=value, one or
// two dashes).
func agentFiles(args []string) (files []string, config string) {
	for i := 0; i < len(args); i++ {
		name, val, hasVal := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		if !strings.HasPrefix(args[i], "-") || name != "output" && name != "config" {
			continue
		}
		if !hasVal {
			if i+1 >= len(args) {
				break
			}
			i++
			val = args[i]
		}
		if name == "config" {
			config = val
			continue
		}
		if sp, err := outputs.ParseSpec(val); err == nil && sp.Kind == outputs.KindFile {
			files = append(files, sp.Path)
		}
	}
	return files, config
}

// configFiles returns the file outputs of an agent config file.
func configFiles(b []byte) []string {
	var c struct {
		Outputs []outputs.Spec `yaml:"outputs"`
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		return nil
	}
	var files []string
	for _, sp := range c.Outputs {
		if sp.Kind == "" && sp.Raw != "" {
			p, err := outputs.ParseSpec(sp.Raw)
			if err != nil {
				continue
			}
			sp = p
		}
		if sp.Kind == outputs.KindFile {
			files = append(files, sp.Path)
		}
	}
	return files
}
