// Command ociimage writes a single-layer OCI image archive around one static
// binary, on a distroless-like base (a nonroot user 65532, /tmp, CA
// certificates), with nothing but the Go standard library: no registry, no
// container engine. `ctr images import` loads the archive into containerd
// under the name given with -name.
//
//	ociimage -binary bin/proxy -name docker.io/cascadeflow/proxy:dev -out proxy.tar
package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "ociimage:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	var spec Spec
	fs := flag.NewFlagSet("ociimage", flag.ContinueOnError)
	fs.StringVar(&spec.Binary, "binary", "", "static binary to put at /<its base name> (the entrypoint)")
	fs.StringVar(&spec.Name, "name", "", "full image reference, e.g. docker.io/cascadeflow/proxy:dev")
	fs.StringVar(&spec.CACerts, "ca-certs", "/etc/ssl/certs/ca-certificates.crt", "CA bundle copied to the same path in the image (empty: none)")
	out := fs.String("out", "", "archive to write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if spec.Binary == "" || spec.Name == "" || *out == "" {
		return errors.New("-binary, -name and -out are required")
	}
	f, err := os.Create(*out + ".tmp")
	if err != nil {
		return err
	}
	if err := Write(f, spec); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(*out+".tmp", *out)
}

// Spec is what goes into an image.
type Spec struct {
	Binary  string // host path of the entrypoint binary
	Name    string // full reference the importer tags the image with
	CACerts string // host path of a CA bundle, or empty
}

// The user distroless images call nonroot; the chart runs as it.
const nonrootID = 65532

const (
	mediaIndex    = "application/vnd.oci.image.index.v1+json"
	mediaManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaConfig   = "application/vnd.oci.image.config.v1+json"
	mediaLayer    = "application/vnd.oci.image.layer.v1.tar"
)

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        descriptor   `json:"config"`
	Layers        []descriptor `json:"layers"`
}

type index struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Manifests     []descriptor `json:"manifests"`
}

type imageConfig struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Config       struct {
		User       string   `json:"User"`
		Entrypoint []string `json:"Entrypoint"`
		Env        []string `json:"Env"`
		WorkingDir string   `json:"WorkingDir"`
	} `json:"config"`
	RootFS struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
}

// Write writes the OCI image layout archive for spec to w.
func Write(w io.Writer, spec Spec) error {
	_, tag, found := cutLast(spec.Name, ":")
	if !found || tag == "" || strings.Contains(tag, "/") {
		return fmt.Errorf("image name %q has no tag", spec.Name)
	}
	layer, err := rootfs(spec)
	if err != nil {
		return err
	}
	layerDesc := describe(mediaLayer, layer)

	var cfg imageConfig
	cfg.Architecture, cfg.OS = runtime.GOARCH, "linux"
	entry := "/" + filepath.Base(spec.Binary)
	cfg.Config.User = fmt.Sprintf("%d:%d", nonrootID, nonrootID)
	cfg.Config.Entrypoint = []string{entry}
	cfg.Config.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
	if spec.CACerts != "" {
		cfg.Config.Env = append(cfg.Config.Env, "SSL_CERT_FILE="+spec.CACerts)
	}
	cfg.Config.WorkingDir = "/"
	cfg.RootFS.Type = "layers"
	cfg.RootFS.DiffIDs = []string{layerDesc.Digest} // an uncompressed layer is its own diff
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	cfgDesc := describe(mediaConfig, cfgJSON)

	manJSON, err := json.Marshal(manifest{SchemaVersion: 2, MediaType: mediaManifest, Config: cfgDesc, Layers: []descriptor{layerDesc}})
	if err != nil {
		return err
	}
	manDesc := describe(mediaManifest, manJSON)
	manDesc.Annotations = map[string]string{
		"io.containerd.image.name":          spec.Name,
		"org.opencontainers.image.ref.name": tag,
	}
	idxJSON, err := json.Marshal(index{SchemaVersion: 2, MediaType: mediaIndex, Manifests: []descriptor{manDesc}})
	if err != nil {
		return err
	}

	tw := tar.NewWriter(w)
	files := []struct {
		name string
		data []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", idxJSON},
		{blobPath(manDesc), manJSON},
		{blobPath(cfgDesc), cfgJSON},
		{blobPath(layerDesc), layer},
	}
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, ModTime: epoch}); err != nil {
			return err
		}
	}
	for _, f := range files {
		if err := writeFile(tw, f.name, 0o644, 0, f.data); err != nil {
			return fmt.Errorf("write %s: %w", f.name, err)
		}
	}
	return tw.Close()
}

// rootfs is the image's only layer: the base files and the binary.
func rootfs(spec Spec) ([]byte, error) {
	bin, err := os.ReadFile(spec.Binary)
	if err != nil {
		return nil, fmt.Errorf("read binary: %w", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := []struct {
		name string
		mode int64
		uid  int
	}{{"etc/", 0o755, 0}, {"tmp/", 0o1777, 0}, {"home/", 0o755, 0}, {"home/nonroot/", 0o700, nonrootID}}
	if spec.CACerts != "" { // its parent folders, outermost first
		var parents []string
		for d := path.Dir(strings.TrimPrefix(spec.CACerts, "/")); d != "." && d != "etc"; d = path.Dir(d) {
			parents = append([]string{d + "/"}, parents...)
		}
		for _, p := range parents {
			dirs = append(dirs, struct {
				name string
				mode int64
				uid  int
			}{p, 0o755, 0})
		}
	}
	for _, d := range dirs {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d.name, Mode: d.mode, Uid: d.uid, Gid: d.uid, ModTime: epoch}); err != nil {
			return nil, err
		}
	}
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", nonrootID, nonrootID)
	group := fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", nonrootID)
	if err := writeFile(tw, "etc/passwd", 0o644, 0, []byte(passwd)); err != nil {
		return nil, err
	}
	if err := writeFile(tw, "etc/group", 0o644, 0, []byte(group)); err != nil {
		return nil, err
	}
	if spec.CACerts != "" {
		ca, err := os.ReadFile(spec.CACerts)
		if err != nil {
			return nil, fmt.Errorf("read CA bundle: %w", err)
		}
		if err := writeFile(tw, strings.TrimPrefix(spec.CACerts, "/"), 0o644, 0, ca); err != nil {
			return nil, err
		}
	}
	if err := writeFile(tw, filepath.Base(spec.Binary), 0o755, 0, bin); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// A fixed modification time keeps the digests reproducible.
var epoch = time.Unix(0, 0)

func writeFile(tw *tar.Writer, name string, mode int64, uid int, data []byte) error {
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Uid: uid, Gid: uid, Size: int64(len(data)), ModTime: epoch}); err != nil {
		return err
	}
	_, err := tw.Write(data)
	return err
}

func describe(mediaType string, data []byte) descriptor {
	sum := sha256.Sum256(data)
	return descriptor{MediaType: mediaType, Digest: "sha256:" + hex.EncodeToString(sum[:]), Size: int64(len(data))}
}

func blobPath(d descriptor) string {
	return "blobs/sha256/" + strings.TrimPrefix(d.Digest, "sha256:")
}

func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}
