// Package redistest runs a real redis-server for tests: on 127.0.0.1, a
// free port, with an append-only file fsynced on every write, so a server
// killed and restarted keeps what it acknowledged.
package redistest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Server is a redis-server process the test owns.
type Server struct {
	Addr  string
	fsync string // appendfsync: always (Start) or everysec (StartFast)
	extra []string
	t     testing.TB
	dir   string
	port  int
	cmd   *exec.Cmd
}

// Start starts a redis-server, stopped when the test ends. Without the
// binary the test is skipped locally and fails in CI (CI installs it).
// Extra arguments go to redis-server (e.g. "--requirepass", "secret").
func Start(t testing.TB, extra ...string) *Server { t.Helper(); return start(t, "always", extra...) }

// StartFast starts a redis-server that fsyncs once a second, as production
// setups usually do: for benchmarks, where an fsync per write would be
// measured instead of the client.
func StartFast(t testing.TB) *Server { t.Helper(); return start(t, "everysec") }

func start(t testing.TB, fsync string, extra ...string) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server is not installed; .ci/run installs the Debian package redis-server")
		}
		t.Skip("redis-server is not installed (apt-get install redis-server); skipping the Redis tests")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	s := &Server{Addr: fmt.Sprintf("127.0.0.1:%d", port), fsync: fsync, extra: extra, t: t, dir: t.TempDir(), port: port}
	s.start()
	t.Cleanup(s.Kill)
	return s
}

func (s *Server) start() {
	s.t.Helper()
	s.cmd = exec.Command("redis-server", "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--dir", s.dir, "--save", "", "--appendonly", "yes", "--appendfsync", s.fsync,
		"--daemonize", "no", "--loglevel", "warning", "--protected-mode", "no")
	s.cmd.Args = append(s.cmd.Args, s.extra...)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.Addr, 100*time.Millisecond)
		if err == nil {
			_, _ = c.Write([]byte("PING\r\n"))
			buf := make([]byte, 64)
			_ = c.SetReadDeadline(time.Now().Add(time.Second))
			n, _ := c.Read(buf)
			_ = c.Close()
			if reply := string(buf[:n]); reply == "+PONG\r\n" || strings.HasPrefix(reply, "-NOAUTH") {
				return
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server on %s did not come up", s.Addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill ends the server with SIGKILL, as a crash would.
func (s *Server) Kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Restart starts the server again on the same port and data directory.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	s.start()
}
