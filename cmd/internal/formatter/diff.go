package formatter

import "github.com/moby/moby/api/types/container"

// DiffHeader titles the diff fields.
var DiffHeader = Header{"Type": "CHANGE TYPE", "Path": "PATH"}

// DiffRow is one filesystem change.
type DiffRow struct {
	C container.FilesystemChange
}

// DiffRows wraps changes for Context.Write.
func DiffRows(changes []container.FilesystemChange) []any {
	rows := make([]any, len(changes))
	for i, ch := range changes {
		rows[i] = &DiffRow{C: ch}
	}
	return rows
}

// MarshalJSON encodes the row's fields.
func (r *DiffRow) MarshalJSON() ([]byte, error) { return MarshalJSON(r) }

// Type is "A", "C" or "D".
func (r *DiffRow) Type() string { return r.C.Kind.String() }

// Path is the changed path.
func (r *DiffRow) Path() string { return r.C.Path }
