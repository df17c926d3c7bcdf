package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of the CPU times in /proc (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// backends are the PostgreSQL and MinIO processes whose CPU time the bench reports; make bench
// names the ones it started in SO_BENCH_POSTMASTER_PID and SO_BENCH_MINIO_PID. Unknown (0),
// their time is counted with everything else the machine runs.
type backends struct{ postmaster, minio int }

func backendsFromEnv() backends {
	pg, _ := strconv.Atoi(os.Getenv("SO_BENCH_POSTMASTER_PID"))
	mn, _ := strconv.Atoi(os.Getenv("SO_BENCH_MINIO_PID"))
	return backends{postmaster: pg, minio: mn}
}

// cpuSample is the CPU time spent so far by each party.
type cpuSample struct {
	at                               time.Time
	server, self, pg, minio, machine time.Duration
	steal                            time.Duration
}

func sampleCPU(server int, bk backends) cpuSample {
	s := cpuSample{at: time.Now(), server: pidCPU(server), self: pidCPU(os.Getpid()), minio: pidCPU(bk.minio)}
	if bk.postmaster > 0 {
		s.pg = treeCPU(bk.postmaster)
	}
	s.machine, s.steal, _ = machineBusy()
	return s
}

// cpuUsage is where CPU time went during a phase: in one server process (named), in the
// bench itself, in PostgreSQL and MinIO when known, and on the whole machine.
type cpuUsage struct {
	name                                   string
	known                                  bool // PostgreSQL and MinIO measured apart
	wall, server, self, pg, minio, machine time.Duration
	steal                                  time.Duration // taken by the hypervisor: not in machine
}

// measure runs f and returns how long it took and where CPU time went meanwhile; pid is
// the server process called name (0 and "" for none).
func (b *bench) measure(name string, pid int, f func() error) (time.Duration, cpuUsage, error) {
	m := b.startCPU(name, pid)
	d, err := timed(f)
	return d, m.stop(), err
}

type cpuMeter struct {
	name  string
	pid   int
	bk    backends
	start cpuSample
}

func (b *bench) startCPU(name string, pid int) *cpuMeter {
	return &cpuMeter{name: name, pid: pid, bk: b.backends, start: sampleCPU(pid, b.backends)}
}

func (m *cpuMeter) stop() cpuUsage {
	e := sampleCPU(m.pid, m.bk)
	s := m.start
	return cpuUsage{name: m.name, known: m.bk.postmaster > 0 && m.bk.minio > 0, wall: e.at.Sub(s.at),
		server: e.server - s.server, self: e.self - s.self, pg: e.pg - s.pg, minio: e.minio - s.minio, machine: e.machine - s.machine, steal: e.steal - s.steal}
}

// other is the CPU time of everything not measured apart.
func (u cpuUsage) other() time.Duration {
	return max(0, u.machine-u.server-u.self-u.pg-u.minio)
}

// tenth is a tenth of the machine's CPU time over the phase, in seconds.
func (u cpuUsage) tenth() float64 { return 0.1 * u.wall.Seconds() * float64(runtime.NumCPU()) }

// stolen says whether the hypervisor took more than a tenth of the machine during a phase
// whose other processes are not known apart (a CLI run by the bench, say).
func stolen(u cpuUsage) string {
	if u.steal.Seconds() > u.tenth() {
		return fmt.Sprintf("the hypervisor took %.1f CPU-s during a %.1f s phase", u.steal.Seconds(), u.wall.Seconds())
	}
	return ""
}

// disturbed says, for a comparison of timed phases, whether processes other than those
// measured, or the hypervisor, took more than a tenth of the machine during one of them:
// then its times say little about the code measured.
func disturbed(phases ...cpuUsage) string {
	for _, u := range phases {
		if u.known && u.other().Seconds() > u.tenth() {
			return fmt.Sprintf("other processes took %.1f CPU-s during a %.1f s phase", u.other().Seconds(), u.wall.Seconds())
		}
		if s := stolen(u); s != "" {
			return s
		}
	}
	return ""
}

func (u cpuUsage) String() string {
	var b strings.Builder
	b.WriteString("CPU s:")
	if u.name != "" {
		fmt.Fprintf(&b, " %s %.2f,", u.name, u.server.Seconds())
	}
	fmt.Fprintf(&b, " bench client %.2f,", u.self.Seconds())
	if u.known {
		fmt.Fprintf(&b, " PostgreSQL %.2f, MinIO %.2f, other processes %.2f;", u.pg.Seconds(), u.minio.Seconds(), u.other().Seconds())
	} else {
		fmt.Fprintf(&b, " PostgreSQL+MinIO+other processes %.2f;", u.other().Seconds())
	}
	all := u.wall.Seconds() * float64(runtime.NumCPU())
	fmt.Fprintf(&b, " machine %.0f%% busy, %.0f%% stolen", 100*u.machine.Seconds()/all, 100*u.steal.Seconds()/all)
	return b.String()
}

func pidCPU(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	t, _, _ := procStat(pid)
	return t
}

// treeCPU is the CPU time of a process, of its children that exited (reaped), and of its
// live children: for PostgreSQL's postmaster, every backend's.
func treeCPU(pid int) time.Duration {
	own, _, reaped := procStat(pid)
	total := own + reaped
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		child, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		if t, ppid, _ := procStat(child); ppid == pid {
			total += t
		}
	}
	return total
}

// procStat reads a process's user+system time, its parent and its reaped children's time
// from /proc/<pid>/stat; zeros when the process is gone.
func procStat(pid int) (cpu time.Duration, ppid int, children time.Duration) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, 0
	}
	// After the command name (which may hold spaces) come the state (field 3), the parent
	// (4), and utime, stime, cutime, cstime (14 to 17).
	_, rest, _ := strings.Cut(string(b), ") ")
	f := strings.Fields(rest)
	if len(f) < 15 {
		return 0, 0, 0
	}
	n := func(i int) time.Duration { v, _ := strconv.ParseInt(f[i], 10, 64); return time.Duration(v) * clockTick }
	ppid, _ = strconv.Atoi(f[1])
	return n(11) + n(12), ppid, n(13) + n(14)
}

// machineBusy reads, from /proc/stat, the CPU time all CPUs spent running this machine's
// work, and the time the hypervisor took from them (steal: on a shared host, neither
// idle nor ours).
func machineBusy() (busy, steal time.Duration, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("/proc/stat: unexpected format")
	}
	var n [8]int64
	for i, s := range f[1:9] {
		if n[i], err = strconv.ParseInt(s, 10, 64); err != nil {
			return 0, 0, fmt.Errorf("/proc/stat: %w", err)
		}
	}
	busy = time.Duration(n[0]+n[1]+n[2]+n[5]+n[6]) * clockTick
	return busy, time.Duration(n[7]) * clockTick, nil
}

// loadAverage is the one-minute load average, a sign of other work on the machine.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "unknown"
	}
	return f[0]
}
