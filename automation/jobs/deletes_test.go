package jobs

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/cats-analytics/cats-analytics/automation/runner"
	"github.com/cats-analytics/cats-analytics/automation/store"
	"github.com/cats-analytics/cats-analytics/automation/store/storetest"
)

func destroyOn() store.Job {
	j := jobOn(runner.Destroy)
	j.RemoveStack = true
	return j
}

// TestAStaleDestroyNeverDestroysARegistrationMadeAgain: a destroy left over
// from an earlier registration of the stack removed the municipality
// registered again in between. It now fails without running.
func TestAStaleDestroyNeverDestroysARegistrationMadeAgain(t *testing.T) {
	storetest.Run(t, testAStaleDestroyNeverDestroysARegistrationMadeAgain)
}

func testAStaleDestroyNeverDestroysARegistrationMadeAgain(t *testing.T, st *store.DB) {
	ctx := context.Background()
	run := &fakeRunner{}
	q := newQueue(t, st, run, nil)
	first, _, err := st.CreateMunicipality(ctx, chiyoda, jobOn(runner.Up), q.Enqueue(ctx))
	if err != nil {
		t.Fatal(err)
	}
	stale, err := st.MarkDeleting(ctx, "131016", "dev", destroyOn(), q.Enqueue(ctx))
	if err != nil {
		t.Fatal(err)
	}
	// Another destroy of the same registration removed it; the stack is
	// registered again before the stale destroy runs.
	if removed, err := st.DeleteMunicipality(ctx, "131016", "dev", first.Generation); !removed || err != nil {
		t.Fatalf("remove the first registration: %v %v", removed, err)
	}
	again, refresh, err := st.CreateMunicipality(ctx, chiyoda, jobOn(runner.Refresh), q.Enqueue(ctx))
	if err != nil {
		t.Fatal(err)
	}
	startQueue(t, q)
	j := waitFinished(t, st, stale.ID)
	waitFinished(t, st, refresh.ID)
	if j.State != store.JobFailed {
		t.Errorf("the stale destroy = %s %q, want failed", j.State, j.Error)
	}
	ran, _, _ := run.calls()
	if slices.Contains(ran, "destroy 131016-dev") {
		t.Fatalf("the stale destroy ran on the stack registered again: %v", ran)
	}
	m, err := st.GetMunicipality(ctx, "131016", "dev")
	if err != nil || m.Generation != again.Generation || m.State != store.MunicipalityActive {
		t.Fatalf("the registration made again = %+v, %v; want it active and untouched", m, err)
	}
}

// TestAFailedDestroyReturnsTheStackToActive: a failed destroy left the stack
// deleting for good.
func TestAFailedDestroyReturnsTheStackToActive(t *testing.T) {
	storetest.Run(t, testAFailedDestroyReturnsTheStackToActive)
}

func testAFailedDestroyReturnsTheStackToActive(t *testing.T, st *store.DB) {
	ctx := context.Background()
	run := &fakeRunner{fail: &runner.Failure{Reason: runner.ReasonProviderError, Message: "destroy of 131016-dev failed at a bucket",
		Err: errors.New("BucketNotEmpty")}}
	q := newQueue(t, st, run, nil)
	startQueue(t, q)
	if _, _, err := st.CreateMunicipality(ctx, chiyoda, jobOn(runner.Refresh), q.Enqueue(ctx)); err != nil {
		t.Fatal(err)
	}
	destroy, err := st.MarkDeleting(ctx, "131016", "dev", destroyOn(), q.Enqueue(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if j := waitFinished(t, st, destroy.ID); j.State != store.JobFailed || j.Reason != string(runner.ReasonProviderError) {
		t.Fatalf("destroy = %s %s, want failed with the provider's reason", j.State, j.Reason)
	}
	m, err := st.GetMunicipality(ctx, "131016", "dev")
	if err != nil || m.State != store.MunicipalityActive {
		t.Fatalf("after a failed destroy the stack = %+v, %v; want active (the platform team may retry)", m, err)
	}
	if _, err := st.MarkDeleting(ctx, "131016", "dev", destroyOn(), q.Enqueue(ctx)); err != nil {
		t.Fatalf("retrying the destroy: %v", err)
	}
}
