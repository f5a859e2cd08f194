package pgtest

import "syscall"

// procAttr runs a child as cred and has the kernel stop it if the test
// binary dies first (a timed-out test must not leave a server running).
// SIGQUIT is PostgreSQL's immediate shutdown.
func procAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
}
