package falcolang

import (
	"encoding/base64"
	"net/netip"
	"path"
	"regexp"
	"strings"
	"sync"
	"syscall"

	"github.com/expr-lang/expr"
)

// Functions are the expr functions compiled Falco conditions call; the
// engine's expr configuration includes them.
func Functions() []expr.Option { return functions() }

var functions = sync.OnceValue(buildFunctions)

func buildFunctions() []expr.Option {
	s1 := func(name string, fn func(string) string) expr.Option {
		return expr.Function(name, func(p ...any) (any, error) { return fn(p[0].(string)), nil }, new(func(string) string))
	}
	i1 := func(name string, fn func(int) string) expr.Option {
		return expr.Function(name, func(p ...any) (any, error) { return fn(p[0].(int)), nil }, new(func(int) string))
	}
	return []expr.Option{
		expr.Function("falco_glob", func(p ...any) (any, error) { return Glob(p[1].(string), p[0].(string)), nil },
			new(func(string, string) bool)),
		expr.Function("falco_pmatch", func(p ...any) (any, error) { return pmatch(p[0].(string), p[1].(string)), nil },
			new(func(string, string) bool)),
		expr.Function("falco_innet", func(p ...any) (any, error) { return inNet(p[0].(string), p[1].(string)), nil },
			new(func(string, string) bool)),
		expr.Function("falco_b64ok", func(p ...any) (any, error) { _, ok := b64(p[0].(string)); return ok, nil },
			new(func(string) bool)),
		expr.Function("falco_errname", func(p ...any) (any, error) { return errName(p[0].(int), p[1].(bool)), nil },
			new(func(int, bool) string)),
		expr.Function("falco_argv0", func(p ...any) (any, error) { return argv0(p[0].([]string), p[1].(string)), nil },
			new(func([]string, string) string)),
		expr.Function("falco_args", func(p ...any) (any, error) { return args(p[0].([]string), p[1].(string)), nil },
			new(func([]string, string) string)),
		expr.Function("falco_cmdline", func(p ...any) (any, error) {
			return cmdline(p[0].(string), p[1].([]string), p[2].(string)), nil
		}, new(func(string, []string, string) string)),
		expr.Function("falco_pcmdline", func(p ...any) (any, error) {
			return cmdline(p[0].(string), nil, p[1].(string)), nil
		}, new(func(string, string) string)),
		expr.Function("falco_ucmp", func(p ...any) (any, error) {
			a, b := uint64(p[0].(int)), uint64(p[1].(int))
			switch {
			case a < b:
				return -1, nil
			case a > b:
				return 1, nil
			}
			return 0, nil
		}, new(func(int, int) int)),
		i1("falco_ptrace", func(v int) string { return enumText(ptraceRequests, v) }),
		i1("falco_domain", func(v int) string { return enumText(socketDomains, v) }),
		i1("falco_bpfcmd", func(v int) string { return enumText(bpfCommands, v) }),
		s1("falco_b64", func(s string) string { v, _ := b64(s); return v }),
		s1("falco_base", Basename),
		// basename(path) for ruled's own rules: the last element of a path.
		s1("basename", Basename),
		s1("falco_dir", dir),
		s1("falco_dirslash", func(s string) string {
			if s == "" || strings.HasSuffix(s, "/") {
				return s
			}
			return s + "/"
		}),
		s1("falco_firstword", firstWord),
		s1("falco_exepath", exePath),
		s1("falco_imagerepo", imageRepo),
		s1("falco_imagetag", imageTag),
		s1("falco_containerid", func(s string) string {
			if len(s) > 12 && s != "host" {
				return s[:12]
			}
			return s
		}),
	}
}

// Glob matches s against a shell pattern as fnmatch(3) without flags does,
// which is what Falco's glob operator uses: * and ? match any character,
// / included; [abc], [a-z] and [!x] are classes; \ escapes.
func Glob(pattern, s string) bool {
	for len(pattern) > 0 {
		switch pattern[0] {
		case '*':
			for len(pattern) > 0 && pattern[0] == '*' {
				pattern = pattern[1:]
			}
			if pattern == "" {
				return true
			}
			for i := 0; i <= len(s); i++ {
				if Glob(pattern, s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
			pattern, s = pattern[1:], s[1:]
		case '[':
			if s == "" {
				return false
			}
			ok, rest, valid := matchClass(pattern, s[0])
			if !valid {
				// An unclosed [ is a literal.
				if s[0] != '[' {
					return false
				}
				pattern, s = pattern[1:], s[1:]
				continue
			}
			if !ok {
				return false
			}
			pattern, s = rest, s[1:]
		case '\\':
			if len(pattern) > 1 {
				pattern = pattern[1:]
			}
			fallthrough
		default:
			if s == "" || s[0] != pattern[0] {
				return false
			}
			pattern, s = pattern[1:], s[1:]
		}
	}
	return s == ""
}

// matchClass matches c against the [...] class at the start of pattern.
func matchClass(pattern string, c byte) (ok bool, rest string, valid bool) {
	i := 1
	neg := false
	if i < len(pattern) && (pattern[i] == '!' || pattern[i] == '^') {
		neg = true
		i++
	}
	first := true
	for i < len(pattern) {
		if pattern[i] == ']' && !first {
			return ok != neg, pattern[i+1:], true
		}
		first = false
		lo := pattern[i]
		if lo == '\\' && i+1 < len(pattern) {
			i++
			lo = pattern[i]
		}
		hi := lo
		if i+2 < len(pattern) && pattern[i+1] == '-' && pattern[i+2] != ']' {
			hi = pattern[i+2]
			i += 2
		}
		if lo <= c && c <= hi {
			ok = true
		}
		i++
	}
	return false, "", false
}

var pmatchSets sync.Map // joined prefixes -> [][]string

// pmatch reports whether path is one of the paths in set (NUL-joined) or
// below one of them, comparing whole path components, as Falco's pmatch
// (libsinsp path_prefix_search) does: /var/run matches /var/run/docker.sock,
// not /var/running.
func pmatch(p, set string) bool {
	v, ok := pmatchSets.Load(set)
	if !ok {
		var prefixes [][]string
		for _, s := range strings.Split(set, "\x00") {
			prefixes = append(prefixes, components(s))
		}
		v, _ = pmatchSets.LoadOrStore(set, prefixes)
	}
	pc := components(p)
	for _, pre := range v.([][]string) {
		if len(pre) > len(pc) {
			continue
		}
		match := true
		for i := range pre {
			if pre[i] != pc[i] {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

func components(p string) []string {
	var out []string
	for _, c := range strings.Split(p, "/") {
		if c != "" {
			out = append(out, c)
		}
	}
	return out
}

var netSets sync.Map // space-joined CIDRs -> []netip.Prefix

// inNet reports whether address ip is in one of the space-separated nets.
func inNet(ip, nets string) bool {
	if ip == "" {
		return false
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.Unmap()
	v, ok := netSets.Load(nets)
	if !ok {
		var ps []netip.Prefix
		for _, s := range strings.Fields(nets) {
			if p, err := netip.ParsePrefix(s); err == nil {
				ps = append(ps, p)
			}
		}
		v, _ = netSets.LoadOrStore(nets, ps)
	}
	for _, p := range v.([]netip.Prefix) {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func b64(s string) (string, bool) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return "", false
	}
	return string(b), true
}

// Basename is Falco's basename transformer: the part after the last /,
// empty for a path ending in /.
func Basename(s string) string {
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		return s[i+1:]
	}
	return s
}

func dir(s string) string {
	if s == "" {
		return ""
	}
	d := path.Dir(s)
	return d
}

func firstWord(s string) string {
	if i := strings.IndexByte(s, ' '); i >= 0 {
		return s[:i]
	}
	return s
}

func argv0(argv []string, cmd string) string {
	if len(argv) > 0 {
		return argv[0]
	}
	return firstWord(cmd)
}

func args(argv []string, cmd string) string {
	if len(argv) > 0 {
		return strings.Join(argv[1:], " ")
	}
	if i := strings.IndexByte(cmd, ' '); i >= 0 {
		return cmd[i+1:]
	}
	return ""
}

// cmdline is Falco's proc.cmdline: comm, then the arguments after argv[0].
func cmdline(name string, argv []string, cmd string) string {
	a := args(argv, cmd)
	if a == "" {
		return name
	}
	return name + " " + a
}

// imageRepo cuts the tag or digest off an image reference (a registry
// port's colon is not a tag).
func imageRepo(img string) string {
	if i := strings.IndexByte(img, '@'); i >= 0 {
		img = img[:i]
	}
	if i := strings.LastIndexByte(img, ':'); i > strings.LastIndexByte(img, '/') {
		img = img[:i]
	}
	return img
}

func imageTag(img string) string {
	if i := strings.IndexByte(img, '@'); i >= 0 {
		img = img[:i]
	}
	if i := strings.LastIndexByte(img, ':'); i > strings.LastIndexByte(img, '/') {
		return img[i+1:]
	}
	return ""
}

// errName is Falco's evt.res: SUCCESS, or the errno's name.
func errName(res int, success bool) string {
	if res >= 0 && (success || res > 0) {
		return "SUCCESS"
	}
	if res == 0 {
		return "SUCCESS"
	}
	e := syscall.Errno(-res)
	if n, ok := errnoNames[e]; ok {
		return n
	}
	return "E" + e.Error()
}

var errnoNames = map[syscall.Errno]string{
	syscall.EPERM: "EPERM", syscall.ENOENT: "ENOENT", syscall.ESRCH: "ESRCH", syscall.EINTR: "EINTR", syscall.EIO: "EIO",
	syscall.ENXIO: "ENXIO", syscall.E2BIG: "E2BIG", syscall.ENOEXEC: "ENOEXEC", syscall.EBADF: "EBADF",
	syscall.ECHILD: "ECHILD", syscall.EAGAIN: "EAGAIN", syscall.ENOMEM: "ENOMEM", syscall.EACCES: "EACCES",
	syscall.EFAULT: "EFAULT", syscall.EBUSY: "EBUSY", syscall.EEXIST: "EEXIST", syscall.EXDEV: "EXDEV",
	syscall.ENODEV: "ENODEV", syscall.ENOTDIR: "ENOTDIR", syscall.EISDIR: "EISDIR", syscall.EINVAL: "EINVAL",
	syscall.ENFILE: "ENFILE", syscall.EMFILE: "EMFILE", syscall.ENOTTY: "ENOTTY", syscall.ETXTBSY: "ETXTBSY",
	syscall.EFBIG: "EFBIG", syscall.ENOSPC: "ENOSPC", syscall.ESPIPE: "ESPIPE", syscall.EROFS: "EROFS",
	syscall.EMLINK: "EMLINK", syscall.EPIPE: "EPIPE", syscall.ENAMETOOLONG: "ENAMETOOLONG", syscall.ENOSYS: "ENOSYS",
	syscall.ENOTEMPTY: "ENOTEMPTY", syscall.ELOOP: "ELOOP", syscall.EINPROGRESS: "EINPROGRESS",
	syscall.EALREADY: "EALREADY", syscall.ENOTSOCK: "ENOTSOCK", syscall.EADDRINUSE: "EADDRINUSE",
	syscall.EADDRNOTAVAIL: "EADDRNOTAVAIL", syscall.ENETUNREACH: "ENETUNREACH", syscall.ECONNRESET: "ECONNRESET",
	syscall.EISCONN: "EISCONN", syscall.ETIMEDOUT: "ETIMEDOUT", syscall.ECONNREFUSED: "ECONNREFUSED",
	syscall.EHOSTUNREACH: "EHOSTUNREACH", syscall.EOPNOTSUPP: "EOPNOTSUPP",
}

var regexCache sync.Map

func compileRegex(s string) (*regexp.Regexp, error) {
	if v, ok := regexCache.Load(s); ok {
		return v.(*regexp.Regexp), nil
	}
	re, err := regexp.Compile("^(?:" + s + ")$")
	if err != nil {
		return nil, err
	}
	regexCache.Store(s, re)
	return re, nil
}

// exePath writes a memfd executable as Falco does: the kernel's
// "/memfd:NAME (deleted)" is "memfd:NAME".
func exePath(p string) string {
	if rest, ok := strings.CutPrefix(p, "/memfd:"); ok {
		return "memfd:" + strings.TrimSuffix(rest, " (deleted)")
	}
	return p
}
