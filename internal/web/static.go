package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"text/template"
)

// embedded holds the templates, the texts and the static files.
//
//go:embed i18n templates static
var embedded embed.FS

// staticFiles serves the files of static/ with a version taken from their
// content, so that a new build is fetched at once and the service worker
// knows when to refresh its cache.
type staticFiles struct {
	version string
	sw      []byte
	icons   map[string][]byte
}

func loadStatic() (*staticFiles, error) {
	h := sha256.New()
	var shell []string
	err := fs.WalkDir(embedded, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(embedded, p)
		if err != nil {
			return err
		}
		h.Write([]byte(p))
		h.Write(b)
		if p != "static/sw.js" {
			shell = append(shell, "/"+p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("web: read static files: %w", err)
	}
	s := &staticFiles{version: hex.EncodeToString(h.Sum(nil))[:12], icons: make(map[string][]byte)}
	for _, size := range []int{192, 512} {
		var buf bytes.Buffer
		if err := png.Encode(&buf, drawIcon(size)); err != nil {
			return nil, fmt.Errorf("web: draw icon: %w", err)
		}
		s.icons[fmt.Sprintf("%d.png", size)] = buf.Bytes()
	}
	shell = append(shell, "/icons/192.png", "/icons/512.png", "/manifest.webmanifest")
	src, err := fs.ReadFile(embedded, "static/sw.js")
	if err != nil {
		return nil, fmt.Errorf("web: read service worker: %w", err)
	}
	tmpl, err := template.New("sw").Parse(string(src))
	if err != nil {
		return nil, fmt.Errorf("web: parse service worker: %w", err)
	}
	list, _ := json.Marshal(shell)
	var sw bytes.Buffer
	if err := tmpl.Execute(&sw, map[string]string{"Version": s.version, "Shell": string(list)}); err != nil {
		return nil, fmt.Errorf("web: build service worker: %w", err)
	}
	s.sw = sw.Bytes()
	return s, nil
}

// url returns the versioned URL of a static file.
func (s *staticFiles) url(name string) string {
	return "/static/" + name + "?v=" + s.version
}

func (a *app) serveStatic(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
	if name == "static/sw.js" {
		http.NotFound(w, r)
		return
	}
	b, err := fs.ReadFile(embedded, name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	ctype := mime.TypeByExtension(path.Ext(name))
	if strings.HasSuffix(name, ".js") {
		ctype = "text/javascript; charset=utf-8"
	}
	w.Header().Set("Content-Type", ctype)
	if r.URL.Query().Get("v") == a.static.version {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	w.Header().Set("ETag", `"`+a.static.version+`"`)
	if r.Header.Get("If-None-Match") == `"`+a.static.version+`"` {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Write(b)
}

// serveServiceWorker serves the worker from the root so that its scope is
// the whole app.
func (a *app) serveServiceWorker(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(a.static.sw)
}

func (a *app) serveManifest(w http.ResponseWriter, r *http.Request) {
	lang := requestLang(r)
	m := map[string]any{
		"name":             a.views.texts.text(lang, "app_name") + " · " + a.views.texts.text(lang, "app_tagline"),
		"short_name":       a.views.texts.text(lang, "app_name"),
		"lang":             lang,
		"start_url":        "/",
		"scope":            "/",
		"display":          "standalone",
		"background_color": "#f2f5f8",
		"theme_color":      "#0b4f8a",
		"icons": []map[string]string{
			{"src": "/icons/192.png", "sizes": "192x192", "type": "image/png", "purpose": "any maskable"},
			{"src": "/icons/512.png", "sizes": "512x512", "type": "image/png", "purpose": "any maskable"},
		},
	}
	w.Header().Set("Content-Type", "application/manifest+json")
	w.Header().Set("Cache-Control", "no-cache")
	json.NewEncoder(w).Encode(m)
}

func (a *app) serveIcon(w http.ResponseWriter, r *http.Request) {
	b, ok := a.static.icons[r.PathValue("size")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	w.Write(b)
}

// drawIcon draws the app icon: a blue and teal cross on a deep blue square,
// with the safe margin maskable icons need.
func drawIcon(size int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	fill := func(x0, y0, x1, y1 float64, c color.RGBA) {
		for y := int(y0 * float64(size)); y < int(y1*float64(size)); y++ {
			for x := int(x0 * float64(size)); x < int(x1*float64(size)); x++ {
				img.SetRGBA(x, y, c)
			}
		}
	}
	fill(0, 0, 1, 1, color.RGBA{0x08, 0x3f, 0x72, 0xff})
	fill(0.40, 0.22, 0.60, 0.78, color.RGBA{0xff, 0xff, 0xff, 0xff})
	fill(0.22, 0.40, 0.78, 0.60, color.RGBA{0xff, 0xff, 0xff, 0xff})
	fill(0.44, 0.44, 0.56, 0.56, color.RGBA{0x0e, 0x7a, 0x6d, 0xff})
	return img
}
