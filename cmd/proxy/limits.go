package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/teams"
)

// limitsOptions configure where the limits of the rules' clientKeys are
// counted: in memory (one proxy) or in a Redis every replica shares.
type limitsOptions struct {
	redisAddr         string
	redisUsername     string
	redisPasswordFile string
	redisTLS          bool
	redisCAFile       string
	redisServerName   string
	failPolicy        string
	state             string
	stateInterval     time.Duration
}

func (l *limitsOptions) declare(fs *flag.FlagSet) {
	fs.StringVar(&l.redisAddr, "limits-redis", envOr("CASCADEFLOW_LIMITS_REDIS", ""), "host:port of the Redis the replicas share client-key budgets and rate limits through; empty counts in memory (one replica)")
	fs.StringVar(&l.redisUsername, "limits-redis-username", "", "Redis ACL user name")
	fs.StringVar(&l.redisPasswordFile, "limits-redis-password-file", "", "file holding the Redis password (a mounted Secret); env CASCADEFLOW_LIMITS_REDIS_PASSWORD otherwise")
	fs.BoolVar(&l.redisTLS, "limits-redis-tls", false, "connect to Redis over TLS")
	fs.StringVar(&l.redisCAFile, "limits-redis-ca-file", "", "PEM CA bundle to verify Redis's certificate with (default: the system roots)")
	fs.StringVar(&l.redisServerName, "limits-redis-server-name", "", "name Redis's certificate must carry (default: the host of --limits-redis)")
	fs.StringVar(&l.state, "limits-state", "", "file the in-memory limit counters (spend, rate-limit windows) persist in across restarts, for a proxy without --limits-redis")
	fs.DurationVar(&l.stateInterval, "limits-state-interval", 10*time.Second, "how often --limits-state is saved (and once more at shutdown)")
	fs.StringVar(&l.failPolicy, "limits-fail-policy", string(teams.FailOpen), "while Redis is unreachable: open (serve, counting on this replica) or closed (refuse limited keys with 503)")
}

// persist restores mem from --limits-state and saves it every
// stateInterval; the returned func stops that and saves a last time (call
// it once the server has drained, so every commit is in).
func (l *limitsOptions) persist(ctx context.Context, mem *teams.Memory, log *slog.Logger) func() {
	f := &teams.MemoryFile{Path: l.state, Store: mem}
	switch restored, err := f.Load(); {
	case err != nil:
		log.Error("client key limits not restored; counting starts from zero", "error", err.Error())
	case restored:
		log.Info("client key limits restored", "path", l.state)
	}
	save := func() {
		if err := f.Save(); err != nil {
			log.Error("client key limits not saved; retrying at the next save", "error", err.Error())
		}
	}
	ctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(l.stateInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				save()
			}
		}
	}()
	return func() { stop(); <-done; save() }
}

// limiter builds the limiter; close releases its connections. A Redis
// store replays what it counted locally as soon as Redis is back, until ctx ends.
func (l *limitsOptions) limiter(ctx context.Context, log *slog.Logger) (*teams.Limiter, func(), error) {
	if l.redisAddr == "" {
		log.Info("client key limits counted in memory (set --limits-redis to share them across replicas)")
		mem := teams.NewMemory()
		if l.state == "" {
			return teams.NewLimiter(mem, nil, log), func() {}, nil
		}
		if l.stateInterval <= 0 {
			return nil, nil, errors.New("--limits-state-interval must be positive")
		}
		return teams.NewLimiter(mem, nil, log), l.persist(ctx, mem, log), nil
	}
	if l.state != "" {
		return nil, nil, errors.New("--limits-state keeps in-memory counters; with --limits-redis the counters live in Redis (run it with appendonly yes)")
	}
	cfg := teams.RedisConfig{Addr: l.redisAddr, Username: l.redisUsername, Policy: teams.FailPolicy(l.failPolicy)}
	cfg.Password = os.Getenv("CASCADEFLOW_LIMITS_REDIS_PASSWORD")
	if l.redisPasswordFile != "" {
		b, err := os.ReadFile(l.redisPasswordFile)
		if err != nil {
			return nil, nil, fmt.Errorf("--limits-redis-password-file: %w", err)
		}
		cfg.Password = strings.TrimSpace(string(b))
	}
	if l.redisTLS || l.redisCAFile != "" {
		name := l.redisServerName
		if name == "" {
			name, _, _ = net.SplitHostPort(l.redisAddr)
		}
		tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: name}
		if l.redisCAFile != "" {
			pem, err := os.ReadFile(l.redisCAFile)
			if err != nil {
				return nil, nil, fmt.Errorf("--limits-redis-ca-file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, nil, errors.New("--limits-redis-ca-file: no PEM certificate in the file")
			}
			tc.RootCAs = pool
		}
		cfg.TLS = tc
	}
	store, err := teams.NewRedis(cfg, log)
	if err != nil {
		return nil, nil, fmt.Errorf("--limits-redis: %w", err)
	}
	go store.Run(ctx)
	log.Info("client key limits shared through Redis", "addr", l.redisAddr, "tls", cfg.TLS != nil, "fail_policy", l.failPolicy)
	return teams.NewLimiter(store, nil, log), func() { _ = store.Close() }, nil
}
