package inspect

import (
	"context"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestPackages(t *testing.T) {
	tests := []struct {
		root string
		want []Package
	}{
		{"debian", []Package{{"base-files", "12.4+deb12u5", "dpkg"}, {"libc6", "2.36-9+deb12u7", "dpkg"}}},
		{"alpine", []Package{{"musl", "1.2.4-r2", "apk"}, {"busybox", "1.36.1-r15", "apk"}}},
	}
	for _, tt := range tests {
		t.Run(tt.root, func(t *testing.T) {
			got, errs := Packages(context.Background(), os.DirFS("testdata/rootfs/"+tt.root), "", nil)
			if len(errs) > 0 {
				t.Errorf("errors: %v", errs)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestPackagesRPM(t *testing.T) {
	root := os.DirFS("testdata/rootfs/rpm")
	_, errs := Packages(context.Background(), root, "", nil)
	if len(errs) != 1 || !errors.Is(errs[0], ErrNoRPM) {
		t.Errorf("errs %v, want ErrNoRPM", errs)
	}
	var gotRoot string
	q := func(_ context.Context, r string) ([]Package, error) {
		gotRoot = r
		return []Package{{"bash", "5.2.15-3.fc38", "rpm"}}, nil
	}
	got, errs := Packages(context.Background(), root, "/proc/42/root", q)
	if len(errs) > 0 || len(got) != 1 || got[0].Name != "bash" || gotRoot != "/proc/42/root" {
		t.Errorf("got %+v errs %v root %q", got, errs, gotRoot)
	}
}

func FuzzParseDpkgStatus(f *testing.F) {
	b, _ := os.ReadFile("testdata/rootfs/debian/var/lib/dpkg/status")
	f.Add(string(b))
	f.Fuzz(func(t *testing.T, s string) {
		pkgs, err := ParseDpkgStatus(strings.NewReader(s))
		if err == nil {
			for _, p := range pkgs {
				if p.Name == "" {
					t.Fatalf("empty name in %+v", pkgs)
				}
			}
		}
	})
}
