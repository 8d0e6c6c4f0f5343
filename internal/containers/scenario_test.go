package containers

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/moby/moby/api/types/container"

	"github.com/berth/berth/internal/oci"
	"github.com/berth/berth/internal/task"
)

// TestScenarios runs the scripts in testdata/scenarios against the containers service over fakes and a fake
// clock: restart policies and their back-off, stop timeouts, health checks, auto-removal. Each script is a list
// of commands and the output the service must produce (see the datadriven package, as etcd's raft uses it):
//
//	create name=N [restart=P] [rm] [stop-timeout=S] [health=CMD interval=D timeout=D retries=N start-period=D]
//	start N | kill N [signal=S] | rm N [force] | pause N | unpause N
//	stop N [t=S] [async]        stop, in the background with async (join waits for it)
//	exit N code=C [oom] [quiet] the container's process exits with C (killed for memory with oom); waits until the
//	                            service has seen it and
//	                            prints the state (quiet: returns at once, prints nothing)
//	probed N n=K                waits until K health probes of N have ended; prints the state
//	health-log N                the last health probe's exit code and output
//	advance D                   moves the fake clock forward by D
//	idle N                      waits until exactly N timers of the service wait on the clock
//	wait N status=S [restarts=R] waits until the container reaches a state
//	wait-gone N                 waits until the container is removed
//	state N | ls | events | signals N | join
//	ignore N signal=S           the container's processes survive signal S
//	probe N exit=C | probe N hang   how the container's health probes end
//	fail-create N               the next start of N fails as a runtime reports a missing command
//
// The output of a command is the container's state line (see describe) unless it says otherwise; errors print as
// "error: ...".
func TestScenarios(t *testing.T) {
	datadriven.Walk(t, "testdata/scenarios", func(t *testing.T, path string) {
		ts := newTestService(t)
		var bg sync.WaitGroup
		var bgMu sync.Mutex
		var bgOut []string
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			ctx := context.Background()
			name := ""
			if len(d.CmdArgs) > 0 && len(d.CmdArgs[0].Vals) == 0 {
				name = d.CmdArgs[0].Key
			}
			arg := func(key string) (string, bool) {
				for _, a := range d.CmdArgs {
					if a.Key == key {
						return strings.Join(a.Vals, ","), true
					}
				}
				return "", false
			}
			dur := func(key string) time.Duration {
				v, _ := arg(key)
				x, err := time.ParseDuration(v)
				if err != nil {
					d.Fatalf(t, "%s: %v", key, err)
				}
				return x
			}
			result := func(err error) string {
				if err != nil {
					// Container IDs are random: scripts see them as <id>.
					return "error: " + hexID.ReplaceAllString(err.Error(), "<id>") + "\n"
				}
				return ts.describe(ctx, name) + "\n"
			}
			switch d.Cmd {
			case "create":
				n, _ := arg("name")
				name = n
				cfg := &container.Config{Image: "busybox", Cmd: []string{"sleep", "1d"}}
				hc := &container.HostConfig{NetworkMode: "none"}
				if p, ok := arg("restart"); ok {
					pol, max, _ := strings.Cut(p, ":")
					hc.RestartPolicy.Name = container.RestartPolicyMode(pol)
					hc.RestartPolicy.MaximumRetryCount, _ = strconv.Atoi(max)
				}
				if _, ok := arg("rm"); ok {
					hc.AutoRemove = true
				}
				if v, ok := arg("stop-timeout"); ok {
					s, _ := strconv.Atoi(v)
					cfg.StopTimeout = &s
				}
				if cmd, ok := arg("health"); ok {
					cfg.Healthcheck = &container.HealthConfig{Test: []string{"CMD-SHELL", cmd}}
					if _, ok := arg("interval"); ok {
						cfg.Healthcheck.Interval = dur("interval")
					}
					if _, ok := arg("timeout"); ok {
						cfg.Healthcheck.Timeout = dur("timeout")
					}
					if _, ok := arg("start-period"); ok {
						cfg.Healthcheck.StartPeriod = dur("start-period")
					}
					if v, ok := arg("retries"); ok {
						cfg.Healthcheck.Retries, _ = strconv.Atoi(v)
					}
				}
				_, err := ts.Create(ctx, CreateOptions{Name: name, Config: cfg, HostConfig: hc})
				return result(err)
			case "start":
				return result(ts.Start(ctx, name))
			case "kill":
				sig, _ := arg("signal")
				return result(ts.Kill(ctx, name, sig))
			case "pause":
				return result(ts.Pause(ctx, name))
			case "unpause":
				return result(ts.Unpause(ctx, name))
			case "rm":
				_, force := arg("force")
				if err := ts.Remove(ctx, name, RemoveOptions{Force: force}); err != nil {
					return "error: " + err.Error() + "\n"
				}
				return fmt.Sprintf("%v\n", ts.names(ctx))
			case "stop":
				var timeout *int
				if v, ok := arg("t"); ok {
					n, _ := strconv.Atoi(v)
					timeout = &n
				}
				if _, ok := arg("async"); ok {
					bg.Add(1)
					go func() {
						defer bg.Done()
						err := ts.Stop(ctx, name, "", timeout)
						bgMu.Lock()
						bgOut = append(bgOut, fmt.Sprintf("stop %s: %v", name, err))
						bgMu.Unlock()
					}()
					return "started\n"
				}
				return result(ts.Stop(ctx, name, "", timeout))
			case "join":
				bg.Wait()
				bgMu.Lock()
				defer bgMu.Unlock()
				out := strings.Join(bgOut, "\n") + "\n"
				bgOut = nil
				return out
			case "exit":
				code, _ := arg("code")
				c, _ := strconv.Atoi(code)
				tk := ts.tasks.task(ts.id(t, name))
				_, oom := arg("oom")
				tk.end(task.Exit{Code: c, OOMKilled: oom})
				if _, ok := arg("quiet"); ok {
					return ""
				}
				waitFor(t, func() bool {
					resp, err := ts.Inspect(ctx, name, false)
					return err != nil || resp.State.Status != container.StateRunning
				})
				return result(nil)
			case "advance":
				by, err := time.ParseDuration(d.CmdArgs[0].Key)
				if err != nil {
					d.Fatalf(t, "advance: %v", err)
				}
				ts.clock.Advance(by)
				return ""
			case "idle":
				n, err := strconv.Atoi(d.CmdArgs[0].Key)
				if err != nil {
					d.Fatalf(t, "idle: %v", err)
				}
				cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				defer cancel()
				if err := ts.clock.BlockUntilContext(cctx, n); err != nil {
					d.Fatalf(t, "waiting for %d timers on the clock: %v", n, err)
				}
				return ""
			case "wait":
				st, _ := arg("status")
				restarts, wantRestarts := arg("restarts")
				waitFor(t, func() bool {
					resp, err := ts.Inspect(ctx, name, false)
					return err == nil && string(resp.State.Status) == st && (!wantRestarts || strconv.Itoa(resp.RestartCount) == restarts)
				})
				return result(nil)
			case "state":
				return result(nil)
			case "probed":
				v, _ := arg("n")
				n, _ := strconv.Atoi(v)
				waitFor(t, func() bool { return ts.events.execsOf(name) >= n })
				// The probe that just ended is recorded when the last log entry ended now (the fake clock stands
				// still between commands).
				waitFor(t, func() bool {
					resp, err := ts.Inspect(ctx, name, false)
					if err != nil || resp.State.Health == nil || len(resp.State.Health.Log) == 0 {
						return false
					}
					return resp.State.Health.Log[len(resp.State.Health.Log)-1].End.Equal(ts.clock.Now())
				})
				if got := ts.events.execsOf(name); got != n {
					d.Fatalf(t, "%d probes ran, want %d", got, n)
				}
				return result(nil)
			case "health-log":
				resp, err := ts.Inspect(ctx, name, false)
				if err != nil || resp.State.Health == nil || len(resp.State.Health.Log) == 0 {
					return fmt.Sprintf("no health log: %v\n", err)
				}
				last := resp.State.Health.Log[len(resp.State.Health.Log)-1]
				return fmt.Sprintf("exit=%d output=%q\n", last.ExitCode, last.Output)
			case "wait-gone":
				waitFor(t, func() bool {
					_, err := ts.Inspect(ctx, name, false)
					return err != nil
				})
				return fmt.Sprintf("%v\n", ts.names(ctx))
			case "ls":
				return fmt.Sprintf("%v\n", ts.names(ctx))
			case "events":
				return strings.Join(ts.events.take(), "\n") + "\n"
			case "signals":
				tk := ts.tasks.task(ts.id(t, name))
				tk.mu.Lock()
				defer tk.mu.Unlock()
				return fmt.Sprintf("%v\n", tk.signals)
			case "ignore":
				v, _ := arg("signal")
				sig, err := oci.ParseSignal(v)
				if err != nil {
					d.Fatalf(t, "%v", err)
				}
				ts.tasks.mu.Lock()
				if ts.tasks.ignore[ts.id(t, name)] == nil {
					ts.tasks.ignore[ts.id(t, name)] = map[syscall.Signal]bool{}
				}
				ts.tasks.ignore[ts.id(t, name)][sig] = true
				ts.tasks.mu.Unlock()
				return ""
			case "probe":
				id := ts.id(t, name)
				ts.tasks.mu.Lock()
				defer ts.tasks.mu.Unlock()
				if _, ok := arg("hang"); ok {
					ts.tasks.hang[id] = true
					return ""
				}
				v, _ := arg("exit")
				ts.tasks.hang[id] = false
				ts.tasks.probes[id], _ = strconv.Atoi(v)
				return ""
			case "fail-create":
				ts.tasks.mu.Lock()
				ts.tasks.failCreate[ts.id(t, name)] = `exec: "nope": executable file not found in $PATH`
				ts.tasks.mu.Unlock()
				return ""
			}
			d.Fatalf(t, "unknown command %s", d.Cmd)
			return ""
		})
	})
}

// hexID matches a container's full ID.
var hexID = regexp.MustCompile(`\b[0-9a-f]{64}\b`)

// id is a container's full ID.
func (ts *testService) id(t *testing.T, name string) string {
	resp, err := ts.Inspect(context.Background(), name, false)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return resp.ID
}

// waitFor polls cond for a few seconds of real time: the service reacts on its own goroutines.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for the service")
		}
		time.Sleep(time.Millisecond)
	}
}
