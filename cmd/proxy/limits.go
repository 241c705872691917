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
}

func (l *limitsOptions) declare(fs *flag.FlagSet) {
	fs.StringVar(&l.redisAddr, "limits-redis", envOr("CASCADEFLOW_LIMITS_REDIS", ""), "host:port of the Redis the replicas share client-key budgets and rate limits through; empty counts in memory (one replica)")
	fs.StringVar(&l.redisUsername, "limits-redis-username", "", "Redis ACL user name")
	fs.StringVar(&l.redisPasswordFile, "limits-redis-password-file", "", "file holding the Redis password (a mounted Secret); env CASCADEFLOW_LIMITS_REDIS_PASSWORD otherwise")
	fs.BoolVar(&l.redisTLS, "limits-redis-tls", false, "connect to Redis over TLS")
	fs.StringVar(&l.redisCAFile, "limits-redis-ca-file", "", "PEM CA bundle to verify Redis's certificate with (default: the system roots)")
	fs.StringVar(&l.redisServerName, "limits-redis-server-name", "", "name Redis's certificate must carry (default: the host of --limits-redis)")
	fs.StringVar(&l.failPolicy, "limits-fail-policy", string(teams.FailOpen), "while Redis is unreachable: open (serve, counting on this replica) or closed (refuse limited keys with 503)")
}

// limiter builds the limiter; close releases its connections. A Redis
// store replays what it counted locally as soon as Redis is back, until ctx ends.
func (l *limitsOptions) limiter(ctx context.Context, log *slog.Logger) (*teams.Limiter, func(), error) {
	if l.redisAddr == "" {
		log.Info("client key limits counted in memory (set --limits-redis to share them across replicas)")
		return teams.NewLimiter(teams.NewMemory(), nil, log), func() {}, nil
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
