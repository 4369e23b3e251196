package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/automation/internal/testprogram"
	"github.com/cats-analytics/cats-analytics/automation/runner"
	"github.com/cats-analytics/cats-analytics/automation/store"
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
		PolicyPack: testPolicyPack(), PolicyConfig: writeFile(b, "policy.json", `{"all": "advisory"}`),
	}
	direct.Backend = fileBackend(filepath.Join(direct.WorkDir, "state"))
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

// BenchmarkPlatformUp131016Prod is an up of 131016-prod through the server
// (HTTP, queue, the policy preview and the up with the policy pack, the
// state count) on the stand-in cloud, with the real program and CLI:
// creating every resource, and again with nothing to change. The
// environment stack prod is deployed first, once.
//
// Reported: the wall time (ns/op); the CPU of the CLI, its plugins and the
// policy pack (waited-for children) and of the server and the program
// (this process); the peak memory of the CLI's process tree (sum of the
// resident sets sampled every 100 ms) and of its largest process; the size
// of the state (`pulumi stack export`) and its resources.
func BenchmarkPlatformUp131016Prod(b *testing.B) {
	ts := newPlatformServer(b)
	ts.startWith(platformOptions)
	mustSucceed(b, ts.wait(ts.register(platformCode, "千代田区", "東京都", platformEnv, nil)))
	up := func(b *testing.B) store.Job {
		j := ts.wait(ts.submit(platformCode, platformEnv, runner.Up))
		mustSucceed(b, j)
		return j
	}

	b.Run("create", func(b *testing.B) {
		var m measurement
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			mustSucceed(b, ts.wait(ts.submit(platformCode, platformEnv, runner.Destroy)))
			// What the destroy retained (prod data) would stop a new up, as
			// in AWS: clear it, as an operator would.
			ts.clearRetained(platformStack)
			m.start(b)
			b.StartTimer()
			j := up(b)
			b.StopTimer()
			m.stop(b)
			if c := operationResult(b, j).Changes; c.Create == 0 {
				b.Fatalf("a creating up created nothing: %+v", c)
			}
		}
		m.report(b, ts)
	})

	b.Run("no-op", func(b *testing.B) {
		up(b)
		var m measurement
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			m.start(b)
			b.StartTimer()
			j := up(b)
			b.StopTimer()
			m.stop(b)
			if c := operationResult(b, j).Changes; c.Create+c.Update+c.Delete+c.Replace != 0 {
				b.Fatalf("a no-op up changed something: %+v", c)
			}
		}
		m.report(b, ts)
	})
}

// measurement adds up the CPU and the peak memory of the measured ups.
type measurement struct {
	n                  int
	selfCPU, childCPU  time.Duration
	peakTree, peakProc int64 // bytes
	before             [2]time.Duration
	sampler            *treeSampler
}

func cpuTimes(b *testing.B) (self, children time.Duration) {
	var s, c syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &s); err != nil {
		b.Fatal(err)
	}
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &c); err != nil {
		b.Fatal(err)
	}
	cpu := func(r syscall.Rusage) time.Duration { return time.Duration(r.Utime.Nano() + r.Stime.Nano()) }
	return cpu(s), cpu(c)
}

func (m *measurement) start(b *testing.B) {
	m.before[0], m.before[1] = cpuTimes(b)
	m.sampler = sampleTree(100 * time.Millisecond)
}

func (m *measurement) stop(b *testing.B) {
	tree, proc := m.sampler.stop()
	self, children := cpuTimes(b)
	m.n++
	m.selfCPU += self - m.before[0]
	m.childCPU += children - m.before[1]
	m.peakTree, m.peakProc = max(m.peakTree, tree), max(m.peakProc, proc)
}

func (m *measurement) report(b *testing.B, ts *testServer) {
	n := float64(max(m.n, 1))
	b.ReportMetric(m.childCPU.Seconds()/n, "cli+plugins-cpu-s/op")
	b.ReportMetric(m.selfCPU.Seconds()/n, "server+program-cpu-s/op")
	b.ReportMetric(float64(m.peakTree)/(1<<20), "peak-cli-tree-MiB")
	b.ReportMetric(float64(m.peakProc)/(1<<20), "peak-process-MiB")
	raw := exportRaw(b, ts, platformStack)
	var d apitype.DeploymentV3
	if err := json.Unmarshal(raw, &d); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(len(raw)), "state-bytes")
	b.ReportMetric(float64(len(d.Resources)), "resources")
}

// treeSampler samples the resident memory of this process's descendants
// (the Pulumi CLI, its provider plugins and the policy pack) from /proc.
type treeSampler struct {
	done               chan struct{}
	finished           chan struct{}
	peakTree, peakProc int64
}

func sampleTree(every time.Duration) *treeSampler {
	s := &treeSampler{done: make(chan struct{}), finished: make(chan struct{})}
	go func() {
		defer close(s.finished)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			tree, proc := descendantsRSS(os.Getpid())
			s.peakTree, s.peakProc = max(s.peakTree, tree), max(s.peakProc, proc)
			select {
			case <-s.done:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

// stop ends the sampling and returns the peaks: the whole tree's and the
// largest single process's, in bytes.
func (s *treeSampler) stop() (tree, proc int64) {
	close(s.done)
	<-s.finished
	return s.peakTree, s.peakProc
}

// descendantsRSS sums the resident sets of root's descendants and returns
// the largest one too.
func descendantsRSS(root int) (sum, largest int64) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, 0
	}
	parent := map[int]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// The command name (field 2) may hold spaces: the fields after it
		// start after its closing parenthesis (state, then the parent's pid).
		rest := string(stat[bytes.LastIndexByte(stat, ')')+1:])
		if f := strings.Fields(rest); len(f) > 1 {
			ppid, _ := strconv.Atoi(f[1])
			parent[pid] = ppid
		}
	}
	page := int64(os.Getpagesize())
	for pid := range parent {
		p := pid
		for p != 0 && p != root {
			p = parent[p]
		}
		if p != root || pid == root {
			continue
		}
		statm, err := os.ReadFile(fmt.Sprintf("/proc/%d/statm", pid))
		if err != nil {
			continue
		}
		if f := strings.Fields(string(statm)); len(f) > 1 {
			pages, _ := strconv.ParseInt(f[1], 10, 64)
			sum += pages * page
			largest = max(largest, pages*page)
		}
	}
	return sum, largest
}
