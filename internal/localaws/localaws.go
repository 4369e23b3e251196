// Package localaws runs the AWS APIs the Lambda handlers use on loopback, for
// their tests: DynamoDB (dynalite) and Kinesis (kinesalite), both from the npm
// registry, pinned by the package-lock.json beside this file. The first test
// on a machine installs them into <repo>/.work/npm (git-ignored); the tests
// then start them on 127.0.0.1 on ports the kernel picks. The same install
// holds velocityjs, with which the api tier's tests render API Gateway
// mapping templates.
//
// Node.js and npm are required: without them the tests fail with a message
// saying so, never skip.
package localaws

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
)

//go:embed npm/package.json
var packageJSON []byte

//go:embed npm/package-lock.json
var packageLock []byte

// serveJS starts both emulators on kernel-chosen loopback ports, prints them
// as one JSON line, and exits when its standard input closes, so it never
// outlives the test process.
const serveJS = `const dynalite = require('dynalite');
const kinesalite = require('kinesalite');
const ms = {createTableMs: 0, deleteTableMs: 0, updateTableMs: 0, createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0};
const d = dynalite(ms), k = kinesalite(ms);
d.listen(0, '127.0.0.1', () => k.listen(0, '127.0.0.1', () => {
  console.log(JSON.stringify({dynamodb: d.address().port, kinesis: k.address().port}));
}));
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
`

// Region is the region the clients sign for; the emulators accept any.
const Region = "ap-northeast-1"

// Endpoints are the emulators' base URLs.
type Endpoints struct {
	DynamoDBURL string
	KinesisURL  string
}

// DynamoDB returns a client of the DynamoDB emulator.
func (e Endpoints) DynamoDB() *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       Region,
		BaseEndpoint: aws.String(e.DynamoDBURL),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
}

// Kinesis returns a client of the Kinesis emulator.
func (e Endpoints) Kinesis() *kinesis.Client {
	return kinesis.New(kinesis.Options{
		Region:       Region,
		BaseEndpoint: aws.String(e.KinesisURL),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
}

// Start installs the emulators if needed, starts them for the test and stops them at its end.
func Start(t testing.TB) Endpoints {
	t.Helper()
	dir, err := Install()
	if err != nil {
		t.Fatalf("localaws: %v", err)
	}
	node, _ := exec.LookPath("node")
	if err := os.WriteFile(filepath.Join(dir, "serve.js"), []byte(serveJS), 0o644); err != nil {
		t.Fatalf("localaws: write serve.js: %v", err)
	}
	cmd := exec.Command(node, "serve.js")
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatalf("localaws: %v", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("localaws: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("localaws: start node serve.js: %v", err)
	}
	t.Cleanup(func() {
		_ = stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})

	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- line
		_, _ = io.Copy(io.Discard, stdout)
	}()
	var line string
	select {
	case line = <-lines:
	case <-time.After(30 * time.Second):
		t.Fatalf("localaws: dynalite and kinesalite did not start within 30s; stderr:\n%s", stderr.String())
	}
	var ports struct{ DynamoDB, Kinesis int }
	if err := json.Unmarshal([]byte(line), &ports); err != nil || ports.DynamoDB == 0 || ports.Kinesis == 0 {
		t.Fatalf("localaws: emulators did not report their ports (got %q): %v; stderr:\n%s", line, err, stderr.String())
	}
	return Endpoints{
		DynamoDBURL: fmt.Sprintf("http://127.0.0.1:%d", ports.DynamoDB),
		KinesisURL:  fmt.Sprintf("http://127.0.0.1:%d", ports.Kinesis),
	}
}

// Install puts the pinned emulators into <repo>/.work/npm unless they are
// there already, and returns that directory. Concurrent test processes take
// turns through a file lock.
func Install() (string, error) {
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			return "", fmt.Errorf("%s is not on PATH: the handler tests run DynamoDB and Kinesis emulators from npm on Node.js; install Node.js 18 or newer with npm (e.g. apt-get install nodejs npm)", tool)
		}
	}
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, ".work", "npm")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".install.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("lock %s: %w", lock.Name(), err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) //nolint:errcheck // released on close anyway

	installed := filepath.Join(dir, "installed-lock.json")
	if prev, err := os.ReadFile(installed); err == nil && bytes.Equal(prev, packageLock) {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", "dynalite", "package.json")); err == nil {
			return dir, nil
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "package.json"), packageJSON, 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "package-lock.json"), packageLock, 0o644); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// The emulators keep their data in memory: no native module is needed,
	// so install scripts are skipped.
	cmd := exec.CommandContext(ctx, "npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--prefix", dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("npm ci in %s (needs the npm registry): %w\n%s", dir, err, out)
	}
	if err := os.WriteFile(installed, packageLock, 0o644); err != nil {
		return "", err
	}
	return dir, nil
}

// repoRoot finds the module root from the test's working directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/cats-analytics/cats-analytics\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot find the cats-analytics module root above the working directory")
		}
		dir = parent
	}
}
