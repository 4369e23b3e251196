package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/automation/internal/testprogram"
	"github.com/cats-analytics/cats-analytics/automation/runner"
	"github.com/cats-analytics/cats-analytics/components/config"
)

// BenchmarkReadsWhileJobsRun measures the API's reads on loopback while `up`
// jobs run on two stacks: requests per second and p99 latency.
func BenchmarkReadsWhileJobsRun(b *testing.B) {
	ts := startBenchServer(b)
	for _, m := range [][3]string{{"131016", "千代田区", "東京都"}, {"011002", "札幌市", "北海道"}} {
		ts.wait(ts.register(m[0], m[1], m[2], "dev", nil))
	}
	// Keep both stacks busy for the whole measurement.
	stop := make(chan struct{})
	var busy sync.WaitGroup
	var ups atomic.Int64
	for _, code := range []string{"131016", "011002"} {
		busy.Add(1)
		go func() {
			defer busy.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				ts.wait(ts.submit(code, "dev", "up"))
				ups.Add(1)
			}
		}()
	}
	jobID := ts.submit("131016", "dev", "plan")
	paths := []string{"/v1/municipalities", "/v1/municipalities/131016", fmt.Sprintf("/v1/jobs/%d", jobID)}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var mu sync.Mutex
	var latencies []time.Duration
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var local []time.Duration
		i := 0
		for pb.Next() {
			req, _ := http.NewRequest("GET", ts.url+paths[i%len(paths)], nil)
			req.Header.Set("Authorization", "Bearer "+ts.tokens["platform"])
			t0 := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("GET %s: %d", paths[i%len(paths)], resp.StatusCode)
				return
			}
			local = append(local, time.Since(t0))
			i++
		}
		mu.Lock()
		latencies = append(latencies, local...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	close(stop)
	busy.Wait()
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	if len(latencies) > 0 {
		b.ReportMetric(float64(len(latencies))/elapsed.Seconds(), "req/s")
		b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds())/1000, "p99-ms")
	}
	b.ReportMetric(float64(ups.Load()), "ups-during")
}

// BenchmarkServerOverheadUp compares an `up` through the server (request,
// queue, workspace, events, result) with the same `up` through the runner
// alone, on the same program and CLI.
func BenchmarkServerOverheadUp(b *testing.B) {
	ts := startBenchServer(b)
	ts.wait(ts.register("131016", "千代田区", "東京都", "dev", nil))
	direct := &runner.Stacks{
		Project: config.Project, Program: func(string) pulumi.RunFunc { return testprogram.Program(0) },
		CLI: testCLI(b), WorkDir: b.TempDir(), Passphrase: "bench",
	}
	direct.Backend = "file://" + filepath.Join(direct.WorkDir, "state")
	if err := os.MkdirAll(filepath.Join(direct.WorkDir, "state"), 0o700); err != nil {
		b.Fatal(err)
	}
	var viaServer, viaRunner time.Duration
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		j := ts.wait(ts.submit("131016", "dev", "up"))
		viaServer += time.Since(t0)
		if j.State != "succeeded" {
			b.Fatalf("up via server: %s %s", j.State, j.Error)
		}
		t0 = time.Now()
		if _, err := direct.Run(context.Background(), runner.Operation{Name: runner.Up, Stack: "131016-dev"}); err != nil {
			b.Fatal(err)
		}
		viaRunner += time.Since(t0)
	}
	n := float64(b.N)
	b.ReportMetric(viaServer.Seconds()*1000/n, "server-ms/up")
	b.ReportMetric(viaRunner.Seconds()*1000/n, "direct-ms/up")
	b.ReportMetric((viaServer-viaRunner).Seconds()*1000/n, "overhead-ms/up")
}

func startBenchServer(b *testing.B) *testServer {
	b.Helper()
	return startServer(b, 0, 2)
}
