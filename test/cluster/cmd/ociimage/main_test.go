package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// readArchive returns the archive's files by name.
func readArchive(t *testing.T, data []byte) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = b
	}
}

// blob returns the blob a descriptor names, checking its digest and size.
func blob(t *testing.T, files map[string][]byte, d descriptor) []byte {
	t.Helper()
	b, ok := files[blobPath(d)]
	if !ok {
		t.Fatalf("no blob for %s", d.Digest)
	}
	sum := sha256.Sum256(b)
	if "sha256:"+hex.EncodeToString(sum[:]) != d.Digest || int64(len(b)) != d.Size {
		t.Fatalf("blob %s: digest or size mismatch (size %d, want %d)", d.Digest, len(b), d.Size)
	}
	return b
}

func writeImage(t *testing.T, spec Spec) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, spec); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestWriteProducesAConsistentOCILayout(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "proxy")
	if err := os.WriteFile(bin, []byte("#!binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(dir, "etc", "ssl", "certs", "ca.crt")
	if err := os.MkdirAll(filepath.Dir(ca), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ca, []byte("CERTS"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := Spec{Binary: bin, Name: "docker.io/cascadeflow/proxy:cluster", CACerts: ca}
	archive := writeImage(t, spec)
	files := readArchive(t, archive)

	if string(files["oci-layout"]) != `{"imageLayoutVersion":"1.0.0"}` {
		t.Fatalf("oci-layout = %q", files["oci-layout"])
	}
	var idx index
	if err := json.Unmarshal(files["index.json"], &idx); err != nil {
		t.Fatal(err)
	}
	if len(idx.Manifests) != 1 || idx.Manifests[0].Annotations["io.containerd.image.name"] != spec.Name ||
		idx.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "cluster" {
		t.Fatalf("index = %+v", idx)
	}
	var man manifest
	if err := json.Unmarshal(blob(t, files, idx.Manifests[0]), &man); err != nil {
		t.Fatal(err)
	}
	var cfg imageConfig
	if err := json.Unmarshal(blob(t, files, man.Config), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Config.User != "65532:65532" || len(cfg.Config.Entrypoint) != 1 || cfg.Config.Entrypoint[0] != "/proxy" || cfg.OS != "linux" {
		t.Fatalf("config = %+v", cfg)
	}
	if len(man.Layers) != 1 || len(cfg.RootFS.DiffIDs) != 1 || cfg.RootFS.DiffIDs[0] != man.Layers[0].Digest {
		t.Fatalf("layers %+v, diff ids %v", man.Layers, cfg.RootFS.DiffIDs)
	}

	layer := readArchive(t, blob(t, files, man.Layers[0]))
	if string(layer["proxy"]) != "#!binary" {
		t.Fatalf("binary not at /proxy: %q", layer["proxy"])
	}
	caInImage := strings.TrimPrefix(ca, "/")
	if string(layer[caInImage]) != "CERTS" {
		t.Fatalf("CA bundle not at %s", caInImage)
	}
	if !strings.Contains(string(layer["etc/passwd"]), "nonroot:x:65532:65532:") {
		t.Fatalf("passwd = %q", layer["etc/passwd"])
	}
	if _, ok := layer["tmp/"]; !ok {
		t.Fatal("no /tmp in the image")
	}

	if again := writeImage(t, spec); !bytes.Equal(again, archive) {
		t.Fatal("two writes of the same image differ")
	}
}

func TestWriteRefusesANameWithoutTag(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "proxy")
	if err := os.WriteFile(bin, []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"cascadeflow/proxy", "localhost:5000/proxy", "proxy:"} {
		if err := Write(io.Discard, Spec{Binary: bin, Name: name}); err == nil || !strings.Contains(err.Error(), "no tag") {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestWriteReportsAMissingBinary(t *testing.T) {
	err := Write(io.Discard, Spec{Binary: filepath.Join(t.TempDir(), "absent"), Name: "x/y:z"})
	if err == nil || !strings.Contains(err.Error(), "read binary") {
		t.Fatalf("err = %v", err)
	}
}
