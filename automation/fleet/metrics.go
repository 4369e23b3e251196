package fleet

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cats-analytics/cats-analytics/automation/store"
)

// Metrics are the fleet's metrics on /metrics: the stacks by status, by
// drift status and by last result and the rollouts' progress, read from the
// database at each scrape (so every replica answers alike), and the jobs'
// durations by operation, observed as each job ends.
type Metrics struct {
	controller  *Controller
	jobDuration *prometheus.HistogramVec
	stacks      *prometheus.Desc
	drift       *prometheus.Desc
	lastResult  *prometheus.Desc
	rollout     *prometheus.Desc
	scrapeError *prometheus.Desc
}

// NewMetrics registers the fleet's metrics.
func NewMetrics(reg prometheus.Registerer, c *Controller) *Metrics {
	m := &Metrics{
		controller: c,
		jobDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "cats_job_duration_seconds", Help: "Duration of finished jobs (start to end of their last attempt) by operation and final state.",
			// An offline plan takes milliseconds, an up of a prod stack many minutes.
			Buckets: prometheus.ExponentialBuckets(0.05, 2.5, 12),
		}, []string{"operation", "state"}),
		stacks:      prometheus.NewDesc("cats_fleet_stacks", "Registered stacks by fleet status.", []string{"status"}, nil),
		drift:       prometheus.NewDesc("cats_fleet_drift_stacks", "Registered stacks by drift status.", []string{"status"}, nil),
		lastResult:  prometheus.NewDesc("cats_fleet_last_result_stacks", "Registered stacks by the state of their last operation (none before any).", []string{"result"}, nil),
		rollout:     prometheus.NewDesc("cats_rollout_stacks", "Stacks of each unfinished or recent rollout by state.", []string{"rollout", "operation", "rollout_state", "state"}, nil),
		scrapeError: prometheus.NewDesc("cats_fleet_scrape_error", "1 when the fleet's figures could not be read at this scrape (the log says why).", nil, nil),
	}
	reg.MustRegister(m.jobDuration, m)
	return m
}

// ObserveJob records a finished job's duration (jobs.Config.OnFinish).
func (m *Metrics) ObserveJob(j store.Job) {
	start, err1 := time.Parse(time.RFC3339Nano, j.StartedAt)
	end, err2 := time.Parse(time.RFC3339Nano, j.FinishedAt)
	if err1 != nil || err2 != nil || end.Before(start) {
		return // a job cancelled before it started has no duration
	}
	m.jobDuration.WithLabelValues(string(j.Operation), string(j.State)).Observe(end.Sub(start).Seconds())
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.stacks, m.drift, m.lastResult, m.rollout, m.scrapeError} {
		ch <- d
	}
}

// recentRollouts bounds the finished rollouts reported: the newest ones.
const recentRollouts = 20

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	failed := 0.0
	defer func() { ch <- prometheus.MustNewConstMetric(m.scrapeError, prometheus.GaugeValue, failed) }()
	status, err := m.controller.Status(ctx, Filter{}, false)
	if err != nil {
		m.controller.cfg.Logger.Error("fleet metrics", "err", err)
		failed = 1
		return
	}
	for _, s := range Statuses {
		ch <- prometheus.MustNewConstMetric(m.stacks, prometheus.GaugeValue, float64(status.ByStatus[s]), s)
	}
	for _, s := range []string{store.DriftInSync, store.DriftDrifted, store.DriftError, store.DriftUnknown} {
		ch <- prometheus.MustNewConstMetric(m.drift, prometheus.GaugeValue, float64(status.ByDrift[s]), s)
	}
	for _, s := range []string{string(store.JobSucceeded), string(store.JobFailed), string(store.JobCancelled), "none"} {
		ch <- prometheus.MustNewConstMetric(m.lastResult, prometheus.GaugeValue, float64(status.ByLastResult[s]), s)
	}
	rollouts, err := m.controller.Rollouts(ctx)
	if err != nil {
		m.controller.cfg.Logger.Error("fleet metrics", "err", err)
		failed = 1
		return
	}
	for i, r := range rollouts {
		if i >= recentRollouts && store.RolloutTerminal(r.State) {
			continue
		}
		v, err := m.controller.Rollout(ctx, r.ID)
		if err != nil {
			m.controller.cfg.Logger.Error("fleet metrics", "err", err)
			failed = 1
			return
		}
		for _, s := range []string{store.StackPending, store.StackStarting, store.StackRunning, store.StackSucceeded, store.StackFailed, store.StackCancelled} {
			ch <- prometheus.MustNewConstMetric(m.rollout, prometheus.GaugeValue, float64(v.Tally.ByState[s]), r.ID, string(r.Operation), r.State, s)
		}
	}
}
