package event

// SyscallTypes maps raw syscall names to evt.type: the audit source
// normalizes with it, and Falco-language conditions (which name syscalls:
// openat, execveat, accept4 ...) map their evt.type values through it. A
// syscall missing here keeps its raw name as evt.type.
var SyscallTypes = map[string]string{
	"execve": TypeExecve, "execveat": TypeExecve,
	"connect": TypeConnect,
	"accept":  TypeAccept, "accept4": TypeAccept,
	"listen": TypeListen,
	"open":   TypeOpen, "openat": TypeOpen, "openat2": TypeOpen, "creat": TypeOpen,
	"unlink": TypeUnlink, "unlinkat": TypeUnlink, "rmdir": TypeUnlink,
	"rename": TypeRename, "renameat": TypeRename, "renameat2": TypeRename,
	"chmod": TypeChmod, "fchmod": TypeChmod, "fchmodat": TypeChmod, "fchmodat2": TypeChmod,
	"mount": TypeMount, "umount2": TypeMount, "umount": TypeMount,
	"pivot_root":  TypePivotRoot,
	"setns":       TypeSetns,
	"unshare":     TypeUnshare,
	"ptrace":      TypePtrace,
	"init_module": TypeInitModule, "finit_module": TypeInitModule,
	"setuid": TypeSetuid, "setreuid": TypeSetuid, "setresuid": TypeSetuid,
	"memfd_create": TypeMemfdCreate,
	"socket":       TypeSocket,
	"dup2":         TypeDup, "dup3": TypeDup,
	"link": TypeLink, "linkat": TypeLink,
	"symlink": TypeSymlink, "symlinkat": TypeSymlink,
	"bpf":         TypeBPF,
	"userfaultfd": TypeUserfaultfd,
	"setgid":      TypeSetgid, "setregid": TypeSetgid, "setresgid": TypeSetgid,
	"mkdir": TypeMkdir, "mkdirat": TypeMkdir,
}
