package formatter

import (
	"strconv"

	"github.com/moby/moby/api/types/network"
)

const defaultNetworkTableFormat = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"

// NetworkHeader titles the network fields.
var NetworkHeader = Header{
	"ID":        "NETWORK ID",
	"Name":      "NAME",
	"Driver":    "DRIVER",
	"Scope":     "SCOPE",
	"IPv4":      "IPV4",
	"IPv6":      "IPV6",
	"Internal":  "INTERNAL",
	"Labels":    "LABELS",
	"CreatedAt": "CREATED AT",
}

// NewNetworkFormat resolves `network ls`' --format. As in docker, -q only replaces the default table: an
// explicit template wins over it.
func NewNetworkFormat(source string, quiet bool) Format {
	switch source {
	case "", TableFormatKey:
		if quiet {
			return DefaultQuietFormat
		}
		return defaultNetworkTableFormat
	}
	return Format(source)
}

// NetworkRow is one network as `network ls` templates see it.
type NetworkRow struct {
	N     network.Summary
	Trunc bool
}

// NetworkRows wraps a list for Context.Write; trunc shortens IDs to 12 characters.
func NetworkRows(list []network.Summary, trunc bool) []any {
	rows := make([]any, len(list))
	for i, n := range list {
		rows[i] = &NetworkRow{N: n, Trunc: trunc}
	}
	return rows
}

// MarshalJSON encodes the row's fields.
func (r *NetworkRow) MarshalJSON() ([]byte, error) { return MarshalJSON(r) }

// ID is the network ID, 12 characters when truncating.
func (r *NetworkRow) ID() string {
	if r.Trunc {
		return TruncateID(r.N.ID)
	}
	return r.N.ID
}

// Name is the network's name.
func (r *NetworkRow) Name() string { return r.N.Name }

// Driver is the network driver ("bridge", "host", "null").
func (r *NetworkRow) Driver() string { return r.N.Driver }

// Scope is "local" (or "swarm", "global").
func (r *NetworkRow) Scope() string { return r.N.Scope }

// IPv4 reports whether IPv4 is enabled, as "true" or "false".
func (r *NetworkRow) IPv4() string { return strconv.FormatBool(r.N.EnableIPv4) }

// IPv6 reports whether IPv6 is enabled, as "true" or "false".
func (r *NetworkRow) IPv6() string { return strconv.FormatBool(r.N.EnableIPv6) }

// Internal reports whether the network is cut off from the outside, as "true" or "false".
func (r *NetworkRow) Internal() string { return strconv.FormatBool(r.N.Internal) }

// Labels are the labels as sorted k=v pairs.
func (r *NetworkRow) Labels() string { return joinLabels(r.N.Labels) }

// Label returns one label's value.
func (r *NetworkRow) Label(name string) string { return r.N.Labels[name] }

// CreatedAt is the creation time in Go's default format.
func (r *NetworkRow) CreatedAt() string { return r.N.Created.String() }
