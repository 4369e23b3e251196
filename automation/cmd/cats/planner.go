package main

import "github.com/cats-analytics/cats-analytics/automation/jobs"

// newPlanner returns the offline planner of the server's plan operation.
func newPlanner() jobs.Planner { return nil }
