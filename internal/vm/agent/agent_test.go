package agent

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"
)

func TestFrames(t *testing.T) {
	tests := []struct {
		name  string
		frame Frame
		wire  []byte // header as sent
	}{
		{name: "control", frame: Control(Message{Op: OpExec, Stream: 3, Process: &Process{Args: []string{"true"}}}),
			wire: []byte{TypeControl, 0, 0, 0, 3}},
		{name: "stdout", frame: Frame{Type: TypeStdout, Stream: 1, Data: []byte("hello\n")}, wire: []byte{TypeStdout, 0, 0, 0, 1, 0, 0, 0, 6}},
		{name: "stdin closed", frame: Frame{Type: TypeStdin, Stream: 7}, wire: []byte{TypeStdin, 0, 0, 0, 7, 0, 0, 0, 0}},
		{name: "dns query", frame: Frame{Type: TypeDNS, Stream: 2, Data: []byte{0x12, 0x34, 1, 0}}, wire: []byte{TypeDNS, 0, 0, 0, 2, 0, 0, 0, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteFrame(&buf, tt.frame); err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(buf.Bytes(), tt.wire) {
				t.Errorf("wire %x, want prefix %x", buf.Bytes(), tt.wire)
			}
			got, err := ReadFrame(&buf)
			if err != nil {
				t.Fatal(err)
			}
			if got.Type != tt.frame.Type || got.Stream != tt.frame.Stream || !bytes.Equal(got.Data, tt.frame.Data) {
				t.Errorf("read back %+v, want %+v", got, tt.frame)
			}
			if _, err := ReadFrame(&buf); err != io.EOF {
				t.Errorf("after the last frame: %v, want EOF", err)
			}
		})
	}
}

func TestReadFrameErrors(t *testing.T) {
	hdr := func(typ byte, n uint32) []byte {
		b := []byte{typ, 0, 0, 0, 1, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(b[5:], n)
		return b
	}
	tests := []struct {
		name string
		in   []byte
		want error
		text string
	}{
		{name: "unknown type", in: hdr(9, 0), text: "unknown frame type 9"},
		{name: "too large", in: hdr(TypeStdout, MaxFrame+1), want: ErrFrameTooLarge},
		{name: "cut in the header", in: []byte{TypeStdout, 0, 0}, want: io.ErrUnexpectedEOF},
		{name: "cut in the data", in: append(hdr(TypeStdout, 10), "abc"...), want: io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadFrame(bytes.NewReader(tt.in))
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) || (tt.text != "" && !strings.Contains(err.Error(), tt.text)) {
				t.Errorf("err = %v, want %v %q", err, tt.want, tt.text)
			}
		})
	}
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name    string
		frame   Frame
		wantOp  string
		wantErr string
	}{
		{name: "exit", frame: Control(Message{Op: OpExit, Stream: 1, Code: 3}), wantOp: OpExit},
		{name: "data frame", frame: Frame{Type: TypeStdout, Data: []byte("{}")}, wantErr: "not a control frame"},
		{name: "not json", frame: Frame{Type: TypeControl, Data: []byte("{")}, wantErr: "control frame"},
		{name: "no op", frame: Frame{Type: TypeControl, Data: []byte(`{"stream":1}`)}, wantErr: "without op"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := tt.frame.Decode()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || m.Op != tt.wantOp {
				t.Errorf("decoded %+v, %v", m, err)
			}
		})
	}
}

// A stream writer splits large writes into frames of at most 64 KiB, all on its stream, in order.
func TestStreamWriter(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf).StreamWriter(TypeStderr, 5)
	data := bytes.Repeat([]byte("x"), 150<<10)
	if n, err := w.Write(data); err != nil || n != len(data) {
		t.Fatalf("wrote %d, %v", n, err)
	}
	var got []byte
	frames := 0
	for {
		f, err := ReadFrame(&buf)
		if err == io.EOF {
			break
		}
		if err != nil || f.Type != TypeStderr || f.Stream != 5 || len(f.Data) > 64<<10 {
			t.Fatalf("frame %+v, %v", f, err)
		}
		got = append(got, f.Data...)
		frames++
	}
	if frames != 3 || !bytes.Equal(got, data) {
		t.Errorf("%d frames, %d bytes back", frames, len(got))
	}
}

func TestConfigValidate(t *testing.T) {
	ok := func() Config {
		return Config{Mode: ModeInstance, Root: Mount{Type: "ext4", Source: "/dev/vda"},
			Interfaces: []Interface{{MAC: "02:42:ac:11:00:02", Addr: netip.MustParsePrefix("172.17.0.2/16")}}}
	}
	tests := []struct {
		name    string
		change  func(*Config)
		wantErr string
	}{
		{name: "valid", change: func(*Config) {}},
		{name: "unknown mode", change: func(c *Config) { c.Mode = "vm" }, wantErr: "unknown mode"},
		{name: "no root", change: func(c *Config) { c.Root = Mount{} }, wantErr: "no root"},
		{name: "relative mount", change: func(c *Config) { c.Mounts = []Mount{{Type: "tmpfs", Target: "tmp"}} }, wantErr: "mount tmp"},
		{name: "unclean file path", change: func(c *Config) { c.Files = []File{{Path: "/etc/../etc/hosts"}} }, wantErr: "not an absolute file path"},
		{name: "interface without address", change: func(c *Config) { c.Interfaces[0].Addr = netip.Prefix{} }, wantErr: "an address and a MAC"},
		{name: "user with a slash", change: func(c *Config) { c.SSH = &SSH{User: "../root"} }, wantErr: "invalid user name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok()
			tt.change(&c)
			err := c.Validate()
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
