package config

import (
	"strings"
	"testing"
)

func TestStreamingKeys(t *testing.T) {
	c, err := Parse("organization", "cats-analytics", "dev", FromMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Streaming.BufferIntervalSeconds != 60 || c.Streaming.BufferSizeMB != 64 || c.Streaming.AggregationWindowSeconds != 60 {
		t.Errorf("defaults: Firehose 64 MB / 60 s (seed interval; 64 MB is Firehose's Parquet minimum), 60 s windows, got %+v", c.Streaming)
	}
	if c.Functions.MemoryMB != 1024 || c.Functions.TimeoutSeconds != 180 {
		t.Errorf("cats-data-analysis defaults must be the seed's 1024 MB and 3 minutes, got %+v", c.Functions)
	}
	for _, bad := range []struct{ key, value string }{
		{"cats:firehoseBufferSizeMb", "5"},
		{"cats:firehoseBufferSizeMb", "129"},
		{"cats:aggregationWindowSeconds", "0"},
		{"cats:aggregationWindowSeconds", "901"},
	} {
		_, err := Parse("organization", "cats-analytics", "dev", FromMap(map[string]string{bad.key: bad.value}))
		if err == nil || !strings.Contains(err.Error(), bad.key) {
			t.Errorf("%s=%s must be refused naming the key, got %v", bad.key, bad.value, err)
		}
	}
	if unknown := UnknownKeys(map[string]string{"cats:aggregationWindowSeconds": "60"}); len(unknown) != 0 {
		t.Errorf("cats:aggregationWindowSeconds must be a known key, got unknown %v", unknown)
	}
}
