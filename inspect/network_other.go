//go:build !linux

package inspect

import "errors"

// ReadLinks needs rtnetlink (Linux).
func ReadLinks(string) ([]Link, error) { return nil, errors.New("rtnetlink: Linux only") }
