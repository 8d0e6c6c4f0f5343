package cluster

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/berth/berth/internal/cluster/agent"
	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/cluster/ca"
	"github.com/berth/berth/internal/cluster/dispatcher"
	"github.com/berth/berth/internal/cluster/store"
)

// recorder keeps what each node's sessions received: the secrets (in the clear) and their removals.
type recorder struct {
	mu      sync.Mutex
	secrets map[string][]api.SecretData
	removed map[string][]string
}

type recordingSession struct {
	agent.Session
	node string
	r    *recorder
}

func (s recordingSession) Recv(ctx context.Context) (*api.Assignments, error) {
	a, err := s.Session.Recv(ctx)
	if a != nil {
		s.r.mu.Lock()
		s.r.secrets[s.node] = append(s.r.secrets[s.node], a.Secrets...)
		s.r.removed[s.node] = append(s.r.removed[s.node], a.RemoveSecrets...)
		s.r.mu.Unlock()
	}
	return a, err
}

type recordingDispatcher struct {
	localDispatcher
	r *recorder
}

func (d recordingDispatcher) Session(ctx context.Context) (agent.Session, error) {
	s, err := d.localDispatcher.Session(ctx)
	if err != nil {
		return nil, err
	}
	return recordingSession{Session: s, node: d.node, r: d.r}, nil
}

func (r *recorder) got(node string) (secrets []api.SecretData, removed []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.secrets[node]), slices.Clone(r.removed[node])
}

// A secret's data goes only to the node running a task that uses it, opened from its sealed form, reaches the
// task's container as a file, and is taken back from the node when no task there uses it any more.
func TestLoopsSecretsOnlyWhereUsed(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	key := ca.NewDataKey()
	ms := &miniSwarm{t: t, ctx: ctx, st: store.New(store.NewMemoryBackend(store.WithHistory(1 << 20))),
		clock: clockwork.NewFakeClockAt(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)), engines: map[string]*fakeEngine{}, agents: map[string]context.CancelFunc{}}
	t.Cleanup(func() { cancel(); ms.wg.Wait() })
	must(t, ms.st.Update(ctx, func(tx *store.Tx) error {
		return store.Create(tx, &api.Cluster{ID: "cluster", Spec: api.DefaultClusterSpec()})
	}))
	ms.addNode("n1")
	ms.addNode("n2")
	log := slog.New(slog.DiscardHandler)
	ms.disp = dispatcher.New(ms.st, dispatcher.WithLogger(log), dispatcher.WithClock(ms.clock.Now),
		dispatcher.WithUnseal(func(b []byte) ([]byte, error) { return ca.Open(key, b) }))
	ms.orch = newOrchestrate(ms.st, ms.clock, log)
	ms.sched = newSchedule(ms.st, ms.clock, log)
	ms.orch.known, ms.sched.known = ms.disp.Task, ms.disp.Task
	ms.wg.Add(3)
	go func() { defer ms.wg.Done(); ms.disp.Run(ctx) }()
	go func() { defer ms.wg.Done(); ms.orch.run(ctx) }()
	go func() { defer ms.wg.Done(); ms.sched.run(ctx) }()
	rec := &recorder{secrets: map[string][]api.SecretData{}, removed: map[string][]string{}}
	for _, id := range []string{"n1", "n2"} {
		a := agent.New(agent.Config{NodeID: id, Backend: ms.engines[id],
			Dispatcher: recordingDispatcher{localDispatcher: localDispatcher{d: func() *dispatcher.Dispatcher { return ms.disp }, node: id}, r: rec},
			Describe:   func() api.NodeDescription { return api.NodeDescription{Hostname: "host-" + id} }, Logger: log})
		ms.wg.Add(1)
		go func() { defer ms.wg.Done(); a.Run(ctx) }()
	}

	sid, err := createSecret(ctx, ms.st, key, api.SecretSpec{Annotations: annotations("pw", nil)}, []byte("hunter2"))
	must(t, err)
	spec := replicated("app", 1, "sleep", "3600")
	spec.Task.Placement = &api.Placement{Constraints: []string{"node.hostname==host-n1"}}
	spec.Task.Container.Secrets = []api.SecretReference{{SecretID: sid, SecretName: "pw", File: &api.FileTarget{Name: "pw", Mode: 0o400}}}
	ms.create(spec)
	ms.eventually("the task running on n1", func() bool { return len(ms.engines["n1"].running()) == 1 })

	got, _ := rec.got("n1")
	if len(got) != 1 || got[0].ID != sid || string(got[0].Data) != "hunter2" {
		t.Fatalf("n1 received secrets %+v", got)
	}
	if got, _ := rec.got("n2"); len(got) != 0 {
		t.Fatalf("n2, which runs no task using it, received %+v", got)
	}
	var files []agent.File
	ms.engines["n1"].mu.Lock()
	for _, c := range ms.engines["n1"].ctrs {
		files = append(files, c.cfg.Files...)
	}
	ms.engines["n1"].mu.Unlock()
	if len(files) != 1 || files[0].Target != "/run/secrets/pw" || string(files[0].Data) != "hunter2" || !files[0].Secret || files[0].Mode != 0o400 {
		t.Fatalf("the container's files: %+v", files)
	}

	// The service no longer uses it: once the old task is down, n1 is told to forget it.
	ms.update("app", func(s *api.ServiceSpec) { s.Task.Container.Secrets = nil }, ServiceUpdateOptions{})
	ms.eventually("the secret taken back from n1", func() bool {
		_, removed := rec.got("n1")
		return slices.Contains(removed, sid)
	})
	if got, _ := rec.got("n2"); len(got) != 0 {
		t.Fatalf("n2 received %+v", got)
	}
}
