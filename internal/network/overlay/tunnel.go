package overlay

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/crypto/curve25519"
	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun"

	"github.com/berth/berth/internal/atomicfile"
)

// The encryption tunnel: a WireGuard device in userspace (wireguard-go) over a TUN device in the node's
// namespace, which this kernel has (it has neither IPsec ESP nor WireGuard). The TUN device holds the node's
// tunnel address, with a route to the tunnels' subnet; an encrypted network's VXLAN device sends to its peers'
// tunnel addresses, so its packets go through the TUN device, wireguard-go encrypts them and sends them over UDP
// to the peer's underlay address, whose wireguard-go decrypts them and writes them to its TUN device, where the
// kernel hands them to the VXLAN socket as if they had come in the clear. One tunnel serves every encrypted
// network of the node; it exists while one does.

// DefaultTunnelPort is the UDP port of the encryption tunnels (WireGuard's).
const DefaultTunnelPort = 51820

// tunnel is the node's WireGuard device.
type tunnel struct {
	name string
	port uint16
	priv [32]byte

	dev   *device.Device
	tun   tun.Device
	addr  netip.Prefix
	mtu   int
	peers string // the peers' configuration last set, to skip setting it again
}

// loadKey reads the node's private key from path, making one (mode 0600) the first time.
func loadKey(path string) ([32]byte, error) {
	var k [32]byte
	b, err := os.ReadFile(path)
	if err == nil {
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(raw) != 32 {
			return k, fmt.Errorf("%s: not a WireGuard private key", path)
		}
		copy(k[:], raw)
		return k, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	if _, err := rand.Read(k[:]); err != nil {
		return k, err
	}
	// Clamped as Curve25519 wants (wg genkey does the same).
	k[0] &= 248
	k[31] = (k[31] & 127) | 64
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return k, err
	}
	if err := atomicfile.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(k[:])+"\n"), 0o600); err != nil {
		return k, err
	}
	return k, nil
}

// publicKey is the base64 public key of priv.
func publicKey(priv [32]byte) string {
	pub, err := curve25519.X25519(priv[:], curve25519.Basepoint)
	if err != nil {
		return ""
	}
	return base64.StdEncoding.EncodeToString(pub)
}

func hexKey(b64 string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(b) != 32 {
		return "", fmt.Errorf("invalid key %q", b64)
	}
	return hex.EncodeToString(b), nil
}

// up brings the tunnel up with addr (this node's tunnel address, with the tunnels' subnet's length) if it is not
// up already with that address.
func (t *tunnel) up(addr netip.Prefix, mtu int) error {
	if t.dev != nil && t.addr == addr && t.mtu == mtu {
		return nil
	}
	t.down()
	// A device of that name left by a daemon that was killed goes first (it dies with its process normally).
	if l, err := netlink.LinkByName(t.name); err == nil {
		netlink.LinkDel(l)
	}
	td, err := tun.CreateTUN(t.name, mtu)
	if err != nil {
		return fmt.Errorf("create TUN device %s: %w", t.name, err)
	}
	logger := &device.Logger{
		Verbosef: func(format string, args ...any) {},
		Errorf: func(format string, args ...any) {
			slog.Debug("encryption tunnel: "+fmt.Sprintf(format, args...), "device", t.name)
		},
	}
	dev := device.NewDevice(td, conn.NewDefaultBind(), logger)
	cfg := fmt.Sprintf("private_key=%s\nlisten_port=%d\n", hex.EncodeToString(t.priv[:]), t.port)
	if err := dev.IpcSet(cfg); err != nil {
		dev.Close()
		return fmt.Errorf("configure the encryption tunnel: %w", err)
	}
	if err := dev.Up(); err != nil {
		dev.Close()
		return fmt.Errorf("bring the encryption tunnel up: %w", err)
	}
	l, err := netlink.LinkByName(t.name)
	if err == nil {
		err = netlink.AddrReplace(l, &netlink.Addr{IPNet: ipNet(addr)})
	}
	if err == nil {
		err = netlink.LinkSetUp(l)
	}
	if err != nil {
		dev.Close()
		return fmt.Errorf("address %s on %s: %w", addr, t.name, err)
	}
	t.dev, t.tun, t.addr, t.mtu, t.peers = dev, td, addr, mtu, ""
	slog.Info("encryption tunnel up", "device", t.name, "address", addr, "port", t.port, "public key", publicKey(t.priv))
	return nil
}

// setPeers replaces the tunnel's peers.
func (t *tunnel) setPeers(peers []tunnelPeer, psk []byte) error {
	if t.dev == nil {
		return nil
	}
	var b strings.Builder
	b.WriteString("replace_peers=true\n")
	for _, p := range peers {
		k, err := hexKey(p.PublicKey)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "public_key=%s\n", k)
		if len(psk) == 32 {
			fmt.Fprintf(&b, "preshared_key=%s\n", hex.EncodeToString(psk))
		}
		fmt.Fprintf(&b, "endpoint=%s\nreplace_allowed_ips=true\nallowed_ip=%s\npersistent_keepalive_interval=25\n", p.Endpoint, p.Allowed)
	}
	cfg := b.String()
	if cfg == t.peers {
		return nil
	}
	if err := t.dev.IpcSet(cfg); err != nil {
		return fmt.Errorf("set the encryption tunnel's peers: %w", err)
	}
	t.peers = cfg
	return nil
}

// down closes the tunnel: the TUN device (and its address and route) goes with it.
func (t *tunnel) down() {
	if t.dev == nil {
		return
	}
	t.dev.Close()
	t.dev, t.tun, t.addr, t.peers = nil, nil, netip.Prefix{}, ""
	slog.Info("encryption tunnel down", "device", t.name)
}
