// Package events is the engine's event bus: services publish what happens to containers, images, volumes and
// networks, and subscribers (the Docker API's /events today, a cluster agent later) read it in order, with
// docker's filters. It follows internal/state's model, which is etcd's watch: every event gets the bus's next
// revision, the bus keeps the most recent events (its history), a subscription is a position in that history,
// and a subscriber that falls behind the history is told so, with where to resume, instead of losing events
// silently.
//
// Terms:
//
//   - an Event is one thing that happened, stamped with the next revision (Rev) and the clock's time;
//   - the history is the last N events (WithHistory); older ones are gone;
//   - a Subscription reads events in revision order from where Options put it: a revision (From), the first
//     event at or after a time (Since), or the next event published (neither). It skips events its filters
//     reject, and ends at Until.
//
// Use:
//
//	sub, err := bus.Subscribe(events.Options{Since: t, Filters: f}) // ErrCompacted: events since t are gone
//	for {
//		ev, err := sub.Next(ctx) // blocks until an event, ctx's end, or Until (io.EOF)
//		var lost *events.LostError
//		if errors.As(err, &lost) { ... }  // ErrFellBehind: resume From lost.Oldest (Since lost.OldestTime)
//	}
//
// A subscription holds no resource of the bus (it is a cursor over the history): dropping it is enough.
package events

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"sync"
	"time"

	"github.com/distribution/reference"

	"github.com/berth/berth/internal/filters"
)

// Type is the kind of object an event is about. The values are docker's, whose users filter on them.
type Type string

// The event types.
const (
	BuilderEventType   Type = "builder"
	ConfigEventType    Type = "config"
	ContainerEventType Type = "container"
	DaemonEventType    Type = "daemon"
	ImageEventType     Type = "image"
	NetworkEventType   Type = "network"
	NodeEventType      Type = "node"
	PluginEventType    Type = "plugin"
	SecretEventType    Type = "secret"
	ServiceEventType   Type = "service"
	VolumeEventType    Type = "volume"
)

// Action is what happened. The values are docker's words.
type Action string

// The actions. Exec and health actions carry a suffix after a colon ("exec_start: sh -c true",
// "health_status: healthy"); the event filter matches them by prefix.
const (
	ActionCreate       Action = "create"
	ActionStart        Action = "start"
	ActionRestart      Action = "restart"
	ActionStop         Action = "stop"
	ActionCheckpoint   Action = "checkpoint"
	ActionPause        Action = "pause"
	ActionUnPause      Action = "unpause"
	ActionAttach       Action = "attach"
	ActionDetach       Action = "detach"
	ActionResize       Action = "resize"
	ActionUpdate       Action = "update"
	ActionRename       Action = "rename"
	ActionKill         Action = "kill"
	ActionDie          Action = "die"
	ActionOOM          Action = "oom"
	ActionDestroy      Action = "destroy"
	ActionRemove       Action = "remove"
	ActionCommit       Action = "commit"
	ActionTop          Action = "top"
	ActionCopy         Action = "copy"
	ActionArchivePath  Action = "archive-path"
	ActionExtractToDir Action = "extract-to-dir"
	ActionExport       Action = "export"
	ActionImport       Action = "import"
	ActionSave         Action = "save"
	ActionLoad         Action = "load"
	ActionTag          Action = "tag"
	ActionUnTag        Action = "untag"
	ActionPush         Action = "push"
	ActionPull         Action = "pull"
	ActionPrune        Action = "prune"
	ActionDelete       Action = "delete"
	ActionConnect      Action = "connect"
	ActionDisconnect   Action = "disconnect"
	ActionReload       Action = "reload"
	ActionMount        Action = "mount"
	ActionUnmount      Action = "unmount"
	ActionExecCreate   Action = "exec_create"
	ActionExecStart    Action = "exec_start"
	ActionExecDie      Action = "exec_die"
	ActionExecDetach   Action = "exec_detach"
	ActionHealthStatus Action = "health_status"
)

// ScopeLocal is the scope of the engine's own events (a cluster's are "swarm").
const ScopeLocal = "local"

// Actor is the object an event is about: its ID and attributes (a container's name, image and labels, a
// network's name and type, ...).
type Actor struct {
	ID         string
	Attributes map[string]string
}

// Event is one thing that happened in the engine.
type Event struct {
	// Rev is the event's revision on its bus: 1 for the first event, one more for each after.
	Rev    int64
	Type   Type
	Action Action
	Actor  Actor
	Scope  string
	Time   time.Time
}

// ErrFellBehind is the category of a subscription whose next event left the history before it was read.
var ErrFellBehind = errors.New("subscriber fell behind the event history")

// ErrCompacted is the category of a subscription asked to start before the oldest event held.
var ErrCompacted = errors.New("requested events are older than the event history")

// LostError ends a subscription that cannot go on without a gap. It wraps ErrFellBehind or ErrCompacted and
// says where a new subscription can resume: From Oldest, or Since OldestTime.
type LostError struct {
	Err error
	// Next is the first revision the subscriber did not get (0 when unknown: a Since older than the history).
	Next int64
	// Oldest is the oldest revision still held and OldestTime its time.
	Oldest     int64
	OldestTime time.Time
}

func (e *LostError) Error() string {
	if e.Next > 0 {
		return fmt.Sprintf("%v: events %d to %d are gone; the oldest held is %d, at %s", e.Err, e.Next, e.Oldest-1,
			e.Oldest, e.OldestTime.UTC().Format(time.RFC3339Nano))
	}
	return fmt.Sprintf("%v: the oldest event held is %d, at %s", e.Err, e.Oldest, e.OldestTime.UTC().Format(time.RFC3339Nano))
}

func (e *LostError) Unwrap() error { return e.Err }

// Bus fans events out to subscriptions. The zero value is not usable; call New.
type Bus struct {
	now func() time.Time

	mu      sync.Mutex
	rev     int64
	ring    []Event   // the last len(ring) events at most
	start   int       // index of the oldest event held
	n       int       // events held
	evicted time.Time // time of the newest event dropped from the history (zero: none dropped yet)
	// changed is closed (and replaced) by every Publish: subscriptions waiting for the next event select on it.
	changed chan struct{}
}

// Option configures a Bus.
type Option func(*Bus)

// WithHistory sets how many events the bus keeps for replays and slow subscribers (default DefaultHistory).
func WithHistory(n int) Option {
	return func(b *Bus) {
		if n > 0 {
			b.ring = make([]Event, n)
		}
	}
}

// WithClock sets the clock that stamps events and ends subscriptions at their Until (default time.Now).
func WithClock(now func() time.Time) Option { return func(b *Bus) { b.now = now } }

// DefaultHistory is the events a bus keeps unless told otherwise: more than a burst of compose's containers
// makes, little memory.
const DefaultHistory = 4096

// New returns an empty bus at revision 0.
func New(opts ...Option) *Bus {
	b := &Bus{now: time.Now, changed: make(chan struct{})}
	for _, o := range opts {
		o(b)
	}
	if b.ring == nil {
		b.ring = make([]Event, DefaultHistory)
	}
	return b
}

// Publish records an event of the engine's own (scope local) and wakes the subscriptions waiting for it. attrs
// is copied. Publish never blocks on a subscriber: one that does not keep up is told when it next reads.
func (b *Bus) Publish(typ Type, action Action, id string, attrs map[string]string) {
	b.publish(Event{Type: typ, Action: action, Actor: Actor{ID: id, Attributes: maps.Clone(attrs)}, Scope: ScopeLocal})
}

func (b *Bus) publish(ev Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ev.Time = b.now() // under the lock: a later revision never has an earlier time (unless the clock goes back)
	b.rev++
	ev.Rev = b.rev
	size := len(b.ring)
	if b.n < size {
		b.ring[(b.start+b.n)%size] = ev
		b.n++
	} else {
		b.evicted = b.ring[b.start].Time
		b.ring[b.start] = ev
		b.start = (b.start + 1) % size
	}
	close(b.changed)
	b.changed = make(chan struct{})
}

// Rev is the revision of the last event published (0: none yet).
func (b *Bus) Rev() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.rev
}

// oldest is the revision of the oldest event held (rev+1 when none is); the caller holds b.mu.
func (b *Bus) oldest() int64 { return b.rev - int64(b.n) + 1 }

// at returns the event of revision rev, which the caller (holding b.mu) knows is held.
func (b *Bus) at(rev int64) Event {
	return b.ring[(b.start+int(rev-b.oldest()))%len(b.ring)]
}

// lost describes the gap before the oldest event held; the caller holds b.mu.
func (b *Bus) lost(category error, next int64) *LostError {
	e := &LostError{Err: category, Next: next, Oldest: b.oldest()}
	if b.n > 0 {
		e.OldestTime = b.at(e.Oldest).Time
	}
	return e
}

// Options place a subscription in the history and say what it reads.
type Options struct {
	// From is the revision of the first event to read (0: not set). It must still be held (ErrCompacted).
	From int64
	// Since, when From is not set, starts at the first event published at or after it, as docker's since does.
	// Events at or after Since that left the history make Subscribe fail with ErrCompacted.
	Since time.Time
	// Until ends the subscription (Next returns io.EOF) once the clock passes it; events published after it are
	// not delivered. With neither From nor Since, a subscription with Until replays the whole history first,
	// as docker does.
	Until time.Time
	// Filters are docker's event filters (see Match).
	Filters filters.Args
}

// Subscription reads a bus's events in revision order. It is not safe for concurrent use.
type Subscription struct {
	b       *Bus
	next    int64
	until   time.Time
	filters filters.Args
	// ended: Until passed while the subscription waited; it ends once it has read what was published until then.
	ended bool
}

// Subscribe returns a subscription placed by opts. A start by revision (From) fails with a LostError wrapping
// ErrCompacted when the events asked for are no longer all held, as etcd's watch does; a start by time (Since,
// the Docker API's --since) replays from the oldest event held, as dockerd does, since the events of a time
// long past are by nature partly gone (a subscriber that falls behind once subscribed is told, see Next).
func (b *Bus) Subscribe(opts Options) (*Subscription, error) {
	s := &Subscription{b: b, until: opts.Until, filters: opts.Filters}
	b.mu.Lock()
	defer b.mu.Unlock()
	oldest := b.oldest()
	switch {
	case opts.From > 0:
		if opts.From < oldest {
			return nil, b.lost(ErrCompacted, opts.From)
		}
		s.next = opts.From
	case !opts.Since.IsZero():
		// Scan back from the newest event, as docker does: times may go back with the wall clock, revisions do not.
		s.next = b.rev + 1
		for r := b.rev; r >= oldest && !b.at(r).Time.Before(opts.Since); r-- {
			s.next = r
		}
	case !opts.Until.IsZero():
		s.next = oldest
	default:
		s.next = b.rev + 1
	}
	return s, nil
}

// Next returns the next event the subscription accepts, waiting for it to be published. It returns io.EOF
// once Until has passed, ctx's error when ctx ends, and a LostError wrapping ErrFellBehind when the next event
// left the history before it was read (and again on every later call).
func (s *Subscription) Next(ctx context.Context) (Event, error) {
	b := s.b
	for {
		b.mu.Lock()
		if s.next < b.oldest() {
			err := b.lost(ErrFellBehind, s.next)
			b.mu.Unlock()
			return Event{}, err
		}
		if s.next <= b.rev {
			ev := b.at(s.next)
			b.mu.Unlock()
			s.next++
			if (!s.until.IsZero() && ev.Time.After(s.until)) || !Match(ev, s.filters) {
				continue
			}
			return ev, nil
		}
		changed := b.changed
		now := b.now()
		b.mu.Unlock()
		if !s.until.IsZero() && (s.ended || !now.Before(s.until)) {
			return Event{}, io.EOF
		}
		if err := s.wait(ctx, changed, now); err != nil {
			return Event{}, err
		}
	}
}

// wait blocks until the bus changes, ctx ends or Until passes (then the caller reads what is left and ends).
func (s *Subscription) wait(ctx context.Context, changed <-chan struct{}, now time.Time) error {
	var end <-chan time.Time
	if !s.until.IsZero() {
		t := time.NewTimer(s.until.Sub(now))
		defer t.Stop()
		end = t.C
	}
	select {
	case <-changed:
	case <-end:
		s.ended = true
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// Match reports whether ev passes docker's event filters, with docker's semantics: type, scope and event
// exact (event a prefix when a value is health_status, exec_create or exec_start, whose actions carry a
// suffix); container, network, volume, daemon, plugin, node, service, secret and config an ID or name prefix of
// the event's actor, whatever its type; image the actor or its image attribute, with or without tag; label the
// actor's attributes. Values of one key are ORed; keys are ANDed.
func Match(ev Event, f filters.Args) bool {
	if f.Len() == 0 {
		return true
	}
	attrs := ev.Actor.Attributes
	actor := func(key string) bool { return f.FuzzyMatch(key, ev.Actor.ID) || f.FuzzyMatch(key, attrs["name"]) }
	event := f.ExactMatch("event", string(ev.Action))
	for _, v := range f.Get("event") {
		if Action(v) == ActionHealthStatus || Action(v) == ActionExecCreate || Action(v) == ActionExecStart {
			event = f.FuzzyMatch("event", string(ev.Action))
			break
		}
	}
	return event &&
		f.ExactMatch("type", string(ev.Type)) &&
		f.ExactMatch("scope", ev.Scope) &&
		actor("daemon") && actor("container") && actor("plugin") && actor("volume") && actor("network") &&
		actor("service") && actor("node") && actor("secret") && actor("config") &&
		matchImage(ev, f) &&
		f.MatchKVList("label", attrs)
}

// matchImage is the image filter: an image event's actor, or a container event's image, by ID or by name with
// or without its tag.
func matchImage(ev Event, f filters.Args) bool {
	if !f.Contains("image") {
		return true
	}
	name := ev.Actor.Attributes["image"]
	if ev.Type == ImageEventType {
		name = ev.Actor.Attributes["name"]
	}
	return f.ExactMatch("image", ev.Actor.ID) || f.ExactMatch("image", name) ||
		f.ExactMatch("image", stripTag(ev.Actor.ID)) || f.ExactMatch("image", stripTag(name))
}

// stripTag is image's familiar name without tag or digest ("busybox" for "docker.io/library/busybox:1.36").
func stripTag(image string) string {
	ref, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return image
	}
	return reference.FamiliarName(ref)
}
