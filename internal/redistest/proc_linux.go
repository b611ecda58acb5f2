package redistest

import "syscall"

// procAttr puts each redis-server in its own process group, so Stop can
// kill it together with any child it forked for a snapshot, and asks the
// kernel to kill it when the test binary dies: a go test killed by its
// timeout or by ^C must not leave servers behind. (Pdeathsig fires when
// the forking thread exits; the Go runtime keeps its threads unless a
// goroutine exits while locked to one, which nothing here does.)
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

func killGroup(pid int) error { return syscall.Kill(-pid, syscall.SIGKILL) }
