package formatter

import (
	"strconv"
	"strings"

	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
)

// DefaultStatsTableFormat is `stats`' table.
const DefaultStatsTableFormat = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}"

// StatsHeader titles the stats fields.
var StatsHeader = Header{
	"Container": "CONTAINER",
	"Name":      "NAME",
	"ID":        "CONTAINER ID",
	"CPUPerc":   "CPU %",
	"MemUsage":  "MEM USAGE / LIMIT",
	"MemPerc":   "MEM %",
	"NetIO":     "NET I/O",
	"BlockIO":   "BLOCK I/O",
	"PIDs":      "PIDS",
}

// NewStatsFormat resolves `stats`' --format.
func NewStatsFormat(source string) Format {
	if source == "" || source == TableFormatKey {
		return DefaultStatsTableFormat
	}
	return Format(source)
}

// StatsEntry is one container's computed usage.
type StatsEntry struct {
	Container        string // the name or ID the user asked for
	Name             string
	ID               string
	CPUPercentage    float64
	Memory           float64
	MemoryLimit      float64
	MemoryPercentage float64
	NetworkRx        float64
	NetworkTx        float64
	BlockRead        float64
	BlockWrite       float64
	PidsCurrent      uint64
	IsInvalid        bool
}

// NewStatsEntry computes the figures `stats` shows from one sample, as docker does: CPU from the delta
// against the previous sample, memory without the inactive file cache.
func NewStatsEntry(container string, s container.StatsResponse) StatsEntry {
	mem := memUsageNoCache(s.MemoryStats)
	e := StatsEntry{
		Container:     container,
		Name:          s.Name,
		ID:            s.ID,
		CPUPercentage: cpuPercent(s.PreCPUStats, s.CPUStats),
		Memory:        mem,
		MemoryLimit:   float64(s.MemoryStats.Limit),
		PidsCurrent:   s.PidsStats.Current,
	}
	if s.MemoryStats.Limit != 0 {
		e.MemoryPercentage = mem / float64(s.MemoryStats.Limit) * 100
	}
	for _, n := range s.Networks {
		e.NetworkRx += float64(n.RxBytes)
		e.NetworkTx += float64(n.TxBytes)
	}
	for _, b := range s.BlkioStats.IoServiceBytesRecursive {
		if b.Op == "" {
			continue
		}
		switch b.Op[0] {
		case 'r', 'R':
			e.BlockRead += float64(b.Value)
		case 'w', 'W':
			e.BlockWrite += float64(b.Value)
		}
	}
	return e
}

func cpuPercent(prev, cur container.CPUStats) float64 {
	cpuDelta := float64(cur.CPUUsage.TotalUsage) - float64(prev.CPUUsage.TotalUsage)
	sysDelta := float64(cur.SystemUsage) - float64(prev.SystemUsage)
	cpus := float64(cur.OnlineCPUs)
	if cpus == 0 {
		cpus = float64(len(cur.CPUUsage.PercpuUsage))
	}
	if sysDelta > 0 && cpuDelta > 0 {
		return cpuDelta / sysDelta * cpus * 100
	}
	return 0
}

func memUsageNoCache(m container.MemoryStats) float64 {
	if v, ok := m.Stats["total_inactive_file"]; ok && v < m.Usage {
		return float64(m.Usage - v)
	}
	if v := m.Stats["inactive_file"]; v < m.Usage {
		return float64(m.Usage - v)
	}
	return float64(m.Usage)
}

// StatsRow is one container's usage as templates see it.
type StatsRow struct {
	S     StatsEntry
	Trunc bool
}

// StatsRows wraps entries for Context.Write.
func StatsRows(entries []StatsEntry, trunc bool) []any {
	rows := make([]any, len(entries))
	for i, e := range entries {
		rows[i] = &StatsRow{S: e, Trunc: trunc}
	}
	return rows
}

// MarshalJSON encodes the row's fields.
func (r *StatsRow) MarshalJSON() ([]byte, error) { return MarshalJSON(r) }

// Container is the name or ID as given on the command line.
func (r *StatsRow) Container() string { return r.S.Container }

// Name is the container's name, or "--".
func (r *StatsRow) Name() string {
	if n := strings.TrimPrefix(r.S.Name, "/"); n != "" {
		return n
	}
	return "--"
}

// ID is the container ID.
func (r *StatsRow) ID() string {
	if r.Trunc {
		return TruncateID(r.S.ID)
	}
	return r.S.ID
}

// CPUPerc is the CPU use ("0.12%").
func (r *StatsRow) CPUPerc() string {
	if r.S.IsInvalid {
		return "--"
	}
	return percent(r.S.CPUPercentage)
}

// MemUsage is "used / limit" ("1.2MiB / 7.6GiB").
func (r *StatsRow) MemUsage() string {
	if r.S.IsInvalid {
		return "-- / --"
	}
	return units.BytesSize(r.S.Memory) + " / " + units.BytesSize(r.S.MemoryLimit)
}

// MemPerc is the memory use against the limit.
func (r *StatsRow) MemPerc() string {
	if r.S.IsInvalid {
		return "--"
	}
	return percent(r.S.MemoryPercentage)
}

// NetIO is "received / sent".
func (r *StatsRow) NetIO() string {
	if r.S.IsInvalid {
		return "--"
	}
	return units.HumanSizeWithPrecision(r.S.NetworkRx, 3) + " / " + units.HumanSizeWithPrecision(r.S.NetworkTx, 3)
}

// BlockIO is "read / written".
func (r *StatsRow) BlockIO() string {
	if r.S.IsInvalid {
		return "--"
	}
	return units.HumanSizeWithPrecision(r.S.BlockRead, 3) + " / " + units.HumanSizeWithPrecision(r.S.BlockWrite, 3)
}

// PIDs is the number of processes.
func (r *StatsRow) PIDs() string {
	if r.S.IsInvalid {
		return "--"
	}
	return strconv.FormatUint(r.S.PidsCurrent, 10)
}

func percent(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) + "%" }
