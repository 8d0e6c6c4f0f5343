package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/jsonstream"

	berthevents "github.com/berth/berth/internal/events"
	"github.com/berth/berth/internal/filters"
)

// parseEventTime parses the docker CLI's since/until values ("1700000000.000000000"), or RFC 3339.
func parseEventTime(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	return filters.ParseUnixTimestamp(v)
}

// dockerTime is t as the docker CLI's --since takes it back.
func dockerTime(t time.Time) string { return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond()) }

// events is GET /events: the events since `since` still held, then new ones as they happen, until `until`.
// A client that reads too slowly to keep up with the daemon's history is not dropped silently, as dockerd
// drops it: its stream ends with a message saying what was lost and where to resume (lostMessage), and the
// connection is cut, so that a client reading to the end fails instead of taking a partial stream for a whole.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	f, err := filtersParam(r)
	if err != nil {
		writeError(w, err)
		return
	}
	q := r.URL.Query()
	since, err := parseEventTime(q.Get("since"))
	if err != nil {
		writeError(w, err)
		return
	}
	until, err := parseEventTime(q.Get("until"))
	if err != nil {
		writeError(w, err)
		return
	}
	if !until.IsZero() && until.Before(since) {
		writeError(w, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("`since` time (%s) cannot be after `until` time (%s)", q.Get("since"), q.Get("until"))))
		return
	}
	sub, err := s.b.Events.Subscribe(berthevents.Options{Since: since, Until: until, Filters: f})
	if err != nil {
		var lost *berthevents.LostError
		if errors.As(err, &lost) {
			err = errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf(
				"events since %s are no longer all held: the oldest event the daemon holds is from %s; use --since %s or later",
				q.Get("since"), lost.OldestTime.UTC().Format(time.RFC3339Nano), dockerTime(lost.OldestTime)))
		}
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(200)
	fw := newFlushWriter(w)
	fw.Flush()
	enc := json.NewEncoder(fw)
	for {
		ev, err := sub.Next(r.Context())
		var lost *berthevents.LostError
		if errors.As(err, &lost) {
			slog.Warn("events subscriber fell behind", "remote", r.RemoteAddr, "lost", lost.Oldest-lost.Next, "next", lost.Next, "oldest", lost.Oldest)
			enc.Encode(lostMessage(lost))
			panic(http.ErrAbortHandler)
		}
		if err != nil { // until passed (io.EOF) or the client left
			return
		}
		if err := enc.Encode(eventMessage(ev)); err != nil {
			return
		}
	}
}

// wireEvent is an event as GET /events sends it: docker's Message, plus the top-level fields that dockerd
// still sends API versions before 1.52 for container and image events (docker-py and `docker events --format
// '{{.Status}}'` read them; every API version Berth speaks is before 1.52).
type wireEvent struct {
	Status *string `json:"status,omitempty"`
	ID     *string `json:"id,omitempty"`
	From   *string `json:"from,omitempty"`
	events.Message
	// Error ends a stream that lost events, in the shape of docker's JSON message streams.
	Error       string            `json:"error,omitempty"`
	ErrorDetail *jsonstream.Error `json:"errorDetail,omitempty"`
}

// eventMessage converts a Berth event to its wire form. As moby's backFillLegacy: status and id for container
// and image events, from (the container's image) for container events.
func eventMessage(ev berthevents.Event) wireEvent {
	m := wireEvent{Message: events.Message{
		Type:     events.Type(ev.Type),
		Action:   events.Action(ev.Action),
		Actor:    events.Actor{ID: ev.Actor.ID, Attributes: ev.Actor.Attributes},
		Scope:    ev.Scope,
		Time:     ev.Time.Unix(),
		TimeNano: ev.Time.UnixNano(),
	}}
	switch ev.Type {
	case berthevents.ContainerEventType:
		from := ev.Actor.Attributes["image"]
		m.Status, m.ID, m.From = ptr(string(ev.Action)), ptr(ev.Actor.ID), &from
	case berthevents.ImageEventType:
		m.Status, m.ID = ptr(string(ev.Action)), ptr(ev.Actor.ID)
	}
	return m
}

func ptr[T any](v T) *T { return &v }

// lostMessage is the last message of a stream whose client fell behind. Shaped as a daemon event, the docker
// CLI prints it like any other (whatever the filters; its error attribute and status say what happened); its
// error field is what Berth's client reports.
func lostMessage(lost *berthevents.LostError) wireEvent {
	text := fmt.Sprintf("event stream fell behind: the client did not keep up and %d events left the daemon's history before they were sent; resume with --since %s",
		lost.Oldest-lost.Next, dockerTime(lost.OldestTime))
	now := time.Now()
	return wireEvent{
		Status: &text,
		Message: events.Message{
			Type:     events.DaemonEventType,
			Action:   "error",
			Actor:    events.Actor{Attributes: map[string]string{"error": text, "since": dockerTime(lost.OldestTime)}},
			Scope:    berthevents.ScopeLocal,
			Time:     now.Unix(),
			TimeNano: now.UnixNano(),
		},
		Error:       text,
		ErrorDetail: &jsonstream.Error{Message: text},
	}
}
