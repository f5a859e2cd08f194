package redistest_test

import (
	"net"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/redistest"
)

func TestStopAndRestartKeepThePort(t *testing.T) {
	s := redistest.StartServer(t)
	host, _, err := net.SplitHostPort(s.Addr)
	if err != nil || host != "127.0.0.1" {
		t.Fatalf("addr %q: want loopback", s.Addr)
	}
	s.Stop()
	if c, err := net.Dial("tcp", s.Addr); err == nil {
		c.Close()
		t.Fatal("stopped server still accepts connections")
	}
	addr := s.Addr
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", s.Addr)
	if err != nil || s.Addr != addr {
		t.Fatalf("restarted at %s (was %s): %v", s.Addr, addr, err)
	}
	c.Close()
}
