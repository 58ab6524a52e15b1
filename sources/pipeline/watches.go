package pipeline

import (
	"path"
	"slices"
	"sync"
	"time"

	"github.com/ruled/ruled/sources/event"
)

// watchEvery is how often one container's audit watches are asked for
// again on ordinary events: the process used last time may have exited
// before the rules were added.
const watchEvery = 10 * time.Second

// watchTracker decides when to ask the audit source for a container's
// copies of the path= rules: at its first event, after a write into a
// watched directory (which may have just been created), and now and then.
type watchTracker struct {
	dirs []string // sorted
	mu   sync.Mutex
	last map[string]time.Time
}

func newWatchTracker(dirs []string) *watchTracker {
	return &watchTracker{dirs: dirs, last: map[string]time.Time{}}
}

// due reports whether to ask for ev's container now.
func (w *watchTracker) due(ev *event.Event, now time.Time) bool {
	id := ev.Container.ID
	if id == "" || id == event.HostID || ev.Proc.PID <= 0 {
		return false
	}
	intoDir := ev.Evt.Success && ev.File.Path != "" &&
		(ev.File.Write || ev.Evt.Type == event.TypeRename) && w.watched(ev.File.Path)
	w.mu.Lock()
	defer w.mu.Unlock()
	if t, ok := w.last[id]; ok && !intoDir && now.Sub(t) < watchEvery {
		return false
	}
	if len(w.last) >= 8192 {
		clear(w.last) // bound; the audit source skips what a container has
	}
	w.last[id] = now
	return true
}

// watched says whether p (or the directory p, for mkdir) lies in a watched
// directory or on the way to one.
func (w *watchTracker) watched(p string) bool {
	d := path.Dir(p)
	if _, ok := slices.BinarySearch(w.dirs, d); ok {
		return true
	}
	for _, x := range w.dirs {
		if x == p || (len(x) > len(p) && x[len(p)] == '/' && x[:len(p)] == p) {
			return true
		}
	}
	return false
}

func (l *Pipeline) watchContainer(ev *event.Event) {
	if l.watches.due(ev, time.Now()) {
		l.audit.WatchContainer(ev.Proc.PID, ev.Container.ID)
	}
}
