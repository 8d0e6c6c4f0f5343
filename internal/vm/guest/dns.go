package guest

import (
	"net"
	"sync"

	"github.com/berth/berth/internal/vm/agent"
)

// dnsRelay answers DNS queries on the container's resolver address by passing them to the host, which asks the
// engine's embedded server in the container's network namespace.
type dnsRelay struct {
	conn *net.UDPConn
	w    *agent.Writer

	mu      sync.Mutex
	next    uint32
	pending map[uint32]*net.UDPAddr
}

// startDNSRelay listens on addr:53 (a 127.0.0.0/8 address: every one of them is the guest's loopback).
func startDNSRelay(addr string, w *agent.Writer) (*dnsRelay, error) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(addr), Port: 53})
	if err != nil {
		return nil, err
	}
	r := &dnsRelay{conn: c, w: w, pending: map[uint32]*net.UDPAddr{}}
	go r.serve()
	return r, nil
}

func (r *dnsRelay) serve() {
	buf := make([]byte, 65535)
	for {
		n, from, err := r.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		r.mu.Lock()
		r.next++
		id := r.next
		if len(r.pending) > 1024 {
			// Queries the host never answered: forget them rather than grow without bound.
			r.pending = map[uint32]*net.UDPAddr{}
		}
		r.pending[id] = from
		r.mu.Unlock()
		r.w.Write(agent.Frame{Type: agent.TypeDNS, Stream: id, Data: append([]byte(nil), buf[:n]...)})
	}
}

// answer sends the host's answer to query id back to whoever asked.
func (r *dnsRelay) answer(id uint32, msg []byte) {
	r.mu.Lock()
	to := r.pending[id]
	delete(r.pending, id)
	r.mu.Unlock()
	if to != nil && len(msg) > 0 {
		r.conn.WriteToUDP(msg, to)
	}
}
