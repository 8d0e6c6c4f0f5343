//go:build !amd64 || purego

package md5lanes

const accelerated = false

func block16(state *[4][lanes]uint32, addrs *[lanes]*byte, strides *[lanes]uint64, n int) {
	block16Generic(state, addrs, strides, n)
}
