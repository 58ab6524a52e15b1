package e2e

import (
	"fmt"
	"sync"
	"syscall"
	"time"
)

// ExecStorm fork+execs argv (argv[0] an absolute path) n times from
// `streams` goroutines in parallel, each waiting for its child before the
// next, as fast as the host allows: the quick short-lived processes that
// /proc readers race against. started, when set, gets each child's pid (from
// any goroutine). It returns how long the storm took.
func ExecStorm(n, streams int, argv []string, started func(pid int)) (time.Duration, error) {
	if streams < 1 {
		streams = 1
	}
	attr := &syscall.ProcAttr{Env: []string{"PATH=/usr/bin:/bin"}}
	begin := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, streams)
	for s := range streams {
		count := n / streams
		if s < n%streams {
			count++
		}
		wg.Go(func() {
			for range count {
				pid, err := syscall.ForkExec(argv[0], argv, attr)
				if err != nil {
					errs[s] = fmt.Errorf("fork+exec %s: %w", argv[0], err)
					return
				}
				if started != nil {
					started(pid)
				}
				var ws syscall.WaitStatus
				for {
					_, err = syscall.Wait4(pid, &ws, 0, nil)
					if err != syscall.EINTR {
						break
					}
				}
				if err != nil {
					errs[s] = fmt.Errorf("wait %d: %w", pid, err)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return time.Since(begin), err
		}
	}
	return time.Since(begin), nil
}
