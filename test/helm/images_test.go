package helm

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/cascadeflow/cascadeflow-operator/api/v1alpha1"
	"github.com/cascadeflow/cascadeflow-operator/controllers/render"
)

// No container engine runs here, so the Dockerfiles are checked as text, the
// way they are used (the chart's command, the operator's proxy pods) is
// checked against them, and (on request: CASCADEFLOW_STATIC_BUILD_TEST=1) the
// binaries are built with their exact flags to show they are static.

var (
	fromLine       = regexp.MustCompile(`(?m)^FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?\s*$`)
	userLine       = regexp.MustCompile(`(?m)^USER\s+(\S+)\s*$`)
	entrypointLine = regexp.MustCompile(`(?m)^ENTRYPOINT\s+\["([^"]+)"\]\s*$`)
	goBuildLine    = regexp.MustCompile(`go build (-trimpath) -ldflags="([^"]*)" -o /out/(\S+) (\./cmd/\S+)`)
)

func readDockerfile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(string(b), "\\\n", " ")
}

func TestDockerfiles(t *testing.T) {
	for _, c := range []struct{ file, binary string }{{"Dockerfile.manager", "manager"}, {"Dockerfile.proxy", "proxy"}} {
		t.Run(c.file, func(t *testing.T) {
			df := readDockerfile(t, c.file)
			froms := fromLine.FindAllStringSubmatch(df, -1)
			if len(froms) != 2 {
				t.Fatalf("want a two-stage build, got %d FROM lines", len(froms))
			}
			if !strings.HasPrefix(froms[0][1], "golang:1.26") {
				t.Errorf("builder %s, want golang:1.26", froms[0][1])
			}
			if final := froms[1][1]; !strings.HasPrefix(final, "gcr.io/distroless/static") || !strings.HasSuffix(final, ":nonroot") {
				t.Errorf("final stage %s, want distroless/static:nonroot", final)
			}
			// Numeric, so that the kubelet can verify runAsNonRoot without /etc/passwd.
			if u := userLine.FindStringSubmatch(df); u == nil || u[1] != "65532:65532" {
				t.Errorf("USER %v, want 65532:65532", u)
			}
			if !strings.Contains(df, "CGO_ENABLED=0") {
				t.Error("CGO is not disabled")
			}
			b := goBuildLine.FindStringSubmatch(df)
			if b == nil || b[3] != c.binary || b[4] != "./cmd/"+c.binary {
				t.Fatalf("go build line %v", b)
			}
			if e := entrypointLine.FindStringSubmatch(df); e == nil || e[1] != "/"+c.binary {
				t.Errorf("ENTRYPOINT %v, want [\"/%s\"]", e, c.binary)
			}
			if !strings.Contains(df, "COPY --from=build /out/"+c.binary+" /"+c.binary) {
				t.Error("the binary is not copied to /" + c.binary)
			}

			// Every package the binary needs must build without cgo (cheap: no compile).
			list := exec.Command("go", "list", "-e", "-deps", "-f", "{{if .Error}}{{.ImportPath}}: {{.Error}}{{end}}", b[4])
			list.Dir = repoRoot
			list.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
			if msg, err := list.CombinedOutput(); err != nil || strings.TrimSpace(string(msg)) != "" {
				t.Fatalf("CGO_ENABLED=0 go list %s: %v\n%s", b[4], err, msg)
			}
			// Building as the Dockerfile does misses the build cache of every
			// other test (about a minute per binary here), so it runs on request.
			if os.Getenv("CASCADEFLOW_STATIC_BUILD_TEST") == "" {
				t.Log("set CASCADEFLOW_STATIC_BUILD_TEST=1 to build the binary with the Dockerfile's flags and check it is static")
				return
			}
			out := filepath.Join(t.TempDir(), c.binary)
			cmd := exec.Command("go", "build", b[1], "-ldflags="+b[2], "-o", out, b[4])
			cmd.Dir = repoRoot
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
			if msg, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%v: %v\n%s", cmd.Args, err, msg)
			}
			f, err := elf.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP {
					t.Error("the binary needs a dynamic loader: not static")
				}
			}
			if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
				t.Errorf("the binary links %v", libs)
			}
		})
	}
}

// The images are run by the chart (manager: command /manager) and by the
// operator (proxy: args only, so the image's ENTRYPOINT must be the proxy),
// both with a read-only root filesystem as a non-root user.
func TestImagesMatchHowTheyAreRun(t *testing.T) {
	d := into[appsv1.Deployment](t, template(t).get(t, "Deployment", fullname))
	entry := entrypointLine.FindStringSubmatch(readDockerfile(t, "Dockerfile.manager"))
	if c := d.Spec.Template.Spec.Containers[0]; len(c.Command) != 1 || entry == nil || c.Command[0] != entry[1] {
		t.Errorf("chart command %v, Dockerfile.manager ENTRYPOINT %v", c.Command, entry)
	}

	cr := &v1alpha1.CascadeRoute{}
	cr.Name, cr.Namespace = "team", "team-ns"
	proxy := render.Deployment(cr, render.Options{ProxyImage: "cascadeflow/proxy:test"})
	c := proxy.Spec.Template.Spec.Containers[0]
	entry = entrypointLine.FindStringSubmatch(readDockerfile(t, "Dockerfile.proxy"))
	if len(c.Command) > 0 && (entry == nil || !slices.Equal(c.Command, []string{entry[1]})) {
		t.Errorf("operator's proxy command %v, Dockerfile.proxy ENTRYPOINT %v", c.Command, entry)
	}
	if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("the operator runs the proxy with a writable root filesystem")
	}
	psc := proxy.Spec.Template.Spec.SecurityContext
	if psc == nil || psc.RunAsUser == nil || *psc.RunAsUser != 65532 {
		t.Errorf("the operator runs the proxy as %v, the image's user is 65532", psc)
	}
}
