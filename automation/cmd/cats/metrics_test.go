package main

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestMetricsTakeThePlatformTokenOrTheirOwnAddress: /metrics was served to
// anyone on the API's address. There it now takes the platform team's token;
// --metrics-addr serves it without one on a separate address.
func TestMetricsTakeThePlatformTokenOrTheirOwnAddress(t *testing.T) {
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr := free.Addr().String()
	free.Close()
	ts := newTestServer(t)
	ts.startWith(func(o *ServeOptions) { o.MetricsAddr = metricsAddr })

	if r := ts.do("GET", "/metrics", "none", nil); r.status != http.StatusUnauthorized {
		t.Errorf("/metrics without a token: %d, want 401", r.status)
	}
	if r := ts.do("GET", "/metrics", "owner", nil); r.status != http.StatusForbidden {
		t.Errorf("/metrics with a municipality token: %d, want 403", r.status)
	}
	if r := ts.do("GET", "/metrics", "platform", nil); r.status != http.StatusOK || !strings.Contains(string(r.raw), "cats_http_requests_total") {
		t.Errorf("/metrics with the platform token: %d, want 200 with the metrics", r.status)
	}
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatalf("--metrics-addr: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "cats_http_requests_total") {
		t.Errorf("--metrics-addr /metrics: %d, want 200 with the same metrics", resp.StatusCode)
	}
	if resp, err := http.Get("http://" + metricsAddr + "/v1/municipalities"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("the metrics address serves the API: %d", resp.StatusCode)
		}
	}
}
