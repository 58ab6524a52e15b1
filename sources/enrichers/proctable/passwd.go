package proctable

import (
	"bufio"
	"io"
	"strconv"
	"strings"
)

// parsePasswd maps uid to user name from an /etc/passwd format reader. The
// first entry of a uid wins, as getpwuid does.
func parsePasswd(r io.Reader) map[int]string {
	users := make(map[int]string)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.SplitN(line, ":", 4)
		if len(f) < 4 || f[0] == "" {
			continue
		}
		uid, err := strconv.Atoi(f[2])
		if err != nil {
			continue
		}
		if _, dup := users[uid]; !dup {
			users[uid] = f[0]
		}
	}
	return users
}
