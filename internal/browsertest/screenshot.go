package browsertest

import (
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
)

// Screenshot saves a PNG of the browser's window and returns its path,
// which it also logs. A relative name is put in the test's t.ArtifactDir():
// kept under -outputdir when go test runs with -artifacts, removed after the
// test otherwise.
func (b *Browser) Screenshot(name string) string {
	b.t.Helper()
	png, err := b.png()
	if err == nil {
		name, err = b.save(name, png)
	}
	if err != nil {
		b.t.Fatalf("browsertest: screenshot: %v", err)
	}
	b.t.Logf("browsertest: screenshot %s", name)
	return name
}

// png takes a screenshot of the window.
func (b *Browser) png() ([]byte, error) {
	var b64 string
	if err := b.Do(http.MethodGet, "screenshot", nil, &b64); err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(b64)
}

// save writes a screenshot where Screenshot says and returns its path.
func (b *Browser) save(name string, png []byte) (string, error) {
	path := name
	if !filepath.IsAbs(path) {
		path = filepath.Join(b.t.ArtifactDir(), name)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	return path, os.WriteFile(path, png, 0o644)
}
