package events

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/berth/berth/internal/filters"
)

func TestMatch(t *testing.T) {
	ev := Event{Type: ContainerEventType, Action: "exec_start: sh -c true", Scope: "local",
		Actor: Actor{ID: "abcdef123456", Attributes: map[string]string{"name": "web-1", "image": "busybox:1.36", "tier": "front"}}}
	tests := []struct {
		name    string
		ev      *Event // ev when nil
		filters map[string][]string
		want    bool
	}{
		{name: "no filters", want: true},
		{name: "type", filters: map[string][]string{"type": {"container"}}, want: true},
		{name: "other type", filters: map[string][]string{"type": {"image"}}},
		{name: "event prefix before colon", filters: map[string][]string{"event": {"exec_start"}}, want: true},
		{name: "event prefix only for exec and health events", filters: map[string][]string{"event": {"exec"}}},
		{name: "event exact", ev: &Event{Type: ContainerEventType, Action: ActionStart}, filters: map[string][]string{"event": {"start"}}, want: true},
		{name: "event is not a prefix otherwise", ev: &Event{Type: ContainerEventType, Action: ActionStart}, filters: map[string][]string{"event": {"sta"}}},
		{name: "container by name", filters: map[string][]string{"container": {"web-1"}}, want: true},
		{name: "container by name prefix", filters: map[string][]string{"container": {"web"}}, want: true},
		{name: "container by id prefix", filters: map[string][]string{"container": {"abc"}}, want: true},
		{name: "container id is a prefix, not a substring", filters: map[string][]string{"container": {"def"}}},
		{name: "other container", filters: map[string][]string{"container": {"db"}}},
		{name: "a network event's actor is the network", ev: &Event{Type: NetworkEventType, Action: ActionConnect,
			Actor: Actor{ID: "f00d", Attributes: map[string]string{"name": "shop", "container": "abcdef123456"}}},
			filters: map[string][]string{"container": {"abc"}}},
		{name: "network by name", ev: &Event{Type: NetworkEventType, Action: ActionConnect,
			Actor: Actor{ID: "f00d", Attributes: map[string]string{"name": "shop"}}},
			filters: map[string][]string{"network": {"shop"}}, want: true},
		{name: "image attribute with tag", filters: map[string][]string{"image": {"busybox:1.36"}}, want: true},
		{name: "image attribute without tag", filters: map[string][]string{"image": {"busybox"}}, want: true},
		{name: "image other tag", filters: map[string][]string{"image": {"busybox:1.37"}}},
		{name: "image event by name", ev: &Event{Type: ImageEventType, Action: ActionTag,
			Actor: Actor{ID: "sha256:aa", Attributes: map[string]string{"name": "docker.io/library/app:v1"}}},
			filters: map[string][]string{"image": {"app"}}, want: true},
		{name: "scope", filters: map[string][]string{"scope": {"local"}}, want: true},
		{name: "other scope", filters: map[string][]string{"scope": {"swarm"}}},
		{name: "label", filters: map[string][]string{"label": {"tier=front"}}, want: true},
		{name: "label value mismatch", filters: map[string][]string{"label": {"tier=back"}}},
		{name: "values OR, keys AND", filters: map[string][]string{"container": {"db", "web"}, "type": {"container"}}, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := ev
			if tt.ev != nil {
				e = *tt.ev
			}
			if got := Match(e, filters.FromMap(tt.filters)); got != tt.want {
				t.Fatalf("Match = %v", got)
			}
		})
	}
}

// A bus scenario is a script of steps run in order against a bus with a fake clock. Times are seconds.
type step struct {
	at      int64 // set the clock to this second first (0: leave it)
	publish []string
	sub     *Options
	read    []int64 // revisions the next reads return
	end     error   // what the read after them returns: io.EOF, ErrFellBehind, context.Canceled (it would wait)
	lost    *LostError
	subErr  error // Subscribe's error
}

func at(sec int64) step { return step{at: sec} }

// pub publishes one event per spec "type action id" at the current time.
func pub(specs ...string) step { return step{publish: specs} }
func sub(o Options) step       { return step{sub: &o} }
func read(revs ...int64) step  { return step{read: revs} }
func end(err error) step       { return step{end: err} }
func sec(s int64) time.Time    { return time.Unix(s, 0) }

func TestBus(t *testing.T) {
	tests := []struct {
		name    string
		history int
		steps   []step
	}{
		{name: "a subscription without since starts with the next event", history: 8, steps: []step{
			at(10), pub("container create a", "container start a"), sub(Options{}),
			pub("container die a"), read(3), end(context.Canceled)}},
		{name: "since replays from the first event at or after it", history: 8, steps: []step{
			at(10), pub("container create a"), at(20), pub("container start a"), at(30), pub("container die a"),
			sub(Options{Since: sec(20)}), read(2, 3), end(context.Canceled)}},
		{name: "since in the future replays nothing and streams what comes", history: 8, steps: []step{
			at(10), pub("container create a"), sub(Options{Since: sec(100)}),
			at(20), pub("container start a"), read(2), end(context.Canceled)}},
		{name: "since before the first event, none dropped, replays all", history: 4, steps: []step{
			at(10), pub("container create a", "container start a", "container die a"),
			sub(Options{Since: sec(1)}), read(1, 2, 3)}},
		{name: "since after the dropped events is served", history: 2, steps: []step{
			at(10), pub("container create a"), at(20), pub("container start a"), at(30), pub("container die a"),
			sub(Options{Since: sec(15)}), read(2, 3)}},
		{name: "since before the history replays what is held, as dockerd", history: 2, steps: []step{
			at(10), pub("container create a"), at(20), pub("container start a"), at(30), pub("container die a"),
			sub(Options{Since: sec(10)}), read(2, 3), end(context.Canceled)}},
		{name: "from a revision", history: 8, steps: []step{
			at(10), pub("container create a", "container start a", "container die a", "container destroy a"),
			sub(Options{From: 2}), read(2, 3, 4), end(context.Canceled)}},
		{name: "from a future revision waits for it", history: 8, steps: []step{
			at(10), pub("container create a"), sub(Options{From: 3}),
			pub("container start a", "container die a"), read(3), end(context.Canceled)}},
		{name: "from a dropped revision is compacted", history: 2, steps: []step{
			at(10), pub("container create a", "container start a", "container die a"),
			{sub: &Options{From: 1}, subErr: ErrCompacted, lost: &LostError{Next: 1, Oldest: 2, OldestTime: sec(10)}}}},
		{name: "until in the past replays the history up to it and ends", history: 8, steps: []step{
			at(10), pub("container create a"), at(20), pub("container start a"), at(30), pub("container die a"),
			at(40), sub(Options{Until: sec(25)}), read(1, 2), end(io.EOF)}},
		{name: "since and until bound the replay", history: 8, steps: []step{
			at(10), pub("container create a"), at(20), pub("container start a"), at(30), pub("container die a"),
			at(40), sub(Options{Since: sec(20), Until: sec(20)}), read(2), end(io.EOF)}},
		{name: "until in the future streams and waits", history: 8, steps: []step{
			at(10), pub("container create a"), sub(Options{Since: sec(1), Until: sec(100)}),
			at(20), pub("container start a"), read(1, 2), end(context.Canceled)}},
		{name: "an event after until is not delivered and ends the stream", history: 8, steps: []step{
			at(10), sub(Options{Since: sec(1), Until: sec(15)}), pub("container create a"),
			at(20), pub("container start a"), read(1), end(io.EOF)}},
		{name: "filters skip events, not revisions", history: 8, steps: []step{
			at(10), sub(Options{Filters: filters.FromMap(map[string][]string{"type": {"container"}, "container": {"web"}})}),
			pub("container create web", "image tag img", "container create db", "container start web"),
			read(1, 4), end(context.Canceled)}},
		{name: "a subscriber that reads nothing while the history turns over falls behind", history: 3, steps: []step{
			at(10), sub(Options{}), pub("container create a", "container start a", "container die a", "container destroy a", "volume destroy v"),
			{end: ErrFellBehind, lost: &LostError{Next: 1, Oldest: 3, OldestTime: sec(10)}}}},
		{name: "one that fell behind after reading is told what it missed", history: 3, steps: []step{
			at(10), sub(Options{}), pub("container create a"), read(1),
			at(20), pub("container start a", "container die a", "container destroy a", "volume destroy v"),
			{end: ErrFellBehind, lost: &LostError{Next: 2, Oldest: 3, OldestTime: sec(20)}},
			{end: ErrFellBehind, lost: &LostError{Next: 2, Oldest: 3, OldestTime: sec(20)}}}},
		{name: "a filtered subscriber falls behind the same way", history: 2, steps: []step{
			at(10), sub(Options{Filters: filters.FromMap(map[string][]string{"type": {"volume"}})}),
			pub("container create a", "container start a", "container die a"),
			{end: ErrFellBehind, lost: &LostError{Next: 1, Oldest: 2, OldestTime: sec(10)}}}},
		{name: "one that keeps up never falls behind", history: 1, steps: []step{
			at(10), sub(Options{}), pub("container create a"), read(1), pub("container start a"), read(2),
			pub("container die a"), read(3), end(context.Canceled)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := sec(0)
			b := New(WithHistory(tt.history), WithClock(func() time.Time { return now }))
			var s *Subscription
			// A cancelled context: a read that would wait returns context.Canceled instead.
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			for i, st := range tt.steps {
				if st.at != 0 {
					now = sec(st.at)
				}
				for _, spec := range st.publish {
					var typ, action, id string
					fmt.Sscan(spec, &typ, &action, &id)
					b.Publish(Type(typ), Action(action), id, map[string]string{"name": id})
				}
				if st.sub != nil {
					var err error
					s, err = b.Subscribe(*st.sub)
					if !errors.Is(err, st.subErr) || (err == nil) != (st.subErr == nil) {
						t.Fatalf("step %d: Subscribe: %v, want %v", i, err, st.subErr)
					}
					checkLost(t, i, err, st.lost)
				}
				for _, want := range st.read {
					ev, err := s.Next(ctx)
					if err != nil || ev.Rev != want {
						t.Fatalf("step %d: read revision %d (%v), want %d", i, ev.Rev, err, want)
					}
				}
				if st.end != nil {
					ev, err := s.Next(ctx)
					if !errors.Is(err, st.end) {
						t.Fatalf("step %d: read %+v, %v; want %v", i, ev, err, st.end)
					}
					checkLost(t, i, err, st.lost)
				}
			}
		})
	}
}

func checkLost(t *testing.T, step int, err error, want *LostError) {
	t.Helper()
	if want == nil {
		return
	}
	var lost *LostError
	if !errors.As(err, &lost) {
		t.Fatalf("step %d: %v is not a LostError", step, err)
	}
	if lost.Next != want.Next || lost.Oldest != want.Oldest || !lost.OldestTime.Equal(want.OldestTime) {
		t.Fatalf("step %d: lost next %d oldest %d at %v; want next %d oldest %d at %v", step,
			lost.Next, lost.Oldest, lost.OldestTime, want.Next, want.Oldest, want.OldestTime)
	}
}

// An event carries what was published, stamped by the clock; the attributes are the bus's own copy.
func TestPublishStamps(t *testing.T) {
	b := New(WithClock(func() time.Time { return time.Unix(1700000000, 5) }))
	attrs := map[string]string{"name": "web", "exitCode": "0"}
	b.Publish(ContainerEventType, ActionDie, "abc", attrs)
	attrs["exitCode"] = "1"
	s, err := b.Subscribe(Options{From: 1})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := s.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := Event{Rev: 1, Type: ContainerEventType, Action: ActionDie, Scope: "local", Time: time.Unix(1700000000, 5),
		Actor: Actor{ID: "abc", Attributes: map[string]string{"name": "web", "exitCode": "0"}}}
	if fmt.Sprint(ev) != fmt.Sprint(want) {
		t.Fatalf("event %+v\nwant  %+v", ev, want)
	}
	if b.Rev() != 1 {
		t.Fatalf("Rev %d", b.Rev())
	}
}

// A subscriber waiting for the next event wakes when it is published.
func TestNextWaits(t *testing.T) {
	b := New()
	s, _ := b.Subscribe(Options{})
	got := make(chan Event)
	go func() {
		ev, err := s.Next(context.Background())
		if err != nil {
			t.Error(err)
		}
		got <- ev
	}()
	b.Publish(VolumeEventType, ActionCreate, "data", nil)
	select {
	case ev := <-got:
		if ev.Rev != 1 || ev.Actor.ID != "data" {
			t.Fatalf("woke with %+v", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("subscriber never woke")
	}
}

// Publishers and subscribers at once (run with -race): every subscriber sees every revision in order.
func TestConcurrent(t *testing.T) {
	const publishers, each = 4, 500
	b := New(WithHistory(publishers * each))
	var subs []*Subscription
	for range 3 {
		s, _ := b.Subscribe(Options{})
		subs = append(subs, s)
	}
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				b.Publish(ContainerEventType, ActionStart, fmt.Sprintf("%d-%d", p, i), nil)
			}
		}()
	}
	for _, s := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for want := int64(1); want <= publishers*each; want++ {
				ev, err := s.Next(context.Background())
				if err != nil || ev.Rev != want {
					t.Errorf("read %d (%v), want %d", ev.Rev, err, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}
