// Package agent is the protocol between Berth's host side and the init it runs inside a virtual machine (the
// guest agent, internal/vm/guest): what the guest is told at boot (Config, read from qemu's fw_cfg), and the
// frames both ends exchange over one virtio-serial port while it runs.
//
// # Terms
//
// The channel is a byte stream (the guest's /dev/vport port named PortName, a unix socket on the host). It
// carries frames: a type byte, a stream number and a length, then that many bytes. Control frames hold one JSON
// Message each; data frames carry a process's stdin (host to guest) or its stdout and stderr (guest to host). A
// stream is one process the host asked the guest to run; the host picks its number (a container's own process
// is stream 1). An empty Stdin frame closes the process's stdin.
//
// # A session
//
//	guest → host   Control {op: ready, release: "6.1.0-57-amd64"}
//	host  → guest  Control {op: exec, stream: 1, process: {...}}
//	guest → host   Control {op: started, stream: 1, pid: 213}
//	guest → host   Stdout stream 1 "hello\n"
//	host  → guest  Control {op: signal, stream: 1, signal: 15}
//	guest → host   Control {op: exit, stream: 1, code: 143}
//	host  → guest  Control {op: shutdown}
//
// A container on a user-defined network resolves names with the engine's embedded DNS server at 127.0.0.11 in
// its network namespace, which the guest cannot reach (its loopback is its own): the guest answers on that
// address and relays each query to the host in a DNS frame; the host asks the server in the namespace and sends
// the answer back in a DNS frame with the same stream number.
//
// A process the guest cannot start is answered with {op: exit, code: 126 or 127, error: ...} and no started.
// The guest sends every output frame of a stream before its exit message.
package agent

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
)

// PortName is the name of the virtio-serial port the guest agent talks on.
const PortName = "berth.agent"

// ConfigName is the fw_cfg item holding the guest's Config (as JSON).
const ConfigName = "opt/berth/config"

// Frame types.
const (
	TypeControl byte = 1 // one JSON Message
	TypeStdin   byte = 2 // host → guest; empty closes stdin
	TypeStdout  byte = 3 // guest → host
	TypeStderr  byte = 4 // guest → host
	// TypeDNS carries a DNS message over UDP both ways: a query the guest received on the container's resolver
	// address (DNSRelay), and the answer; Stream numbers the query.
	TypeDNS byte = 5
)

// MaxFrame bounds a frame's payload: a peer announcing more is broken (or hostile) and the channel is closed.
const MaxFrame = 1 << 20

// headerSize is a frame's header: type, stream (uint32 BE), length (uint32 BE).
const headerSize = 9

// Frame is one unit on the channel.
type Frame struct {
	Type   byte
	Stream uint32
	Data   []byte
}

// ErrFrameTooLarge is returned for a frame whose announced length exceeds MaxFrame.
var ErrFrameTooLarge = errors.New("agent: frame too large")

// WriteFrame writes f to w in one Write call, so that frames written by several goroutines through a locked
// writer never interleave.
func WriteFrame(w io.Writer, f Frame) error {
	if len(f.Data) > MaxFrame {
		return ErrFrameTooLarge
	}
	b := make([]byte, headerSize+len(f.Data))
	b[0] = f.Type
	binary.BigEndian.PutUint32(b[1:5], f.Stream)
	binary.BigEndian.PutUint32(b[5:9], uint32(len(f.Data)))
	copy(b[headerSize:], f.Data)
	_, err := w.Write(b)
	return err
}

// ReadFrame reads one frame from r. A stream that ends between frames returns io.EOF; one that ends inside a
// frame returns io.ErrUnexpectedEOF.
func ReadFrame(r io.Reader) (Frame, error) {
	var h [headerSize]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return Frame{}, err
	}
	f := Frame{Type: h[0], Stream: binary.BigEndian.Uint32(h[1:5])}
	switch f.Type {
	case TypeControl, TypeStdin, TypeStdout, TypeStderr, TypeDNS:
	default:
		return Frame{}, fmt.Errorf("agent: unknown frame type %d", f.Type)
	}
	n := binary.BigEndian.Uint32(h[5:9])
	if n > MaxFrame {
		return Frame{}, ErrFrameTooLarge
	}
	if n > 0 {
		f.Data = make([]byte, n)
		if _, err := io.ReadFull(r, f.Data); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return Frame{}, err
		}
	}
	return f, nil
}

// Operations of control messages.
const (
	OpReady    = "ready"    // guest: booted and listening; Release is its kernel's
	OpExec     = "exec"     // host: run Process as Stream
	OpStarted  = "started"  // guest: Stream runs as Pid
	OpExit     = "exit"     // guest: Stream ended with Code (Error when it never started)
	OpSignal   = "signal"   // host: send Signal to Stream's process (All: to every process of the guest)
	OpResize   = "resize"   // host: Stream's terminal is Width x Height
	OpShutdown = "shutdown" // host: stop every process, sync, power off
	OpReboot   = "reboot"   // host: stop every process, sync, restart
	OpPing     = "ping"     // host: answer with pong
	OpPong     = "pong"     // guest
	OpLog      = "log"      // guest: a line for the host's log (Error)
)

// Message is a control message. Which fields matter depends on Op.
type Message struct {
	Op      string   `json:"op"`
	Stream  uint32   `json:"stream,omitempty"`
	Process *Process `json:"process,omitempty"`
	Pid     int      `json:"pid,omitempty"`
	Code    int      `json:"code,omitempty"`
	Signal  int      `json:"signal,omitempty"`
	All     bool     `json:"all,omitempty"`
	Width   uint16   `json:"width,omitempty"`
	Height  uint16   `json:"height,omitempty"`
	Error   string   `json:"error,omitempty"`
	Release string   `json:"release,omitempty"`
}

// Process is a process for the guest to run, in the terms of an OCI process.
type Process struct {
	Args           []string `json:"args"`
	Env            []string `json:"env,omitempty"`
	Cwd            string   `json:"cwd,omitempty"`
	UID            uint32   `json:"uid,omitempty"`
	GID            uint32   `json:"gid,omitempty"`
	AdditionalGIDs []uint32 `json:"additional_gids,omitempty"`
	// Terminal gives the process a pty of Width x Height; its output is then one stream (Stdout).
	Terminal bool   `json:"terminal,omitempty"`
	Width    uint16 `json:"width,omitempty"`
	Height   uint16 `json:"height,omitempty"`
	// Stdin keeps a stdin the host writes to; otherwise the process reads /dev/null.
	Stdin bool `json:"stdin,omitempty"`
	// NoFile is RLIMIT_NOFILE (soft and hard) when non-zero.
	NoFile uint64 `json:"nofile,omitempty"`
}

// Control encodes m as a control frame.
func Control(m Message) Frame {
	b, _ := json.Marshal(m) // Message has no types json cannot encode
	return Frame{Type: TypeControl, Stream: m.Stream, Data: b}
}

// Decode decodes a control frame's message.
func (f Frame) Decode() (Message, error) {
	var m Message
	if f.Type != TypeControl {
		return m, fmt.Errorf("agent: frame type %d is not a control frame", f.Type)
	}
	if err := json.Unmarshal(f.Data, &m); err != nil {
		return m, fmt.Errorf("agent: control frame: %w", err)
	}
	if m.Op == "" {
		return m, errors.New("agent: control frame without op")
	}
	return m, nil
}

// Writer serialises frames from several goroutines onto one channel.
type Writer struct {
	mu sync.Mutex
	w  io.Writer
}

// NewWriter returns a Writer writing to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Write writes one frame.
func (w *Writer) Write(f Frame) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return WriteFrame(w.w, f)
}

// Send writes a control message.
func (w *Writer) Send(m Message) error { return w.Write(Control(m)) }

// StreamWriter returns an io.Writer that sends what is written as data frames of type typ on stream, in chunks
// of at most MaxFrame.
func (w *Writer) StreamWriter(typ byte, stream uint32) io.Writer {
	return streamWriter{w: w, typ: typ, stream: stream}
}

type streamWriter struct {
	w      *Writer
	typ    byte
	stream uint32
}

func (s streamWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		c := p
		if len(c) > 64<<10 {
			c = c[:64<<10]
		}
		if err := s.w.Write(Frame{Type: s.typ, Stream: s.stream, Data: c}); err != nil {
			return n, err
		}
		n += len(c)
		p = p[len(c):]
	}
	return n, nil
}
