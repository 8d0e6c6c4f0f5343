package formatter

import (
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/image"
)

const (
	defaultHistoryTableFormat  = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
	nonHumanHistoryTableFormat = "table {{.ID}}\t{{.CreatedAt}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
)

// HistoryHeader titles the history fields.
var HistoryHeader = Header{
	"ID":           "IMAGE",
	"CreatedSince": "CREATED",
	"CreatedAt":    "CREATED AT",
	"CreatedBy":    "CREATED BY",
	"Size":         "SIZE",
	"Comment":      "COMMENT",
}

// NewHistoryFormat resolves `history`' --format.
func NewHistoryFormat(source string, quiet, human bool) Format {
	if source == "" || source == TableFormatKey {
		switch {
		case quiet:
			return DefaultQuietFormat
		case !human:
			return nonHumanHistoryTableFormat
		default:
			return defaultHistoryTableFormat
		}
	}
	return Format(source)
}

// HistoryRow is one layer of an image's history.
type HistoryRow struct {
	H     image.HistoryResponseItem
	Trunc bool
	Human bool
}

// HistoryRows wraps a history for Context.Write.
func HistoryRows(items []image.HistoryResponseItem, trunc, human bool) []any {
	rows := make([]any, len(items))
	for i, h := range items {
		rows[i] = &HistoryRow{H: h, Trunc: trunc, Human: human}
	}
	return rows
}

// MarshalJSON encodes the row's fields.
func (r *HistoryRow) MarshalJSON() ([]byte, error) { return MarshalJSON(r) }

// ID is the layer's image ID or "<missing>".
func (r *HistoryRow) ID() string {
	if r.Trunc {
		return TruncateID(r.H.ID)
	}
	return r.H.ID
}

// CreatedAt is the creation time (RFC 3339).
func (r *HistoryRow) CreatedAt() string { return time.Unix(r.H.Created, 0).Format(time.RFC3339) }

// CreatedSince is how long ago the layer was created.
func (r *HistoryRow) CreatedSince() string {
	if !r.Human {
		return r.CreatedAt()
	}
	if r.H.Created <= time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Unix() {
		return "N/A"
	}
	return Ago(time.Unix(r.H.Created, 0))
}

// CreatedBy is the instruction that made the layer, cut to 45 characters when truncating.
func (r *HistoryRow) CreatedBy() string {
	s := strings.ReplaceAll(r.H.CreatedBy, "\t", " ")
	if r.Trunc {
		return Ellipsis(s, 45)
	}
	return s
}

// Size is the layer's size.
func (r *HistoryRow) Size() string {
	if r.Human {
		return Size(r.H.Size)
	}
	return strconv.FormatInt(r.H.Size, 10)
}

// Comment is the layer's comment.
func (r *HistoryRow) Comment() string { return r.H.Comment }
