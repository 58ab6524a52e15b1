package proctable

import (
	"bufio"
	"io"
	"strconv"
	"strings"
)

// pwEntry is what a passwd line says of a uid.
type pwEntry struct {
	Name, Home, Shell string
}

// parsePasswd maps uid to its passwd entry from an /etc/passwd format
// reader. The first entry of a uid wins, as getpwuid does.
func parsePasswd(r io.Reader) map[int]pwEntry {
	users := make(map[int]pwEntry)
	eachEntry(r, 7, 4, func(uid int, f []string) {
		e := pwEntry{Name: f[0]}
		if len(f) == 7 {
			e.Home, e.Shell = f[5], f[6]
		}
		users[uid] = e
	})
	return users
}

// parseGroup maps gid to group name from an /etc/group format reader
// (name:password:gid:members). The first entry of a gid wins, as getgrgid
// does.
func parseGroup(r io.Reader) map[int]string {
	groups := make(map[int]string)
	eachEntry(r, 4, 3, func(gid int, f []string) { groups[gid] = f[0] })
	return groups
}

// eachEntry calls add with the id (third field) and the fields (at most
// max) of each line of a passwd or group format file that has at least min
// fields, a name and a numeric id, the first time its id is seen.
func eachEntry(r io.Reader, max, min int, add func(id int, f []string)) {
	seen := make(map[int]bool)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.SplitN(line, ":", max)
		if len(f) < min || f[0] == "" {
			continue
		}
		id, err := strconv.Atoi(f[2])
		if err != nil || seen[id] {
			continue
		}
		seen[id] = true
		add(id, f)
	}
}
