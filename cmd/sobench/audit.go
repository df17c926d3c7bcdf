package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// auditBenchmarks is item 7: the Go benchmarks of package audit, run on the bench's
// PostgreSQL (SO_TEST_DATABASE_URL): Verify over bulk-loaded entries, and the group-commit
// Writer with 32 callers per CPU, each waiting for its commit.
func (b *bench) auditBenchmarks(ctx context.Context) error {
	b.progress("go test ./audit -bench Verify over %d entries (bulk-loaded first)", b.sz.entries)
	out, err := b.goBench(ctx, "Verify", "1x", fmt.Sprintf("SO_BENCH_AUDIT_ENTRIES=%d", b.sz.entries))
	if err != nil {
		return err
	}
	perMillion, err := benchMetric(out, "s/1M-entries")
	if err != nil {
		return err
	}
	b.progress("go test ./audit -bench Writer -benchtime %s", b.sz.writerTime)
	out2, err := b.goBench(ctx, "Writer", b.sz.writerTime)
	if err != nil {
		return err
	}
	rate, err := benchMetric(out2, "entries/s")
	if err != nil {
		return err
	}
	b.printf("audit log (go test ./audit -bench, on the same PostgreSQL)\n")
	for _, l := range benchLines(out + out2) {
		b.printf("    %s\n", l)
	}
	b.printf("\n")
	b.figs = append(b.figs,
		figure{name: fmt.Sprintf("7a. audit verify time per million entries (%d verified)", b.sz.entries),
			value: fmt.Sprintf("%.2f s", perMillion)},
		figure{name: "7b. audit entries per second, group commit (32 callers per CPU)",
			value: fmt.Sprintf("%.0f/s", rate)},
	)
	return nil
}

// goBench runs one benchmark of package audit and returns go test's output.
func (b *bench) goBench(ctx context.Context, name, benchtime string, env ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "test", "./audit", "-run", "^$", "-bench", "^Benchmark"+name+"$",
		"-benchtime", benchtime, "-count", "1", "-timeout", "30m")
	cmd.Dir = b.repo
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go test -bench %s: %w\n%s", name, err, out.String())
	}
	return out.String(), nil
}

// benchLines returns the result lines of go test -bench output.
func benchLines(out string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "Benchmark") {
			lines = append(lines, strings.Join(strings.Fields(l), " "))
		}
	}
	return lines
}

// benchMetric returns the value reported with unit on a result line of go test -bench output.
func benchMetric(out, unit string) (float64, error) {
	for _, l := range benchLines(out) {
		f := strings.Fields(l)
		for i := 1; i < len(f); i++ {
			if f[i] == unit {
				return strconv.ParseFloat(f[i-1], 64)
			}
		}
	}
	return 0, fmt.Errorf("no %q in the benchmark output:\n%s", unit, out)
}
