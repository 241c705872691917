// Package version says which build of the proxy and the manager is running:
// the version stamped in at build time, or else what the Go toolchain
// recorded (the module version and the VCS revision).
package version

import (
	"runtime/debug"
	"strings"
)

// Version is set at build time:
//
//	go build -ldflags "-X github.com/cascadeflow/cascadeflow-operator/internal/version.Version=v0.1.0"
//
// (make build does this with git describe). Empty means "ask the build info".
var Version string

// String is the version to print: Version when stamped, else the module
// version and VCS revision from the build info, e.g. "(devel) rev 1a2b3c4d5e6f
// (modified)", or "unknown" when the binary carries no build info.
func String() string {
	if Version != "" {
		return Version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	return fromBuildInfo(info)
}

func fromBuildInfo(info *debug.BuildInfo) string {
	parts := []string{info.Main.Version}
	if parts[0] == "" {
		parts[0] = "(devel)"
	}
	var rev, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev != "" {
		parts = append(parts, "rev "+rev[:min(len(rev), 12)])
		if modified == "true" {
			parts = append(parts, "(modified)")
		}
	}
	return strings.Join(parts, " ")
}
