// Package web is the automation server's console for municipality staff and
// the platform team: a page shell rendered with html/template and small
// JavaScript modules, embedded in the binary (no build step), that call the
// server's own API (/v1) with a session cookie. Everything the console shows
// comes from the API, which decides what the caller may see and do; the
// scripts only render it, as text.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/cats-analytics/cats-analytics/domain/municipality"
)

//go:embed assets
var assets embed.FS

//go:embed page.html
var pageHTML string

var page = template.Must(template.New("page").Parse(pageHTML))

// Pages are the console's pages (ServeMux patterns). Each is the same shell;
// its script renders the page from the API.
var Pages = []string{"/{$}", "/signin", "/register", "/municipalities/{code}", "/jobs/{id}", "/fleet"}

// ContentSecurityPolicy allows only the console's own scripts, styles and
// connections: no inline script or style, no plugin, no framing, no <base>,
// forms posting only here. Trusted Types with no policy make the browser
// refuse any HTML string assigned to a DOM sink (innerHTML and the like), so
// data can only ever become text.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; object-src 'none'; base-uri 'none'; " +
	"frame-ancestors 'none'; form-action 'self'; require-trusted-types-for 'script'; trusted-types 'none'"

// SetSecurityHeaders sets the headers every console response carries.
func SetSecurityHeaders(h http.Header, tls bool) {
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
	if tls {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
}

// Console serves the console's pages and assets.
type Console struct {
	tls   func(*http.Request) bool
	etags map[string]string // asset path → ETag
}

// New returns the console; tls reports whether a request reached the server
// over TLS (for HSTS).
func New(tls func(*http.Request) bool) *Console {
	c := &Console{tls: tls, etags: map[string]string{}}
	_ = fs.WalkDir(assets, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := assets.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		c.etags[strings.TrimPrefix(p, "assets/")] = `"` + hex.EncodeToString(sum[:12]) + `"`
		return nil
	})
	return c
}

// LangCookie holds the console's language: "en", or Japanese when absent.
const LangCookie = "cats_lang"

// Lang is the language a request asks for: Japanese first, English on request.
func Lang(r *http.Request) string {
	if c, err := r.Cookie(LangCookie); err == nil && c.Value == "en" {
		return "en"
	}
	return "ja"
}

type shellText struct {
	Title, Skip, Nav, Loading, NoScript string
}

var shellTexts = map[string]shellText{
	"ja": {Title: "猫データ分析 運用コンソール", Skip: "本文へ移動", Nav: "メインメニュー", Loading: "読み込み中…",
		NoScript: "このコンソールを使うには JavaScript を有効にしてください。"},
	"en": {Title: "Cats analytics console", Skip: "Skip to main content", Nav: "Main menu", Loading: "Loading…",
		NoScript: "Enable JavaScript to use this console."},
}

// Page serves a page's shell: no data, no secret, never cached.
func (c *Console) Page(w http.ResponseWriter, r *http.Request) {
	lang := Lang(r)
	var b bytes.Buffer
	if err := page.Execute(&b, map[string]any{"Lang": lang, "Text": shellTexts[lang], "Attribution": municipality.Attribution}); err != nil {
		http.Error(w, "render the page failed", http.StatusInternalServerError)
		return
	}
	SetSecurityHeaders(w.Header(), c.tls(r))
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b.Bytes())
}

var contentTypes = map[string]string{
	".js":  "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8",
	".svg": "image/svg+xml",
}

// Asset serves a script, stylesheet or icon. Browsers revalidate them on
// each load (ETag), so a new server's assets are used at once.
func (c *Console) Asset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	etag, ok := c.etags[name]
	ctype := contentTypes[path.Ext(name)]
	if !ok || ctype == "" {
		http.NotFound(w, r)
		return
	}
	SetSecurityHeaders(w.Header(), c.tls(r))
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	b, err := assets.ReadFile("assets/" + name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", ctype)
	_, _ = w.Write(b)
}
