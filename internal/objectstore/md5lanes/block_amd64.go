//go:build amd64 && !purego

package md5lanes

import "golang.org/x/sys/cpu"

//go:generate sh -c "go run gen_asm.go > block_amd64.s"

// accelerated: the kernel needs AVX-512F (x/sys/cpu also checks that the OS saves the ZMM registers).
var accelerated = cpu.X86.HasAVX512F

// block16asm advances the 16 lanes of state by n blocks each, lane i reading at addrs[i] and moving on by
// strides[i] bytes a block.
//
//go:noescape
func block16asm(state *[4][lanes]uint32, addrs *[lanes]*byte, strides *[lanes]uint64, n int)

func block16(state *[4][lanes]uint32, addrs *[lanes]*byte, strides *[lanes]uint64, n int) {
	if accelerated {
		block16asm(state, addrs, strides, n)
		return
	}
	block16Generic(state, addrs, strides, n)
}
