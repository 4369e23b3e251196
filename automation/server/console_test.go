package server

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/cats-analytics/cats-analytics/automation/web"
)

// serve sends a request to the server with console sessions, no API check
// (the console's pages are not part of the API).
func (a *sessionAPI) serve(req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	a.handler.ServeHTTP(rec, req)
	return rec
}

// inlineCode lists what in a page would run or style without coming from the
// server's own files: inline scripts and styles, event-handler attributes,
// javascript: URLs. The CSP forbids them, so any would be a broken page.
func inlineCode(t *testing.T, page string) []string {
	t.Helper()
	var found []string
	z := html.NewTokenizer(strings.NewReader(page))
	inScript := false
	for {
		switch z.Next() {
		case html.ErrorToken:
			if z.Err() != io.EOF {
				t.Fatalf("parse the page: %v", z.Err())
			}
			return found
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			hasSrc := false
			for _, attr := range tok.Attr {
				switch {
				case attr.Key == "src":
					hasSrc = true
				case attr.Key == "style", strings.HasPrefix(attr.Key, "on"):
					found = append(found, "<"+tok.Data+" "+attr.Key+"=…>")
				case strings.HasPrefix(strings.TrimSpace(strings.ToLower(attr.Val)), "javascript:"):
					found = append(found, "<"+tok.Data+" "+attr.Key+"=javascript:…>")
				}
			}
			if tok.Data == "style" {
				found = append(found, "<style>")
			}
			if tok.Data == "script" {
				inScript = true
				if !hasSrc {
					found = append(found, "<script> without src")
				}
			}
		case html.TextToken:
			if inScript && strings.TrimSpace(string(z.Text())) != "" {
				found = append(found, "inline script text")
			}
		case html.EndTagToken:
			inScript = false
		}
	}
}

// TestConsolePagesCarryTheSecurityHeaders: every page of the console is the
// same shell, never cached, under a strict Content-Security-Policy, with no
// inline code; its language follows the cats_lang cookie.
func TestConsolePagesCarryTheSecurityHeaders(t *testing.T) {
	a := newSessionAPI(t, false)
	for _, path := range []string{"/", "/signin", "/register", "/municipalities/131016", "/jobs/1", "/fleet"} {
		rec := a.serve(httptest.NewRequest("GET", path, nil))
		h := rec.Header()
		if rec.Code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
			t.Errorf("GET %s: %d %s, want the console's page", path, rec.Code, h.Get("Content-Type"))
			continue
		}
		csp := h.Get("Content-Security-Policy")
		for _, directive := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "object-src 'none'", "base-uri 'none'",
			"frame-ancestors 'none'", "form-action 'self'", "require-trusted-types-for 'script'"} {
			if !strings.Contains(csp, directive+";") && !strings.HasSuffix(csp, directive) {
				t.Errorf("GET %s: the Content-Security-Policy %q lacks %s", path, csp, directive)
			}
		}
		if strings.Contains(csp, "unsafe") || strings.Contains(csp, "*") {
			t.Errorf("GET %s: the Content-Security-Policy %q loosens a source", path, csp)
		}
		want := map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store", "X-Frame-Options": "DENY"}
		for k, v := range want {
			if h.Get(k) != v {
				t.Errorf("GET %s: %s %q, want %q", path, k, h.Get(k), v)
			}
		}
		if h.Get("Strict-Transport-Security") != "" {
			t.Errorf("GET %s over plain HTTP sends HSTS", path)
		}
		body := rec.Body.String()
		if found := inlineCode(t, body); len(found) > 0 {
			t.Errorf("GET %s: the page has inline code the CSP forbids: %v", path, found)
		}
		if !strings.Contains(body, `<html lang="ja">`) || !strings.Contains(body, `href="#main"`) {
			t.Errorf("GET %s: want a Japanese page with a skip link to the content", path)
		}
	}

	req := httptest.NewRequest("GET", "/", nil)
	req.AddCookie(&http.Cookie{Name: web.LangCookie, Value: "en"})
	if body := a.serve(req).Body.String(); !strings.Contains(body, `<html lang="en">`) || !strings.Contains(body, "Skip to main content") {
		t.Error("with cats_lang=en the page is not in English")
	}
	req = httptest.NewRequest("GET", "/", nil)
	req.AddCookie(&http.Cookie{Name: web.LangCookie, Value: `"><script>`})
	if body := a.serve(req).Body.String(); !strings.Contains(body, `<html lang="ja">`) {
		t.Error("an unknown cats_lang does not fall back to Japanese")
	}
	req = httptest.NewRequest("GET", "/", nil)
	req.TLS = &tls.ConnectionState{}
	if hsts := a.serve(req).Header().Get("Strict-Transport-Security"); hsts == "" {
		t.Error("a page served over TLS has no HSTS")
	}

	// Only the console's own paths are pages: an API route the server lacks
	// answers 404 (the console detects features that way), as do other paths.
	for _, path := range []string{"/v1/fleet", "/v1/rollouts", "/municipalities", "/jobs/1/x", "/nope"} {
		if rec := a.serve(httptest.NewRequest("GET", path, nil)); rec.Code != 404 {
			t.Errorf("GET %s: %d, want 404", path, rec.Code)
		}
	}
}

func TestConsoleAssets(t *testing.T) {
	a := newSessionAPI(t, false)
	types := map[string]string{"/assets/app.js": "text/javascript", "/assets/pages/job.js": "text/javascript", "/assets/console.css": "text/css", "/assets/icon.svg": "image/svg+xml"}
	for path, ctype := range types {
		rec := a.serve(httptest.NewRequest("GET", path, nil))
		h := rec.Header()
		if rec.Code != 200 || !strings.HasPrefix(h.Get("Content-Type"), ctype) || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("ETag") == "" {
			t.Errorf("GET %s: %d %q nosniff=%q etag=%q, want %s, nosniff, an ETag", path, rec.Code, h.Get("Content-Type"), h.Get("X-Content-Type-Options"), h.Get("ETag"), ctype)
			continue
		}
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("If-None-Match", h.Get("ETag"))
		if again := a.serve(req); again.Code != http.StatusNotModified {
			t.Errorf("GET %s with its ETag: %d, want 304", path, again.Code)
		}
	}
	for _, path := range []string{"/assets/nope.js", "/assets/../web.go", "/assets/", "/assets/pages/"} {
		if rec := a.serve(httptest.NewRequest("GET", path, nil)); rec.Code != 404 && rec.Code != 301 && rec.Code != 307 {
			t.Errorf("GET %s: %d, want 404", path, rec.Code)
		}
	}
}
