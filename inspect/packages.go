package inspect

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os/exec"
	"strings"
)

// Package is one installed package of a container's root file system.
type Package struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Manager string `json:"manager"` // dpkg, apk, rpm
}

// Package databases, relative to the root file system.
const (
	dpkgStatus   = "var/lib/dpkg/status"
	apkInstalled = "lib/apk/db/installed"
)

// rpmDBs are the rpm database files of the three formats rpm has used:
// sqlite (Fedora ≥ 33, RHEL 9), Berkeley DB, ndb (SUSE).
var rpmDBs = []string{"var/lib/rpm/rpmdb.sqlite", "var/lib/rpm/Packages", "var/lib/rpm/Packages.db", "usr/lib/sysimage/rpm/rpmdb.sqlite", "usr/lib/sysimage/rpm/Packages.db"}

// maxDB bounds what a package database read takes (a full Debian desktop's
// status file is ~4 MiB).
const maxDB = 64 << 20

// ParseDpkgStatus parses dpkg's status file (deb822 paragraphs) and returns
// the packages whose Status says installed.
func ParseDpkgStatus(r io.Reader) ([]Package, error) {
	var out []Package
	var name, version, status string
	flush := func() {
		if name != "" && strings.HasSuffix(status, " installed") {
			out = append(out, Package{Name: name, Version: version, Manager: "dpkg"})
		}
		name, version, status = "", "", ""
	}
	err := paragraphs(r, func(key, val string) {
		switch key {
		case "Package":
			name = val
		case "Version":
			version = val
		case "Status":
			status = val
		}
	}, flush)
	if err != nil {
		return nil, fmt.Errorf("dpkg status: %w", err)
	}
	return out, nil
}

// ParseApkInstalled parses Alpine's lib/apk/db/installed: paragraphs of
// one-letter keys, P: name, V: version.
func ParseApkInstalled(r io.Reader) ([]Package, error) {
	var out []Package
	var name, version string
	flush := func() {
		if name != "" {
			out = append(out, Package{Name: name, Version: version, Manager: "apk"})
		}
		name, version = "", ""
	}
	err := paragraphs(r, func(key, val string) {
		switch key {
		case "P":
			name = val
		case "V":
			version = val
		}
	}, flush)
	if err != nil {
		return nil, fmt.Errorf("apk installed: %w", err)
	}
	return out, nil
}

// paragraphs reads "Key: value" lines in blank-line-separated paragraphs,
// calling field for each line that starts a field (continuation lines
// begin with a space and are skipped) and end after each paragraph.
func paragraphs(r io.Reader, field func(key, val string), end func()) error {
	sc := bufio.NewScanner(io.LimitReader(r, maxDB))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			end()
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		field(k, strings.TrimSpace(v))
	}
	end()
	return sc.Err()
}

// RPMQuery lists the rpm database under a root directory, given as a host
// path; Packages calls it when it finds an rpm database. QueryRPM runs the
// host's rpm binary.
type RPMQuery func(ctx context.Context, root string) ([]Package, error)

// ErrNoRPM reports an rpm database that cannot be read because the host
// has no rpm binary (its formats need rpm's own library).
var ErrNoRPM = errors.New("rpm database present but no rpm binary on the host to read it")

// QueryRPM reads the rpm database of the file system at root with the
// host's rpm (`rpm --root ROOT -qa`), which only reads.
func QueryRPM(ctx context.Context, root string) ([]Package, error) {
	bin, err := exec.LookPath("rpm")
	if err != nil {
		return nil, ErrNoRPM
	}
	out, err := exec.CommandContext(ctx, bin, "--root", root, "-qa", "--qf", `%{NAME}\t%{VERSION}-%{RELEASE}\n`).Output()
	if err != nil {
		return nil, fmt.Errorf("rpm -qa: %w", err)
	}
	var pkgs []Package
	for line := range bytes.Lines(out) {
		n, v, ok := strings.Cut(strings.TrimSpace(string(line)), "\t")
		if ok && n != "" {
			pkgs = append(pkgs, Package{Name: n, Version: v, Manager: "rpm"})
		}
	}
	return pkgs, nil
}

// Packages reads every package database it finds in a root file system
// (dpkg, apk, and rpm through rpm when root is a host path the query can
// use; rootPath "" skips rpm). Databases that are absent are not errors;
// one that is present and unreadable is reported in errs while the others
// are still read.
func Packages(ctx context.Context, root fs.FS, rootPath string, rpm RPMQuery) (pkgs []Package, errs []error) {
	for _, db := range []struct {
		path  string
		parse func(io.Reader) ([]Package, error)
	}{{dpkgStatus, ParseDpkgStatus}, {apkInstalled, ParseApkInstalled}} {
		f, err := root.Open(db.path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("open /%s: %w", db.path, err))
			continue
		}
		p, err := db.parse(f)
		f.Close()
		if err != nil {
			errs = append(errs, fmt.Errorf("/%s: %w", db.path, err))
		}
		pkgs = append(pkgs, p...)
	}
	for _, db := range rpmDBs {
		if _, err := fs.Stat(root, db); err != nil {
			continue
		}
		if rpm == nil || rootPath == "" {
			errs = append(errs, fmt.Errorf("/%s: %w", db, ErrNoRPM))
			break
		}
		p, err := rpm(ctx, rootPath)
		if err != nil {
			errs = append(errs, fmt.Errorf("/%s: %w", db, err))
		}
		pkgs = append(pkgs, p...)
		break
	}
	return pkgs, errs
}
